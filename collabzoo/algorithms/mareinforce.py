"""``mareinforce``: multi-agent REINFORCE, the policy gradient on the return with no baseline.

Each joint action's advantage is its return itself::

    A_k = R_k,    R_k = r_k + discount * mean(returns of the child's joint actions)

divided by nothing (``scale="none"``, the default) or by a std (``scale="group"|"batch"``).
Unbiased but high-variance; as there is no group, ``num_generations = 1`` is allowed (one
sample per agent and node; then ``scale`` must not be ``group``). The loss sums each
completion's token log-probabilities (``loss_aggregation="seq-sum"``, the default here:
REINFORCE's ``A * grad log p(y)``); with every return positive and no baseline, a token mean
would weigh long completions more and push them up. Each agent's sample gets the
mean advantage of the joint actions it took part in, as in :mod:`~collabzoo.algorithms.magrpo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from collabzoo.algorithms.magrpo import MAGRPO
from collabzoo.algorithms.scaling import ScaledAdvantagesConfig, ScaleName
from collabzoo.trainers.config import LossAggregation, TrainerConfig
from collabzoo.trainers.rollout import Rollout

__all__ = ["MAREINFORCE", "MAREINFORCEConfig"]


@dataclass
class MAREINFORCEConfig(ScaledAdvantagesConfig):
    """Hyper-parameters of MAREINFORCE: the loop's, with G = 1 allowed and no scaling."""

    min_generations: ClassVar[int] = 1

    # --- advantages ---
    scale: ScaleName = field(
        default="none",
        metadata={"help": (
            "Divide the returns by the std (+ ``scale_eps``) of the ``group`` (needs "
            "G >= 2), of the whole ``batch``, or ``none`` (plain REINFORCE)."
        )},
    )

    # --- loss ---
    loss_aggregation: LossAggregation = field(
        default="seq-sum",
        metadata={"help": (
            "``seq-sum``: mean over sequences of each one's token sum (REINFORCE's "
            "estimator); ``token-mean``, ``seq-mean-token-mean`` as for MAGRPO."
        )},
    )


class MAREINFORCE(MAGRPO):
    """No baseline: the return is the advantage."""

    name: ClassVar[str] = "mareinforce"
    config_class: ClassVar[type[TrainerConfig]] = MAREINFORCEConfig

    def baseline(self, returns: torch.Tensor, tree: Rollout, ctx) -> torch.Tensor:
        return torch.zeros_like(returns)
