"""Who learns: the shared training loop and its parts.

- :class:`TrainerConfig`, :class:`MAGRPOConfig` (``collabzoo.trainers.config``): the
  hyper-parameters of the loop and of MAGRPO, torch-free; each algorithm of
  :mod:`collabzoo.algorithms` has its own config class extending :class:`TrainerConfig`.
- :class:`Trainer` (``collabzoo.trainers.loop``): the loop, for any algorithm
  (``algorithm="magrpo"`` by default); :class:`MAGRPOTrainer` is the same class under its
  historical name.
- ``advantages``, ``losses``: pure maths helpers (baselines, scalings, tree GAE, loss
  aggregations) that the algorithms use.
- ``rollout``: the multi-turn rollout tree; ``checkpoint``; ``metrics`` (logging, the plot).

Importing this package does not import torch; the trainer is imported on first use.
"""

from __future__ import annotations

from typing import Any

from collabzoo.trainers.config import MAGRPOConfig, TrainerConfig

__all__ = ["MAGRPOConfig", "MAGRPOTrainer", "Trainer", "TrainerConfig", "TrainingDiverged"]


def __getattr__(name: str) -> Any:
    if name in ("MAGRPOTrainer", "Trainer", "TrainingDiverged"):
        from collabzoo.trainers import magrpo

        return getattr(magrpo, name)
    raise AttributeError(f"module 'collabzoo.trainers' has no attribute {name!r}")
