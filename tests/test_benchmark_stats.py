"""Benchmark statistics (collabzoo.evaluation.stats) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rliable")

from collabzoo.evaluation.stats import (  # noqa: E402
    curve_ci,
    iqm,
    iqm_ci,
    probability_of_improvement,
)


def test_iqm_of_a_small_array():
    # 8 scores: the lowest 2 and highest 2 go, (2 + 3 + 4 + 5) / 4 = 3.5
    assert iqm([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 100.0]) == pytest.approx(3.5)
    # a (runs, tasks) matrix pools every score: 4 scores, the middle two, (1 + 2) / 2
    assert iqm([[0.0, 2.0], [1.0, 50.0]]) == pytest.approx(1.5)


def test_bootstrap_ci_contains_the_iqm_and_is_repeatable():
    scores = np.array([0.1, 0.25, 0.3, 0.32, 0.5, 0.9])
    point, low, high = iqm_ci(scores, reps=500, seed=3)
    assert point == pytest.approx(iqm(scores))
    assert low <= point <= high
    assert low < high
    assert iqm_ci(scores, reps=500, seed=3) == (point, low, high)


def test_one_run_has_a_point_interval():
    assert iqm_ci([0.4], reps=200) == pytest.approx((0.4, 0.4, 0.4))


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([0.6, 0.7, 0.8], [0.1, 0.2, 0.3], 1.0),  # separable: X always higher
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], 0.5),  # identical
        ([0.1, 0.2, 0.3], [0.6, 0.7, 0.8], 0.0),  # reversed
        ([0.5, 0.5], [0.5], 0.5),  # ties count one half
    ],
)
def test_probability_of_improvement(x, y, expected):
    assert probability_of_improvement(x, y) == pytest.approx(expected)


def test_probability_of_improvement_averages_tasks():
    x = np.array([[1.0, 0.0], [1.0, 0.0]])
    y = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert probability_of_improvement(x, y) == pytest.approx(0.5)  # (1 + 0) / 2


def test_curve_ci_bands_hold_the_iqm():
    curves = np.array([[0.0, 0.5, 1.0], [0.1, 0.4, 0.9], [0.2, 0.6, 0.8]])  # 3 runs, 3 steps
    band = curve_ci(curves, reps=200)
    assert band["iqm"].shape == (3,)
    assert np.all(band["low"] <= band["iqm"] + 1e-12)
    assert np.all(band["iqm"] <= band["high"] + 1e-12)
