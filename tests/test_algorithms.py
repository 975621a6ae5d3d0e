"""The algorithm family on a scripted two-turn tree (hand-computed advantages), the registry,
and a learnable plain env on ``tiny`` for every algorithm.

The scripted tree: :class:`ImproveEnv` (two agents answer digits; the joint score of turn t is
``(a + b) * 10**(t-1)``; the reward of a turn is the improvement of the score, the collabzoo
envs' multi-turn semantics), two turns, G = 2 aligned, sample j of every agent is ``str(j)``,
discount 0.5. Joint action g is "both say g":

    turn 1: scores [0, 2]          rewards [0, 2]
    turn 2: scores [0, 20]         rewards from score 0: [0, 20]; from score 2: [-2, 18]
    returns (rows = nodes, turn order):  root [0 + 0.5*10, 2 + 0.5*8] = [5, 6]
                                         c0   [0, 20]
                                         c1   [-2, 18]
"""

from __future__ import annotations

import math

import pytest
import torch
from trainer_fakes import CountingPolicy, DigitSumEnv

from collabzoo import algorithms
from collabzoo.agents.base import SamplingConfig
from collabzoo.algorithms.base import StepContext
from collabzoo.envs.contract import env_features
from collabzoo.trainers.rollout import regrow, rollout

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


class ImproveEnv(DigitSumEnv):
    turn_reward = "improvement"


def _tree(num_generations=2):
    env = ImproveEnv(num_turns=2, num_tasks=1)
    obs, _ = env.reset(options={"task_index": 0})
    policies = {"a": CountingPolicy(), "b": CountingPolicy()}
    features = env_features(env)
    tree = rollout([env], [obs], policies, num_generations=num_generations,
                   sampling=SamplingConfig(), discount=0.5, features=features)

    def rollout_from(nodes, G, sampling):
        return regrow(nodes, policies, num_generations=G, sampling=sampling, discount=0.5,
                      features=features)

    ctx = StepContext(policies=policies, sampling=SamplingConfig(), gather=lambda x: [x],
                      rank=0, rollout_from=rollout_from)
    return tree, ctx


def _credit(name, **config):
    cls = algorithms.load(name)
    config.setdefault("num_generations", 2)
    tree, ctx = _tree(config["num_generations"])
    algo = cls(cls.config_class(discount=0.5, **config), ["a", "b"])
    return tree, algo.credit(tree, ctx)


def _rows(credit, agent="a"):
    return [t.tolist() if t is not None else None for t in credit.advantages[agent]]


def test_scripted_tree_returns():
    tree, _ = _tree()
    assert tree.returns().tolist() == [[5.0, 6.0], [0.0, 20.0], [-2.0, 18.0]]


def test_magrpo_advantages_by_hand():
    _, credit = _credit("magrpo", scale="none")
    # minus the group mean: root 5.5, c0 10, c1 8
    assert _rows(credit) == [[-0.5, 0.5], [-10.0, 10.0, -10.0, 10.0]]
    assert _rows(credit, "b") == _rows(credit)  # aligned: every agent gets the joint credit
    _, scaled = _credit("magrpo")  # / (group std + 1e-4): std [0.7071, 14.142, 14.142]
    expected = [0.5 / (math.sqrt(0.5) + 1e-4), 10 / (math.sqrt(200) + 1e-4)]
    got = _rows(scaled)
    assert got[0][1] == pytest.approx(expected[0]) and got[1][1] == pytest.approx(expected[1])
    assert credit.metrics["frac_reward_zero_std"] == 0.0


def test_mareinforce_advantages_are_the_returns():
    _, credit = _credit("mareinforce")
    assert _rows(credit) == [[5.0, 6.0], [0.0, 20.0, -2.0, 18.0]]


def test_mareinforce_takes_one_generation():
    cls = algorithms.load("mareinforce")
    cls.config_class(num_generations=1)  # allowed
    with pytest.raises(ValueError, match="scale='group' needs num_generations >= 2"):
        cls.config_class(num_generations=1, scale="group")
    with pytest.raises(ValueError, match="num_generations must be >= 2"):
        algorithms.load("magrpo").config_class(num_generations=1)
    _, credit = _credit("mareinforce", num_generations=1)
    # G=1: both say "0" at both turns: rewards 0, returns 0
    assert _rows(credit) == [[0.0], [0.0]]


