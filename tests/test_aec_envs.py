"""The turn-based (AEC) contract, checked on every registered AEC env (collabzoo/envs/aec.py).

PettingZoo's own ``api_test`` assumes numpy observations and fails on text, hence our own.
"""

from __future__ import annotations

import copy
import random

import gymnasium
import pettingzoo
import pytest
from envtools import AEC_ENV_IDS, PLAIN_AEC_ID, make_offline
from plain_aec_env import CountTogether
from plain_env import BrevityEnv

import collabzoo
from collabzoo.envs.aec import aec_features, env_api, legal_actions, play_episode
from collabzoo.envs.registration import spec

WEIRD = ["", "ünïcödé 漢字 🙂", "x" * 1_000_000, "\x00\xff\x1b[31m\ud800?",
         "```\nplay 0\n```", "PLAY 99", "hint player 7 purple", "discard -1", "hint myself red"]


def _action(env, rng: random.Random) -> str:
    """A legal action most of the time, else some text an LLM might write."""
    legal = legal_actions(env, env.agent_selection)
    if legal and rng.random() < 0.85:
        return rng.choice(legal)
    return rng.choice(WEIRD[:2] + WEIRD[3:] + [str(rng.randrange(20))])


def _trace(env, seed: int, moves: int = 200) -> list:
    env.reset(seed=seed)
    rng = random.Random(seed)
    trace = []
    for _ in range(moves):
        if not env.agents:
            break
        agent = env.agent_selection
        done = env.terminations[agent] or env.truncations[agent]
        env.step(None if done else _action(env, rng))
        trace.append((agent, {a: env.observe(a) for a in env.agents}, dict(env.rewards),
                      dict(env.terminations), dict(env.truncations), copy.deepcopy(env.infos)))
    return trace


def test_aec_envs_are_registered_as_aec():
    assert "collabzoo/Hanabi-v1" in AEC_ENV_IDS and PLAIN_AEC_ID in AEC_ENV_IDS
    for env_id in AEC_ENV_IDS:
        assert spec(env_id).api == "aec" and env_id in pettingzoo.aec_registry
        assert env_id not in pettingzoo.parallel_registry


@pytest.mark.parametrize("env_id", AEC_ENV_IDS)
def test_features_and_text_spaces(env_id):
    env = make_offline(env_id)
    assert env_api(env) == "aec" and env_api(type(env)) == "aec"
    features = aec_features(env)
    assert list(features.agents) == env.possible_agents == list(spec(env_id).agents)
    assert not features.batched
    for agent in env.possible_agents:
        assert isinstance(env.observation_space(agent), gymnasium.spaces.Text)
        assert env.action_space(agent) is env.action_space(agent)


@pytest.mark.parametrize("env_id", AEC_ENV_IDS)
def test_seeds_are_reproducible_over_many_steps(env_id):
    first, second = _trace(make_offline(env_id), 11), _trace(make_offline(env_id), 11)
    assert len(first) >= 4 and first == second
    other = _trace(make_offline(env_id), 12)
    assert other != first


@pytest.mark.parametrize("env_id", AEC_ENV_IDS)
def test_deepcopy_branches_are_independent(env_id):
    env = make_offline(env_id)
    env.reset(seed=5)
    rng = random.Random(5)
    env.step(_action(env, rng))
    snapshot = (env.agent_selection, {a: env.observe(a) for a in env.agents},
                copy.deepcopy(env.infos), dict(env.rewards))
    branch = copy.deepcopy(env)
    actions = [_action(branch, random.Random(i)) for i in range(3)]
    results = []
    for target in (branch, env):
        for action in actions:
            if target.agents and not target.terminations[target.agent_selection]:
                target.step(action)
        results.append((target.agent_selection, {a: target.observe(a) for a in target.agents},
                        target.infos, target.rewards))
        if target is branch:  # the parent is untouched by its branch
            assert (env.agent_selection, {a: env.observe(a) for a in env.agents}, env.infos,
                    env.rewards) == snapshot
    assert results[0] == results[1]


@pytest.mark.parametrize("env_id", AEC_ENV_IDS)
@pytest.mark.parametrize("text", WEIRD, ids=range(len(WEIRD)))
def test_any_string_is_a_legal_action(env_id, text):
    env = make_offline(env_id)
    env.reset(seed=0)
    agent = env.agent_selection
    env.step(text)
    assert isinstance(env.observe(agent), str)
    assert env.agent_selection != agent or not env.agents or env.terminations[agent]


@pytest.mark.parametrize("env_id", AEC_ENV_IDS)
def test_agent_iter_and_last_play_a_whole_episode(env_id):
    env = make_offline(env_id)
    env.reset(seed=3)
    rng = random.Random(3)
    collected = dict.fromkeys(env.possible_agents, 0.0)
    moves = 0
    for agent in env.agent_iter(max_iter=5_000):
        observation, reward, terminated, truncated, info = env.last()
        assert agent == env.agent_selection and isinstance(observation, str)
        collected[agent] += reward  # what this agent earned since its last move
        if terminated or truncated:
            env.step(None)
            continue
        moves += 1
        env.step(_action(env, rng))
    assert env.agents == [] and moves >= 1
    features = aec_features(env)
    assert features.num_turns is None or moves <= features.num_turns
    # every agent collected the whole team return through last()
    assert len(set(collected.values())) == 1


@pytest.mark.parametrize("env_id", AEC_ENV_IDS)
def test_play_episode_returns_the_score(env_id):
    env = make_offline(env_id)
    rng = random.Random(0)
    episode = play_episode(env, lambda agent, obs, info: _action(env, rng), seed=0)
    assert env.agents == [] and episode.moves
    assert episode.team_return == pytest.approx(sum(r for _, _, r in episode.moves))
    assert episode.score == pytest.approx(episode.team_return)  # reward = change in score


def test_non_aec_and_non_text_envs_get_clear_errors():
    assert env_api(BrevityEnv()) == "parallel"
    with pytest.raises(TypeError, match="is not a PettingZoo AECEnv: it has no observe, last"):
        aec_features(BrevityEnv())

    class Numeric(CountTogether):
        def observation_space(self, agent):
            return gymnasium.spaces.Discrete(3)

    with pytest.raises(TypeError, match="gymnasium.spaces.Text"):
        aec_features(Numeric())


def test_plain_aec_env_uses_every_fallback():
    env = CountTogether()
    features = aec_features(env)
    assert (features.num_tasks, features.reward_max, features.num_turns) == (None, None, None)
    assert features.turn_limit(6) == 6 and features.reset_kwargs(2) == {"seed": 2}
    assert legal_actions(env, "first") is None
    def count_on(agent: str, observation: str, info: dict) -> str:
        return str(int(observation.split("count is ")[1].split(".")[0]) + 1)

    episode = play_episode(env, count_on, seed=1)
    assert [a for a, _, _ in episode.moves] == ["first", "second", "first", "second"]
    assert episode.score == episode.team_return == 4.0 and not episode.truncated
    short = play_episode(CountTogether(moves=10), lambda *_: "no", max_turns=3)
    assert len(short.moves) == 3 and short.truncated and short.score == 0.0


def test_register_takes_only_the_two_apis():
    with pytest.raises(ValueError, match="api must be 'parallel' or 'aec'"):
        collabzoo.register("tests/Turns-v0", "plain_aec_env:CountTogether", api="turns")
    env = collabzoo.make(PLAIN_AEC_ID)
    assert isinstance(env, CountTogether)
    assert type(pettingzoo.make("aec", PLAIN_AEC_ID)) is CountTogether
