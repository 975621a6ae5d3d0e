"""The rollout tree on a scripted env with known rewards: shapes, counts, returns."""

from __future__ import annotations

import copy
import statistics

import pytest
import torch
from trainer_fakes import CountingPolicy, DigitSumEnv

from collabzoo.agents.base import SamplingConfig
from collabzoo.envs.core import Score, TextCollabEnv
from collabzoo.trainers.advantages import compute_advantages
from collabzoo.trainers.rollout import aligned_choices, cross_choices, rollout


def _grow(num_turns=1, batch=3, G=2, mode="aligned", discount=0.5, **kwargs):
    env_kwargs = {k: kwargs.pop(k) for k in ("solve_at",) if k in kwargs}
    base = DigitSumEnv(num_turns=num_turns, **env_kwargs)
    envs, obs = [], []
    for i in range(batch):
        env = copy.deepcopy(base)
        o, _ = env.reset(options={"task_index": i})
        envs.append(env)
        obs.append(o)
    policies = {"a": CountingPolicy(), "b": CountingPolicy()}
    tree = rollout(envs, obs, policies, num_generations=G, sampling=SamplingConfig(),
                   joint_mode=mode, discount=discount, **kwargs)
    return tree, policies


def test_choices():
    assert aligned_choices(3, 2) == [(0, 0), (1, 1), (2, 2)]
    assert cross_choices(2, 2) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert len(cross_choices(3, 3)) == 27


def test_single_turn_aligned():
    tree, policies = _grow()
    assert [len(level) for level in tree.levels] == [3]
    # sample g of a and b is "g": rewards 0 and 2 at every node
    assert tree.returns().tolist() == [[0.0, 2.0]] * 3
    assert policies["a"].calls == [(3, 2)]  # one batched call for all B nodes


def test_single_turn_cross_counts():
    tree, _ = _grow(mode="cross")
    assert tree.choices.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert tree.returns().tolist() == [[0.0, 1.0, 1.0, 2.0]] * 3


@pytest.mark.parametrize("mode, nodes, k", [("aligned", [3, 6], 2), ("cross", [3, 12], 4)])
def test_two_turn_tree_shape_and_discounted_returns(mode, nodes, k):
    tree, policies = _grow(num_turns=2, mode=mode, discount=0.5)
    assert [len(level) for level in tree.levels] == nodes
    # one generate call per agent per turn, over every node of that turn
    assert policies["b"].calls == [(nodes[0], 2), (nodes[1], 2)]
    assert [len(s) for s in tree.samples["a"]] == [n * 2 for n in nodes]
    # turn 2 rewards are (a+b)*10; every child has the same edges, so its mean is the same
    child_mean = 10.0  # aligned: (0 + 20) / 2 ; cross: (0 + 10 + 10 + 20) / 4
    first = [0.0, 2.0] if mode == "aligned" else [0.0, 1.0, 1.0, 2.0]
    returns = tree.returns()
    assert returns.shape == (sum(nodes), k)
    assert returns[:3].tolist() == [[r + 0.5 * child_mean for r in first]] * 3
    assert returns[3:].tolist() == [[r * 10 for r in first]] * nodes[1]
    # the children's observations carry their own history
    child = tree.levels[1][0]
    assert child.turn == 1 and "[Turn 1] Your answer:\n0" in child.observations["a"]


def test_discount_is_used():
    zero, _ = _grow(num_turns=2, discount=0.0)
    one, _ = _grow(num_turns=2, discount=1.0)
    assert zero.returns()[0].tolist() == [0.0, 2.0]
    assert one.returns()[0].tolist() == [10.0, 12.0]


def test_env_termination_ends_a_branch():
    # solved when the reward reaches 2: joint action 1 ends at turn 1, joint action 0 goes on
    tree, _ = _grow(num_turns=3, solve_at=2.0, batch=1)
    assert [len(level) for level in tree.levels] == [1, 1, 1]
    root = tree.levels[0][0]
    assert root.edges[1].child is None and root.edges[0].child is not None
    # turn 2 node: edge 0 reward 0 goes on, edge 1 reward 20 solved; turn 3: rewards 0, 200
    assert root.edges[0].value == pytest.approx(0 + 0.5 * ((0 + 0.5 * 100) + 20) / 2)
    assert root.edges[1].value == 2.0


def test_early_stop_threshold_stops_high_rewards_only():
    # return_normalized = reward / 100: joint action 1 (reward 2) stops at threshold 0.02
    tree, _ = _grow(num_turns=2, batch=1, early_stop_threshold=0.02)
    root = tree.levels[0][0]
    assert [e.early_stop for e in root.edges] == [False, True]
    assert [len(level) for level in tree.levels] == [1, 1]


def test_generation_batch_size_splits_calls():
    tree, policies = _grow(batch=3, G=2, generation_batch_size=4)
    assert policies["a"].calls == [(2, 2), (1, 2)]
    assert len(tree.samples["a"][0]) == 6
    assert torch.equal(tree.samples["a"][0].completion_ids[:, 0], torch.tensor([0, 1] * 3))


