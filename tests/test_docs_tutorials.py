"""The tutorials of the documentation site (docs/tutorials/*.md) run as written.

Each page runs in a fresh temporary folder, top to bottom, like a notebook: its ```` ```python ````
blocks in one namespace, after the files it asks the reader to save. An HTML comment right
before a fenced block says what the test does with it (the site does not show it):

- ``<!-- test: file NAME -->``: the block is written to ``NAME`` (importable: the folder is on
  ``sys.path`` and ``PYTHONPATH``);
- ``<!-- test: run -->``: a ```` ```bash ```` block, run in the folder (a subprocess; slow);
- ``<!-- test: slow -->``: runs only in the slow suite (a long Python block, or a bash one);
- ``<!-- test: skip REASON -->``: not run; reported as skipped with ``REASON``. The snippets of
  the command line's ``module:`` plug-ins carry ``skip needs module: seams``: they run (slow
  suite) as soon as the package has those seams (``collabzoo.plugins.load_attribute``).

Unmarked bash, TOML and YAML blocks are shown, not run.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
PAGES = sorted(p for p in TUTORIALS.glob("*.md") if p.name != "index.md")
FENCE = re.compile(r"(?:<!-- test: (?P<mark>[^>]*?) -->\n)?```(?P<lang>\w+)\n(?P<code>.*?)```",
                   re.DOTALL)
SEAMS = "needs module: seams"
HAS_SEAMS = hasattr(importlib.import_module("collabzoo.plugins"), "load_attribute")
"""``--env module:id``, ``--algo module:Class`` and ``py:module:Class`` agents exist."""


@dataclass
class Block:
    page: Path
    index: int
    lang: str
    code: str
    mark: str
    """The ``test:`` comment before the block, or ""."""

    @property
    def id(self) -> str:
        return f"{self.page.stem}-{self.index}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a tutorial page, with their marks, in order."""
    text = page.read_text(encoding="utf-8")
    return [Block(page, i, m["lang"], m["code"], (m["mark"] or "").strip())
            for i, m in enumerate(FENCE.finditer(text))]


ALL = [b for page in PAGES for b in blocks(page)]
COMMANDS = [b for b in ALL if b.lang == "bash" and b.mark.startswith(("run", "slow", "skip"))]


def _prepare(page: Path, folder: Path) -> None:
    for block in blocks(page):
        if block.mark.startswith("file "):
            (folder / block.mark.removeprefix("file ").strip()).write_text(block.code)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A folder to run in; registrations and modules the page adds are undone afterwards."""
    import pettingzoo

    from collabzoo.algorithms import registration as algorithm_registry
    from collabzoo.envs import registration as env_registry

    envs, parallel, algos = (set(env_registry._INFOS), set(pettingzoo.parallel_registry),
                             set(algorithm_registry._INFOS))
    modules = set(sys.modules)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for key in set(env_registry._INFOS) - envs:
        env_registry._INFOS.pop(key)
    for key in set(pettingzoo.parallel_registry) - parallel:
        pettingzoo.parallel_registry.pop(key)
    for key in set(algorithm_registry._INFOS) - algos:
        algorithm_registry._INFOS.pop(key)
    for name in set(sys.modules) - modules:
        if (tmp_path / f"{name.split('.')[0]}.py").exists():
            sys.modules.pop(name)


def test_every_tutorial_has_code_and_is_in_the_index():
    index = (TUTORIALS / "index.md").read_text(encoding="utf-8")
    assert len(PAGES) >= 5
    for page in PAGES:
        assert any(b.lang == "python" for b in blocks(page)), page.name
        assert f"\n{page.stem}\n" in index, f"{page.name} is missing from tutorials/index.md"


def test_marks_are_known():
    for block in ALL:
        assert re.fullmatch(r"|run|slow|skip .+|file [\w.-]+", block.mark), (block.id, block.mark)


def _run_page(page: Path, folder: Path, *, slow: bool) -> dict:
    """Every Python block of the page (the ``slow`` ones only if ``slow``), in order, in one
    namespace, after the page's files are written to ``folder``."""
    _prepare(page, folder)
    namespace: dict = {"__name__": f"tutorial_{page.stem}"}
    for block in blocks(page):
        if block.lang != "python" or block.mark.startswith(("file", "skip")):
            continue
        if block.mark == "slow" and not slow:
            continue
        exec(compile(block.code, f"{page.name} block {block.index}", "exec"), namespace)
    return namespace


SLOW_PAGES = [p for p in PAGES if any(b.lang == "python" and b.mark == "slow" for b in blocks(p))]


RUNS = [*(pytest.param(p, False, id=p.stem) for p in PAGES),
        *(pytest.param(p, True, id=f"{p.stem}-slow", marks=pytest.mark.slow) for p in SLOW_PAGES)]


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
@pytest.mark.parametrize(("page", "slow"), RUNS)
def test_tutorial_python_runs(page, slow, sandbox, capsys):
    """The page's Python; the blocks marked slow only in the slow suite (a second run)."""
    namespace = _run_page(page, sandbox, slow=slow)
    check = (SLOW_CHECKS if slow else CHECKS).get(page.stem)
    if check is not None:
        check(namespace, capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.parametrize("block", COMMANDS, ids=[b.id for b in COMMANDS])
def test_tutorial_commands_run(block, tmp_path):
    """The command-line snippets, in a folder holding the page's files."""
    reason = block.mark.removeprefix("skip").strip()
    if block.mark.startswith("skip") and not (reason == SEAMS and HAS_SEAMS):
        pytest.skip(reason)
    _prepare(block.page, tmp_path)
    venv_bin = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# ----------------------------------------------------------- what each page must have shown
def _first_team(ns: dict, out: str) -> None:
    assert ns["trainer"].step == 2 and len(ns["history"]) == 2
    assert "['concise', 'detailed']" in out


def _parallel_env(ns: dict, out: str) -> None:
    assert "{'poet': 1.0, 'echo': 1.0}" in out  # night / bright rhyme
    assert ns["trainer"].step == 2


def _algorithm(ns: dict, out: str) -> None:
    trainer = ns["trainer"]
    assert trainer.step == 2 and trainer.algorithm_name == "median"
    printed = float(out.strip().splitlines()[-1])
    assert printed == ns["history"][-1]["advantage/abs_mean"]
    assert 0 <= printed <= ns["config"].clip_advantage  # the clipping bounds every advantage


def _agent(ns: dict, out: str) -> None:
    assert len(ns["records"]) == 2
    assert "[['Summary: Say hello.']]" in out  # the stub server's answer came back


def _benchmark(ns: dict, out: str) -> None:
    assert len(ns["results"]["runs"]) == 2  # 2 seeds
    assert "| magrpo (trained) | 0." in out and "| parallel (untrained) | 0." in out


SLOW_CHECKS = {"benchmark": _benchmark}
CHECKS = {"first-team": _first_team, "parallel-env": _parallel_env, "algorithm": _algorithm,
          "agent": _agent}
