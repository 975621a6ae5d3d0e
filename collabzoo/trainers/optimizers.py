"""The loop's optimizer and learning-rate schedule (one of each per agent and extra module)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from collabzoo.trainers.config import TrainerConfig

__all__ = ["adamw", "lr_schedule"]


def adamw(params: list[torch.nn.Parameter], config: TrainerConfig,
           learning_rate: float | None = None) -> torch.optim.AdamW:
    """AdamW, fused (one kernel per step) for floating-point parameters on CPU or CUDA where
    this torch has the kernel (CPU: torch >= 2.4), many times faster than foreach on a CPU
    (figures: ``benchmarks/vs_comlrl.py``). Anything else gets torch's default implementation
    (an unsupported device would only fail at the first step)."""
    lr = config.learning_rate if learning_rate is None else learning_rate
    kwargs: dict[str, Any] = dict(lr=lr, betas=config.adam_betas, eps=config.adam_eps,
                                  weight_decay=config.weight_decay)
    if params and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params):
        try:
            return torch.optim.AdamW(params, fused=True, **kwargs)
        except RuntimeError:  # this torch has no fused kernel for the device
            pass
    return torch.optim.AdamW(params, **kwargs)


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
