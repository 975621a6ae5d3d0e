"""The environment contract, checked on every registered env (DESIGN.md, Contract: environment)."""

from __future__ import annotations

import copy
import inspect

import pytest
from envtools import TOY_ID, make_offline
from pettingzoo.test import parallel_api_test

from collabzoo.envs.core import TextCollabEnv


def _supports_turns(env) -> bool:
    return "num_turns" in inspect.signature(type(env).__init__).parameters


def _make_multi_turn(env_id, turns=3, **kwargs):
    env = make_offline(env_id, **kwargs)
    if _supports_turns(env):
        env.close()
        env = make_offline(env_id, num_turns=turns, **kwargs)
    return env


def _scripted_actions(env, step):
    """Deterministic but varied actions: some empty, some unicode, some long."""
    texts = ["", "banana blue", "naïve café — “quoted”", "word " * 50, "def aux(x):\n    return x"]
    return {a: texts[(step + i) % len(texts)] for i, a in enumerate(env.agents)}


@pytest.mark.filterwarnings("ignore:.*ignores unknown options")  # the API test passes a dummy option
def test_parallel_api(env_id):
    env = make_offline(env_id)
    parallel_api_test(env, num_cycles=10)
    env.close()


def test_is_text_collab_env_with_role_names(env_id):
    env = make_offline(env_id)
    assert isinstance(env, TextCollabEnv)
    assert env.possible_agents == list(env.roles) and len(env.possible_agents) >= 2
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)
    env.close()


def test_multi_step_determinism(env_id):
    """Same seed and actions -> identical observations, rewards and infos at every step."""
    runs = []
    for _ in range(2):
        env = _make_multi_turn(env_id)
        trace = [env.reset(seed=123)]
        step = 0
        while env.agents:
            trace.append(env.step(_scripted_actions(env, step)))
            step += 1
        runs.append(trace)
        env.close()
    assert len(runs[0]) >= 2
    assert runs[0] == runs[1]


def test_seed_draws_task_from_np_random(env_id):
    env = make_offline(env_id)
    draws = []
    for seed in range(8):
        env.reset(seed=seed)
        draws.append(env.task_index)
    env.reset(seed=3)
    assert env.task_index == draws[3]
    if env.num_tasks > 1:
        assert len(set(draws)) > 1, "different seeds should not always pick the same task"
    env.close()


def test_task_index_option_selects_record(env_id):
    env = make_offline(env_id)
    last = env.num_tasks - 1
    obs, infos = env.reset(options={"task_index": last})
    assert env.task_index == last and all(i["task_index"] == last for i in infos.values())
    assert env.task is env.tasks[last]
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"task_index": env.num_tasks})
    with pytest.raises(ValueError, match="integer"):
        env.reset(options={"task_index": "first"})
    env.close()


def test_deepcopy_branches_are_independent(env_id):
    env = _make_multi_turn(env_id)
    env.reset(seed=7, options={"task_index": 0})
    if env.num_turns > 1:
        env.step(_scripted_actions(env, 0))
    branch = copy.deepcopy(env)
    assert branch.tasks is env.tasks, "datasets must be shared, not copied"
    assert branch.action_space(env.possible_agents[0]) is env.action_space(env.possible_agents[0])
    snapshot = (env.turn, copy.deepcopy(env.history), list(env.agents))

    out_branch = branch.step(_scripted_actions(branch, 1))
    assert (env.turn, env.history, env.agents) == snapshot, "stepping a branch changed the parent"
    out_parent = env.step(_scripted_actions(env, 1))
    # same state and same actions -> same result in both branches
    assert out_branch == out_parent
    other = copy.deepcopy(env) if env.agents else None
    if other is not None:
        other.step(_scripted_actions(other, 2))
        assert other.turn == env.turn + 1
    env.close()


@pytest.mark.parametrize(
    "text",
    ["", "ünïcödé 漢字 🙂", "x" * 1_000_000, "\x00\xff\x1b[31m\ud800?", "```python\nprint(1)\n```"],
    ids=["empty", "unicode", "1MB", "binary", "fenced"],
)
def test_any_string_is_a_legal_action(env_id, text):
    env = make_offline(env_id)
    env.reset(seed=0)
    obs, rewards, terms, truncs, infos = env.step({a: text for a in env.agents})
    assert set(rewards) == set(env.possible_agents)
    values = set(rewards.values())
    assert len(values) == 1 and isinstance(values.pop(), float), "one joint reward for all"
    for info in infos.values():
        assert isinstance(info["reward_components"], dict)
        assert 0.0 <= info["return_normalized"] <= 1.0 or info["return_normalized"] < 0
    env.close()


def test_bad_actions_raise_clear_errors(env_id):
    env = make_offline(env_id)
    first, second = env.possible_agents[:2]
    with pytest.raises(RuntimeError, match="before reset"):
        env.step({a: "" for a in env.possible_agents})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"missing actions for \['{second}'\]"):
        env.step({first: "hi"})
    with pytest.raises(ValueError, match=r"unknown agents \['intruder'\]"):
        env.step({**{a: "" for a in env.agents}, "intruder": "hi"})
    for bad in (None, 3, b"bytes", ["list"]):
        with pytest.raises(ValueError, match=rf"action of '{first}' must be a str"):
            env.step({first: bad, **{a: "" for a in env.agents if a != first}})
    with pytest.raises(ValueError, match="must be a dict"):
        env.step([("x", "y")])
    with pytest.raises(ValueError, match="unknown agent"):
        env.action_space("intruder")
    # the failed calls left the episode untouched: a good step still works
    env.step({a: "" for a in env.agents})
    while env.agents:
        env.step({a: "" for a in env.agents})
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step({a: "" for a in env.possible_agents})
    env.close()


