"""Pure parts of the coding envs: extraction, check splitting, static analysis, joint reward.

Every expected number below is computed by hand from the table in ``rewards.py``.
"""

from __future__ import annotations

import doctest
import importlib

import pytest

from collabzoo.envs.coding.base import assemble, problem_context
from collabzoo.envs.coding.checks import docstring_examples, split_check
from collabzoo.envs.coding.extraction import definitions, extract_code
from collabzoo.envs.coding.rewards import CodeAnalysis, analyze_code, joint_reward


@pytest.mark.parametrize("module", ["sandbox", "checks", "extraction", "rewards", "base",
                                    "humaneval", "coop_humaneval"])
def test_doctests(module):
    mod = importlib.import_module(f"collabzoo.envs.coding.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------------- extraction
def test_extract_from_fence_with_prose():
    text = "Here you go:\n```python\ndef f(x):\n    return x\n```\nThis returns x."
    assert extract_code(text) == "def f(x):\n    return x"


def test_extract_unterminated_fence_and_several_blocks():
    text = "```py\nimport math\n```\nand then\n```python\ndef g(y):\n    return math.sqrt(y)\n"
    assert extract_code(text) == "import math\n\ndef g(y):\n    return math.sqrt(y)"


def test_extract_prefers_python_blocks():
    text = "```bash\npip install x\n```\n```python\ndef f():\n    return 1\n```"
    assert extract_code(text) == "def f():\n    return 1"


def test_extract_without_fences_drops_prose():
    text = "Sure. The idea is simple.\ndef f(x):\n    y = x + 1\n\n    return y\nThat is all, folks!"
    assert extract_code(text) == "def f(x):\n    y = x + 1\n\n    return y"


def test_extract_never_raises_on_odd_text():
    for text in ("", "```", "\x00\x01", "é" * 1000, "(" * 10_000, "def (:"):
        assert isinstance(extract_code(text), str)


def test_definitions_keeps_defs_and_drops_calls_and_named():
    code = ("import os\nLIMIT = 10\nx = compute()\n@staticmethod\ndef aux(a):\n    return a\n"
            "def f(a):\n    return aux(a)\nprint(f(2))\nif __name__ == '__main__':\n    f(1)\n")
    assert definitions(code) == (
        "import os\n\nLIMIT = 10\n\n@staticmethod\ndef aux(a):\n    return a\n\n"
        "def f(a):\n    return aux(a)"
    )
    assert "def aux" not in definitions(code, drop=("aux",))
    assert definitions("def broken(:\n") == "def broken(:\n"


def test_main_redefining_aux_loses_to_helper():
    task = {"prompt": "def f(x):\n    '''doc'''\n", "entry_point": "f"}
    helper = "def aux(x):\n    return x * 2\n\ndef f(x):\n    return 0\n"
    main = "```python\ndef aux(x):\n    return -1\n\ndef f(x):\n    return aux(x)\n```"
    _, helper_code, main_code = assemble(task, helper, main)
    assert helper_code == "def aux(x):\n    return x * 2"
    assert main_code == "def f(x):\n    return aux(x)"


def test_problem_context_keeps_imports_and_other_functions():
    prompt = "import math\n\n\ndef poly(xs, x):\n    return sum(xs)\n\n\ndef find_zero(xs):\n    '''doc'''\n"
    assert problem_context(prompt, "find_zero") == (
        "import math\n\ndef poly(xs, x):\n    return sum(xs)"
    )


# ---------------------------------------------------------------------- check splitting
def test_split_check_loops_setup_and_trivial_asserts():
    test = (
        "METADATA = {}\n\ndef check(candidate):\n    import random\n    rng = random.Random(0)\n"
        "    assert True, 'debug'\n    assert candidate(1) == 2\n"
        "    for _ in range(3):\n        x = rng.random()\n        assert candidate(x) == x + 1\n"
        "    out = candidate(5)\n    assert out == 6\n"
    )
    tests = split_check(test, "inc")
    assert [t.source for t in tests] == [
        "assert candidate(1) == 2",
        "for _ in range(3):\n    x = rng.random()\n    assert candidate(x) == x + 1",
        "assert out == 6",
    ]
    assert tests[0].setup == (
        "METADATA = {}\ncandidate = inc\nimport random\nrng = random.Random(0)\n"
        "assert True, 'debug'"
    )
    assert tests[2].setup.endswith("out = candidate(5)")


def test_split_check_without_asserts_runs_check_whole():
    tests = split_check("def check(candidate):\n    candidate(1)\n", "f")
    assert [t.source for t in tests] == ["check(f)"]


# ---------------------------------------------------------------------- analysis + reward
MEDIAN_MAIN = "def median(xs):\n    s = aux(xs)\n    return s[len(s) // 2]\n"
AUX = "def aux(xs):\n    return sorted(xs)\n"


def test_full_cooperation_reward():
    a = analyze_code(AUX, MEDIAN_MAIN, "median")
    assert (a.aux_defined, a.main_defined, a.compiles, a.calls_aux, a.thin_wrapper,
            a.aux_return_ignored) == (True, True, True, True, False, False)
    # 0.4 + 0.6 + 0.5 + 4/4 + 0.5 + 1.0 = 4.0
    assert joint_reward(a, 4, 4)[0] == 4.0


def test_main_alone_scores_two_and_a_half():
    a = analyze_code(AUX, "def median(xs):\n    return sorted(xs)[len(xs) // 2]\n", "median")
    reward, parts = joint_reward(a, 5, 5)
    assert reward == 2.5 and parts["aux_called"] == 0.0 and not a.calls_aux


def test_thin_wrapper_and_ignored_return():
    thin = analyze_code(AUX, "def median(xs):\n    '''doc'''\n    return aux(xs)\n", "median")
    assert thin.thin_wrapper
    # 0.4 + 0.6 + 0.5 + 1/2 + 0.5 + 0 = 2.5
    assert joint_reward(thin, 1, 2)[0] == 2.5
    two_line = analyze_code(AUX, "def median(xs):\n    r = aux(xs)\n    return r\n", "median")
    assert two_line.thin_wrapper
    ignored = analyze_code(AUX, "def median(xs):\n    aux(xs)\n    s = aux(xs)\n"
                           "    return s[len(s) // 2]\n", "median")
    assert ignored.aux_return_ignored and not ignored.thin_wrapper
    # 0.4 + 0.6 + 0.5 + 1/4 + 0.5 + 1.0 - 0.5 = 2.75
    assert joint_reward(ignored, 1, 4)[0] == 2.75


def test_aux_called_through_mains_own_function():
    main = ("def _step(xs):\n    return aux(xs)\n\n"
            "def median(xs):\n    s = _step(xs)\n    return s[len(s) // 2]\n")
    assert analyze_code(AUX, main, "median").calls_aux


def test_cooperation_needs_a_passing_test():
    a = analyze_code(AUX, MEDIAN_MAIN, "median")
    reward, parts = joint_reward(a, 0, 3)
    assert reward == 1.5 and parts["aux_called"] == 0.0  # 0.4 + 0.6 + 0.5


def test_gates():
    no_aux = analyze_code("", MEDIAN_MAIN, "median")
    assert not no_aux.aux_defined
    # missing aux does not stop: 0 + 0.6 + 0.5 + 2/2 + 0.5 + 1.0 (main still calls aux)
    assert joint_reward(no_aux, 2, 2)[0] == 3.6
    no_main = analyze_code(AUX, "def other(xs):\n    return 1\n", "median")
    assert joint_reward(no_main, 3, 3) == (0.4, {
        "aux_defined": 0.4, "main_defined": 0.0, "syntax": 0.0, "tests": 0.0,
        "aux_called": 0.0, "beyond_wrapper": 0.0, "aux_return_ignored": 0.0})
    no_return = analyze_code(AUX, "def median(xs):\n    print(xs)\n", "median")
    assert not no_return.main_defined and joint_reward(no_return, 1, 1)[0] == 0.4
    broken = analyze_code("def aux(x:\n    return x\n", MEDIAN_MAIN, "median")
    assert not broken.compiles and not broken.aux_defined
    assert joint_reward(broken, 1, 1)[0] == 0.6  # 0 + 0.6, then the syntax gate stops
    assert any("compile" in p for p in broken.problems)


def test_reward_components_always_complete():
    _, parts = joint_reward(CodeAnalysis(False, False, False), 0, 0)
    assert set(parts) == {"aux_defined", "main_defined", "syntax", "tests", "aux_called",
                          "beyond_wrapper", "aux_return_ignored"}


def test_docstring_examples_forms_and_what_is_skipped():
    prompt = (
        "def f(xs, k):\n"
        "    \"\"\"Example.\n"
        "    >>> f([1, 2], 3)\n"
        "    [1, 2, 3]\n"
        "    f([], 0) ==> []\n"
        "    f([5], 1) -> [5, 1]\n"
        "    f(n, 1) == f(n - 1, 1)\n"          # not a literal call: skipped
        "    f([1], 2) should be something\n"   # prose: skipped
        "    >>> f([1, 2], 3)\n"                # a repeat: once
        "    [1, 2, 3]\n"
        "    \"\"\"\n"
    )
    assert [t.source for t in docstring_examples(prompt, "f")] == [
        "assert f([1, 2], 3) == [1, 2, 3]", "assert f([], 0) == []",
        "assert f([5], 1) == [5, 1]"]
    assert docstring_examples("def g():\n    'no example'\n", "g") == ()
    assert docstring_examples("def g(:\n", "g") == ()


@pytest.mark.parametrize("body, exact, reference", [
    ("    return aux(xs)\n", True, True),
    ("    '''doc'''\n    # why\n    return aux(xs)\n", True, True),
    ("    r = aux(xs)\n    return r\n", True, True),
    ("    return sorted(aux(xs))\n", False, True),      # the authors: any one-line return
    ("    return aux(xs) + 1\n", False, True),
    ("    r = aux(xs)\n    return r[0]\n", False, False),
    ("    return [aux(x)\n            for x in xs]\n", False, False),  # two text lines there
])
def test_thin_wrapper_rules(body, exact, reference):
    main = "def median(xs):\n" + body
    assert analyze_code(AUX, main, "median").thin_wrapper is exact
    assert analyze_code(AUX, main, "median", thin_wrapper="reference").thin_wrapper is reference
    with pytest.raises(ValueError, match="thin_wrapper"):
        analyze_code(AUX, main, "median", thin_wrapper="loose")
