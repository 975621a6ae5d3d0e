"""Split a HumanEval-style ``check(candidate)`` function into tests that run one by one.

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
"""

from __future__ import annotations

import ast

from collabzoo.envs.coding.sandbox import TestCase

__all__ = ["split_check"]


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
