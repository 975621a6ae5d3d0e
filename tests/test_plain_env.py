"""A PettingZoo ParallelEnv that knows nothing of collabzoo (tests/plain_env.py: no
``num_tasks``, ``num_turns`` or ``reward_max``; per-agent rewards that differ; ``editor``
leaves a turn before ``writer``) trains, evaluates, checkpoints and resumes, in Python and
through the CLI with an entry-point plugin."""

from __future__ import annotations

import json
from functools import partial

import gymnasium
import numpy as np
import pettingzoo
import pytest
import torch
from envtools import install_fake_plugin
from plain_env import BrevityEnv
from trainer_fakes import CountingPolicy

from collabzoo.agents.base import SamplingConfig
from collabzoo.cli import main
from collabzoo.envs import registration
from collabzoo.envs.contract import TEAM_REWARDS, env_features, read_step, step_batch
from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer
from collabzoo.trainers.config import TeamReward
from collabzoo.trainers.rollout import rollout

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

FAST = dict(batch_size=2, num_generations=2, max_new_tokens=4, progress_bar=False, report_to=())


def _x_policy():
    """Sample j is ``"x" * j``: writer's reward 10 / (10 + j), editor's 5 / (10 + j)."""
    return CountingPolicy(lambda j, prompt: "x" * j)


# ----------------------------------------------------------------------------- the contract
def test_features_of_a_plain_env_are_the_fallbacks():
    features = env_features(BrevityEnv())
    assert features.agents == ("writer", "editor")
    assert (features.num_tasks, features.reward_max, features.num_turns, features.batched) == (
        None, None, None, False)
    assert features.turn_limit(max_turns=3) == 3
    assert features.reset_kwargs(5) == {"seed": 5}
    assert features.reset_kwargs(5, seed=9) == {"seed": 9}
    assert features.default_episodes == 16


def test_features_of_a_collabzoo_env_are_its_extras():
    from toy_env import GuessEnv

    features = env_features(GuessEnv(num_turns=3))
    assert (features.num_tasks, features.reward_max, features.num_turns, features.batched) == (
        4, 2.0, 3, True)
    assert features.reset_kwargs(5, seed=1) == {"options": {"task_index": 1}, "seed": 1}


def test_team_reward_names_match_the_config():
    assert set(TEAM_REWARDS) == set(TeamReward.__args__)


class BoxEnv(BrevityEnv):
    def observation_space(self, agent):
        return gymnasium.spaces.Box(0, 1, (3,)) if agent == "editor" else self._space


def test_non_text_space_is_a_clear_error_at_construction():
    with pytest.raises(TypeError, match=r"agent 'editor' of BoxEnv has the observation space "
                                        r"Box\(0\.0, 1\.0, \(3,\), float32\)"):
        MAGRPOTrainer(BoxEnv, model="tiny", config=MAGRPOConfig(**FAST))


def test_step_batch_falls_back_to_step():
    envs = [BrevityEnv(), BrevityEnv()]
    for seed, env in enumerate(envs):
        env.reset(seed=seed)
    results = step_batch(envs, [{"writer": "", "editor": "xxxxx"}, {"writer": "xx", "editor": ""}])
    assert [r[1] for r in results] == [{"writer": 1.0, "editor": 5 / 15},
                                       {"writer": 10 / 12, "editor": 0.5}]
    assert [env.agents for env in envs] == [["writer"], ["writer"]]  # editor left


def test_read_step_team_reward_and_leaving_agents():
    env = BrevityEnv()
    env.reset(seed=0)
    features = env_features(env)
    result = env.step({"writer": "", "editor": "xxxxx"})  # rewards 1 and 1/3
    step = read_step(result, ["writer", "editor"], features)
    assert step.rewards == {"writer": 1.0, "editor": 5 / 15}
    assert step.reward == pytest.approx(2 / 3) and step.score == pytest.approx(2 / 3)
    assert step.live == ["writer"] and list(step.observations) == ["writer"]
    assert step.return_normalized is None and not step.done
    assert read_step(result, ["writer", "editor"], features, team_reward="min").reward == 5 / 15
    last = read_step(env.step({"writer": "xxxxxxxxxx"}), ["writer"], features,
                     return_before=2 / 3)
    assert last.done and last.reward == 0.5 and last.score == pytest.approx(2 / 3 + 0.5)


