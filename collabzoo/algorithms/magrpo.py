"""``magrpo``: multi-agent group-relative policy optimisation (arXiv 2508.04652).

At a node of the rollout tree (one task and turn) the K joint actions (G aligned, G^N cross)
have returns ``R_k = r_k + discount * mean(returns of the child's joint actions)``. Their
advantage is the return minus the group mean, divided by the group's std::

    A_k = (R_k - mean_j R_j) / (std_j R_j + scale_eps)        (scale="group", the default)

(``advantage=`` picks another baseline of :data:`~collabzoo.trainers.advantages.BASELINES`,
``scale=`` another scaling). Each agent's sample gets the mean advantage of the joint actions
it took part in (aligned: its own joint action), and each agent follows the clipped policy
gradient of its own completion's log-probability. Centralised training (the baseline reads
the team's returns), decentralised execution (each agent reads its own observation).

In an episode-group rollout (``rollout_mode="episodes"``) the group is a task's G whole
episodes: ``R_g`` is episode g's discounted return and every decision of episode g gets
``A_g`` (with ``episode_credit="to_go"``, ``(R_g,t - baseline_g) / scale`` from the decision's
own return-to-go ``R_g,t``); the siblings' baselines apply to the (tasks, G) returns alike.

Data parallel: the returns of every process are gathered before the baseline and scale.
The siblings of MAGRPO (``mareinforce``, ``marloo``, ``maremax``) subclass :class:`MAGRPO`
and override only :meth:`MAGRPO.baseline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import torch

from collabzoo.algorithms.base import (
    Algorithm,
    Credit,
    StepContext,
    advantage_metrics,
    joint_to_sample_credit,
)
from collabzoo.algorithms.scaling import ScaledAdvantagesConfig
from collabzoo.trainers.advantages import BASELINES, scale_advantages
from collabzoo.trainers.config import TrainerConfig
from collabzoo.trainers.rollout import Rollout

__all__ = ["MAGRPO", "MAGRPOConfig"]

AdvantageName = Literal["mean", "rloo", "max", "none"]


@dataclass
class MAGRPOConfig(ScaledAdvantagesConfig):
    """Hyper-parameters of MAGRPO (arXiv 2508.04652): the loop's, plus its baseline and the
    advantage scaling."""

    # --- advantages ---
    advantage: AdvantageName = field(
        default="mean",
        metadata={"help": (
            "Baseline over siblings: ``mean`` (MAGRPO), ``rloo`` (leave-one-out), "
            "``max``, ``none`` (plain REINFORCE)."
        )},
    )


class MAGRPO(Algorithm):
    """Group-relative credit: return minus the mean of its siblings, scaled by their std."""

    name: ClassVar[str] = "magrpo"
    config_class: ClassVar[type[TrainerConfig]] = MAGRPOConfig
    config: ScaledAdvantagesConfig  # the siblings' configs scale but have no ``advantage``

    def baseline(self, returns: torch.Tensor, tree: Rollout, ctx: StepContext) -> torch.Tensor:
        """(nodes, K) baseline of the (nodes, K) returns of every process's nodes."""
        assert isinstance(self.config, MAGRPOConfig)  # siblings override this method
        return BASELINES[self.config.advantage](returns)

    def credit(self, tree: Rollout, ctx: StepContext) -> Credit:
        c = self.config
        returns = tree.group_returns()  # (groups, K) this process's: nodes or tasks
        all_returns = ctx.gather(returns)
        stacked = torch.cat(all_returns)  # (all groups, K)
        baseline = self.baseline(stacked, tree, ctx)
        values = scale_advantages(stacked - baseline, stacked, c.scale, c.scale_eps)
        factor = scale_advantages(torch.ones_like(stacked), stacked, c.scale, c.scale_eps)
        own = slice(sum(len(r) for r in all_returns[:ctx.rank]), None)
        own = slice(own.start, own.start + len(returns))
        zero_std = (stacked.max(dim=1).values - stacked.min(dim=1).values) == 0
        metrics = {**advantage_metrics(values),
                   "frac_reward_zero_std": float(zero_std.float().mean())}
        return Credit(joint_to_sample_credit(tree, values[own], self.agents, c.num_generations,
                                             baseline[own], factor[own]), metrics)
