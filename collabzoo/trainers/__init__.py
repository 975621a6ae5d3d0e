"""Who learns: the MAGRPO trainer and its parts.

- :class:`MAGRPOConfig` (``collabzoo.trainers.config``): the hyper-parameters, torch-free.
- :class:`MAGRPOTrainer` (``collabzoo.trainers.magrpo``): the training loop.
- ``advantages``, ``losses``: the named estimators and loss aggregations (pure functions);
  other algorithms plug in there (:data:`~collabzoo.trainers.advantages.BASELINES`,
  :data:`~collabzoo.trainers.losses.AGGREGATIONS`), not by copying the loop.
- ``rollout``: the multi-turn rollout tree; ``checkpoint``; ``metrics`` (logging, the plot).

Importing this package does not import torch; the trainer is imported on first use.
"""

from __future__ import annotations

from typing import Any

from collabzoo.trainers.config import MAGRPOConfig

__all__ = ["MAGRPOConfig", "MAGRPOTrainer", "TrainingDiverged"]


def __getattr__(name: str) -> Any:
    if name in ("MAGRPOTrainer", "TrainingDiverged"):
        from collabzoo.trainers import magrpo

        return getattr(magrpo, name)
    raise AttributeError(f"module 'collabzoo.trainers' has no attribute {name!r}")
