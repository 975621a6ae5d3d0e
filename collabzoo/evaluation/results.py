"""The results folder of one evaluation, and markdown tables of one or many evaluations.

A folder written by ``collabzoo eval --output results/NAME`` holds:

- ``summary.json``: what was run (env, env kwargs, protocol, agents, seed, episodes) and
  :func:`collabzoo.protocols.summarize`'s numbers;
- ``episodes.jsonl``: one :meth:`EpisodeRecord.to_dict` per line: every prompt, answer,
  joint action, reward and reward component of every turn, written as episodes finish;
- ``table.md``: :func:`summary_table`, the table printed to the terminal.

:func:`load_results` reads a folder back into ``(summary, records)``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from collabzoo.protocols.base import EpisodeRecord

__all__ = [
    "EPISODES_FILE",
    "SUMMARY_FILE",
    "TABLE_FILE",
    "EpisodeWriter",
    "comparison_table",
    "format_mean_std",
    "load_results",
    "summary_table",
    "write_results",
]

SUMMARY_FILE = "summary.json"
EPISODES_FILE = "episodes.jsonl"
TABLE_FILE = "table.md"


class EpisodeWriter:
    """Appends each finished episode to ``<folder>/episodes.jsonl`` (the file starts empty).

    Use as ``on_episode=`` of :func:`~collabzoo.protocols.run_episodes`, inside ``with``.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.path = Path(folder) / EPISODES_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")

    def __call__(self, record: EpisodeRecord) -> None:
        self._file.write(json.dumps(record.to_dict(), ensure_ascii=False, default=repr) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_results(
    folder: str | os.PathLike[str],
    summary: dict[str, Any],
    records: Sequence[EpisodeRecord] | None = None,
) -> Path:
    """Write ``summary.json`` and ``table.md`` (and ``episodes.jsonl`` when ``records`` is given)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / SUMMARY_FILE).write_text(
        json.dumps(summary, indent=2, default=repr) + "\n", encoding="utf-8"
    )
    (out / TABLE_FILE).write_text(summary_table(summary) + "\n", encoding="utf-8")
    if records is not None:
        with EpisodeWriter(out) as writer:
            for record in records:
                writer(record)
    return out


def load_results(folder: str | os.PathLike[str]) -> tuple[dict[str, Any], list[EpisodeRecord]]:
    """Read a results folder back: ``(summary, episode records)``.

    Raises:
        FileNotFoundError: The folder lacks ``summary.json`` or ``episodes.jsonl``.
    """
    out = Path(folder)
    for name in (SUMMARY_FILE, EPISODES_FILE):
        if not (out / name).is_file():
            raise FileNotFoundError(f"{out / name} not found: {out} is not a collabzoo eval output")
    summary = json.loads((out / SUMMARY_FILE).read_text(encoding="utf-8"))
    with (out / EPISODES_FILE).open(encoding="utf-8") as f:
        records = [EpisodeRecord.from_dict(json.loads(line)) for line in f if line.strip()]
    return summary, records


def format_mean_std(stat: dict[str, float] | None, digits: int = 3) -> str:
    """``"0.512 ± 0.101"``; ``"–"`` when missing or NaN."""
    if not stat or stat.get("mean") is None or math.isnan(stat["mean"]):
        return "–"
    return f"{stat['mean']:.{digits}f} ± {stat.get('std', 0.0):.{digits}f}"


def _rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, float] | None]]:
    rows: list[tuple[str, dict[str, float] | None]] = [
        ("return (normalised)", summary.get("return_normalized")),
        ("joint reward", summary.get("reward")),
    ]
    if summary.get("turns", {}).get("mean", 1.0) != 1.0:
        rows.append(("score (final turn)", summary.get("score")))
        rows.append(("return (sum over turns)", summary.get("return")))
        rows.append(("turns", summary.get("turns")))
    rows += [
        (f"reward component: {name}", stat) for name, stat in summary.get("components", {}).items()
    ]
    for key, label in (
        ("pass_rate", "pass rate (tests passed)"),
        ("pass_all_rate", "pass rate (all tests)"),
        ("cooperation_rate", "cooperation rate"),
    ):
        if key in summary:
            rows.append((label, summary[key]))
    rows.append(("seconds per episode", summary.get("seconds_per_episode")))
    return rows


def summary_table(summary: dict[str, Any]) -> str:
    """A markdown table of one evaluation: one row per metric, mean and std over episodes."""
    head = []
    for key, label in (
        ("env", "env"),
        ("protocol", "protocol"),
        ("agents", "agents"),
        ("episodes", "episodes"),
        ("seed", "seed"),
    ):
        if key in summary:
            value = summary[key]
            value = ", ".join(map(str, value)) if isinstance(value, list) else value
            head.append(f"{label}: `{value}`")
    lines = ["  ".join(head), "", "| metric | mean | std |", "| --- | ---: | ---: |"]
    for label, stat in _rows(summary):
        if not stat or stat.get("mean") is None or math.isnan(stat["mean"]):
            lines.append(f"| {label} | – | – |")
        else:
            lines.append(f"| {label} | {stat['mean']:.3f} | {stat['std']:.3f} |")
    return "\n".join(lines if head else lines[2:])


def comparison_table(
    summaries: Sequence[dict[str, Any]],
    label: Callable[[dict[str, Any]], str] | None = None,
    components: bool = True,
) -> str:
    """A markdown table with one row per evaluation (mean ± std over its episodes).

    Args:
        summaries: ``summary.json`` contents.
        label: The first column of a row (default: ``env · protocol · agents``).
        components: Add one column per reward component (union over the summaries).
    """
    label = label or (
        lambda s: (
            f"{s.get('env', '?')} · {s.get('protocol', '?')} · "
            f"{', '.join(map(str, s.get('agents', [])))}"
        )
    )
    names: list[str] = []
    if components:
        for s in summaries:
            names.extend(n for n in s.get("components", {}) if n not in names)
    rates = [
        k
        for k in ("pass_rate", "pass_all_rate", "cooperation_rate")
        if any(k in s for s in summaries)
    ]
    header = [
        "run",
        "episodes",
        "return (normalised)",
        *names,
        *(r.replace("_", " ") for r in rates),
        "s / episode",
    ]
    lines = ["| " + " | ".join(header) + " |", "| --- " + "| ---: " * (len(header) - 1) + "|"]
    for s in summaries:
        cells = [label(s), str(s.get("episodes", "")), format_mean_std(s.get("return_normalized"))]
        cells += [format_mean_std(s.get("components", {}).get(n)) for n in names]
        cells += [format_mean_std(s.get(r)) for r in rates]
        seconds = s.get("seconds_per_episode", {}).get("mean")
        cells.append("–" if seconds is None else f"{seconds:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
