"""Rule-based agents: no model, no torch. For tests, baselines and examples.

>>> ScriptedAgent(str.upper).act(["hi", "yo"], n=2)
[['HI', 'HI'], ['YO', 'YO']]
>>> RandomTextAgent(seed=0).act(["anything"]) == RandomTextAgent(seed=0).act(["anything"])
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["RandomTextAgent", "ScriptedAgent"]

_WORDS = (
    "the a one two helper main function return value list sum summary short long post "
    "writer wants asks because and but so then if else for while def x y result test "
    "code text answer question reward agent team together first second last"
).split()


class ScriptedAgent:
    """An agent that answers with ``fn(observation)``, called once per requested sample.

    Args:
        fn: maps an observation to an answer (must return ``str``).
    """

    def __init__(self, fn: Callable[[str], str]) -> None:
        self.fn = fn

    def act(self, observations: list[str], n: int = 1) -> list[list[str]]:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        result = []
        for obs in observations:
            answers = [self.fn(obs) for _ in range(n)]
            for a in answers:
                if not isinstance(a, str):
                    raise TypeError(f"ScriptedAgent fn must return str, got {type(a).__name__}")
            result.append(answers)
        return result


class RandomTextAgent:
    """An agent that answers with random words, from its own seeded generator.

    Args:
        seed: seed of its ``numpy.random.Generator`` (same seed, same answers).
        words: the vocabulary to draw from.
        min_words: fewest words per answer.
        max_words: most words per answer.
    """

    def __init__(
        self,
        seed: int | None = None,
        words: Sequence[str] = _WORDS,
        min_words: int = 1,
        max_words: int = 20,
    ) -> None:
        if not 0 <= min_words <= max_words:
            raise ValueError(f"need 0 <= min_words <= max_words, got {min_words}, {max_words}")
        if not words:
            raise ValueError("words must not be empty")
        self.rng = np.random.default_rng(seed)
        self.words = tuple(words)
        self.min_words = min_words
        self.max_words = max_words

    def act(self, observations: list[str], n: int = 1) -> list[list[str]]:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return [[self._answer() for _ in range(n)] for _ in observations]

    def _answer(self) -> str:
        k = int(self.rng.integers(self.min_words, self.max_words + 1))
        return " ".join(self.words[i] for i in self.rng.integers(0, len(self.words), size=k))
