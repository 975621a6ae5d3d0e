"""Answers and their scores for the reasoning-gym team tasks (pure functions, no reasoning_gym).

:func:`extract_answer` takes an agent's answer from its text; :func:`score_answer_safely`
asks a reasoning-gym dataset's own checker about it and never raises; :func:`joint_score`
reduces the agents' scores to the team's. ``collabzoo/ReasoningGym-v1`` is built from these.

>>> extract_answer("2 + 3 = 5, so <answer>5</answer>")
'5'
>>> extract_answer("<answer>4</answer> no, wait: <answer> 5 </answer>")
'5'
>>> extract_answer("I think it is 5") is None
True
>>> extract_answer("I think it is\\n 5 \\n", untagged="last_line")
'5'
>>> extract_answer("4 - 1 = 3.", untagged="last_number"), extract_answer("It is -12", untagged="last_number")
('3', '-12')
>>> joint_score({"solver_a": 1.0, "solver_b": 0.0}, "mean"), joint_score({"solver_a": 1.0, "solver_b": 0.0}, "min")
(0.5, 0.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "MAX_ANSWER_CHARS",
    "AnswerScore",
    "Checker",
    "extract_answer",
    "joint_score",
    "score_answer_safely",
]

#: Longest extracted answer handed to a checker (characters); longer ones score 0 unchecked,
#: so that a pathological answer cannot keep a checker (sympy, a parser) busy for minutes.
MAX_ANSWER_CHARS: int = 4096

_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_CLOSE = re.compile(r"</answer>", re.IGNORECASE)

Untagged = Literal["zero", "last_line", "last_number"]
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
Joint = Literal["mean", "min"]


class Checker(Protocol):
    """What collabzoo needs of a reasoning-gym dataset: its ``score_answer``."""

    def score_answer(self, answer: str | None, entry: dict[str, Any]) -> float: ...


def extract_answer(text: str, untagged: Untagged = "zero") -> str | None:
    """The answer in ``text``: the content of its LAST complete ``<answer>...</answer>`` pair.

    The last closing tag is found first, then the nearest opening tag before it, so
    ``"<answer>a<answer>b</answer>"`` gives ``"b"``; tags match in any case
    (``<ANSWER>``); the content is stripped of surrounding whitespace. reasoning-gym's own
    ``extract_answer`` also takes the last pair (with a non-greedy regex that would give
    ``"a<answer>b"`` in that example). An opening tag without a closing one after it (an
    answer cut off by the token budget) is no tag.

    Without a complete pair: ``untagged="zero"`` (the default, reasoning-gym's convention)
    gives ``None`` (no answer, so the score is 0); ``"last_line"`` gives the last non-empty line,
    stripped (``None`` for a blank text); ``"last_number"`` gives the last number (an
    integer or decimal with an optional ``-`` sign, not part of a word; ``None`` if there is
    none), for tasks whose answers are numbers and models that do not write tags.
    """
    if untagged not in ("zero", "last_line", "last_number"):
        raise ValueError(
            f"untagged must be 'zero', 'last_line' or 'last_number', got {untagged!r}")
    closes = list(_CLOSE.finditer(text))
    if closes:
        close = closes[-1]
        opens = list(_OPEN.finditer(text, 0, close.start()))
        if opens:
            return text[opens[-1].end() : close.start()].strip()
    if untagged == "last_line":
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else None
    if untagged == "last_number":
        numbers = _NUMBER.findall(text)
        return numbers[-1] if numbers else None
    return None


@dataclass(frozen=True)
class AnswerScore:
    """One agent's answer and what the checker made of it.

    Attributes:
        answer: The extracted answer (``None``: no answer found).
        score: The checker's score, clamped to [0, 1]; 0 when not checked.
        reason: Why the score is what it is when the checker did not decide it alone:
            ``"no_answer"``, ``"too_long"``, ``"checker_error: <Type>: <message>"``,
            ``"not_a_number"``; ``""`` when the checker scored it.
    """

    answer: str | None
    score: float
    reason: str = ""


def score_answer_safely(
    checker: Checker, entry: dict[str, Any], answer: str | None,
    max_chars: int = MAX_ANSWER_CHARS,
) -> AnswerScore:
    """``checker.score_answer(answer, entry)``, clamped to [0, 1], that never raises.

    No answer, an answer longer than ``max_chars``, a checker that raises, or one that
    returns something other than a finite number all score 0 with a ``reason``.
    """
    if answer is None:
        return AnswerScore(None, 0.0, "no_answer")
    if len(answer) > max_chars:
        return AnswerScore(answer[:80] + "...", 0.0, "too_long")
    try:
        value = checker.score_answer(answer, entry)
    except Exception as error:  # any checker bug is the answer's 0, never the trainer's crash
        message = str(error).splitlines()[0][:200] if str(error) else ""
        return AnswerScore(answer, 0.0, f"checker_error: {type(error).__name__}: {message}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return AnswerScore(answer, 0.0, "not_a_number")
    if not math.isfinite(number):
        return AnswerScore(answer, 0.0, "not_a_number")
    return AnswerScore(answer, min(1.0, max(0.0, number)))


def joint_score(scores: Mapping[str, float], joint: Joint = "mean") -> float:
    """The team's score of one turn from each agent's: their ``"mean"`` or their ``"min"``."""
    values = list(scores.values())
    if not values:
        raise ValueError("joint_score needs at least one agent's score")
    if joint == "mean":
        return sum(values) / len(values)
    if joint == "min":
        return min(values)
    raise ValueError(f"joint must be 'mean' or 'min', got {joint!r}")
