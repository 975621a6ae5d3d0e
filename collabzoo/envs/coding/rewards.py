"""The joint reward of the coding envs: pure functions of the two agents' code and test counts.

The reward has four levels (max 4.0); each gate that fails stops the scoring there:

============  ===========================================================  ==========
level         component (name in ``reward_components``)                    value
============  ===========================================================  ==========
structure     ``aux_defined``: the helper defines ``aux`` with a           0 or 0.4
              ``return <value>`` (missing ``aux`` does not stop scoring)
structure     ``main_defined``: main defines the entry point with a        0 or 0.6
              ``return <value>`` (**gate**: missing -> stop)
syntax        ``syntax``: problem context + helper code + main code        0 or 0.5
              compile together (**gate**: else stop)
tests         ``tests``: passed tests / total tests                        [0, 1]
cooperation   ``aux_called``: at least one test passed and main calls      0 or 0.5
              ``aux`` (directly, or through functions main defines)
cooperation   ``beyond_wrapper``: ... and main is more than a thin         0 or 1.0
              wrapper (not just ``return aux(...)``)
cooperation   ``aux_return_ignored``: ... and some call of ``aux`` is a    0 or -0.5
              bare statement, its value thrown away
============  ===========================================================  ==========

A main that never calls ``aux`` gets 0 for cooperation, so a correct solution written by main
alone scores 0.4 + 0.6 + 0.5 + 1.0 = 2.5 of 4.0. Where this differs from the authors' reward
code, and why: the "Differences" section of :mod:`collabzoo.envs.coding.humaneval`
(``thin_wrapper="reference"`` of :func:`analyze_code` is their thin-wrapper rule).

>>> a = analyze_code("def aux(xs):\\n    return sorted(xs)\\n",
...                  "def median(xs):\\n    s = aux(xs)\\n    return s[len(s) // 2]\\n", "median")
>>> joint_reward(a, tests_passed=3, tests_total=4)
(3.75, {'aux_defined': 0.4, 'main_defined': 0.6, 'syntax': 0.5, 'tests': 0.75, 'aux_called': 0.5, 'beyond_wrapper': 1.0, 'aux_return_ignored': 0.0})
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from collabzoo.envs.coding.extraction import parse_or_none

__all__ = ["REWARD_MAX", "THIN_WRAPPER_RULES", "CodeAnalysis", "analyze_code", "joint_reward"]

REWARD_MAX = 4.0
AUX = "aux"


@dataclass(frozen=True)
class CodeAnalysis:
    """What the static checks found in one joint action.

    Attributes:
        aux_defined: The helper's code defines ``aux`` with a ``return <value>``.
        main_defined: Main's code defines the entry point with a ``return <value>``.
        compiles: Context + helper code + main code compile as one module.
        calls_aux: The entry point calls ``aux``, directly or through main's own functions.
        thin_wrapper: The entry point's body is just ``return aux(...)`` (or
            ``r = aux(...); return r``).
        aux_return_ignored: Some call of ``aux`` in main's code is a bare statement.
        problems: Human-readable static problems, for feedback.
    """

    aux_defined: bool
    main_defined: bool
    compiles: bool
    calls_aux: bool = False
    thin_wrapper: bool = False
    aux_return_ignored: bool = False
    problems: tuple[str, ...] = ()


def _top_function(tree: ast.Module | None,
                  name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The last top-level ``def name`` (the one Python keeps)."""
    if tree is None:
        return None
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            found = node
    return found


def _own_nodes(fn: ast.AST):
    """Nodes of a function's body, not descending into nested functions or classes."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                 ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def _returns_value(fn: ast.AST | None) -> bool:
    return fn is not None and any(
        isinstance(n, ast.Return) and n.value is not None
        and not (isinstance(n.value, ast.Constant) and n.value.value is None)
        for n in _own_nodes(fn)
    )


def _is_aux_call(node: ast.AST | None) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == AUX)


def _called_names(fn: ast.AST) -> set[str]:
    return {n.func.id for n in ast.walk(fn)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _calls_aux(tree: ast.Module, entry: ast.AST) -> bool:
    """Whether ``aux`` is reachable from the entry point through main's own functions."""
    functions = {node.name: node for node in tree.body
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and node.name != AUX}
    seen: set[str] = set()
    todo = [entry]
    while todo:
        fn = todo.pop()
        names = _called_names(fn)
        if AUX in names:
            return True
        for name in names - seen:
            seen.add(name)
            if name in functions:
                todo.append(functions[name])
    return False


