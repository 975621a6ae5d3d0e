"""docs/algorithms.md: the table names every registered algorithm, and the page links the
one-file algorithm tutorial (whose code tests/test_docs_tutorials.py runs) and the reference."""

from __future__ import annotations

from pathlib import Path

from collabzoo.algorithms import list_algorithms

PAGE = Path(__file__).resolve().parents[1] / "docs" / "algorithms.md"


def test_the_page_links_the_tutorial_and_the_reference():
    text = PAGE.read_text(encoding="utf-8")
    assert "(tutorials/algorithm.md)" in text and "(generated/algorithms/index.md)" in text
    assert (PAGE.parent / "tutorials" / "algorithm.md").exists()


def test_the_table_names_every_algorithm():
    text = PAGE.read_text(encoding="utf-8")
    for info in list_algorithms():
        assert f"| `{info.name}` |" in text
