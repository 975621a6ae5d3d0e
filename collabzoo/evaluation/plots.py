"""Figures: training curves of runs (``collabzoo plot``) and result bar charts.

Both return the :class:`matplotlib.figure.Figure` (so a caller or a test can inspect its
axes and lines) after saving it as a PNG. matplotlib is imported on call, with the
non-interactive ``Agg`` backend.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["bar_chart", "curve_metrics", "plot_runs", "read_run_metrics"]

METRICS_FILE = "metrics.jsonl"
#: reward/* entries that are not reward components
_NOT_COMPONENTS = ("reward/mean", "reward/std")


def read_run_metrics(run: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The lines of ``<run>/metrics.jsonl`` (``run`` may also be the file itself).

    Raises:
        FileNotFoundError: No metrics file; the message says what a run folder holds.
    """
    path = Path(run)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: pass run folders written by `collabzoo train` "
            f"(runs/NAME holding {METRICS_FILE})"
        )
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def curve_metrics(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The metrics ``plot_runs`` draws for these rows, in panel order.

    ``reward/mean``, then each reward component (``reward/<name>``, not ``reward/std`` nor
    the per-turn ``reward/turn_<t>``), then ``eval/return_normalized`` — those present.
    """
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    components = [
        k
        for k in keys
        if k.startswith("reward/") and k not in _NOT_COMPONENTS and not k.startswith("reward/turn_")
    ]
    ordered = ["reward/mean", *components, "eval/return_normalized"]
    return [k for k in ordered if k in keys]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_runs(
    runs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    metrics: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
) -> Any:
    """Training curves of several runs: one panel per metric, one line per run in each panel.

    Args:
        runs: Run folders (each with ``metrics.jsonl``).
        output: The PNG to write.
        metrics: The metrics to draw (default: :func:`curve_metrics` over all runs).
        labels: Legend names of the runs (default: the folder names).

    Returns:
        The figure. A run draws one line in each panel whose metric it logged.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    data = [read_run_metrics(r) for r in runs]
    labels = list(labels) if labels is not None else [Path(r).name for r in runs]
    if len(labels) != len(data):
        raise ValueError(f"{len(labels)} labels for {len(data)} runs")
    if metrics is None:
        metrics = curve_metrics([row for rows in data for row in rows])
    if not metrics:
        raise ValueError("the runs logged none of the metrics to plot (reward/mean, ...)")
    cols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(
        nrows, cols, figsize=(5 * cols, 3.4 * nrows), sharex=True, squeeze=False
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for panel, metric in enumerate(metrics):
        ax = axes[panel // cols][panel % cols]
        for k, (rows, label) in enumerate(zip(data, labels, strict=True)):
            points = [(r["step"], r[metric]) for r in rows if metric in r and r[metric] is not None]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            style = "o-" if metric.startswith("eval/") else "-"
            ax.plot(xs, ys, style, color=colors[k % len(colors)], label=label, markersize=3)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if panel + cols >= len(metrics):  # lowest panel of its column: show the step axis
            ax.set_xlabel("step")
            ax.xaxis.set_tick_params(labelbottom=True)
    for panel in range(len(metrics), nrows * cols):
        axes[panel // cols][panel % cols].set_visible(False)
    handles, names = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="upper center", ncol=min(len(names), 4), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight() if handles else 1))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return fig


def bar_chart(
    groups: Mapping[str, Mapping[str, tuple[float, float]]],
    output: str | os.PathLike[str],
    ylabel: str = "normalised return",
    title: str | None = None,
) -> Any:
    """One panel per group (e.g. env), one bar per entry (e.g. protocol and team) with its std.

    Args:
        groups: ``{group: {bar label: (mean, std)}}``; NaN means are drawn as empty bars.
        output: The PNG to write.

    Returns:
        The figure.
    """
    plt = _pyplot()
    n = max(len(groups), 1)
    cols = min(2, n)
    nrows = math.ceil(n / cols)
    width = max(len(b) for b in groups.values()) if groups else 1
    fig, axes = plt.subplots(
        nrows, cols, figsize=(max(5, 0.7 * width + 2) * cols, 3.8 * nrows), squeeze=False
    )
    for panel, (group, bars) in enumerate(groups.items()):
        ax = axes[panel // cols][panel % cols]
        names = list(bars)
        means = [0.0 if math.isnan(bars[b][0]) else bars[b][0] for b in names]
        stds = [0.0 if math.isnan(bars[b][1]) else bars[b][1] for b in names]
        ax.bar(range(len(names)), means, yerr=stds, capsize=3, color="#4C72B0")
        top = max([m + sd for m, sd in zip(means, stds, strict=True)] + [0.1])
        low = min(means + [0.0])
        span = top - low
        ax.set_ylim(low - 0.05 * span if low < 0 else 0.0, top + 0.15 * span)
        for x, (name, m, sd) in enumerate(zip(names, means, stds, strict=True)):
            text = "n/a" if math.isnan(bars[name][0]) else f"{m:.2f}"
            ax.text(x, m + sd + 0.02 * span, text, ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=8)
        ax.set_title(group, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    for panel in range(len(groups), nrows * cols):
        axes[panel // cols][panel % cols].set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return fig
