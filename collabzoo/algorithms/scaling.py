"""The advantage-scaling fields shared by the algorithms that divide advantages by a std
(MAGRPO and its siblings, the actor-critics): :class:`ScaledAdvantagesConfig`. An algorithm
whose credit has no such scaling extends :class:`~collabzoo.trainers.config.TrainerConfig`
instead, so that ``--set scale=...`` is an error for it rather than a field it ignores.
Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from collabzoo.trainers.config import TrainerConfig

__all__ = ["ScaleName", "ScaledAdvantagesConfig"]

ScaleName = Literal["group", "batch", "none"]


@dataclass
class ScaledAdvantagesConfig(TrainerConfig):
    """The loop's fields plus how advantages are scaled
    (:func:`~collabzoo.trainers.advantages.scale_advantages`)."""

    # --- advantages ---
    scale: ScaleName = field(
        default="group",
        metadata={"help": (
            "Divide advantages by the std (+ ``scale_eps``) of the ``group``, of the "
            "whole ``batch``, or ``none``."
        )},
    )
    scale_eps: float = field(
        default=1e-4,
        metadata={"help": "Added to the std before dividing by it."},
    )

    def _problems(self) -> Iterator[str]:
        yield from super()._problems()
        if self.scale == "group" and self.num_generations < 2:
            yield "scale='group' needs num_generations >= 2: use scale=none or scale=batch"
        if self.scale_eps <= 0:
            yield f"scale_eps must be > 0, got {self.scale_eps}"
