"""Training on turn-based (AEC) envs with the episode-group rollout: a group is G whole
episodes from the same reset, only the acting agent samples, every algorithm's credit by hand
for a known group, resume exactness, the CLI through an entry-point plugin."""

from __future__ import annotations

import json
import re

import pettingzoo
import pytest
import torch
from envtools import install_fake_plugin
from plain_aec_env import CountTogether
from trainer_fakes import CountingPolicy

from collabzoo import algorithms
from collabzoo.agents.base import SamplingConfig
from collabzoo.algorithms.base import StepContext
from collabzoo.cli import main
from collabzoo.envs import registration
from collabzoo.envs.aec import aec_features
from collabzoo.trainers import Trainer
from collabzoo.trainers.episodes import episode_rollout, reset_starts
from collabzoo.trainers.loop import rollout_mode

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

FAST = dict(batch_size=2, num_generations=2, max_new_tokens=4, progress_bar=False,
            report_to=(), eval_every=0, save_every=0)


class Alternating(CountingPolicy):
    """Row k of its k-th prompt overall (counted across calls) says the next number of the
    count when k is even, else ``x``: with G = 2 and one task, episode 0 is always right and
    episode 1 always wrong."""

    def __init__(self) -> None:
        self.rows = 0
        self.weight = torch.nn.Parameter(torch.zeros(1))

        def text(j: int, prompt: str) -> str:
            self.rows += 1
            count = int(re.search(r"The count is (\d+)", prompt).group(1))
            return str(count + 1) if (self.rows - 1) % 2 == 0 else "x"

        super().__init__(text)

    def trainable_parameters(self):
        return [self.weight]


class Lengthy(CountTogether):
    """CountTogether whose move reward is the answer's length / 10 (at most 1): a reward
    the tiny model's answers vary on."""

    def step(self, action):
        dead = self.terminations[self.agent_selection] or self.truncations[self.agent_selection]
        super().step(action)
        if not dead:
            reward = min(len(action), 10) / 10
            self.rewards = {a: reward for a in self.agents}


def _group(episode_credit="episode", discount=1.0, moves=2):
    env = CountTogether(moves=moves)
    policies = {"first": Alternating(), "second": Alternating()}
    tree = episode_rollout(reset_starts(env, [{"seed": 3}]), policies, num_generations=2,
                           sampling=SamplingConfig(), features=aec_features(env),
                           discount=discount, per_decision=episode_credit == "to_go")
    return tree, policies


def _context(policies):
    return StepContext(policies=policies, sampling=SamplingConfig(), gather=lambda x: [x],
                       rank=0, rollout_from=None)


def test_a_group_is_g_whole_episodes_and_only_the_mover_samples():
    first, second = CountingPolicy(), CountingPolicy()
    env = CountTogether(moves=3)
    tree = episode_rollout(reset_starts(env, [{"seed": 0}, {"seed": 1}]),
                           {"first": first, "second": second}, num_generations=2,
                           sampling=SamplingConfig(), features=aec_features(env))
    # moves: first, second, first; each move one call with the 4 episodes' prompts, n = 1
    assert first.calls == [(4, 1), (4, 1)] and second.calls == [(4, 1)]
    assert [len(level) for level in tree.levels] == [4, 4, 4]
    assert [tree.samples["second"][t] is None for t in range(3)] == [True, False, True]
    assert [e.task for e in tree.episodes] == [0, 0, 1, 1]
    assert [e.moves for e in tree.episodes] == [3] * 4
    assert tree.group_returns().shape == (2, 2)
    assert len(tree.group_nodes()) == 2 and tree.group_nodes()[0].env is not None