# ----------------------------------------------------------------------------- the rollout
def test_rollout_tree_by_hand():
    """G=2, aligned: sample j = "x" * j. Turn 1 (both): writer 10/(10+j), editor 5/(10+j),
    team = mean: j=0 -> 0.75, j=1 -> 7.5/11. Turn 2 (writer only): 1, 10/11."""
    envs, observations = [], []
    for seed in (0, 1):
        env = BrevityEnv()
        observations.append(env.reset(seed=seed)[0])
        envs.append(env)
    policies = {"writer": _x_policy(), "editor": _x_policy()}
    tree = rollout(envs, observations, policies, num_generations=2, sampling=SamplingConfig(),
                   discount=0.5)
    assert [len(level) for level in tree.levels] == [2, 4]
    assert tree.active == {"writer": [[0, 1], [0, 1, 2, 3]], "editor": [[0, 1], []]}
    assert tree.samples["editor"][1] is None and len(tree.samples["writer"][1]) == 8
    assert policies["editor"].calls == [(2, 2)]  # never asked once it left
    root = tree.levels[0][0]
    assert root.edges[1].rewards == {"writer": 10 / 11, "editor": 5 / 11}
    child_mean = (1 + 10 / 11) / 2
    expected_root = [0.75 + 0.5 * child_mean, 7.5 / 11 + 0.5 * child_mean]
    expected = torch.tensor([expected_root] * 2 + [[1.0, 10 / 11]] * 4, dtype=torch.float64)
    assert torch.allclose(tree.returns(), expected)
    assert tree.levels[1][0].edges[0].rewards == {"writer": 1.0}
    # cross mode: at the writer-only nodes the editor's choice is ignored
    env = BrevityEnv()
    cross = rollout([env], [env.reset(seed=0)[0]], {"writer": _x_policy(), "editor": _x_policy()},
                    num_generations=2, sampling=SamplingConfig(), joint_mode="cross")
    assert [len(level) for level in cross.levels] == [1, 4]
    assert [e.reward for e in cross.levels[1][0].edges] == [1.0, 1.0, 10 / 11, 10 / 11]
    # a cap on the turns of an env without num_turns
    long = BrevityEnv(writer_turns=5)
    capped = rollout([long], [long.reset(seed=0)[0]],
                     {"writer": _x_policy(), "editor": _x_policy()}, num_generations=2,
                     sampling=SamplingConfig(), max_turns=3)
    assert [len(level) for level in capped.levels] == [1, 2, 4]


# ----------------------------------------------------------------------------- training
def _trainer(out, steps, **overrides):
    config = MAGRPOConfig(**{**FAST, "steps": steps, "output_dir": str(out), "save_every": 1,
                             "keep_checkpoints": None, "eval_every": 2, "eval_tasks": 3,
                             "learning_rate": 1e-3, **overrides})
    return MAGRPOTrainer(BrevityEnv, model="tiny", config=config)


def _parameters(trainer):
    return [p.detach().clone() for a in trainer.agents
            for p in trainer.policies[a].trainable_parameters()]


def test_plain_env_trains_evaluates_checkpoints_and_resumes(tmp_path):
    straight = _trainer(tmp_path / "straight", 3)
    history = straight.train()
    # B=2 roots + B*G=4 children where only the writer acts; then the writer leaves too
    assert [r["rollout/nodes"] for r in history] == [6.0] * 3
    assert "return_normalized" not in history[0]  # the env has no reward_max
    assert {"reward/mean", "reward/turn_2", "reward/length_writer",
            "loss/policy/editor"} <= set(history[0])
    assert "eval/reward/mean" in history[1] and "eval/return_normalized" not in history[1]
    assert 0 < history[1]["eval/reward/mean"] < 0.75 + 1.0  # two turns of team rewards < 1
    first = _trainer(tmp_path / "resumed", 2)
    first.train()
    resumed = _trainer(tmp_path / "resumed", 3)
    resumed.train(resume=True)
    assert resumed.step == 3
    assert all(torch.equal(a, b) for a, b in zip(_parameters(straight), _parameters(resumed),
                                                 strict=True))
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "resumed" / "agents").iterdir()) == [
        "editor", "writer"]


