"""collabzoo's Hanabi engine agrees with hanabi-learning-environment on 1,050 random games.

Needs ``hanabi-learning-environment`` (``make install-hanabi-reference``); the games and the
comparison are benchmarks/hanabi_reference.py's.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("hanabi_learning_environment")

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "hanabi_reference.py"
_SPEC = importlib.util.spec_from_file_location("hanabi_reference", _PATH)
reference = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(reference)


@pytest.mark.slow
def test_same_deck_and_moves_give_the_same_game_as_the_reference():
    rows = reference.compare(reference.VARIANTS, games=150, seed=1)
    assert sum(r["games"] for r in rows) >= 1_000
    for row in rows:
        assert row["agree"] == row["games"], (row["variant"], row["first_difference"])
    ends = {end for row in rows for end in row["ends"]}
    assert ends == {"OUT_OF_LIFE_TOKENS", "OUT_OF_CARDS", "COMPLETED_FIREWORKS"}
