"""Did the reward move? The summary a training run prints when it ends.

:func:`reward_trend` compares the mean joint reward (``reward/mean``) of the last quarter of
steps with the first quarter and sets the difference against the step-to-step noise: the
standard deviation of the differences between consecutive steps divided by sqrt(2), which is
one step's own noise when steps are independent around a slow trend. ``rises`` is the
README's test of the demo: the rise exceeds that noise.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RewardTrend", "reward_trend"]


@dataclass(frozen=True)
class RewardTrend:
    """First vs last quarter of a run's steps.

    Attributes:
        steps: steps with a reward.
        first: mean ``reward/mean`` over the first quarter of those steps.
        last: mean over the last quarter.
        noise: one step's noise, ``std(r[t] - r[t-1]) / sqrt(2)``.
        moved: up to 2 other ``reward/*`` entries with the largest change, name -> (first,
            last).
    """

    steps: int
    first: float
    last: float
    noise: float
    moved: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def rise(self) -> float:
        return self.last - self.first

    @property
    def rises(self) -> bool:
        """The last quarter's mean is above the first's by more than one step's noise."""
        return self.steps >= 4 and self.rise > self.noise

    def describe(self) -> str:
        """One line: the two means, the rise against the noise, and what else moved."""
        quarter = max(1, self.steps // 4)
        text = (f"mean reward {self.first:.3f} (first {quarter} steps) -> {self.last:.3f} "
                f"(last {quarter}): {self.rise:+.3f}")
        if self.noise > 0:
            text += f", {self.rise / self.noise:.1f}x the step-to-step noise ({self.noise:.3f})"
        if self.moved:
            text += "; moved: " + ", ".join(
                f"{name.removeprefix('reward/')} {a:.2f} -> {b:.2f}"
                for name, (a, b) in self.moved.items()
            )
        return text


def reward_trend(records: Sequence[dict[str, Any]] | str | os.PathLike[str],
                 key: str = "reward/mean") -> RewardTrend | None:
    """The :class:`RewardTrend` of a run's metrics (records, or a ``metrics.jsonl`` path).

    None when fewer than 2 steps carry ``key``.

    >>> trend = reward_trend([{"reward/mean": r} for r in (0.0, 0.2, 0.1, 0.3, 0.9, 1.1, 1.0, 1.2)])
    >>> round(trend.first, 2), round(trend.last, 2), trend.rises
    (0.1, 1.1, True)
    """
    if isinstance(records, (str, os.PathLike)):
        from collabzoo.trainers.metrics import read_metrics

        records = read_metrics(records)
    rows = [r for r in records if _finite(r.get(key))]
    if len(rows) < 2:
        return None
    quarter = max(1, len(rows) // 4)
    head, tail = rows[:quarter], rows[-quarter:]
    values = [r[key] for r in rows]
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    noise = statistics.pstdev(steps) / math.sqrt(2) if len(steps) > 1 else 0.0
    changes = {}
    for name in rows[0]:
        if name.startswith("reward/") and name not in (key, "reward/std"):
            a = [r[name] for r in head if _finite(r.get(name))]
            b = [r[name] for r in tail if _finite(r.get(name))]
            if a and b:
                changes[name] = (statistics.fmean(a), statistics.fmean(b))
    moved = dict(sorted(changes.items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))[:2])
    return RewardTrend(len(rows), statistics.fmean(values[:quarter]),
                       statistics.fmean(values[-quarter:]), noise, moved)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
