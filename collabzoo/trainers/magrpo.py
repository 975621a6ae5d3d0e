"""``MAGRPOTrainer``: the shared loop (:class:`~collabzoo.trainers.loop.Trainer`) under its
historical name; with its default ``algorithm="magrpo"`` it trains MAGRPO
(:mod:`collabzoo.algorithms.magrpo`), configured by :class:`MAGRPOConfig`. Kept so that
existing user code keeps working."""

from __future__ import annotations

from collabzoo.trainers.config import MAGRPOConfig
from collabzoo.trainers.loop import AgentBatch, Trainer, TrainingDiverged

__all__ = ["AgentBatch", "MAGRPOConfig", "MAGRPOTrainer", "TrainingDiverged"]

#: The loop, by its historical name (``algorithm`` defaults to ``"magrpo"``).
MAGRPOTrainer = Trainer
