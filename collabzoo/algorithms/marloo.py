"""``marloo``: multi-agent REINFORCE leave-one-out (RLOO, Kool et al. 2019; Ahmadian et al.
2024).

Each joint action's baseline is the mean return of its K - 1 siblings, which does not depend
on the action itself, so the gradient stays unbiased::

    A_k = R_k - (sum_j R_j - R_k) / (K - 1)  =  K / (K - 1) * (R_k - mean_j R_j)

not scaled by default (``scale="none"``). Needs K >= 2 (G >= 2). Each agent's sample gets the
mean advantage of the joint actions it took part in, as in :mod:`~collabzoo.algorithms.magrpo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from collabzoo.algorithms.magrpo import MAGRPO
from collabzoo.algorithms.scaling import ScaledAdvantagesConfig, ScaleName
from collabzoo.trainers.advantages import leave_one_out_baseline
from collabzoo.trainers.config import TrainerConfig
from collabzoo.trainers.rollout import Rollout

__all__ = ["MARLOO", "MARLOOConfig"]


@dataclass
class MARLOOConfig(ScaledAdvantagesConfig):
    """Hyper-parameters of MARLOO: the loop's, unscaled by default."""

    # --- advantages ---
    scale: ScaleName = field(
        default="none",
        metadata={"help": (
            "Divide advantages by the std (+ ``scale_eps``) of the ``group``, of the "
            "whole ``batch``, or ``none`` (RLOO's plain leave-one-out advantage)."
        )},
    )


class MARLOO(MAGRPO):
    """Baseline: the mean return of the other joint actions of the node."""

    name: ClassVar[str] = "marloo"
    config_class: ClassVar[type[TrainerConfig]] = MARLOOConfig

    def baseline(self, returns: torch.Tensor, tree: Rollout, ctx) -> torch.Tensor:
        return leave_one_out_baseline(returns)
