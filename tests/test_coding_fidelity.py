"""The worked examples of differences (e)-(i) from the authors' reward code, and of the
``process_per_test`` paragraph, in the HumanEval env's docstring
(:mod:`collabzoo.envs.coding.humaneval`).

Each test checks collabzoo's number and the fact of the data the authors' number follows from;
the authors' code itself is not run here.
"""

from __future__ import annotations

import ast
import re

import pytest

import collabzoo
from collabzoo.envs.coding.checks import split_check
from collabzoo.envs.coding.humaneval import load_humaneval
from collabzoo.envs.coding.rewards import analyze_code, joint_reward
from collabzoo.envs.coding.sandbox import SandboxLimits, SandboxPool

LIMITS = SandboxLimits(test_timeout=2.0, budget=10.0)
ADD_HELPER = "def aux(a, b):\n    return a + b\n"
PRIME_HELPER = ("def aux(n):\n"
                "    return n > 1 and all(n % k for k in range(2, int(n ** 0.5) + 1))\n")


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(max_workers=2, limits=LIMITS) as p:
        yield p


@pytest.fixture(scope="module")
def pool_per_test():
    with SandboxPool(max_workers=1, limits=LIMITS, process_per_test=True) as p:
        yield p


def _step(pool: SandboxPool, index: int, helper: str, main: str) -> tuple[float, dict]:
    env = collabzoo.make("collabzoo/HumanEval-v1", dataset="bundled", split="all", pool=pool)
    env.reset(options={"task_index": index})
    _, rewards, _, _, infos = env.step({"helper": helper, "main": main})
    return rewards["main"], infos["main"]


def test_e_a_nested_function_keeps_its_lines_after_the_nested_def(pool):
    main = ("def add(x, y):\n"
            "    def same(v):\n"
            "        return v\n"
            "    total = aux(x, y)\n"
            "    return same(total)\n")
    reward, info = _step(pool, 53, ADD_HELPER, main)
    assert reward == 4.0 and info["tests_passed"] == info["tests_total"] == 6
    # the authors' cut keeps `def add` up to the nested def: add returns None, every test
    # fails, and 0.4 + 0.6 + 0.5 = 1.5 remain
    # the canonical solutions that have a nested function, named in the docstring
    nested = [r["task_id"] for r in load_humaneval(split="all")
              if any(isinstance(node, ast.FunctionDef)
                     for fn in ast.parse(r["prompt"] + r["canonical_solution"]).body
                     if isinstance(fn, ast.FunctionDef) and fn.name == r["entry_point"]
                     for node in ast.walk(fn) if node is not fn)]
    assert nested == [f"HumanEval/{i}" for i in (6, 11, 39, 59, 75, 94, 107, 108, 119, 127,
                                                  145)]


def test_f_a_definition_must_parse(pool):
    cut_helper = "def aux(a, b):\n    return a +\n"
    main = "def add(x, y):\n    total = aux(x, y)\n    return total + 0\n"
    reward, info = _step(pool, 53, cut_helper, main)
    assert reward == 0.6 and not info["tests_run"]  # main_defined only: the syntax gate stops
    cut_main = "def add(x, y):\n    return aux(x, y) +\n"
    assert _step(pool, 53, ADD_HELPER, cut_main)[0] == 0.4  # main undefined: the first gate
    # the authors' text match counts both cut definitions (a `def` line, the text `return`):
    # 0.4 + 0.6, then the syntax gate: 1.0 in both cases
    for code in (cut_helper, cut_main):
        assert re.search(r"^def \w+\s*\(", code) and "return " in code


# answers a number it has seen before with None: state kept in its default argument
STATEFUL_PRIME = ("def is_prime(n, seen=[]):\n"
                  "    if n in seen:\n"
                  "        return None\n"
                  "    seen.append(n)\n"
                  "    return aux(n)\n")


def test_g_each_test_calls_the_candidate_once(pool, pool_per_test):
    # in a process per test nothing is seen twice: every test passes
    reward, info = _step(pool_per_test, 31, PRIME_HELPER, STATEFUL_PRIME)
    assert (reward, info["tests_passed"], info["tests_total"]) == (4.0, 13, 13)
    # by default the 13 tests share the function's default list: the second
    # `candidate(11)` gets None
    reward, info = _step(pool, 31, PRIME_HELPER, STATEFUL_PRIME)
    assert (reward, info["tests_passed"]) == (3.9230769231, 12)
    assert info["first_failure"]["test"] == "assert candidate(11) == True"
    # the authors' loop evaluates each `assert f(args) == expected` call before running the
    # assert, which calls f again: with this candidate every test fails there (1.5). Every
    # test of HumanEval/31 has that form
    tests = split_check(load_humaneval(split="all")[31]["test"], "is_prime")
    assert all(re.fullmatch(r"assert candidate\([^)]*\) == .+", t.source) for t in tests)


def test_h_repeated_asserts_are_each_a_test_and_i_totals_are_rounded(pool):
    record = load_humaneval(split="all")[31]
    lines = [line.strip() for line in record["test"].splitlines()
             if line.strip().startswith("assert")]
    assert len(lines) == 13 and len(set(lines)) == 12  # `candidate(11) == True` twice
    assert len(split_check(record["test"], "is_prime")) == 13
    wrong_on_11 = ("def is_prime(n):\n"
                   "    if n == 11:\n"
                   "        return False\n"
                   "    return aux(n)\n")
    reward, info = _step(pool, 31, PRIME_HELPER, wrong_on_11)
    assert (info["tests_passed"], info["tests_total"]) == (11, 13)
    # (i): the components' sum rounded to 10 decimals, not the float sum
    assert reward == 3.8461538462
    assert 0.4 + 0.6 + 0.5 + 11 / 13 + 0.5 + 1.0 == 3.8461538461538463
    # there: 10 of the 12 distinct asserts, unrounded
    assert 0.4 + 0.6 + 0.5 + 10 / 12 + 0.5 + 1.0 == 3.8333333333333335


def test_i_rounding_makes_equal_scores_compare_equal():
    analysis = analyze_code(ADD_HELPER, "def add(x, y):\n    s = aux(x, y)\n    return s + 0\n",
                            "add")
    for passed, total in ((1, 3), (2, 3), (1, 7), (5, 6)):
        reward, parts = joint_reward(analysis, passed, total)
        assert reward == round(sum(parts.values()), 10)
        assert reward == round(3.0 + passed / total, 10)