def _body_without_docstring(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return [s for s in body if not isinstance(s, ast.Pass)]


def _is_thin_wrapper(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = _body_without_docstring(fn)
    if len(body) == 1:
        return isinstance(body[0], ast.Return) and _is_aux_call(body[0].value)
    if len(body) == 2:
        first, second = body
        return (isinstance(first, ast.Assign) and len(first.targets) == 1
                and isinstance(first.targets[0], ast.Name) and _is_aux_call(first.value)
                and isinstance(second, ast.Return) and isinstance(second.value, ast.Name)
                and second.value.id == first.targets[0].id)
    return False


def _is_thin_wrapper_reference(fn: ast.FunctionDef | ast.AsyncFunctionDef, code: str) -> bool:
    """The authors' rule, on the text lines of the body (docstring, comments, blank lines and
    the ``def`` line left out): one line that starts with ``return `` and mentions ``aux``
    anywhere, or ``v = aux(...)`` followed by ``return v``; an empty body too."""
    source = ast.get_source_segment(code, fn) or ""
    doc = ast.get_docstring(fn, clean=False)
    body = fn.body[1:] if doc is not None else fn.body
    lines = []
    for stmt in body:
        lines += [line.strip() for line in (ast.get_source_segment(code, stmt) or "").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not source or not lines:
        return True
    if len(lines) == 1:
        return lines[0].startswith("return ") and AUX in lines[0]
    if len(lines) == 2:
        assigned = re.match(rf"(\w+)\s*=\s*{AUX}\s*\(", lines[0])
        return assigned is not None and lines[1] == f"return {assigned.group(1)}"
    return False


#: How :func:`analyze_code` decides that main is a thin wrapper of ``aux`` (no
#: ``beyond_wrapper`` bonus): ``"exact"`` (collabzoo) or ``"reference"`` (the authors' code).
THIN_WRAPPER_RULES = ("exact", "reference")


def _compiles(source: str) -> tuple[bool, str]:
    try:
        compile(source, "<solution>", "exec")
    except SyntaxError as error:
        return False, f"SyntaxError: {error.msg} (line {error.lineno})"
    except (ValueError, RecursionError, MemoryError, OverflowError) as error:
        return False, f"{type(error).__name__}: the code cannot be compiled"
    return True, ""


def analyze_code(helper_code: str, main_code: str, entry_point: str, context: str = "",
                 thin_wrapper: str = "exact") -> CodeAnalysis:
    """Static checks of one joint action (no code is run).

    Args:
        helper_code: The helper's code (already extracted, see ``extraction``).
        main_code: Main's code (already extracted; its own ``aux``, if any, removed).
        entry_point: The function main must write.
        context: Code that precedes both (the problem's imports and other functions).
        thin_wrapper: ``"exact"``: main is a thin wrapper when its body is just
            ``return aux(...)`` (or ``r = aux(...); return r``). ``"reference"``: the
            authors' rule, any one-line ``return ...`` that mentions ``aux`` (so
            ``return sorted(aux(xs))`` too).
    """
    if thin_wrapper not in THIN_WRAPPER_RULES:
        raise ValueError(f"thin_wrapper must be one of {THIN_WRAPPER_RULES}, got {thin_wrapper!r}")
    problems = []
    helper_tree, main_tree = parse_or_none(helper_code), parse_or_none(main_code)
    aux_fn = _top_function(helper_tree, AUX)
    aux_defined = _returns_value(aux_fn)
    if aux_fn is None:
        problems.append("helper: no top-level `def aux(...)` found")
    elif not aux_defined:
        problems.append("helper: `aux` never returns a value")
    main_fn = _top_function(main_tree, entry_point)
    main_defined = _returns_value(main_fn)
    if main_fn is None:
        problems.append(f"main: no top-level `def {entry_point}(...)` found")
    elif not main_defined:
        problems.append(f"main: `{entry_point}` never returns a value")
    program = "\n\n".join(part for part in (context, helper_code, main_code) if part.strip())
    compiles, syntax_error = _compiles(program)
    if not compiles:
        problems.append(f"the joint code does not compile: {syntax_error}")
    calls = thin = ignored = False
    if main_tree is not None and main_fn is not None:
        calls = _calls_aux(main_tree, main_fn)
        thin = (_is_thin_wrapper(main_fn) if thin_wrapper == "exact"
                else _is_thin_wrapper_reference(main_fn, main_code))
        ignored = any(isinstance(n, ast.Expr) and _is_aux_call(n.value)
                      for n in ast.walk(main_tree))
        if not calls:
            problems.append(f"main: `{entry_point}` never calls `aux`")
        elif thin:
            problems.append(f"main: `{entry_point}` only returns `aux(...)`")
        if ignored:
            problems.append("main: a call of `aux` throws its return value away")
    return CodeAnalysis(aux_defined, main_defined, compiles, calls, thin, ignored,
                        tuple(problems))


def joint_reward(
    analysis: CodeAnalysis, tests_passed: int, tests_total: int
) -> tuple[float, dict[str, float]]:
    """The joint reward and its components (see the module docstring for the table).

    Args:
        analysis: From :func:`analyze_code`.
        tests_passed: Tests that passed in the sandbox (ignored past a failed gate).
        tests_total: Tests of the problem (> 0 when the tests level is reached).

    Returns:
        ``(reward, components)``; every component is present, 0.0 when not reached.
    """
    parts = dict.fromkeys(("aux_defined", "main_defined", "syntax", "tests", "aux_called",
                           "beyond_wrapper", "aux_return_ignored"), 0.0)
    parts["aux_defined"] = 0.4 if analysis.aux_defined else 0.0
    if analysis.main_defined:
        parts["main_defined"] = 0.6
        if analysis.compiles:
            parts["syntax"] = 0.5
            if tests_total > 0:
                parts["tests"] = min(tests_passed, tests_total) / tests_total
            if tests_passed > 0 and analysis.calls_aux:
                parts["aux_called"] = 0.5
                parts["beyond_wrapper"] = 0.0 if analysis.thin_wrapper else 1.0
                parts["aux_return_ignored"] = -0.5 if analysis.aux_return_ignored else 0.0
    return round(sum(parts.values()), 10), parts