def test_cross_mode_step_with_an_agent_that_left(tmp_path):
    metrics = _trainer(tmp_path, 1, joint_mode="cross").training_step()
    assert metrics["rollout/nodes"] == 2 + 2 * 4  # G^N = 4 joint actions per root
    assert np.isfinite(metrics["loss/policy/editor"]) and np.isfinite(metrics["loss/policy"])


def test_evaluate_plain_env_runs_seeds_and_is_repeatable(tmp_path):
    trainer = _trainer(tmp_path, 1, eval_tasks=4)
    first = trainer.evaluate()
    assert trainer.evaluate() == first
    # the same number by hand: greedy texts, seeds 0..3, undiscounted team return
    total = []
    for seed in range(4):
        env = BrevityEnv()
        obs, _ = env.reset(seed=seed)
        ret = 0.0
        while env.agents:
            acting = list(env.agents)
            texts = {a: trainer.policies[a].sample([obs[a]], 1, SamplingConfig(
                max_new_tokens=4, temperature=0.0)).texts[0] for a in acting}
            obs, rewards, *_ = env.step(texts)
            ret += np.mean([rewards[a] for a in acting])
        total.append(ret)
    assert first["eval/reward/mean"] == pytest.approx(np.mean(total))


def test_plain_env_learnable_reward_rises():
    """Single turn, each agent paid for brevity: the agents learn to stop early."""
    config = MAGRPOConfig(steps=30, batch_size=4, num_generations=4, max_new_tokens=8,
                          learning_rate=1e-2, agent_sharing="copies", seed=0,
                          progress_bar=False, report_to=())
    history = MAGRPOTrainer(partial(BrevityEnv, writer_turns=1), model="tiny",
                            config=config).train()
    rewards = [r["reward/mean"] for r in history]
    first, last = np.mean(rewards[:5]), np.mean(rewards[-5:])
    assert last > first + 0.15, f"reward did not rise: first 5 steps {first:.3f}, last 5 {last:.3f}"


# ----------------------------------------------------------------------------- CLI + plugin
@pytest.fixture
def brevity_plugin(tmp_path, monkeypatch):
    """``its/Brevity-v0`` registered by an installed package's entry point."""
    install_fake_plugin(tmp_path, monkeypatch, "its-plugin", "its_plugin:register_envs", """
        import collabzoo

        def register_envs():
            collabzoo.register("its/Brevity-v0", "plain_env:BrevityEnv",
                               agents=("writer", "editor"), description="brevity")
        """)
    yield "its/Brevity-v0"
    registration._INFOS.pop("its/Brevity-v0", None)
    pettingzoo.parallel_registry.pop("its/Brevity-v0", None)


def test_cli_trains_evaluates_and_resumes_a_plugin_env(brevity_plugin, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--set", "batch_size=2", "num_generations=2", "max_new_tokens=4", "save_every=1",
              "progress_bar=false", "report_to=", "team_reward=min"]
    assert main(["train", "--env", brevity_plugin, "--model", "tiny", "--steps", "1",
                 "--env-kwargs", "writer_turns=3", "--output", str(out), *common]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["rollout/nodes"] == 2 + 4 + 8  # the writer stays for 3 turns
    assert main(["train", "--resume", str(out), "--steps", "2"]) == 0
    assert (out / "checkpoints" / "step-2").is_dir()
    results = tmp_path / "eval"
    assert main(["eval", "--env", brevity_plugin, "--agents", f"run:{out}", "--episodes", "3",
                 "--max-new-tokens", "4", "--output", str(results), "--no-progress"]) == 0
    summary = json.loads((results / "summary.json").read_text())
    assert summary["episodes"] == 3 and summary["turns"]["mean"] == 2.0  # writer_turns=2 by default
    capsys.readouterr()
    # without --episodes: the seeded default
    assert main(["eval", "--env", brevity_plugin, "--agents", "random:1", "--output",
                 str(tmp_path / "eval16"), "--no-progress"]) == 0
    assert json.loads((tmp_path / "eval16" / "summary.json").read_text())["episodes"] == 16
