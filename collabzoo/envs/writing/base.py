"""What the two writing tasks share: data loading, prompts, gated scoring, plain feedback.

:class:`WritingEnv` is a :class:`~collabzoo.envs.core.TextCollabEnv` for two writers whose
texts are scored together by :func:`~collabzoo.envs.writing.rewards.writing_reward`. A task
(``tldr.py``, ``arxiv.py``) sets the class attributes (roles, spec, templates, columns) and
an ``__init__`` with its own defaults; everything else lives here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from collabzoo.envs.core import Score, TextCollabEnv
from collabzoo.envs.data import load_records
from collabzoo.envs.writing.rewards import (
    COHERENCE_WEIGHT,
    CONSISTENCY_WEIGHT,
    LEVELS,
    TRANSITION_WORDS,
    WritingRewardSpec,
    coherence,
    writing_reward,
)

__all__ = ["DATA_DIR", "WritingEnv"]

#: The bundled splits: ``data/<task>/<split>.jsonl``.
DATA_DIR = Path(__file__).resolve().parent / "data"

# Sentence tags of the arXiv summarization corpus, left in some abstracts.
_SENTENCE_TAGS = re.compile(r"(?:\s*</?S>\s*)+")


class WritingEnv(TextCollabEnv):
    """Two writers, one source text, the gated four-level writing reward (max 3.0).

    Subclasses set ``roles`` (first, second: the order of the reward's arguments),
    ``spec``, ``bundled_name``, ``text_columns``, ``role_nouns`` and ``templates``.

    Args:
        dataset: ``"bundled"``, a local ``.jsonl``/``.parquet`` path, or a hub id.
        split: Split name.
        max_items: Keep only the first ``max_items`` records.
        num_turns: Turns per episode.
        render_mode: ``"ansi"`` or ``None``.
    """

    reward_max: ClassVar[float] = 3.0
    spec: WritingRewardSpec  # a class default; an instance may shadow it (arxiv's length_band)
    #: Folder of the bundled splits under ``data/``.
    bundled_name: ClassVar[str]
    #: Accepted names of the source-text column, in order of preference.
    text_columns: ClassVar[tuple[str, ...]]
    #: What each role writes, as a noun phrase ("concise summary").
    role_nouns: ClassVar[dict[str, str]]
    #: Each role's first prompt; ``{text}`` is the source text.
    templates: ClassVar[dict[str, str]]

    def __init__(
        self,
        *,
        dataset: str,
        split: str,
        max_items: int | None,
        num_turns: int,
        render_mode: str | None,
    ) -> None:
        self.dataset, self.split = dataset, split
        self.tasks = load_records(
            dataset, split, bundled_dir=DATA_DIR / self.bundled_name, max_items=max_items
        )
        columns = self.tasks[0].keys()
        found = [c for c in self.text_columns if c in columns]
        if not found:
            raise ValueError(
                f"dataset {dataset!r} split {split!r} has none of the text columns "
                f"{list(self.text_columns)}; it has {sorted(columns)}"
            )
        self.text_column = found[0]
        super().__init__(num_turns=num_turns, render_mode=render_mode)

    # ------------------------------------------------------------------ task hooks
    def source_text(self, task: Mapping[str, Any]) -> str:
        """The task's source text; a list of sentences (arXiv corpora) is joined."""
        value = task.get(self.text_column)
        if isinstance(value, (list, tuple)):
            value = " ".join(str(part).strip() for part in value)
        text = "" if value is None else str(value)
        return (_SENTENCE_TAGS.sub(" ", text) if "S>" in text else text).strip()

    def prompt(self, agent: str, task: Mapping[str, Any]) -> str:
        return self.templates[agent].format(text=self.source_text(task))

    def score(self, task: Mapping[str, Any], actions: Mapping[str, str]) -> Score:
        first, second = self.roles
        result = writing_reward(actions[first], actions[second], self.spec)
        m = result.measures
        details: dict[str, Any] = {"stopped_at": result.stopped_at}
        for i, role in enumerate(self.roles):
            details[f"words_{role}"] = m.words[i]
            details[f"chars_{role}"] = m.chars[i]
            details[f"distinct_words_{role}"] = m.distinct[i]
        details["transition_categories"] = m.categories
        return Score(
            reward=result.total,
            components={**result.components, **result.raw},
            details=details,
            solved=result.total >= self.spec.max_reachable - 1e-9,
        )

    def feedback(
        self, agent: str, task: Mapping[str, Any], actions: Mapping[str, str], score: Score
    ) -> str:
        """The joint reward, then one plain sentence per level this turn did not fully meet."""
        lines = [f"The team's joint reward was {score.reward:.2f} of {self.reward_max:.1f}."]
        lines += [f"- {line}" for line in self._unmet_levels(agent, score)]
        if len(lines) == 1:
            lines.append("- Every level was met: keep the same approach.")
        return "\n".join(lines)

    # ------------------------------------------------------------------ feedback text
    def _unmet_levels(self, agent: str, score: Score) -> list[str]:
        spec, c, d = self.spec, score.components, score.details
        first, second = self.roles

        def name(role: str) -> str:
            return f"{'your' if role == agent else 'the'} {self.role_nouns[role]}"

        stopped = d["stopped_at"]
        skipped = LEVELS[LEVELS.index(stopped) + 1 :] if stopped else ()
        lines: list[str] = []
        low, high = spec.words
        if stopped == "structure":
            for role in self.roles:
                n = d[f"words_{role}"]
                if not low <= n <= high:
                    lines.append(
                        f"Length in words: {name(role)} had {n} words; "
                        f"each text needs {low}-{high}."
                    )
        if c["length_ratio"] < spec.length_band.weight and "length_ratio" not in skipped:
            band, r = spec.length_band, c["r"]
            longer = (agent == second) == (r < band.full_low)
            lines.append(
                f"Length ratio: {name(second)} was {r:.2f}x as long as {name(first)} "
                f"(in characters); aim for {band.full_low:g}-{band.full_high:g}x. "
                f"Make yours {'longer' if longer else 'shorter'}."
            )
        if c["vocabulary"] < spec.vocabulary_band.weight and "vocabulary" not in skipped:
            band, u = spec.vocabulary_band, c["u"]
            wider = (agent == second) == (u < band.full_low)
            target = (
                f"at least {band.full_low:g}x"
                if band.full_high == float("inf")
                else f"{band.full_low:g}-{band.full_high:g}x"
            )
            lines.append(
                f"Vocabulary: {name(second)} used {u:.2f}x as many distinct words as "
                f"{name(first)}; aim for {target}. Use a "
                f"{'wider' if wider else 'narrower'} range of words."
            )
        if "coherence" not in skipped and c["coherence"] < COHERENCE_WEIGHT * coherence(
            len(TRANSITION_WORDS)
        ):
            found = d["transition_categories"]
            missing = [cat for cat in TRANSITION_WORDS if cat not in found][:3]
            ideas = ", ".join(f"'{TRANSITION_WORDS[cat][0]}' ({cat})" for cat in missing)
            where = "together you" if spec.transitions_in == "both" else name(second)
            lines.append(
                f"Transitions: {where} used transition words from {len(found)} of "
                f"{len(TRANSITION_WORDS)} categories; add other kinds, such as {ideas}."
            )
        if "consistency" not in skipped and c["consistency"] < CONSISTENCY_WEIGHT:
            lines.append(
                f"Consistency: the two texts share few content words (Jaccard {c['J']:.3f}, "
                f"full credit at {spec.jaccard_cap:g}); use the same key terms for the "
                f"same things."
            )
        if skipped:
            lines.append(
                "Not scored until the levels above are met: "
                + ", ".join(level.replace("_", " ") for level in skipped)
                + "."
            )
        return lines