class ScoreEnv(TextCollabEnv):
    """The joint score is the number agent ``a`` writes; 4.0 solves (max 4.0)."""

    metadata = {"name": "score_v1", "render_modes": ["ansi"], "is_parallelizable": True}
    roles = ("a", "b")
    reward_max = 4.0

    def __init__(self, num_turns: int = 2) -> None:
        self.tasks = [{"id": 0}]
        super().__init__(num_turns=num_turns)

    def prompt(self, agent, task):
        return f"{agent}: write a score"

    def score(self, task, actions):
        value = float(actions["a"])
        return Score(reward=value, solved=value >= 4.0)


def _worked_example(turn_reward):
    """The issue's 2-turn coding tree, G=4: turn-1 scores [4 (solved), 2.357, 2.357, 1.5];
    every unsolved node's children score [4, 4, 2.357, 1.5]."""
    env = type("Env", (ScoreEnv,), {"turn_reward": turn_reward})()
    obs, _ = env.reset(options={"task_index": 0})

    def text(j, prompt):
        return (["4", "4", "2.357", "1.5"] if "[Turn 1]" in prompt else ["4", "2.357", "2.357", "1.5"])[j]

    policies = {"a": CountingPolicy(text), "b": CountingPolicy(text)}
    tree = rollout([env], [obs], policies, num_generations=4, sampling=SamplingConfig(),
                   discount=0.9)
    assert [len(level) for level in tree.levels] == [1, 3]  # the solved branch ends
    returns = tree.returns()[:1]
    return returns, compute_advantages(returns, "mean", "group", 1e-4).values[0]


def _by_hand(returns):
    mean, std = statistics.fmean(returns), statistics.stdev(returns)
    return [(r - mean) / (std + 1e-4) for r in returns]


def test_worked_example_solving_first_gets_the_highest_advantage():
    returns, advantages = _worked_example("improvement")
    # rewards are improvements: children of 2.357 get [1.643, 1.643, 0, -0.857] (mean
    # 0.60725), children of 1.5 get [2.5, 2.5, 0.857, 0] (mean 1.46425)
    expected = [4.0, 2.357 + 0.9 * 0.60725, 2.357 + 0.9 * 0.60725, 1.5 + 0.9 * 1.46425]
    assert returns[0].tolist() == pytest.approx(expected)
    assert advantages.tolist() == pytest.approx(_by_hand(expected), abs=1e-6)
    assert int(advantages.argmax()) == 0 and advantages[0] > 0


def test_worked_example_under_the_v0_reward_punished_solving_first():
    returns, advantages = _worked_example("score")
    child_mean = (4 + 4 + 2.357 + 1.5) / 4
    expected = [4.0, 2.357 + 0.9 * child_mean, 2.357 + 0.9 * child_mean, 1.5 + 0.9 * child_mean]
    assert returns[0].tolist() == pytest.approx(expected)
    assert advantages.tolist() == pytest.approx([-1.01, 0.86, 0.86, -0.71], abs=0.01)


class TogetherPolicy(CountingPolicy):
    """A CountingPolicy class that can sample several of its policies in one call (each
    joint call recorded as the prompt counts); ``decline``: it returns None (cannot)."""

    joint_calls: list[list[int]] = []
    decline = False

    @classmethod
    def sample_together(cls, policies, prompts, n, sampling):
        if cls.decline:
            return None
        cls.joint_calls.append([len(p) for p in prompts])
        return [CountingPolicy.sample(policy, texts, n, sampling)
                for policy, texts in zip(policies, prompts, strict=True)]


@pytest.mark.parametrize("together, decline, max_rows, joint", [
    (True, False, None, [[3, 3]]),     # one call for both agents
    (True, False, 12, [[3, 3]]),       # 2 agents x 3 prompts x G=2 rows fit in 12
    (True, False, 8, []),              # they do not fit in 8: per agent
    (False, False, None, []),          # switched off
    (True, True, None, []),            # the class declines: per agent
])
def test_agents_of_a_turn_sample_together_where_their_policies_can(together, decline, max_rows,
                                                                    joint, monkeypatch):
    monkeypatch.setattr(TogetherPolicy, "joint_calls", [])
    monkeypatch.setattr(TogetherPolicy, "decline", decline)
    base = DigitSumEnv()
    envs, obs = [], []
    for i in range(3):
        env = copy.deepcopy(base)
        o, _ = env.reset(options={"task_index": i})
        envs.append(env)
        obs.append(o)
    policies = {"a": TogetherPolicy(), "b": TogetherPolicy()}
    tree = rollout(envs, obs, policies, num_generations=2, sampling=SamplingConfig(),
                   generation_batch_size=max_rows, generate_together=together)
    assert TogetherPolicy.joint_calls == joint
    # the same samples either way: sample j of every agent forms joint action j
    assert [len(tree.samples[a][0]) for a in "ab"] == [6, 6]
    assert [e.reward for e in tree.levels[0][0].edges] == [0.0, 2.0]
    if not joint:
        assert policies["a"].calls == policies["b"].calls == [(3, 2)]