def test_render_returns_transcript(env_id):
    env = make_offline(env_id, render_mode="ansi")
    env.reset(seed=0)
    env.step({a: f"answer of {a}" for a in env.agents})
    text = env.render()
    for a in env.possible_agents:
        assert f"answer of {a}" in text
    assert "joint reward" in text
    env.close()


# ---------------------------------------------------------------- worked examples (toy env)


def test_toy_multi_turn_history_feedback_and_early_end():
    env = make_offline(TOY_ID, num_turns=3)
    obs, _ = env.reset(options={"task_index": 0})  # target: banana
    assert obs["alpha"] == "[alpha] Name a fruit that is yellow in one word."
    obs, rew, term, trunc, infos = env.step({"alpha": "Banana!", "beta": "apple"})
    assert rew == {"alpha": 1.0, "beta": 1.0}
    assert infos["beta"]["reward_components"] == {"hit_alpha": 1.0, "hit_beta": 0.0}
    assert infos["alpha"]["return_normalized"] == 0.5
    assert infos["alpha"]["target_length"] == 6 and infos["alpha"]["turn"] == 1
    assert term == {"alpha": False, "beta": False} and trunc == {"alpha": False, "beta": False}
    # each agent sees its own answer and feedback, never the other's answer
    assert "Banana!" in obs["alpha"] and "Correct." in obs["alpha"]
    assert "apple" in obs["beta"] and "Not the word" in obs["beta"]
    assert "apple" not in obs["alpha"] and "Banana!" not in obs["beta"]
    assert env.agents == ["alpha", "beta"]
    # both right on turn 2: solved, so the episode terminates before the turn budget
    obs, rew, term, trunc, infos = env.step({"alpha": "banana", "beta": "BANANA"})
    # the reward is the improvement of the score (1 -> 2); the score itself is in infos
    assert rew == {"alpha": 1.0, "beta": 1.0} and infos["alpha"]["score"] == 2.0
    assert infos["alpha"]["return_normalized"] == 1.0
    assert term == {"alpha": True, "beta": True} and trunc == {"alpha": False, "beta": False}
    assert env.agents == []


def test_multi_turn_reward_is_the_improvement_and_sums_to_the_final_score():
    actions = [{"alpha": "banana", "beta": "kiwi"}, {"alpha": "kiwi", "beta": "kiwi"},
               {"alpha": "banana", "beta": "banana"}]  # scores 1, 0, 2
    env = make_offline(TOY_ID, num_turns=3)
    env.reset(options={"task_index": 0})
    steps = [env.step(a) for a in actions]
    assert [s[1]["beta"] for s in steps] == [1.0, -1.0, 2.0]
    assert [s[4]["beta"]["score"] for s in steps] == [1.0, 0.0, 2.0]
    assert sum(s[1]["alpha"] for s in steps) == steps[-1][4]["alpha"]["score"]
    # a new episode starts from a score of 0
    env.reset(options={"task_index": 0})
    assert env.step(actions[0])[1]["alpha"] == 1.0


def test_score_every_turn_is_the_v0_meaning():
    from toy_env import GuessEnv

    class GuessV0(GuessEnv):
        turn_reward = "score"

    env = GuessV0(num_turns=3)
    env.reset(options={"task_index": 0})
    rewards = [env.step({"alpha": a, "beta": "kiwi"})[1]["alpha"] for a in ("banana", "kiwi")]
    assert rewards == [1.0, 0.0]


def test_toy_turn_budget_ends_episode():
    env = make_offline(TOY_ID, num_turns=2)
    env.reset(options={"task_index": 1})
    _, _, term, _, _ = env.step({"alpha": "red", "beta": "green"})
    assert not any(term.values())
    _, _, term, trunc, _ = env.step({"alpha": "red", "beta": "green"})
    assert all(term.values()) and not any(trunc.values())


def test_constructor_rejects_bad_settings():
    with pytest.raises(ValueError, match="num_turns"):
        make_offline(TOY_ID, num_turns=0)
    with pytest.raises(ValueError, match="render_mode"):
        make_offline(TOY_ID, render_mode="human")


def test_unknown_reset_option_warns():
    env = make_offline(TOY_ID)
    with pytest.warns(UserWarning, match="unknown options"):
        env.reset(options={"task_idx": 1})


def test_step_batch_equals_sequential_steps():
    from collabzoo.envs import step_batch

    base = make_offline(TOY_ID, num_turns=2)
    base.reset(options={"task_index": 2})
    actions = [{"alpha": "elephant", "beta": x} for x in ("mouse", "Elephant", "")]
    batch = step_batch([copy.deepcopy(base) for _ in actions], actions)
    one_by_one = [copy.deepcopy(base).step(a) for a in actions]
    assert batch == one_by_one
    assert [r[1]["alpha"] for r in batch] == [1.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="2 envs but 1 joint actions"):
        step_batch([base, base], actions[:1])


def test_text_spaces_accept_llm_text():
    env = make_offline(TOY_ID)
    space = env.action_space("alpha")
    assert space.contains("Hello, world!\n\tIt’s “fine” — really…")
    assert not space.contains("emoji 🙂")  # outside the charset: still a legal action in step
    env.reset(seed=0)
    assert isinstance(space.sample(), str)
