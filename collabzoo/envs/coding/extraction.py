"""Getting Python code out of what an LLM writes.

:func:`extract_code` takes an answer as a model writes it -- markdown fences (closed or cut
off), prose before and after, several code blocks -- and returns the Python in it:

1. If the text holds fenced blocks, the ``python``/``py``/untagged ones are joined (all of
   them if none is tagged so); otherwise the whole text is used.
2. If that parses, it is returned as is. Otherwise the lines that look like prose are dropped:
   only top-level ``import``/``from``/``def``/``class``/decorator lines, assignments, and the
   indented lines that follow them are kept.

:func:`definitions` then keeps only the top-level definitions (imports, functions, classes,
constant assignments): example calls, ``print`` lines, ``if __name__ == "__main__":`` blocks
and stray asserts never run with the tests. ``drop`` removes functions by name: the coding
envs drop ``aux`` from ``main``'s code (**the helper's ``aux`` wins**; ``main`` was told not
to redefine it) and the entry point from ``helper``'s code.

>>> answer = "Sure! Here it is:\\n```python\\ndef aux(x):\\n    return x * 2\\n\\nprint(aux(2))\\n```\\nHope it helps."
>>> code = extract_code(answer)
>>> print(definitions(code))
def aux(x):
    return x * 2
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

__all__ = ["definitions", "extract_code", "parse_or_none"]

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S)
_PY_TAGS = {"python", "py", "python3", "py3", ""}
_CODE_START = re.compile(
    r"(?:async\s+def|def|class|import|from|@)\b|[A-Za-z_][A-Za-z0-9_]*\s*(?::[^=]*)?=[^=]"
)


def parse_or_none(code: str) -> ast.Module | None:
    """``ast.parse(code)``, or ``None`` for code that does not parse (any reason)."""
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def extract_code(text: str) -> str:
    """The Python code in an LLM answer (see the module docstring for the rules)."""
    blocks = _FENCE.findall(text)
    if blocks:
        python = [body for tag, body in blocks if tag.lower() in _PY_TAGS]
        code = "\n\n".join(python or [body for _, body in blocks])
    else:
        code = text
    code = code.strip("\n")
    if parse_or_none(code) is not None:
        return code
    return _drop_prose(code)


def _drop_prose(code: str) -> str:
    kept: list[str] = []
    in_block = False  # inside a kept top-level statement (its indented body or brackets)
    depth = 0  # open brackets of a kept statement that spans lines
    for line in code.splitlines():
        stripped = line.strip()
        if not stripped:
            if in_block:
                kept.append("")
            continue
        if line[0] in " \t" or depth > 0:
            if in_block:
                kept.append(line)
                depth = max(0, depth + _bracket_balance(line))
            continue
        if _CODE_START.match(stripped):
            kept.append(line)
            in_block = True
            depth = max(0, _bracket_balance(line))
        else:
            in_block = False
    return "\n".join(kept).strip("\n")


def _bracket_balance(line: str) -> int:
    return sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")


def definitions(code: str, drop: Iterable[str] = ()) -> str:
    """Only the top-level definitions of ``code``, in order, with their original text.

    Kept: ``import``/``from``, ``def``/``async def`` (with decorators), ``class``, and
    assignments whose value calls nothing (constants, tables, lambdas). Dropped: everything
    else, and functions or classes named in ``drop``. Code that does not parse is returned
    unchanged (the syntax check will report it).
    """
    tree = parse_or_none(code)
    if tree is None:
        return code
    drop = set(drop)
    lines = code.splitlines()
    kept = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in drop:
                continue
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            start = node.lineno
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            if any(isinstance(n, ast.Call) for n in ast.walk(node.value)):
                continue
            start = node.lineno
        else:
            continue
        kept.append("\n".join(lines[start - 1 : node.end_lineno]))
    return "\n\n".join(kept)
