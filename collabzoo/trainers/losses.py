"""Per-token policy-gradient losses and their aggregation, as pure functions.

An agent's loss covers its own completion tokens only: ``completion_mask`` is 1 up to and
including the first EOS and 0 after it, and masked tokens never move a loss (CoMLRL's loss
summed log-probabilities over padding too). Micro-batching: pass the full batch's
:func:`loss_normalizer` to :func:`aggregate_loss` of every micro-batch, and the accumulated
gradient equals that of one pass over the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = [
    "AGGREGATIONS",
    "aggregate_loss",
    "kl_per_token",
    "loss_normalizer",
    "policy_loss_per_token",
]


def policy_loss_per_token(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor | None,
    advantages: torch.Tensor,
    epsilon: float = 0.2,
) -> torch.Tensor:
    """The clipped surrogate ``-min(ratio * A, clip(ratio, 1-eps, 1+eps) * A)`` of every token.

    With ``old_log_probs=None`` the ratio is ``exp(lp - lp.detach())``: 1 in value, and the
    gradient is the plain policy gradient ``-A * grad(lp)``.

    Args:
        log_probs: (N, T) log-probabilities under the current policy, with gradient.
        old_log_probs: (N, T) log-probabilities when the samples were drawn, or None.
        advantages: (N,) one advantage per completion.
        epsilon: Clip range.

    Returns:
        (N, T) per-token loss (not masked).
    """
    old = log_probs.detach() if old_log_probs is None else old_log_probs
    ratio = torch.exp(log_probs - old)
    adv = advantages.unsqueeze(1).to(log_probs.device, log_probs.dtype)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    return -torch.minimum(ratio * adv, clipped * adv)


def kl_per_token(log_probs: torch.Tensor, ref_log_probs: torch.Tensor) -> torch.Tensor:
    """The k3 estimator of KL(policy || reference) per token: ``exp(d) - d - 1``,
    ``d = ref - lp`` (>= 0, unbiased; Schulman's "Approximating KL divergence")."""
    delta = ref_log_probs - log_probs
    return torch.exp(delta) - delta - 1


def _token_sum(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (loss * mask).sum()


def _seq_token_mean_sum(loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return ((loss * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).sum()


#: ``name -> (sum of the micro-batch's contributions, what the full batch divides by)``.
#: token-mean: every token of the batch weighs the same (long answers weigh more);
#: seq-mean-token-mean: every sequence weighs the same; seq-sum: per-sequence token sums
#: averaged over sequences (CoMLRL's loss without its padding tokens).
AGGREGATIONS: dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                              Callable[[torch.Tensor], float]]] = {
    "token-mean": (_token_sum, lambda mask: float(mask.sum())),
    "seq-mean-token-mean": (_seq_token_mean_sum, lambda mask: float(mask.shape[0])),
    "seq-sum": (_token_sum, lambda mask: float(mask.shape[0])),
}


def loss_normalizer(masks: list[torch.Tensor] | torch.Tensor, mode: str) -> float:
    """What the whole batch's loss is divided by: its token count (``token-mean``) or its
    sequence count (the others). ``masks`` may be several (N_i, T_i) masks of one batch."""
    if isinstance(masks, torch.Tensor):
        masks = [masks]
    return max(1.0, sum(AGGREGATIONS[mode][1](m) for m in masks))


def aggregate_loss(
    per_token_loss: torch.Tensor,
    mask: torch.Tensor,
    mode: str = "token-mean",
    normalizer: float | None = None,
) -> torch.Tensor:
    """Reduce a (N, T) per-token loss to a scalar over the tokens where ``mask`` is 1.

    Naive equivalents (rows ``i``, tokens ``t`` with ``mask[i][t] == 1``)::

        token-mean:          sum_i sum_t loss[i][t] / (number of such tokens)
        seq-mean-token-mean: sum_i mean_t loss[i][t] / N
        seq-sum:             sum_i sum_t loss[i][t] / N

    Args:
        per_token_loss: (N, T).
        mask: (N, T) 1 on the completion's own tokens, 0 on padding after EOS.
        mode: A key of :data:`AGGREGATIONS`.
        normalizer: The full batch's :func:`loss_normalizer` when this is one micro-batch of
            it; None: this batch's own.
    """
    summed, norm = AGGREGATIONS[mode]
    mask = mask.to(per_token_loss.dtype)
    # where(): a non-finite value on a masked position must not leak in as 0 * inf = nan
    loss = torch.where(mask.bool(), per_token_loss, torch.zeros_like(per_token_loss))
    denominator = normalizer if normalizer is not None else max(1.0, norm(mask))
    return summed(loss, mask) / denominator
