"""benchmarks/vs_comlrl.py's model timer (``--model-time``) and the ceiling computed from it."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
import torch

from collabzoo.agents import LoraSettings, SamplingConfig, load_policies, load_policy

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "vs_comlrl.py"
_SPEC = importlib.util.spec_from_file_location("vs_comlrl", _PATH)
vs_comlrl = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(vs_comlrl)


def _time_models(totals: dict):
    namespace: dict = {}
    exec(vs_comlrl.MODEL_TIMER, namespace)
    return namespace["time_models"](totals)


@pytest.mark.parametrize("lora", [False, True])
def test_model_timer_counts_each_model_call_once_and_backward(lora):
    if lora:
        policy = load_policies("tiny", 2, lora=LoraSettings(), device="cpu",
                               chat_template=False)[0]
    else:
        policy = load_policy("tiny", device="cpu", chat_template=False)
    samples = policy.sample(["a b c", "d e"], 2, SamplingConfig(max_new_tokens=6, seed=0))
    totals: dict = {}
    undo = _time_models(totals)
    try:
        start = time.perf_counter()
        log_probs = policy.log_probs(samples)
        forward = time.perf_counter() - start
        after_forward = totals["model_s"]
        start = time.perf_counter()
        (log_probs * samples.completion_mask).sum().backward()
        backward = time.perf_counter() - start
    finally:
        undo()
    # the loss pass's model calls nest (PeftModel -> LlamaForCausalLM -> LlamaModel): each
    # second counted once, so never more than the time that passed
    assert 0 < after_forward <= forward
    assert 0 < totals["model_s"] - after_forward <= backward


def test_model_timer_comes_out_again():
    from transformers import PreTrainedModel

    call, backward = PreTrainedModel.__call__, torch.Tensor.backward
    totals: dict = {}
    _time_models(totals)()
    assert PreTrainedModel.__call__ is call and torch.Tensor.backward is backward
    load_policy("tiny", device="cpu").sample(["a b"], 1, SamplingConfig(max_new_tokens=2))
    assert totals["model_s"] == 0.0


def test_model_ceiling_by_hand():
    reference = [{"train_s": 12.0}, {"train_s": 10.0}, {"train_s": 9.0}]
    runs = [{"train_s": 4.0, "model_s": 2.0}, {"train_s": 2.0, "model_s": 1.0},
            {"train_s": 3.0, "model_s": 3.0}]
    out = vs_comlrl.model_ceiling(reference, runs)
    assert out["model_s"] == 2.0
    assert out["model_share"] == 0.5  # median of 0.5, 0.5, 1.0
    assert out["ceiling"] == 6.0  # median of 12/2, 10/1, 9/3
