"""Loss functions against hand-computed numbers; masked tokens never move the loss."""

from __future__ import annotations

import math

import pytest
import torch

from collabzoo.trainers.losses import (
    aggregate_loss,
    kl_per_token,
    loss_normalizer,
    policy_loss_per_token,
)

# Two completions: the first has 2 real tokens (third is padding after EOS), the second 3.
LOG_PROBS = [[-1.0, -2.0, -9.0], [-0.5, -1.5, -2.5]]
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]])
ADVANTAGES = torch.tensor([3.0, -1.0])


def _loss(mode, log_probs=LOG_PROBS):
    lp = torch.tensor(log_probs, requires_grad=True)
    loss = aggregate_loss(policy_loss_per_token(lp, None, ADVANTAGES), MASK, mode)
    loss.backward()
    return loss, lp.grad


@pytest.mark.parametrize(
    "mode, expected",
    [
        # per-token loss is -A (ratio 1): row 1 = -3, -3; row 2 = 1, 1, 1
        ("token-mean", (-3 - 3 + 1 + 1 + 1) / 5),  # -0.6
        ("seq-mean-token-mean", (-3 + 1) / 2),  # -1.0
        ("seq-sum", (-6 + 3) / 2),  # -1.5
    ],
)
def test_two_completion_loss_by_hand(mode, expected):
    loss, _ = _loss(mode)
    assert loss.item() == pytest.approx(expected)


def test_gradient_is_policy_gradient_on_real_tokens_only():
    _, grad = _loss("token-mean")
    # d loss / d lp[i, t] = -A_i / 5 on real tokens, 0 on padding
    assert torch.allclose(grad, torch.tensor([[-0.6, -0.6, 0.0], [0.2, 0.2, 0.2]]))


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-sum"])
@pytest.mark.parametrize("junk", [0.0, -1e4, float("inf"), float("nan")])
def test_masked_tokens_do_not_move_the_loss(mode, junk):
    reference, ref_grad = _loss(mode)
    changed = [row[:] for row in LOG_PROBS]
    changed[0][2] = junk  # the padding position of row 1
    loss, grad = _loss(mode, changed)
    assert loss.item() == pytest.approx(reference.item())
    if math.isfinite(junk):  # (a model's log-prob is finite; inf - inf has no gradient)
        assert torch.equal(grad, ref_grad)


def test_clipped_ratio_by_hand():
    lp = torch.tensor([[0.0], [0.0]])
    old = torch.full((2, 1), -math.log(1.5))  # ratio 1.5 for both
    got = policy_loss_per_token(lp, old, torch.tensor([3.0, -1.0]), epsilon=0.2)
    # A=3: -min(1.5*3, 1.2*3) = -3.6 ; A=-1: -min(-1.5, -1.2) = 1.5
    assert torch.allclose(got, torch.tensor([[-3.6], [1.5]]))


def test_k3_kl_by_hand():
    got = kl_per_token(torch.tensor([-1.0, -1.0]), torch.tensor([-2.0, -1.0]))
    # d = -1: exp(-1) + 1 - 1 ; d = 0: 0
    assert torch.allclose(got, torch.tensor([math.exp(-1), 0.0]))


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean", "seq-sum"])
def test_micro_batches_accumulate_to_the_full_batch_gradient(mode):
    g = torch.Generator().manual_seed(0)
    lp = torch.randn(6, 5, generator=g).requires_grad_()
    mask = (torch.rand(6, 5, generator=g) > 0.3).long()
    adv = torch.randn(6, generator=g)
    aggregate_loss(policy_loss_per_token(lp, None, adv), mask, mode).backward()
    full = lp.grad.clone()
    lp.grad = None
    norm = loss_normalizer([mask[:4], mask[4:]], mode)
    for rows in (slice(0, 4), slice(4, 6)):
        aggregate_loss(policy_loss_per_token(lp[rows], None, adv[rows]), mask[rows], mode, norm).backward()
    assert torch.allclose(lp.grad, full, atol=1e-7)


