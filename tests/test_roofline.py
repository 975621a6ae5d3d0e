"""The roofline arithmetic of benchmarks/roofline.py against hand-computed values."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from collabzoo.agents import Samples

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "roofline.py"
_SPEC = importlib.util.spec_from_file_location("roofline", _PATH)
roofline = importlib.util.module_from_spec(_SPEC)
_ENV = dict(os.environ)
_SPEC.loader.exec_module(roofline)  # the script defaults HF_HUB_OFFLINE: not for other tests
os.environ.clear()
os.environ.update(_ENV)

# 10 matmul parameters, 1 layer, hidden 2, kv width 1; 100 bytes/s, 1,000 FLOP/s
SHAPE = {"matmul_params": 10, "layers": 1, "hidden": 2, "kv_dim": 1}
LIMITS = {"peak_flops": {"float32": 1000.0}, "bandwidth": 100.0,
          "streaming": {"float32": 50.0}}


def _samples(prompt_masks: list[list[int]], completion_masks: list[list[int]]) -> Samples:
    prompt_mask = torch.tensor(prompt_masks)
    completion_mask = torch.tensor(completion_masks)
    # distinct prompts differ in their ids as well as their masks
    prompt_ids = torch.arange(len(prompt_masks))[:, None].repeat(1, prompt_mask.shape[1])
    for i in range(1, len(prompt_masks)):
        if prompt_masks[i] == prompt_masks[i - 1]:
            prompt_ids[i] = prompt_ids[i - 1]
    return Samples(["x"] * len(prompt_masks), prompt_ids, prompt_mask,
                   torch.ones_like(completion_mask), completion_mask)


def test_loss_tokens_count_each_distinct_prompt_once():
    # two distinct prompts (3 and 2 real tokens), each over 2 rows; 2+1+2+0 completion tokens
    s = _samples([[1, 1, 1], [1, 1, 1], [0, 1, 1], [0, 1, 1]],
                 [[1, 1], [1, 0], [1, 1], [0, 0]])
    assert roofline._loss_tokens(s) == 3 + 2 + 5


def test_generation_roofline_by_hand():
    # prefill of a 2-token prompt: 2*10*2 + 4*1*2*2*2 = 40 + 32 = 72 FLOPs -> 0.072 s;
    # 2 decode steps of 3 rows from a 2-token cache, fp32: weights 40 B + cache
    # 2*1*1*(2+t)*3*4 B = 48 and 72 B -> (88 + 112) / 100 = 2.0 s (memory-bound: 60 FLOPs)
    seconds = roofline.generation_roofline(SHAPE, LIMITS, "float32", [2], rows=3, steps=2,
                                           prompt_len=2)
    assert seconds == pytest.approx(0.072 + 2.0)
    streaming = roofline.generation_roofline(SHAPE, LIMITS, "float32", [2], rows=3, steps=2,
                                             prompt_len=2, streaming=True)
    assert streaming == pytest.approx(0.072 + 4.0)


def test_step_roofline_is_one_decode_loop_plus_the_scored_rows():
    # two agents, one 2-token prompt each over 2 rows (G=2), 2 completion columns
    a = _samples([[1, 1], [1, 1]], [[1, 1], [1, 0]])
    b = _samples([[1, 1], [1, 1]], [[1, 0], [1, 0]])
    generation = roofline.generation_roofline(SHAPE, LIMITS, "float32", [2, 2], rows=4,
                                              steps=2, prompt_len=2)
    # only agent a's rows were scored: 2 prompt tokens + 3 completion tokens, LoRA 4 x 10
    loss = 4 * 10 * (2 + 3) / 1000.0
    assert roofline.step_roofline(SHAPE, LIMITS, "float32", [a, b], [a], 2) == \
        pytest.approx(generation + loss)


def test_time_ratios_are_after_over_before_of_measured_times_only():
    after = {"runs": {"float32": {"lora": {"generation_s": 2.0, "generation_roofline_s": 1.0,
                                           "generation_fraction": 0.5}}}}
    before = {"runs": {"float32": {"lora": {"generation_s": 4.0, "generation_roofline_s": 1.0,
                                            "generation_fraction": 0.25}}}}
    assert roofline._time_ratios(after, before) == {"float32": {"lora.generation_s": 0.5}}
