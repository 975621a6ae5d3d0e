"""Advantage estimators against hand-computed numbers."""

from __future__ import annotations

import math

import pytest
import torch

from collabzoo.trainers.advantages import (
    compute_advantages,
    group_advantages,
    marginal_advantages,
    scale_advantages,
)

RETURNS = torch.tensor([[1.0, 2.0, 3.0, 6.0]])  # mean 3, sum 12, max 6


@pytest.mark.parametrize(
    "baseline, expected",
    [
        ("mean", [-2.0, -1.0, 0.0, 3.0]),
        # leave-one-out baselines (12-1)/3, (12-2)/3, (12-3)/3, (12-6)/3
        ("rloo", [1 - 11 / 3, 2 - 10 / 3, 0.0, 4.0]),
        ("max", [-5.0, -4.0, -3.0, 0.0]),
        ("none", [1.0, 2.0, 3.0, 6.0]),
    ],
)
def test_group_advantages_by_hand(baseline, expected):
    got = group_advantages(RETURNS, baseline)
    assert torch.allclose(got, torch.tensor([expected]), atol=1e-6)


def test_groups_are_independent():
    returns = torch.tensor([[0.0, 1.0], [10.0, 30.0]])
    assert torch.equal(group_advantages(returns), torch.tensor([[-0.5, 0.5], [-10.0, 10.0]]))


def test_group_scale_divides_by_sample_std():
    # stdev([1, 2, 3, 6]) = sqrt((4 + 1 + 0 + 9) / 3) = sqrt(14 / 3)
    std = math.sqrt(14 / 3)
    got = scale_advantages(group_advantages(RETURNS), RETURNS, "group", eps=0.0)
    assert torch.allclose(got, torch.tensor([[-2 / std, -1 / std, 0.0, 3 / std]]), atol=1e-6)
    # eps keeps a zero-std group finite (its advantages are 0 anyway)
    flat = torch.tensor([[5.0, 5.0]])
    assert torch.equal(scale_advantages(group_advantages(flat), flat, "group", 1e-4), torch.zeros(1, 2))


def test_batch_scale_and_zero_std_fraction():
    returns = torch.tensor([[1.0, 3.0], [5.0, 5.0]])
    # batch stdev([1, 3, 5, 5]): mean 3.5, squared deviations 6.25 + .25 + 2.25 + 2.25 = 11
    std = math.sqrt(11 / 3)
    result = compute_advantages(returns, "mean", "batch", eps=0.0)
    assert torch.allclose(result.values, torch.tensor([[-1 / std, 1 / std], [0.0, 0.0]]), atol=1e-6)
    assert result.frac_zero_std == 0.5
    assert compute_advantages(returns, "mean", "none").values.tolist() == [[-1.0, 1.0], [0.0, 0.0]]


def test_marginal_advantages_aligned_is_identity():
    adv = torch.tensor([[1.0, -1.0, 0.5]])
    choices = torch.tensor([[0, 0], [1, 1], [2, 2]])  # aligned, G=3, N=2
    got = marginal_advantages(adv, choices, 3)
    assert got.shape == (2, 1, 3)
    assert torch.equal(got[0], adv) and torch.equal(got[1], adv)


def test_marginal_advantages_cross_by_hand():
    # G=2, N=2: joint actions (0,0), (0,1), (1,0), (1,1) with advantages 1, 3, -2, -2
    adv = torch.tensor([[1.0, 3.0, -2.0, -2.0]])
    choices = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    got = marginal_advantages(adv, choices, 2)
    # agent 0: sample 0 in (1, 3) -> 2, sample 1 in (-2, -2) -> -2
    # agent 1: sample 0 in (1, -2) -> -0.5, sample 1 in (3, -2) -> 0.5
    assert got.tolist() == [[[2.0, -2.0]], [[-0.5, 0.5]]]


def test_group_advantages_rejects_singleton_groups():
    with pytest.raises(ValueError, match="K>=2"):
        group_advantages(torch.tensor([[1.0]]))


def test_tree_gae_by_hand():
    from collabzoo.trainers.advantages import tree_gae

    # root 0 with K=2 joint actions: edge 0 -> node 1, edge 1 ends; node 1's two edges end
    values = torch.tensor([1.0, 2.0])
    rewards = torch.tensor([[0.5, 3.0], [1.0, 5.0]])
    children = torch.tensor([[1, -1], [-1, -1]])
    adv, targets = tree_gae(values, rewards, children, discount=0.5, lam=0.5)
    # node 1: [1 - 2, 5 - 2] = [-1, 3], mean 1, target 3
    # root edge 0: 0.5 + 0.5*2 - 1 + 0.5*0.5*1 = 0.75; edge 1: 3 - 1 = 2; target 1 + 1.375
    assert adv.tolist() == [[0.75, 2.0], [-1.0, 3.0]]
    assert targets.tolist() == [2.375, 3.0]
    # lam = 1: the target is the mean Monte-Carlo return: root (0.5 + 0.5*3 + 3) / 2 = 2.5
    _, mc = tree_gae(values, rewards, children, discount=0.5, lam=1.0)
    assert mc.tolist() == [2.5, 3.0]
