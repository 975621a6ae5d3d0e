"""docs/algorithms.md: the "write your own algorithm in one file" example runs as written
(a toy algorithm registered from the page, trained two steps on tiny), and the table names
every registered algorithm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collabzoo.algorithms import list_algorithms, registration

PAGE = Path(__file__).resolve().parents[1] / "docs" / "algorithms.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_write_your_own_algorithm_example_trains_two_steps(capsys):
    assert len(BLOCKS) == 1
    namespace: dict = {}
    try:
        exec(compile(BLOCKS[0], str(PAGE), "exec"), namespace)
        trainer = namespace["trainer"]
        assert trainer.step == 2 and trainer.algorithm_name == "median"
        assert len(namespace["history"]) == 2
        printed = float(capsys.readouterr().out.strip())
        assert printed == namespace["history"][-1]["advantage/abs_mean"]
        # the example's clipping bounds every advantage, so their mean magnitude too
        assert 0 <= printed <= namespace["config"].clip_advantage
    finally:
        registration._INFOS.pop("median", None)


def test_the_table_names_every_algorithm():
    text = PAGE.read_text(encoding="utf-8")
    for info in list_algorithms():
        assert f"| `{info.name}` |" in text