def test_magrpo_credit_of_a_two_episode_group_by_hand():
    tree, policies = _group()
    # episode 0 says both numbers right (return 2), episode 1 neither (return 0)
    assert tree.group_returns().tolist() == [[2.0, 0.0]]
    magrpo = algorithms.load("magrpo")
    algo = magrpo(magrpo.config_class(**FAST), ["first", "second"])
    credit = algo.credit(tree, _context(policies))
    credit.check(tree, ["first", "second"], "magrpo")
    a = 1.0 / (2 ** 0.5 + 1e-4)  # (2 - 1) / (std([2, 0]) + eps), std Bessel-corrected
    assert credit.advantages["first"][0].tolist() == pytest.approx([a, -a])
    assert credit.advantages["first"][1] is None
    assert credit.advantages["second"][1].tolist() == pytest.approx([a, -a])


def test_to_go_credit_uses_each_decisions_return_to_go():
    tree, policies = _group("to_go", discount=0.5)
    # episode 0: rewards 1, 1 -> returns-to-go 1.5 (move 0) and 1 (move 1); episode 1: 0, 0
    assert tree.group_returns().tolist() == [[1.5, 0.0]]
    magrpo = algorithms.load("magrpo")
    algo = magrpo(magrpo.config_class(**FAST, discount=0.5), ["first", "second"])
    credit = algo.credit(tree, _context(policies))
    std = (2 * 0.75 ** 2) ** 0.5 + 1e-4
    assert credit.advantages["first"][0].tolist() == pytest.approx([0.75 / std, -0.75 / std])
    assert credit.advantages["second"][1].tolist() == pytest.approx([0.25 / std, -0.75 / std])


@pytest.mark.parametrize(("name", "expected"), [
    ("marloo", [2.0, -2.0]),        # return minus the other episode's
    ("mareinforce", [2.0, 0.0]),    # no baseline
])
def test_sibling_credit_of_a_two_episode_group_by_hand(name, expected):
    tree, policies = _group()
    cls = algorithms.load(name)
    algo = cls(cls.config_class(**{**FAST, "scale": "none"}), ["first", "second"])
    credit = algo.credit(tree, _context(policies))
    assert credit.advantages["first"][0].tolist() == pytest.approx(expected)


def test_maremax_baseline_is_a_greedy_episode_from_the_reset(tmp_path):
    cls = algorithms.load("maremax")
    trainer = Trainer(CountTogether, env_kwargs={"moves": 2},
                      policies={"first": Alternating(), "second": Alternating()},
                      config=cls.config_class(**FAST, discount=1.0), algorithm="maremax")
    tree = trainer._episodes(reset_starts(trainer.env, [{"seed": 3}]), 2, trainer.sampling, {})
    credit = trainer.algorithm.credit(tree, trainer._context())
    # the greedy replay (its policies' next rows) is right on both moves: baseline 2
    assert credit.metrics["maremax/greedy_return"] == 2.0
    assert credit.advantages["first"][0].tolist() == pytest.approx([0.0, -2.0])


@pytest.mark.parametrize("name", ["iac", "maac"])
def test_actor_critics_value_every_decision(name):
    tree, policies = _group(moves=3)
    cls = algorithms.load(name)
    algo = cls(cls.config_class(**{**FAST, "scale": "none", "gae_lambda": 1.0}),
               ["first", "second"])
    credit = algo.credit(tree, _context(policies))
    credit.check(tree, ["first", "second"], name)
    # an untrained critic values 0: the advantage is the return-to-go (discount 0.9 default)
    rtg0 = 1 + 0.9 + 0.81
    assert credit.advantages["first"][0].tolist() == pytest.approx([rtg0, 0.0])
    assert set(algo.module_losses(tree)) == set(algo.modules())


@pytest.mark.parametrize("name", [i.name for i in algorithms.list_algorithms()])
def test_every_algorithm_trains_two_steps_on_a_plain_aec_env(name):
    cls = algorithms.load(name)
    config = cls.config_class(**{**FAST, "steps": 2})
    if name == "central":
        with pytest.raises(ValueError, match="'central' cannot train the turn-based env"):
            Trainer(CountTogether, model="tiny", config=config, algorithm=name)
        return
    trainer = Trainer(Lengthy, model="tiny", config=config, algorithm=name)
    assert trainer.rollout_mode == "episodes"
    history = trainer.train()
    assert len(history) == 2 and history[0]["rollout/moves"] == 4.0
    assert all(torch.isfinite(torch.tensor(h["loss/policy"])) for h in history)
    evaluation = trainer.evaluate(2)  # the parallel protocol, one move at a time
    assert 0.0 <= evaluation["eval/reward/mean"] <= 4.0


