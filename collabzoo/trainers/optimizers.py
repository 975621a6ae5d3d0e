"""The loop's optimizer and learning-rate schedule (one of each per agent and extra module)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable

import torch

from collabzoo.trainers.config import TrainerConfig

__all__ = ["adamw", "lr_schedule", "own_memory"]


def adamw(params: list[torch.nn.Parameter], config: TrainerConfig,
           learning_rate: float | None = None) -> torch.optim.AdamW:
    """AdamW, fused (one kernel per step) for floating-point parameters on CPU or CUDA where
    this torch has the kernel (CPU: torch >= 2.4), many times faster than foreach on a CPU
    (figures: ``benchmarks/vs_comlrl.py``). Anything else gets torch's default implementation
    (an unsupported device would only fail at the first step). Parameters that still live in
    their checkpoint's file mapping get memory of their own first (:func:`own_memory`)."""
    own_memory(params)
    lr = config.learning_rate if learning_rate is None else learning_rate
    kwargs = dict(lr=lr, betas=config.adam_betas, eps=config.adam_eps,
                  weight_decay=config.weight_decay)
    if params and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params):
        try:
            return torch.optim.AdamW(params, fused=True, **kwargs)
        except RuntimeError:  # this torch has no fused kernel for the device
            pass
    return torch.optim.AdamW(params, **kwargs)


def own_memory(params: Iterable[torch.Tensor]) -> int:
    """Give every CPU tensor that lives in a file mapping a copy in the process's own memory,
    in place (``tensor.data``: the same ``Parameter`` objects, optimizers and tied weights keep
    them); returns how many were copied.

    transformers loads safetensors checkpoints through a private (copy-on-write) memory map,
    so the parameters of a freshly loaded model are pages of the file. The first in-place write
    to each page (the optimizer's first step of a fully trained model) takes a copy-on-write
    fault per 4 KiB page: measured on SmolLM2-135M (540 MB fp32, 2 threads) 2.1 s for the first
    in-place pass over the parameters against 0.18 s to copy them and 0.04 s per later pass.
    Frozen weights (a LoRA policy's shared base) are only read and stay mapped. Linux only (the
    mappings are read from ``/proc/self/maps``); elsewhere nothing is copied."""
    ranges = _file_mappings()
    if not ranges:
        return 0
    starts = [start for start, _ in ranges]
    copied = 0
    with torch.no_grad():
        for tensor in params:
            if tensor.device.type != "cpu" or tensor.numel() == 0:
                continue
            address = tensor.data_ptr()
            i = bisect.bisect_right(starts, address) - 1
            if i >= 0 and address < ranges[i][1]:
                tensor.data = tensor.data.clone()
                copied += 1
    return copied


def _file_mappings() -> list[tuple[int, int]]:
    """Sorted (start, end) addresses of this process's memory mappings of files."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    ranges = []
    for line in lines:
        fields = line.split(maxsplit=5)
        # address perms offset device inode [path]; a file's path is absolute, anonymous
        # memory has none and [heap] / [stack] / [vvar] are bracketed
        if len(fields) == 6 and fields[5].startswith("/"):
            start, end = fields[0].split("-")
            ranges.append((int(start, 16), int(end, 16)))
    return sorted(ranges)


def lr_schedule(config: TrainerConfig) -> Callable[[int], float]:
    """The learning-rate factor of each step: linear warmup, then ``config.lr_scheduler``."""
    warmup, total, kind = config.warmup_steps, config.steps, config.lr_scheduler

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return {"constant": 1.0, "linear": max(0.0, 1.0 - progress),
                "cosine": 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))}[kind]

    return factor
