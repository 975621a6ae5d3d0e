"""The tests of a coding task: its ``check(candidate)`` split into tests, its docstring examples.

HumanEval and CoopHumanEval ship their tests as one function::

    METADATA = {}

    def check(candidate):
        import math
        assert candidate(1) == 2
        assert True, "debugging aid"
        rng = random.Random(0)
        for _ in range(100):
            x = rng.random()
            assert abs(candidate(x) - x) < 1e-6

:func:`split_check` turns each top-level statement of the body that asserts something about
the candidate (an ``assert``, or a loop/``if`` holding asserts, that uses ``candidate`` or a
name computed from it) into one :class:`~collabzoo.envs.coding.sandbox.TestCase`. Every
other statement (imports, ``rng = ...``, asserts that do not involve the candidate such as
``assert True``) is *setup*: it runs, in order, before each later test, so that a test sees
the same state it would see in the original function. A loop of 100 random cases is one test.
The module-level lines of the test code (``METADATA``, imports, helper functions) run as
setup of every test.

>>> tests = split_check("def check(candidate):\\n    import math\\n"
...                     "    assert candidate(4) == 2\\n    assert True\\n"
...                     "    assert candidate(9) == math.sqrt(9)\\n", "root")
>>> [t.source for t in tests]
['assert candidate(4) == 2', 'assert candidate(9) == math.sqrt(9)']
>>> print(tests[1].setup)
candidate = root
import math
assert True

:func:`docstring_examples` turns the examples of the entry point's docstring, which the agents
already see in their prompt, into tests (``>>> f(1)`` then ``2``, or ``f(1) == 2``,
``f(1) -> 2``, ``f(1) ➞ 2`` on one line): the ``feedback="docstring"`` choice of the coding
envs shows those, never a test of ``check``.

>>> [t.source for t in docstring_examples(
...     "def inc(x):\\n    '''Add one.\\n    >>> inc(1)\\n    2\\n    inc(5) ➞ 6\\n    '''\\n", "inc")]
['assert inc(1) == 2', 'assert inc(5) == 6']
"""

from __future__ import annotations

import ast
import re

from collabzoo.envs.coding.extraction import parse_or_none
from collabzoo.envs.coding.sandbox import TestCase

__all__ = ["docstring_examples", "split_check"]

# "f(1) == 2", "f(1) ==> 2", "f(1) -> 2", "f(1) => 2", "f(1) ➞ 2", "f(1) returns 2"...
_EXAMPLE_ARROW = re.compile(r"\s*(?:==>|==|➞|->|=>|→|should return|returns)\s*")


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def split_check(test_source: str, entry_point: str) -> tuple[TestCase, ...]:
    """The tests of a ``check(candidate)`` function, one per asserting statement.

    Args:
        test_source: The problem's ``test`` field (defines ``check``).
        entry_point: The name of the function under test; bound to ``candidate``.

    Returns:
        The tests in order. If the code holds no ``check`` function or no statement that
        asserts on the candidate, one test that calls ``check(entry_point)`` as a whole.

    Raises:
        SyntaxError: The test code itself does not parse (a broken dataset record).
    """
    tree = ast.parse(test_source)
    check = next((node for node in tree.body
                  if isinstance(node, ast.FunctionDef) and node.name == "check"), None)
    whole = (TestCase(f"check({entry_point})", setup=test_source),)
    if check is None or not check.args.args:
        return whole
    param = check.args.args[0].arg
    module_lines = [ast.unparse(node) for node in tree.body if node is not check]
    setup_lines = [*module_lines, f"{param} = {entry_point}"]
    tainted = {param}  # names whose value depends on the candidate
    tests = []
    for stmt in check.body:
        source = ast.unparse(stmt)
        uses_candidate = bool(_names(stmt) & tainted)
        if uses_candidate and any(isinstance(n, ast.Assert) for n in ast.walk(stmt)):
            tests.append(TestCase(source, setup="\n".join(setup_lines)))
            continue
        setup_lines.append(source)
        if uses_candidate:
            tainted |= _targets(stmt)
    return tuple(tests) or whole


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text.strip())
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _is_example(call: str, value: str, entry_point: str) -> bool:
    """``call`` is ``entry_point(<literals>)`` and ``value`` a literal (so ``f(n) == f(n-1)``
    and prose are not taken for examples)."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == entry_point and not node.keywords
            and all(_is_literal(ast.unparse(arg)) for arg in node.args) and _is_literal(value))


def docstring_examples(prompt: str, entry_point: str) -> tuple[TestCase, ...]:
    """The examples of the entry point's docstring in ``prompt``, as ``assert call == value``.

    Recognised: a ``>>> call`` line followed by its value line, and one-line examples that
    start with ``entry_point(`` and put ``==``, ``==>``, ``->``, ``=>``, ``➞``, ``→``,
    ``returns`` or ``should return`` between a call and a value. The call must be
    ``entry_point(...)`` with literal arguments and the value a literal; anything else is
    skipped. Problems without such examples get none.
    """
    tree = parse_or_none(prompt + "\n    pass\n")
    if tree is None:
        return ()
    functions = [node for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.name == entry_point]
    doc = ast.get_docstring(functions[-1]) if functions else None
    lines = [line.strip() for line in (doc or "").splitlines()]
    pairs = []
    for i, line in enumerate(lines):
        if line.startswith(">>>"):
            value = lines[i + 1] if i + 1 < len(lines) else ""
            if not value.startswith(">>>"):
                pairs.append((line[3:].strip(), value))
        elif line.startswith(entry_point + "("):
            for arrow in _EXAMPLE_ARROW.finditer(line):
                call, value = line[: arrow.start()], line[arrow.end():].rstrip(" .,;")
                if _is_example(call, value, entry_point):
                    pairs.append((call, value))
                    break
    seen, tests = set(), []
    for call, value in pairs:
        source = f"assert {call} == {value}"
        if _is_example(call, value, entry_point) and source not in seen:
            seen.add(source)
            tests.append(TestCase(source))
    return tuple(tests)
