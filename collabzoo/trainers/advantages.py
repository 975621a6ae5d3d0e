"""Advantage estimators: a return minus a baseline over its siblings, optionally scaled.

Pure functions on tensors, each with its naive equivalent in the docstring. Returns come as a
``(num_groups, K)`` matrix: row = one node of a rollout tree (one task and turn), column = one
of its K joint actions (K = G aligned, G^N cross). Other algorithms plug in by registering a
baseline in :data:`BASELINES` or a scale in :data:`SCALES`, not by copying the trainer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "BASELINES",
    "SCALES",
    "Advantages",
    "compute_advantages",
    "group_advantages",
    "leave_one_out_baseline",
    "marginal_advantages",
    "max_baseline",
    "mean_baseline",
    "scale_advantages",
    "tree_gae",
    "zero_baseline",
]


def mean_baseline(returns: torch.Tensor) -> torch.Tensor:
    """MAGRPO: the mean over the group, ``b[i, k] = mean(returns[i])``."""
    return returns.mean(dim=1, keepdim=True).expand_as(returns)


def leave_one_out_baseline(returns: torch.Tensor) -> torch.Tensor:
    """RLOO: the mean of the other members, ``b[i, k] = (sum(returns[i]) - returns[i, k]) / (K-1)``."""
    k = returns.shape[1]
    return (returns.sum(dim=1, keepdim=True) - returns) / (k - 1)


def max_baseline(returns: torch.Tensor) -> torch.Tensor:
    """The best member, ``b[i, k] = max(returns[i])``: only the best joint action is not pushed down."""
    return returns.max(dim=1, keepdim=True).values.expand_as(returns)


def zero_baseline(returns: torch.Tensor) -> torch.Tensor:
    """No baseline (plain REINFORCE): ``b = 0``."""
    return torch.zeros_like(returns)


#: Named baselines (config field ``advantage``).
BASELINES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "mean": mean_baseline,
    "rloo": leave_one_out_baseline,
    "max": max_baseline,
    "none": zero_baseline,
}


def group_advantages(returns: torch.Tensor, baseline: str = "mean") -> torch.Tensor:
    """``returns - baseline`` for each group.

    Naive equivalent for ``baseline="mean"``::

        [[r - sum(row) / len(row) for r in row] for row in returns]

    Args:
        returns: (num_groups, K) returns of the K siblings of each group.
        baseline: A key of :data:`BASELINES`.

    Returns:
        (num_groups, K) advantages.
    """
    if returns.dim() != 2 or returns.shape[1] < 2:
        raise ValueError(f"returns must be (num_groups, K>=2), got shape {tuple(returns.shape)}")
    return returns - BASELINES[baseline](returns)


def _no_scale(advantages: torch.Tensor, returns: torch.Tensor, eps: float) -> torch.Tensor:
    return advantages


def _group_scale(advantages: torch.Tensor, returns: torch.Tensor, eps: float) -> torch.Tensor:
    return advantages / (returns.std(dim=1, keepdim=True) + eps)


def _batch_scale(advantages: torch.Tensor, returns: torch.Tensor, eps: float) -> torch.Tensor:
    return advantages / (returns.std() + eps)


#: Named scalings (config field ``scale``): divide by the sample std (Bessel-corrected, as
#: ``torch.std``) of the group's returns, of the whole batch's returns, or not at all.
SCALES: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    "group": _group_scale,
    "batch": _batch_scale,
    "none": _no_scale,
}


def scale_advantages(
    advantages: torch.Tensor, returns: torch.Tensor, scale: str = "group", eps: float = 1e-4
) -> torch.Tensor:
    """Divide by a std of the returns: ``a / (std + eps)``.

    Naive equivalent for ``scale="group"``: ``[[a / (stdev(r_row) + eps) for a in a_row] ...]``
    with ``statistics.stdev``.
    """
    return SCALES[scale](advantages, returns, eps)


@dataclass
class Advantages:
    """The advantages of one batch of groups, with the statistics the trainer logs.

    Attributes:
        values: (num_groups, K) advantage of every joint action.
        frac_zero_std: Fraction of groups whose K returns are all equal (they teach nothing).
    """

    values: torch.Tensor
    frac_zero_std: float


def compute_advantages(
    returns: torch.Tensor, baseline: str = "mean", scale: str = "group", eps: float = 1e-4
) -> Advantages:
    """Baseline then scale: the advantage estimator of one step (see the module docstring)."""
    values = scale_advantages(group_advantages(returns, baseline), returns, scale, eps)
    zero_std = (returns.max(dim=1).values - returns.min(dim=1).values) == 0
    return Advantages(values=values, frac_zero_std=float(zero_std.float().mean()))


def marginal_advantages(
    advantages: torch.Tensor, choices: torch.Tensor, num_generations: int
) -> torch.Tensor:
    """Each agent's credit for each of its samples: the mean advantage of the joint actions
    that used that sample.

    In aligned mode joint action g uses sample g of every agent, so the credit is the joint
    action's advantage. In cross mode sample k of agent n takes part in G^(N-1) joint actions,
    and its credit is their mean advantage (the gradient of the mean loss over joint actions).

    Naive equivalent::

        out[n, i, k] = mean(advantages[i, j] for j in range(K) if choices[j, n] == k)

    Args:
        advantages: (num_groups, K) advantages of the joint actions.
        choices: (K, N) int64, ``choices[j, n]`` = the sample of agent n in joint action j.
        num_generations: G.

    Returns:
        (N, num_groups, G) the credit of every agent's every sample.
    """
    one_hot = torch.nn.functional.one_hot(choices, num_generations).to(advantages.dtype)  # (K, N, G)
    counts = one_hot.sum(dim=0)  # (N, G)
    summed = torch.einsum("ij,jng->nig", advantages, one_hot)  # (N, num_groups, G)
    return summed / counts.clamp(min=1).unsqueeze(1)


def tree_gae(
    values: torch.Tensor,
    rewards: torch.Tensor,
    children: torch.Tensor,
    discount: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016) over a rollout tree.

    A node's successor is not one state but the child node of each of its K joint actions,
    and the child's own K advantages are averaged (as the returns of
    :func:`~collabzoo.trainers.rollout.compute_returns` average the children's returns).
    Nodes must be listed parents before children (the tree's turn order).

    Naive equivalent (nodes n from last to first, edges k; ``c = children[n][k]``, -1: the
    branch ends, its future is worth 0)::

        delta = rewards[n][k] + (discount * values[c] if c >= 0 else 0) - values[n]
        adv[n][k] = delta + (discount * lam * mean(adv[c]) if c >= 0 else 0)
        target[n] = values[n] + mean(adv[n])          # the lambda-return, the critic's target

    With ``lam = 1`` the target is the Monte-Carlo return (the mean of the node's returns);
    with ``lam = 0`` the advantage is the one-step TD error.

    Args:
        values: (M,) the critic's value of every node.
        rewards: (M, K) the reward of every joint action.
        children: (M, K) int64, the node index of each joint action's child, -1 for none.
        discount: gamma.
        lam: lambda.

    Returns:
        ``(advantages (M, K), targets (M,))``, float64.
    """
    values = values.detach().double()
    rewards = rewards.double()
    adv = torch.zeros_like(rewards)
    for n in range(len(values) - 1, -1, -1):
        for k in range(rewards.shape[1]):
            c = int(children[n, k])
            adv[n, k] = rewards[n, k] - values[n]
            if c >= 0:
                adv[n, k] += discount * values[c] + discount * lam * adv[c].mean()
    return adv, values + adv.mean(dim=1)
