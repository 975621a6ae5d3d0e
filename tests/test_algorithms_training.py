"""Every algorithm on the ``tiny`` model through the shared loop: a learnable plain env's
reward rises (seeded), actor-critics checkpoint their critics and resume exactly, the
centralised baseline's env adapter, and the CLI (``--algo``, ``collabzoo algos``)."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
from plain_env import BrevityEnv
from trainer_fakes import LengthRatioEnv

from collabzoo import algorithms
from collabzoo.algorithms.central import TEAM, CentralEnv
from collabzoo.cli import main
from collabzoo.trainers import Trainer
from collabzoo.trainers.trend import reward_trend

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

FAST = dict(batch_size=2, num_generations=2, max_new_tokens=6, progress_bar=False, report_to=())
ALGORITHMS = ["magrpo", "mareinforce", "marloo", "maremax", "central", "iac", "maac"]
#: Per-algorithm learning rates where one differs (none now). REINFORCE once had 3e-2 here
#: ("no baseline needs a larger step"); on an AVX2-only AMD host that step overshoots
#: (+0.016 over 30 steps, seed 0) while 1e-2 rises +0.141, 21x its step-to-step noise.
LEARNING_RATES: dict[str, float] = {}


def _config(name, **values):
    return algorithms.load(name).config_class(**{**FAST, **values})


@pytest.mark.parametrize("name", ALGORITHMS)
def test_learnable_plain_env_reward_rises(name):
    """BrevityEnv, one turn, each agent paid 10 / (10 + characters): shorter is better."""
    config = _config(name, steps=30, batch_size=4, num_generations=4, max_new_tokens=8,
                     learning_rate=LEARNING_RATES.get(name, 1e-2), agent_sharing="copies",
                     seed=0)
    history = Trainer(partial(BrevityEnv, writer_turns=1), model="tiny", config=config,
                      algorithm=name).train()
    # relative to the run's own step-to-step noise, not an absolute margin: the trajectory
    # differs between CPUs (their matmul kernels round differently)
    trend = reward_trend(history)
    assert trend.rises and trend.rise > 0.05, f"{name}: {trend.describe()}"


@pytest.mark.parametrize(("name", "critic_input"), [("iac", "text"), ("maac", "text"),
                                                    ("maac", "hidden")])
def test_actor_critic_checkpoint_holds_the_critic_and_resume_is_exact(tmp_path, name,
                                                                      critic_input):
    def trainer(out, steps):
        config = _config(name, steps=steps, seed=1, learning_rate=1e-3, save_every=2,
                         keep_checkpoints=None, output_dir=str(out), critic_input=critic_input)
        return Trainer(partial(LengthRatioEnv, num_turns=2), model="tiny", config=config,
                       algorithm=name)

    straight = trainer(tmp_path / "straight", 4)
    history = straight.train()
    assert all("critic/value_loss" in h and "critic/explained_variance" in h for h in history)
    ckpt = torch.load(tmp_path / "straight" / "checkpoints" / "step-2" / "algorithm.pt",
                      weights_only=False)
    assert set(ckpt) == set(straight.algorithm.critics)
    first = trainer(tmp_path / "resumed", 2)
    first.train()
    resumed = trainer(tmp_path / "resumed", 4)
    resumed.train(resume=True)

    def state(t):
        return ([p.detach() for pol in t.policies.values() for p in pol.trainable_parameters()]
                + [p.detach() for m in t.modules.values() for p in m.module.parameters()])

    assert all(torch.equal(a, b) for a, b in zip(state(straight), state(resumed), strict=True))
    opt_a = straight.module_optimizers[next(iter(straight.modules))].state_dict()["state"]
    opt_b = resumed.module_optimizers[next(iter(resumed.modules))].state_dict()["state"]
    assert all(torch.equal(opt_a[i]["exp_avg"], opt_b[i]["exp_avg"]) for i in opt_a)
    lines = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]


def test_central_env_prompts_every_role_and_parses_one_answer():
    env = CentralEnv(BrevityEnv(writer_turns=2, editor_turns=1))
    assert env.possible_agents == [TEAM]
    obs, _ = env.reset(seed=0)
    assert "writer" in obs[TEAM].lower() and "editor" in obs[TEAM].lower()
    obs, rewards, terms, truncs, _ = env.step({TEAM: "### WRITER\nab\n### EDITOR\nabcd"})
    assert rewards[TEAM] == pytest.approx((10 / 12 + 5 / 14) / 2)
    assert not terms[TEAM] and "editor" not in obs[TEAM].lower().split("part")[-1]
    _, rewards, terms, _, _ = env.step({TEAM: "### WRITER\n"})  # only the writer is left
    assert rewards[TEAM] == 1.0 and terms[TEAM] and env.agents == []


def test_central_env_reduces_the_roles_rewards_as_configured():
    for name, expected in (("min", 5 / 14), ("max", 10 / 12)):
        env = CentralEnv(BrevityEnv(writer_turns=2, editor_turns=1), team_reward=name)
        env.reset(seed=0)
        _, rewards, _, _, _ = env.step({TEAM: "### WRITER\nab\n### EDITOR\nabcd"})
        assert rewards[TEAM] == pytest.approx(expected)
    with pytest.raises(ValueError, match="team_reward must be one of"):
        CentralEnv(BrevityEnv(), team_reward="median")


def test_central_trains_one_policy(tmp_path):
    trainer = Trainer(LengthRatioEnv, model="tiny", algorithm="central",
                      config=_config("central", steps=1, output_dir=str(tmp_path)))
    assert trainer.agents == [TEAM] and list(trainer.policies) == [TEAM]
    trainer.train()
    assert (tmp_path / "agents" / TEAM).is_dir()


def test_cli_lists_algorithms_and_trains_and_resumes_with_algo(tmp_path, capsys):
    assert main(["algos"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ALGORITHMS)
    assert main(["algos", "maac"]) == 0
    assert "gae_lambda" in capsys.readouterr().out
    out = tmp_path / "run"
    assert main(["train", "--env", "collabzoo/TLDR-v1", "--model", "tiny", "--algo", "maac",
                 "--steps", "1", "--env-kwargs", "dataset=bundled", "--output", str(out),
                 "--set", "batch_size=1", "num_generations=1", "max_new_tokens=4",
                 "progress_bar=false", "report_to=", "gae_lambda=0.5"]) == 0
    assert "algorithm: maac" in (out / "config.yaml").read_text()
    assert main(["train", "--resume", str(out), "--steps", "2"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["train", "--env", "collabzoo/TLDR-v1", "--model", "tiny", "--algo", "marlo",
                 "--output", str(tmp_path / "x")]) == 2
    assert "Did you mean 'marloo'" in capsys.readouterr().err


def test_central_env_declares_the_sum_of_the_roles_answer_lengths():
    from collabzoo.envs.answer_length import answer_tokens, tokens_needed
    from collabzoo.envs.writing.arxiv import ArxivExpansionEnv

    env = CentralEnv(ArxivExpansionEnv(dataset="bundled"))
    assert answer_tokens(env) == {TEAM: sum(answer_tokens(ArxivExpansionEnv).values())}
    assert tokens_needed(env) == 192 + 256


@pytest.mark.parametrize("sharing", ["lora", "copies"])
def test_hidden_state_critic_reads_the_policy_and_learns(sharing):
    """critic_input=hidden: a head on the policy's (frozen base's) last hidden state; only the
    head is a trainable module, and its value loss falls on a fixed batch."""
    from collabzoo.algorithms.critic import HiddenStateCritic

    trainer = Trainer(partial(LengthRatioEnv, num_turns=2), model="tiny", algorithm="maac",
                      config=_config("maac", steps=1, critic_input="hidden",
                                     agent_sharing=sharing, critic_learning_rate=1e-2))
    critic = trainer.algorithm.critics["team"]
    assert isinstance(critic, HiddenStateCritic)
    llm = {id(p) for pol in trainer.policies.values() for p in pol.model.parameters()}
    assert not llm & {id(p) for p in critic.parameters()}
    policy_before = [p.detach().clone() for pol in trainer.policies.values()
                     for p in pol.trainable_parameters()]
    metrics = trainer.training_step()
    assert metrics["grad_norm/critic"] > 0 and "critic/value_loss" in metrics
    policy_after = [p.detach() for pol in trainer.policies.values()
                    for p in pol.trainable_parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(policy_before, policy_after, strict=True))
    texts = ["[short]\nWrite about a.", "[short]\nWrite about b, and more.", "x"]
    targets = torch.tensor([1.0, -1.0, 0.5])
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-2)
    first = float(((critic(texts) - targets) ** 2).mean())
    for _ in range(100):
        optimizer.zero_grad()
        ((critic(texts) - targets) ** 2).mean().backward()
        optimizer.step()
    assert float(((critic(texts) - targets) ** 2).mean()) < 0.1 * first
