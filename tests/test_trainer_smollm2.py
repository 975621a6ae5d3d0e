"""The embedded SmolLM2-135M with shared-base LoRA under the trainer: one real training step
(slow: a real model load and generation; `pytest -m slow`)."""

from __future__ import annotations

import math

import pytest
import torch
from trainer_fakes import LengthRatioEnv

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]


def test_one_lora_step_moves_only_the_adapters(tmp_path):
    pytest.importorskip("gguf")
    from collabzoo.agents.models import ModelUnavailableError
    from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer

    config = MAGRPOConfig(steps=1, batch_size=1, num_generations=2, max_new_tokens=16,
                          learning_rate=1e-3, progress_bar=False,
                          report_to=(), output_dir=str(tmp_path))
    try:
        trainer = MAGRPOTrainer(LengthRatioEnv, model="smollm2-135m", config=config)
    except ModelUnavailableError as error:
        pytest.skip(str(error))
    short, long = trainer.policies["short"], trainer.policies["long"]
    assert short.model is long.model  # one frozen base, two adapters
    before = {n: p.detach().clone() for n, p in short.model.named_parameters()}
    history = trainer.train()
    assert math.isfinite(history[0]["loss/policy"]) and history[0]["frac_reward_zero_std"] == 0
    changed = {n for n, p in short.model.named_parameters() if not torch.equal(before[n], p)}
    # step 1: every adapter's B moves; A (no gradient while B = 0) and the base do not
    assert changed and all(".lora_B." in n for n in changed)
    assert {n.split(".")[-2] for n in changed} == {"short", "long"}
    assert (tmp_path / "agents" / "long" / "adapter_model.safetensors").exists()