def test_marloo_advantages_by_hand():
    _, credit = _credit("marloo")
    # K=2: R_k minus the other one
    assert _rows(credit) == [[-1.0, 1.0], [-20.0, 20.0, -20.0, 20.0]]


def test_maremax_baseline_is_the_greedy_continuation():
    _, credit = _credit("maremax")
    # greedy = sample 0 = "0" for both: root: turn-1 reward 0, then turn-2 reward 0 -> 0;
    # c0 (score 0 so far): reward 0 - 0 = 0; c1 (score 2 so far): reward 0 - 2 = -2
    assert _rows(credit) == [[5.0, 6.0], [0.0, 20.0, 0.0, 20.0]]
    assert credit.metrics["maremax/greedy_return"] == pytest.approx((0 + 0 - 2) / 3)


def test_registry_lists_every_algorithm_and_suggests():
    names = [a.name for a in algorithms.list_algorithms()]
    assert names[:7] == ["magrpo", "mareinforce", "marloo", "maremax", "central", "iac", "maac"]
    with pytest.raises(algorithms.UnknownAlgorithmError, match="Did you mean 'marloo'"):
        algorithms.spec("marlo")
    with pytest.raises(ValueError, match="already registered"):
        algorithms.register("magrpo", "x.y:Z")


def test_algorithms_listing_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys; from collabzoo.algorithms import list_algorithms; list_algorithms(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_config_class_must_match_the_algorithm():
    from collabzoo.trainers import MAGRPOConfig, Trainer

    with pytest.raises(TypeError, match="'marloo' takes a MARLOOConfig, got a MAGRPOConfig"):
        Trainer(DigitSumEnv, model="tiny", config=MAGRPOConfig(), algorithm="marloo")


def test_tree_to_tensor_sanity():
    tree, _ = _tree()
    assert torch.equal(tree.choices, torch.tensor([[0, 0], [1, 1]]))


# ----------------------------------------------------------------------------- actor-critics
@pytest.mark.parametrize("name", ["iac", "maac"])
def test_actor_critic_gae_by_hand(name):
    # the critics start at V = 0 everywhere: with lambda = 0.5, discount = 0.5,
    # c0: [0, 20], c1: [-2, 18]; root: [0 + 0.25 * 10, 2 + 0.25 * 8] = [2.5, 4]
    _, credit = _credit(name, scale="none", gae_lambda=0.5)
    assert _rows(credit) == [[2.5, 4.0], [0.0, 20.0, -2.0, 18.0]]
    assert _rows(credit, "b") == _rows(credit)
    _, mc = _credit(name, scale="none", gae_lambda=1.0)  # lambda = 1: the returns
    assert _rows(mc) == [[5.0, 6.0], [0.0, 20.0, -2.0, 18.0]]
    assert mc.metrics["critic/value_mean"] == 0.0


def test_critic_texts_iac_own_observation_maac_joint():
    from collabzoo.algorithms.maac import joint_observation

    tree, _ = _tree()
    root = tree.levels[0][0]
    iac = algorithms.load("iac")(algorithms.load("iac").config_class(), ["a", "b"])
    assert iac.view_text("a", root) == root.observations["a"]
    assert joint_observation(root, ["a", "b"]) == (
        f"[a]\n{root.observations['a']}\n[b]\n{root.observations['b']}")
    assert list(iac.modules()) == ["critic/a", "critic/b"]
    maac = algorithms.load("maac")(algorithms.load("maac").config_class(), ["a", "b"])
    assert list(maac.modules()) == ["critic"]


@pytest.mark.parametrize("name", ["iac", "maac"])
def test_value_loss_falls_on_a_fixed_batch(name):
    cls = algorithms.load(name)
    tree, ctx = _tree()
    algo = cls(cls.config_class(num_generations=2, discount=0.5, critic_learning_rate=1e-2),
               ["a", "b"])
    first = algo.credit(tree, ctx).metrics["critic/value_loss"]
    params = [p for m in algo.modules().values() for p in m.module.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-2)
    for _ in range(100):
        algo.credit(tree, ctx)  # targets move with the values (lambda < 1)
        optimizer.zero_grad()
        sum(algo.module_losses(tree).values()).backward()
        optimizer.step()
    last = algo.credit(tree, ctx).metrics
    assert last["critic/value_loss"] < 0.1 * first, (first, last)
    assert last["critic/explained_variance"] > 0.5


def test_the_config_class_names_the_algorithm_when_it_is_unique():
    from collabzoo.trainers.loop import _resolve_algorithm

    marloo = algorithms.load("marloo")
    assert _resolve_algorithm(None, marloo.config_class())[0] is marloo
    assert _resolve_algorithm(None, None)[0].name == "magrpo"
    assert _resolve_algorithm(None, algorithms.load("iac").config_class())[0].name == "iac"
    with pytest.raises(TypeError, match="config of no registered algorithm: pass algorithm="):
        _resolve_algorithm(None, type("Sub", (algorithms.load("magrpo").config_class,), {})())


def test_central_credit_on_the_scripted_tree():
    """One policy writes both parts: sample j = "### A\\nj\\n### B\\nj" is the joint action
    "both say j", so the tree and MAGRPO's advantages are those of the two-agent tree."""
    from collabzoo.algorithms.central import TEAM, CentralEnv

    env = CentralEnv(ImproveEnv(num_turns=2, num_tasks=1))
    obs, _ = env.reset(options={"task_index": 0})
    policy = CountingPolicy(lambda j, prompt: f"### A\n{j}\n### B\n{j}")
    tree = rollout([env], [obs], {TEAM: policy}, num_generations=2, sampling=SamplingConfig(),
                   discount=0.5, features=env_features(env))
    assert tree.returns().tolist() == [[5.0, 6.0], [0.0, 20.0], [-2.0, 18.0]]
    central = algorithms.load("central")
    algo = central(central.config_class(num_generations=2, scale="none"), [TEAM])
    ctx = StepContext(policies={TEAM: policy}, sampling=SamplingConfig(), gather=lambda x: [x],
                      rank=0, rollout_from=None)
    assert _rows(algo.credit(tree, ctx), TEAM) == [[-0.5, 0.5], [-10.0, 10.0, -10.0, 10.0]]


def test_iac_uses_each_agents_own_reward_and_ends_its_future_when_it_leaves():
    """BrevityEnv (tests/plain_env.py): sample j = "x" * j; writer paid 10 / (10 + j) for two
    turns, editor 5 / (10 + j) for one turn, then it leaves. Critics at 0, lambda = 1,
    discount 0.5, no scaling: the editor's credit is its own reward (no future), the writer's
    its reward plus half the mean of its turn-2 rewards; MAAC uses the team reward (mean of
    the acting agents')."""
    from plain_env import BrevityEnv

    env = BrevityEnv()
    obs, _ = env.reset(seed=0)
    policies = {a: CountingPolicy(lambda j, prompt: "x" * j) for a in ("writer", "editor")}
    tree = rollout([env], [obs], policies, num_generations=2, sampling=SamplingConfig(),
                   discount=0.5, features=env_features(env))
    ctx = StepContext(policies=policies, sampling=SamplingConfig(), gather=lambda x: [x],
                      rank=0, rollout_from=None)
    agents = ["writer", "editor"]
    settings = dict(num_generations=2, discount=0.5, gae_lambda=1.0, scale="none")
    iac = algorithms.load("iac")
    credit = iac(iac.config_class(**settings), agents).credit(tree, ctx)
    later = (1 + 10 / 11) / 2  # the writer's turn-2 rewards, j = 0, 1
    assert _rows(credit, "editor")[0] == pytest.approx([0.5, 5 / 11])
    assert _rows(credit, "editor")[1] is None
    assert _rows(credit, "writer")[0] == pytest.approx([1 + 0.5 * later, 10 / 11 + 0.5 * later])
    assert _rows(credit, "writer")[1] == pytest.approx([1, 10 / 11] * 2)
    maac = algorithms.load("maac")
    team = maac(maac.config_class(**settings), agents).credit(tree, ctx)
    assert _rows(team, "editor")[0] == pytest.approx([0.75 + 0.5 * later, 7.5 / 11 + 0.5 * later])
    iac_team = iac(iac.config_class(reward="team", **settings), agents).credit(tree, ctx)
    assert _rows(iac_team, "editor")[0] == pytest.approx([0.75, 7.5 / 11])  # it left: no future
