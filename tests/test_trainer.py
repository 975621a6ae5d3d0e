"""The MAGRPO trainer on the ``tiny`` model: parameters move, a learnable reward rises,
non-finite steps are skipped, resuming is exact, the run folder is complete."""

from __future__ import annotations

import importlib.machinery
import json
import math
import os
import sys
import types

import numpy as np
import pytest
import torch
from trainer_fakes import DigitSumEnv, LengthRatioEnv

from collabzoo.envs.core import Score
from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer, TrainingDiverged

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")

FAST = dict(batch_size=2, num_generations=4, max_new_tokens=8, progress_bar=False, report_to=())


def _trainer(env=LengthRatioEnv, **overrides):
    config = MAGRPOConfig(**{**FAST, **overrides})
    return MAGRPOTrainer(env, model="tiny", config=config)


def _snapshot(trainer):
    return {(a, i): p.detach().clone() for a, pol in trainer.policies.items()
            for i, p in enumerate(pol.trainable_parameters())}


def test_every_parameter_changes_after_one_step_full_copies():
    trainer = _trainer(steps=1, agent_sharing="copies", learning_rate=1e-3)
    before = _snapshot(trainer)
    metrics = trainer.training_step()
    assert math.isfinite(metrics["loss/policy"]) and metrics["grad_norm"] > 0
    after = _snapshot(trainer)
    unchanged = [k for k in before if torch.equal(before[k], after[k])]
    assert not unchanged, f"{len(unchanged)} of {len(before)} parameters did not change"


def test_every_lora_parameter_changes():
    # LoRA's B starts at 0, so A has no gradient at the first step: take two
    trainer = _trainer(steps=2, agent_sharing="lora", learning_rate=1e-3)
    shared = trainer.policies["short"].model is trainer.policies["long"].model
    assert shared  # one frozen base, one adapter each
    base = {n: p.detach().clone() for n, p in trainer.policies["short"].model.named_parameters()
            if "lora_" not in n}
    before = _snapshot(trainer)
    trainer.training_step()
    trainer.training_step()
    after = _snapshot(trainer)
    assert all(not torch.equal(before[k], after[k]) for k in before)
    for n, p in trainer.policies["short"].model.named_parameters():
        if "lora_" not in n:
            assert torch.equal(base[n], p), f"frozen base parameter {n} changed"


def test_learnable_reward_rises():
    """Joint reward 1 / (1 + |len(long)/len(short) - 2|): the agents must coordinate lengths."""
    trainer = _trainer(steps=30, batch_size=4, agent_sharing="copies", learning_rate=3e-3, seed=0)
    history = trainer.train()
    rewards = [r["reward/mean"] for r in history]
    first, last = np.mean(rewards[:10]), np.mean(rewards[-10:])
    assert last > first + 0.08, f"reward did not rise: first 10 steps {first:.3f}, last 10 {last:.3f}"


def _step_gradients(**overrides):
    """The gradients one training step accumulates (the optimizer update is replaced)."""
    trainer = _trainer(steps=1, agent_sharing="copies", **overrides)
    grads = {}

    def capture(losses_finite):
        for agent, policy in trainer.policies.items():
            grads[agent] = [p.grad.clone() for p in policy.trainable_parameters()]
            policy.model.zero_grad(set_to_none=True)
        return {agent: 1.0 for agent in trainer.policies}

    trainer._update = capture
    trainer.training_step()
    return grads


@pytest.mark.parametrize("aggregation", ["token-mean", "seq-sum"])
def test_micro_batches_accumulate_the_full_batch_gradient(aggregation):
    small = _step_gradients(micro_batch_size=1, loss_aggregation=aggregation)
    large = _step_gradients(micro_batch_size=64, loss_aggregation=aggregation)
    for agent in small:
        for g1, g2 in zip(small[agent], large[agent], strict=True):
            assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-6)


class NanEnv(LengthRatioEnv):
    def score(self, task, actions):
        return Score(reward=float("nan"))


def test_nan_loss_skips_steps_then_stops(tmp_path):
    trainer = _trainer(NanEnv, steps=10, max_bad_steps=3, output_dir=str(tmp_path))
    before = _snapshot(trainer)
    with pytest.raises(TrainingDiverged, match="3 steps in a row"):
        trainer.train()
    assert all(torch.equal(v, _snapshot(trainer)[k]) for k, v in before.items())
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["train/skipped_steps"] for r in records] == [1.0, 2.0, 3.0]
    assert records[0]["loss/policy"] is None  # nan is written as null


