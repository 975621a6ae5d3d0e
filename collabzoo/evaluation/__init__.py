"""Evaluation: the one function that runs it, its result folders, markdown tables and plots.

- :mod:`collabzoo.evaluation.evaluate`: :func:`evaluate` and :func:`eval_sampling`, the one
  evaluation path of ``collabzoo eval``, ``collabzoo benchmark`` and ``Trainer.evaluate``.

- :mod:`collabzoo.evaluation.results`: ``summary.json`` + ``episodes.jsonl`` + ``table.md``
  of one ``collabzoo eval`` run, written and read back; markdown tables of one or many runs.
- :mod:`collabzoo.evaluation.plots`: training curves of runs (``collabzoo plot``) and bar
  charts of results (:func:`~collabzoo.evaluation.plots.bar_chart`). Needs matplotlib (``train`` extra).
"""

from __future__ import annotations

from collabzoo.evaluation.evaluate import Evaluation, eval_sampling, evaluate
from collabzoo.evaluation.results import (
    EpisodeWriter,
    comparison_table,
    load_results,
    summary_table,
    write_results,
)

__all__ = [
    "EpisodeWriter",
    "Evaluation",
    "comparison_table",
    "eval_sampling",
    "evaluate",
    "load_results",
    "summary_table",
    "write_results",
]
