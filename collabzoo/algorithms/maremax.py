"""``maremax``: multi-agent ReMax (Li et al. 2023): the greedy joint action as baseline.

At every node of the rollout tree each agent still in the episode also decodes its
observation greedily; that greedy joint action is scored on a copy of the node's env and, in a
multi-turn episode, continued greedily to the episode's end (one greedy sample per agent and
turn). Its discounted return ``R_greedy(node)`` is the baseline of every joint action of the
node::

    A_k = R_k - R_greedy(node),    R_k = r_k + discount * mean(returns of the child's joint actions)

not scaled by default (``scale="none"``). In an episode-group rollout the baseline of a
task's G episodes is one greedy episode from the task's reset. The greedy return does not depend on the sampled
actions, so the gradient stays unbiased; a joint action better than greedy decoding is pushed
up, a worse one down. Cost: one greedy rollout per node (a chain of at most the remaining
turns), generated in one batched call per agent and turn; it is not trained on. Logged:
``maremax/greedy_return`` (mean baseline). Works with G = 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from collabzoo.algorithms.base import Credit, StepContext
from collabzoo.algorithms.magrpo import MAGRPO
from collabzoo.algorithms.scaling import ScaledAdvantagesConfig, ScaleName
from collabzoo.trainers.config import TrainerConfig
from collabzoo.trainers.rollout import Rollout

__all__ = ["MAReMax", "MAReMaxConfig"]


@dataclass
class MAReMaxConfig(ScaledAdvantagesConfig):
    """Hyper-parameters of MAReMax: the loop's, with G = 1 allowed and no scaling."""

    min_generations: ClassVar[int] = 1

    # --- advantages ---
    scale: ScaleName = field(
        default="none",
        metadata={"help": (
            "Divide advantages by the std (+ ``scale_eps``) of the ``group`` (needs G "
            ">= 2), of the whole ``batch``, or ``none`` (ReMax's plain difference)."
        )},
    )


class MAReMax(MAGRPO):
    """Baseline: the return of the node's greedy joint action (continued greedily)."""

    name: ClassVar[str] = "maremax"
    config_class: ClassVar[type[TrainerConfig]] = MAReMaxConfig

    def greedy_returns(self, tree: Rollout, ctx: StepContext) -> torch.Tensor:
        """(groups,) the greedy return from every group's node of this process's rollout (a
        tree: every node, turn by turn; an episode group: a greedy episode from the reset)."""
        nodes = tree.group_nodes()
        roots = ctx.rollout_from(nodes, 1, dataclasses.replace(ctx.sampling, temperature=0.0))
        return torch.tensor([root.edges[0].value for root in roots], dtype=torch.float64)

    def baseline(self, returns: torch.Tensor, tree: Rollout, ctx: StepContext) -> torch.Tensor:
        self._greedy = torch.cat(ctx.gather(self.greedy_returns(tree, ctx)))  # (all nodes,)
        return self._greedy.unsqueeze(1).expand_as(returns)

    def credit(self, tree: Rollout, ctx: StepContext) -> Credit:
        credit = super().credit(tree, ctx)
        credit.metrics["maremax/greedy_return"] = float(self._greedy.mean())
        return credit
