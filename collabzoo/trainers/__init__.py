"""Who learns: the shared training loop and its parts.

- :class:`TrainerConfig` (``collabzoo.trainers.config``): the hyper-parameters of the loop,
  torch-free; each algorithm of :mod:`collabzoo.algorithms` has its own config class
  extending it in its own file (:class:`MAGRPOConfig` in ``collabzoo.algorithms.magrpo``,
  importable from here too).
- :class:`Trainer` (``collabzoo.trainers.loop``): the loop, for any algorithm
  (``algorithm="magrpo"`` by default); :class:`MAGRPOTrainer` is the same class under its
  historical name, kept for users.
- ``entry``: the one training entry point (preset -> file -> overrides, or resume) that
  ``collabzoo train`` and ``collabzoo benchmark`` call.
- ``advantages``, ``losses``: pure maths helpers (baselines, scalings, tree GAE, loss
  aggregations) that the algorithms use.
- ``rollout``: the multi-turn rollout tree; ``episodes``: the episode-group rollout (G whole
  episodes per task, turn-based and long envs); ``checkpoint``; ``metrics`` (logging, the
  plot).

Importing this package does not import torch; the trainer is imported on first use.
"""

from __future__ import annotations

from typing import Any

from collabzoo.trainers.config import TrainerConfig

__all__ = ["MAGRPOConfig", "MAGRPOTrainer", "Trainer", "TrainerConfig", "TrainingDiverged"]


def __getattr__(name: str) -> Any:
    if name in ("Trainer", "TrainingDiverged"):
        from collabzoo.trainers import loop

        return getattr(loop, name)
    if name == "MAGRPOTrainer":  # the loop by its historical name (algorithm="magrpo")
        from collabzoo.trainers.loop import Trainer

        return Trainer
    if name == "MAGRPOConfig":  # lives beside its algorithm
        from collabzoo.algorithms.magrpo import MAGRPOConfig

        return MAGRPOConfig
    raise AttributeError(f"module 'collabzoo.trainers' has no attribute {name!r}")