def test_rollout_modes():
    with pytest.raises(ValueError, match="rollout_mode='tree' cannot train the turn-based"):
        rollout_mode(CountTogether(), "tree")
    assert rollout_mode(CountTogether(), "auto") == "episodes"
    from toy_env import GuessEnv

    assert rollout_mode(GuessEnv(num_turns=3), "auto") == "tree"
    assert rollout_mode(GuessEnv(num_turns=6), "auto") == "episodes"
    assert rollout_mode(GuessEnv(num_turns=6), "tree") == "tree"


def test_episodes_mode_trains_a_parallel_env():
    from toy_env import GuessEnv

    config = algorithms.load("magrpo").config_class(**{**FAST, "steps": 1,
                                                        "rollout_mode": "episodes"})
    trainer = Trainer(GuessEnv, env_kwargs={"num_turns": 2}, model="tiny", config=config)
    history = trainer.train()
    assert history[0]["rollout/moves"] <= 2.0 and "return_normalized" in history[0]


def _parameters(trainer):
    return [p.detach().clone() for a in trainer.agents
            for p in trainer.policies[a].trainable_parameters()]


@pytest.mark.parametrize("name", ["magrpo", "iac"])
def test_resume_is_exact(tmp_path, name):
    cls = algorithms.load(name)

    def trainer(out, steps):
        config = cls.config_class(**{**FAST, "steps": steps, "output_dir": str(out),
                                     "save_every": 1, "learning_rate": 1e-3})
        return Trainer(Lengthy, model="tiny", config=config, algorithm=name)

    straight = trainer(tmp_path / "straight", 4)
    history = straight.train()
    trainer(tmp_path / "resumed", 2).train()
    resumed = trainer(tmp_path / "resumed", 4)
    rest = resumed.train(resume=True)
    assert any(h["advantage/abs_mean"] > 0 for h in history)  # the steps did learn something
    assert all(torch.equal(a, b) for a, b in zip(_parameters(straight), _parameters(resumed),
                                                 strict=True))

    def numbers(h):
        return {k: v for k, v in h.items() if not k.startswith("perf/")}

    assert [h["step"] for h in rest] == [1, 2, 3, 4]  # the run's history, steps 1-2 read back
    assert [numbers(h) for h in rest] == [numbers(h) for h in history]


@pytest.fixture
def count_plugin(tmp_path, monkeypatch):
    """``its/Count-v0`` registered by an installed package's entry point."""
    install_fake_plugin(tmp_path, monkeypatch, "count-plugin", "count_plugin:register_envs", """
        import collabzoo

        def register_envs():
            collabzoo.register("its/Count-v0", "plain_aec_env:CountTogether",
                               agents=("first", "second"), description="count", api="aec")
        """)
    yield "its/Count-v0"
    registration._INFOS.pop("its/Count-v0", None)
    pettingzoo.aec_registry.pop("its/Count-v0", None)


def test_cli_trains_resumes_and_evaluates_a_plugin_aec_env(count_plugin, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--set", "batch_size=2", "num_generations=2", "max_new_tokens=4", "save_every=1",
              "progress_bar=false", "report_to="]
    assert main(["train", "--env", count_plugin, "--model", "tiny", "--steps", "1",
                 "--env-kwargs", "moves=3", "--output", str(out), *common]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["rollout/moves"] == 3.0
    assert main(["train", "--resume", str(out), "--steps", "2"]) == 0
    assert (out / "checkpoints" / "step-2").is_dir()
    results = tmp_path / "eval"
    assert main(["eval", "--env", count_plugin, "--agents", f"run:{out}", "--episodes", "2",
                 "--max-new-tokens", "4", "--output", str(results), "--no-progress"]) == 0
    summary = json.loads((results / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["turns"]["mean"] == 4.0  # moves=4 by default
