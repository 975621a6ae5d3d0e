"""Benchmark statistics the way Agarwal et al. (NeurIPS 2021) recommend, through ``rliable``.

Scores are arranged as rliable expects: a matrix ``(num_runs, num_tasks)`` per method, where a
run is a training seed and a task an env, and every score is a normalised return
(reward / reward_max, so that envs share one scale).

- :func:`iqm`: the interquartile mean (the mean of the middle 50% of all run x task scores;
  robust to one outlying seed, less noisy than the median).
- :func:`iqm_ci`: IQM and its stratified bootstrap confidence interval: runs are resampled
  with replacement within each task (the CI says how the IQM would move with other seeds on
  the same envs and eval items).
- :func:`probability_of_improvement`: P(X > Y) for a random run of X and one of Y on the same
  task (Mann-Whitney U / (n_x n_y), ties count 1/2), averaged over tasks.
- :func:`curve_ci`: IQM and CI at every step of learning curves ``(runs, tasks, steps)``.

A method with one run (an untrained baseline decoded greedily gives the same number for every
seed) has a point interval: it has no seed variance. The finite eval set's own uncertainty is
not in these intervals.

Needs the ``bench`` extra (``pip install collabzoo[bench]``: rliable); importing this module
without it works, calling a function raises an ImportError that names the extra.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["curve_ci", "iqm", "iqm_ci", "probability_of_improvement"]

#: Bootstrap replications of :func:`iqm_ci` (rliable's default is 50,000; 2,000 puts the
#: CI's ends within ~0.01 of their limit for a handful of seeds, in a fraction of a second).
REPS = 2000


def _rliable() -> Any:
    try:
        from rliable import library, metrics
    except (ImportError, TypeError) as error:  # TypeError: arch 7 under pandas 3
        raise ImportError(
            f"benchmark statistics need rliable ({error!r}): pip install 'collabzoo[bench]' "
            "(rliable 1.2 needs arch<8, which needs pandas<3)"
        ) from error
    return library, metrics


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[np.random.RandomState]:
    """A seeded RandomState for rliable, with numpy's global RNG seeded and then restored:
    rliable 1.2's ``StratifiedBootstrap.update_indices`` draws from ``np.random`` itself,
    ignoring ``random_state``, so only this makes an interval repeatable."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():  # arch 7 deprecates the RandomState rliable passes
            warnings.simplefilter("ignore", FutureWarning)
            yield np.random.RandomState(seed)
    finally:
        np.random.set_state(saved)


def _matrix(scores: Any) -> np.ndarray:
    """``scores`` as a float ``(runs, tasks)`` matrix (a 1-D array is one task)."""
    array = np.asarray(scores, dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"scores must be a non-empty (runs, tasks) matrix, got shape {array.shape}")
    return array


def iqm(scores: Any) -> float:
    """Interquartile mean of every score in ``scores`` (rliable ``aggregate_iqm``).

    Naive equivalent: sort the n scores and average those from index ``floor(n/4)`` to
    ``n - floor(n/4) - 1`` (``scipy.stats.trim_mean(x, 0.25)``). E.g. ``[0, 1, 2, 3, 4, 100]``
    drops one score at each end: ``(1 + 2 + 3 + 4) / 4 = 2.5``.
    """
    _, metrics = _rliable()
    return float(metrics.aggregate_iqm(_matrix(scores)))


def iqm_ci(
    scores: Any, *, reps: int = REPS, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """``(IQM, low, high)``: the IQM and its stratified bootstrap percentile CI.

    Args:
        scores: ``(runs, tasks)`` matrix (or 1-D: runs of one task).
        reps: Bootstrap replications.
        confidence: Coverage of the interval.
        seed: Seeds the bootstrap (same scores and seed, same interval).
    """
    library, metrics = _rliable()
    matrix = _matrix(scores)
    with _seeded(seed) as random_state:
        point, interval = library.get_interval_estimates(
            {"x": matrix},
            lambda x: np.array([metrics.aggregate_iqm(x)]),
            reps=reps,
            confidence_interval_size=confidence,
            random_state=random_state,
        )
    low, high = interval["x"][:, 0]
    return float(point["x"][0]), float(low), float(high)


def probability_of_improvement(scores_x: Any, scores_y: Any) -> float:
    """P(X > Y) + P(X = Y)/2 between a run of X and a run of Y, averaged over tasks.

    Naive equivalent for one task: the share of pairs ``(x_i, y_j)`` with ``x_i > y_j``,
    counting ties as one half. 1: every run of X beats every run of Y; 0.5: no difference.
    Both matrices need the same tasks (columns); the numbers of runs may differ.
    """
    _, metrics = _rliable()
    x, y = _matrix(scores_x), _matrix(scores_y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"X has {x.shape[1]} tasks and Y {y.shape[1]}: compare on the same ones")
    return float(metrics.probability_of_improvement(x, y))


def curve_ci(
    curves: Any, *, reps: int = 500, confidence: float = 0.95, seed: int = 0
) -> dict[str, np.ndarray]:
    """IQM and stratified bootstrap CI at each point of learning curves.

    Args:
        curves: ``(runs, tasks, steps)`` (or ``(runs, steps)``: one task).

    Returns:
        ``{"iqm": (steps,), "low": (steps,), "high": (steps,)}``.
    """
    library, metrics = _rliable()
    array = np.asarray(curves, dtype=float)
    if array.ndim == 2:
        array = array[:, None, :]
    with _seeded(seed) as random_state:
        point, interval = library.get_interval_estimates(
            {"x": array},
            lambda x: np.array([metrics.aggregate_iqm(x[..., t]) for t in range(x.shape[-1])]),
            reps=reps,
            confidence_interval_size=confidence,
            random_state=random_state,
        )
    return {"iqm": point["x"], "low": interval["x"][0], "high": interval["x"][1]}