def test_resume_equals_straight_run(tmp_path):
    common = dict(seed=3, learning_rate=1e-3, save_every=2, keep_checkpoints=None)
    straight = _trainer(steps=4, output_dir=str(tmp_path / "straight"), **common)
    straight.train()
    first = _trainer(steps=2, output_dir=str(tmp_path / "resumed"), **common)
    first.train()
    assert (tmp_path / "resumed" / "checkpoints" / "step-2" / "trainer_state.json").exists()
    resumed = _trainer(steps=4, output_dir=str(tmp_path / "resumed"), **common)
    resumed.train(resume=True)
    assert resumed.step == 4
    a, b = _snapshot(straight), _snapshot(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed parameters differ from a straight run"
    for agent in straight.agents:
        sa = straight.optimizers[agent].state_dict()["state"]
        sb = resumed.optimizers[agent].state_dict()["state"]
        assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    steps = [json.loads(line)["step"] for line in
             (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_half_written_checkpoint_is_ignored(tmp_path):
    trainer = _trainer(steps=2, output_dir=str(tmp_path), save_every=1)
    trainer.train()
    ckpts = tmp_path / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["step-1", "step-2"]
    (ckpts / "step-3.tmp").mkdir()  # a save killed half-way
    (ckpts / "step-4").mkdir()  # or a folder without its final trainer_state.json
    from collabzoo.trainers.checkpoint import latest_checkpoint

    assert latest_checkpoint(ckpts).name == "step-2"


def test_run_folder_layout(tmp_path):
    out = tmp_path / "run"
    trainer = _trainer(steps=2, output_dir=str(out), eval_every=1, eval_tasks=2, save_every=2,
                       report_to=("tensorboard",), eval_split="test")
    history = trainer.train()
    assert (out / "metrics.jsonl").exists() and (out / "config.yaml").exists()
    assert (out / "reward_curve.png").stat().st_size > 1000
    assert any((out / "tensorboard").iterdir())
    assert (out / "checkpoints" / "step-2" / "agents" / "short").is_dir()
    assert sorted(p.name for p in (out / "agents").iterdir()) == ["long", "short"]
    assert "eval/reward/mean" in history[-1] and "eval/reward/ratio" in history[-1]
    for key in ("reward/mean", "reward/ratio", "return_normalized", "advantage/std",
                "loss/policy", "grad_norm", "completion/mean_length", "frac_reward_zero_std",
                "perf/tokens_per_s", "perf/step_s"):
        assert key in history[0], key


def test_an_eval_split_the_env_cannot_make_fails_before_training():
    class NoTestSplit(LengthRatioEnv):
        def __init__(self, split: str = "train", **kwargs):
            if split != "train":
                raise ValueError(f"no split {split!r} here")
            super().__init__(split=split, **kwargs)

    with pytest.raises(ValueError, match="no split 'test' here"):
        _trainer(NoTestSplit, steps=2, eval_every=1, eval_split="test")
    _trainer(NoTestSplit, steps=2, eval_split="test")  # no evaluation asked for: no env built


def test_evaluate_is_repeatable_and_leaves_training_rng_alone():
    trainer = _trainer(steps=1, eval_tasks=3)
    state = torch.get_rng_state()
    first = trainer.evaluate()
    assert torch.equal(state, torch.get_rng_state())
    assert trainer.evaluate() == first


def test_multi_turn_cross_step_runs():
    trainer = _trainer(lambda: DigitSumEnv(num_turns=2), steps=1, joint_mode="cross",
                       num_generations=2, batch_size=1, max_new_tokens=4)
    metrics = trainer.training_step()
    assert metrics["rollout/nodes"] == 1 + 4  # root + one child per joint action
    assert "reward/turn_2" in metrics and "rollout/frac_early_stop" in metrics


def test_policy_count_must_match_the_agents():
    from collabzoo.agents import load_policy

    with pytest.raises(ValueError, match="2 agents .* but 1 policies"):
        MAGRPOTrainer(LengthRatioEnv, policies=[load_policy("tiny")], config=MAGRPOConfig(**FAST))
    with pytest.raises(ValueError, match="missing \\['long'\\]"):
        MAGRPOTrainer(LengthRatioEnv, policies={"short": load_policy("tiny")},
                      config=MAGRPOConfig(**FAST))


def test_shared_parameters_are_refused():
    from collabzoo.agents import load_policy

    policy = load_policy("tiny")
    with pytest.raises(ValueError, match="share trainable parameters"):
        MAGRPOTrainer(LengthRatioEnv, policies=[policy, policy], config=MAGRPOConfig(**FAST))


def test_clipped_iterations_kl_and_schedule():
    trainer = _trainer(steps=4, batch_size=1, num_generations=2, max_new_tokens=4,
                       num_iterations=2, beta=0.05, warmup_steps=2, lr_scheduler="linear",
                       learning_rate=1e-3)
    history = trainer.train()
    # warmup (1/3, 2/3 of the rate), then linear decay over the remaining 2 steps
    assert [r["lr"] for r in history] == pytest.approx([1e-3 / 3, 2e-3 / 3, 1e-3, 5e-4])
    assert all(r["loss/kl"] >= 0 for r in history) and history[-1]["loss/kl"] > 0


def test_a_fresh_run_refuses_a_folder_with_checkpoints(tmp_path):
    _trainer(steps=1, output_dir=str(tmp_path), save_every=1).train()
    with pytest.raises(ValueError, match="already holds checkpoints"):
        _trainer(steps=1, output_dir=str(tmp_path)).train()


class _FakeWandb(types.ModuleType):
    """Stands in for the wandb module: records what the trainer calls."""

    def __init__(self):
        super().__init__("wandb")
        self.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
        self.calls = []

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))
        return self

    def log(self, metrics, step):
        self.calls.append(("log", step, dict(metrics)))

    def finish(self):
        self.calls.append(("finish",))


def test_report_to_wandb_calls(tmp_path, monkeypatch):
    fake = _FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    out = tmp_path / "run"
    history = _trainer(steps=2, output_dir=str(out), report_to=("wandb",)).train()
    assert [c[0] for c in fake.calls] == ["init", "log", "log", "finish"]
    init = fake.calls[0][1]
    assert init["dir"] == str(out) and init["config"]["config"]["num_generations"] == 4
    for call, metrics in zip(fake.calls[1:3], history, strict=True):
        assert call[1] == metrics["step"]
        assert call[2]["reward/mean"] == metrics["reward/mean"]


def test_report_to_wandb_without_wandb_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    with pytest.raises(ImportError, match="pip install wandb"):
        _trainer(steps=1, output_dir=str(tmp_path / "run"), report_to=("wandb",)).train()


def _wandb_records(path):
    """The protobuf records of a wandb offline run file.

    Hand-written because wandb >= 0.19 writes this file from its Go core and ships no Python
    reader. Layout: a 7-byte header (":W&B", magic, version), then LevelDB-log chunks in
    32 KiB blocks: crc32 (4), length (2, little-endian), type (1: full, 2: first, 3: middle,
    4: last), data; a block's last < 7 bytes are padding.
    """
    from wandb.proto import wandb_internal_pb2

    data, block, records, pending = path.read_bytes(), 32 * 1024, [], b""
    assert data[:4] == b":W&B"
    pos = 7
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer
            pos += block - pos % block
            continue
        length = int.from_bytes(data[pos + 4:pos + 6], "little")
        kind = data[pos + 6]
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:  # zero padding
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def test_wandb_offline_run_holds_every_step(tmp_path, monkeypatch):
    """With the real wandb (an optional dependency; in the dev extra), offline: no account,
    no network."""
    try:
        import wandb
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("wandb missing: `pip install -e .[train,dev]` installs it")
        pytest.skip("needs wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    history = _trainer(steps=2, output_dir=str(out), report_to=("wandb",)).train()
    runs = list((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    steps, logged, config = [], [], {}
    for record in _wandb_records(runs[0]):
        kind = record.WhichOneof("record_type")
        # the config comes in the run record (wandb.init) and in config records (updates)
        items = {"history": record.history.item, "run": record.run.config.update,
                 "config": record.config.update}.get(kind, [])
        values = {i.key or ".".join(i.nested_key): json.loads(i.value_json) for i in items}
        if kind == "history":
            steps.append(record.history.step.num)
            logged.append(values)
        elif kind in ("run", "config"):
            config.update(values)
    assert steps == [1, 2]
    for row, metrics in zip(logged, history, strict=True):
        assert row["reward/mean"] == pytest.approx(metrics["reward/mean"])
        assert row["loss/policy"] == pytest.approx(metrics["loss/policy"])
    assert config["config"]["num_generations"] == 4  # the resolved config
    assert wandb.run is None  # finished


def test_adamw_is_fused_where_torch_has_the_kernel():
    from collabzoo.trainers.optimizers import adamw as _adamw

    trainer = _trainer(steps=1)
    assert all(o.defaults["fused"] for o in trainer.optimizers.values())
    # parameters on a device without the fused kernel get the default implementation
    meta = [torch.nn.Parameter(torch.zeros(3, device="meta"))]
    assert not _adamw(meta, MAGRPOConfig(**FAST)).defaults["fused"]


def test_resume_keeps_this_runs_optimizer_implementation(tmp_path):
    out = tmp_path / "run"
    _trainer(steps=1, output_dir=str(out), save_every=1).train()
    # a checkpoint written before AdamW became fused (or on a device without the kernel)
    path = out / "checkpoints" / "step-1" / "optimizer.pt"
    states = torch.load(path, weights_only=False)
    for state in states["optimizers"].values():
        for group in state["param_groups"]:
            group["fused"] = None
    torch.save(states, path)
    resumed = _trainer(steps=2, output_dir=str(out), save_every=1)
    resumed.train(resume=True)
    assert resumed.step == 2
    assert all(g["fused"] for o in resumed.optimizers.values() for g in o.param_groups)


def test_checkpoint_rng_state_includes_cuda_generators(monkeypatch):
    """On a GPU, sampling draws from the CUDA generators: they are saved and restored too."""
    from collabzoo.trainers import checkpoint

    saved_cuda = [torch.ByteTensor([1, 2, 3])]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: saved_cuda)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    state = checkpoint._rng_state()
    assert state["torch_cuda"] is saved_cuda
    checkpoint._set_rng_state(state)
    assert restored == [saved_cuda]
