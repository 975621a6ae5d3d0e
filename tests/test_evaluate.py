"""The one evaluation path: its defaults, its repeats, and what it lends the agents."""

from __future__ import annotations

import pytest

import collabzoo
from collabzoo.agents import ScriptedAgent
from collabzoo.agents.base import DEFAULT_SAMPLING, SamplingConfig
from collabzoo.envs.answer_length import tokens_needed
from collabzoo.evaluation import eval_sampling, evaluate


class RecordingAgent:
    """Answers ``"1"`` and records the sampling it held at each call."""

    def __init__(self) -> None:
        self.sampling = SamplingConfig(max_new_tokens=7, temperature=1.0)
        self.seen: list[SamplingConfig] = []

    def act(self, observations, n=1):
        self.seen.append(self.sampling)
        return [["1"] * n for _ in observations]


def test_defaults_are_greedy_at_the_declared_length():
    env = collabzoo.make("collabzoo/TLDR-v1", dataset="bundled", split="test")
    sampling = eval_sampling(env)
    assert sampling.greedy and sampling.max_new_tokens == tokens_needed(env) == 160
    assert sampling.seed is None
    assert eval_sampling(env, temperature=0.7, seed=3).seed == 3
    with pytest.warns(UserWarning, match="below the 160 tokens"):
        eval_sampling(env, max_new_tokens=8)


def test_policy_default_sampling_is_the_evaluation_default():
    pytest.importorskip("torch")
    from collabzoo.agents import load_policy

    policy = load_policy("tiny")
    assert policy.sampling == DEFAULT_SAMPLING
    assert DEFAULT_SAMPLING.greedy and DEFAULT_SAMPLING.max_new_tokens == 128


def test_sampling_is_lent_for_the_call_and_restored():
    from trainer_fakes import DigitSumEnv

    agent = RecordingAgent()
    env = DigitSumEnv(num_tasks=3)
    result = evaluate(env, [agent], episodes=3)
    assert result.sampling == eval_sampling(env)
    assert all(s == result.sampling for s in agent.seen) and agent.seen
    assert agent.sampling == SamplingConfig(max_new_tokens=7, temperature=1.0)  # restored


def test_repeats_score_each_episode_by_its_mean():
    from trainer_fakes import DigitSumEnv

    # the answer depends on the repeat's sampling seed: seed 10 -> "1", seed 11 -> "3"
    agent = RecordingAgent()
    agent.act = lambda obs, n=1: [[("1" if agent.sampling.seed == 10 else "3")] * n
                                  for _ in obs]
    env = DigitSumEnv(num_tasks=2)
    result = evaluate(env, [agent], episodes=2, seed=10, samples=2,
                      sampling=SamplingConfig(max_new_tokens=4, temperature=1.0))
    assert len(result.records) == 4
    # DigitSumEnv's reward is a + b: 2 in repeat 0, 6 in repeat 1, normalised by its
    # reward_max of 100: (0.02 + 0.06) / 2 per episode
    assert result.episode_scores == pytest.approx([0.04, 0.04])
    with pytest.raises(ValueError, match="samples must be >= 1"):
        evaluate(env, [ScriptedAgent(lambda o: "1")], samples=0)
