"""Reading function calls out of an LLM's answer: JSON or Python-call syntax, never raising.

:func:`parse_calls` accepts any string and returns a :class:`ParsedCalls`:

- Only the first :data:`MAX_PARSE_CHARS` characters are read (a 1 MB answer costs no more
  than a 20 kB one); at most :data:`MAX_CALLS` calls are kept, and an answer with more is
  marked ``too_many`` (the env scores it 0).
- Where to look: the contents of ``<tool_call>...</tool_call>`` (or ``<TOOLCALL>``) tags when
  there are any, else of markdown code fences when there are any, else the whole answer.
- In order, the first reader that finds calls wins: (1) the whole text as **JSON**; (2) the
  whole text as **Python-call syntax**, as BFCL's prompting models write it: ``[f(a=1),
  g(b="x")]`` or one call ``f(a=1)``; (3) the first JSON list or object inside the text that
  holds a named call (up to :data:`MAX_JSON_STARTS` starting brackets are tried); (4) one
  Python call per line (``f(a=1)`` / ``g(b=2)``: the authors' prompt asks for this layout;
  BFCL's own decoder rejects it); a line that ends with a call after other text gives that
  call (``Sure! f(a=1).``, also ``return n * math.factorial(n)`` in code: the right function
  without its arguments earns partial credit), other lines are ignored.
- JSON shapes: a list holds one call per item; one object is one call. An item is a call in
  any of these shapes: ``{"name": f, "arguments": {...}}`` (``"parameters"`` or ``"args"``
  also; the arguments may be a JSON string), ``{"function": {"name": f, "arguments":
  {...}}}`` (OpenAI's tool call), ``{"function": f, "parameters": {...}}``, or ``{f: {...}}``
  (BFCL's decoded form). Any other JSON object in a list is kept as a call without a name: it
  matches nothing and counts as an extra call.
- Python values are read as literals only, never evaluated: numbers (with a sign), strings,
  ``True``/``False``/``None``, lists, tuples, dicts and sets of those; a bare name (``x``)
  becomes the string ``"x"`` (BFCL's convention for variables); anything else (``1 + 2``,
  ``f(x)``, ``math.pi``) becomes its source text (BFCL evaluates ``1 + 2``). Dotted function
  names (``math.hypot``) are kept. **Positional arguments are ignored**, as in BFCL: a call
  must name its parameters.
- Nothing found: no calls (``format == "none"``). ``[]`` and empty text are a valid answer
  with no calls (``format == "empty"``).

>>> parse_calls('[{"name": "f", "arguments": {"x": 1}}]').calls
[Call(name='f', arguments={'x': 1})]
>>> parse_calls("Sure! f(x=1, y='a')\\ng(z=[1, -2])").calls
[Call(name='f', arguments={'x': 1, 'y': 'a'}), Call(name='g', arguments={'z': [1, -2]})]
>>> parse_calls("I cannot help with that.").format
'none'
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from collabzoo.envs.tools.ast_check import Call

__all__ = ["MAX_CALLS", "MAX_JSON_STARTS", "MAX_PARSE_CHARS", "ParsedCalls", "parse_calls"]

#: Characters of an answer that are read; the rest is ignored.
MAX_PARSE_CHARS = 20_000
#: Most calls kept from one answer; more marks the answer ``too_many``.
MAX_CALLS = 32
#: Most starting brackets tried when looking for JSON inside prose.
MAX_JSON_STARTS = 32

_TOOL_TAG = re.compile(r"<(tool_call|TOOLCALL)>(.*?)(?:</\1>|$)", re.DOTALL)
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_CALL_START = re.compile(r"[A-Za-z_][\w.]*\s*\(")
_ARGUMENT_KEYS = ("arguments", "parameters", "args")


@dataclass
class ParsedCalls:
    """The calls read from one answer.

    Attributes:
        calls: The calls, in the answer's order (at most :data:`MAX_CALLS`).
        format: ``"json"``, ``"python"``, ``"empty"`` (no call, on purpose) or ``"none"``
            (nothing readable).
        too_many: The answer held more than :data:`MAX_CALLS` calls.
    """

    calls: list[Call] = field(default_factory=list)
    format: Literal["json", "python", "empty", "none"] = "none"
    too_many: bool = False


def _arguments(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return dict(value)
    return None


def _json_item(item: Any) -> Call:
    """One JSON item as a call (a call without a name when it has no known shape)."""
    if isinstance(item, dict):
        name = item.get("name")
        if isinstance(name, str):
            for key in _ARGUMENT_KEYS:
                if key in item:
                    args = _arguments(item[key])
                    return Call(name, args) if args is not None else Call(None)
            return Call(name, {})
        function = item.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return _json_item(function)
        if isinstance(function, str) and "parameters" in item:
            args = _arguments(item["parameters"])
            return Call(function, args) if args is not None else Call(None)
        if len(item) == 1:
            ((key, value),) = item.items()
            args = _arguments(value) if isinstance(value, dict) else None
            if args is not None:
                return Call(key, args)
    return Call(None)


def _json_value_calls(value: Any, *, whole: bool) -> list[Call] | None:
    """Calls from a decoded JSON value; inside prose only a value with a named call counts."""
    if isinstance(value, dict):
        calls = [_json_item(value)]
    elif isinstance(value, list) and (whole or value) and all(isinstance(v, dict) for v in value):
        calls = [_json_item(v) for v in value]
    else:
        return None
    return calls if whole or any(c.name is not None for c in calls) else None


def _json_whole(text: str) -> list[Call] | None:
    try:
        return _json_value_calls(json.loads(text), whole=True)
    except ValueError:
        return None


def _json_inside(text: str) -> list[Call] | None:
    decoder = json.JSONDecoder()
    for match in list(re.finditer(r"[\[{]", text))[:MAX_JSON_STARTS]:
        try:
            value = decoder.raw_decode(text, match.start())[0]
        except ValueError:
            continue
        calls = _json_value_calls(value, whole=False)
        if calls is not None:
            return calls
    return None


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        if node.value is Ellipsis:
            return "..."
        # complex and bytes literals stay text, so that every value is JSON-serialisable
        return node.value if isinstance(node.value, (str, int, float, type(None))) else ast.unparse(node)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _literal(node.operand)
        if isinstance(inner, (int, float, complex)) and not isinstance(inner, bool):
            return -inner if isinstance(node.op, ast.USub) else inner
    elif isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    elif isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    elif isinstance(node, ast.Set):
        return [_literal(e) for e in node.elts]
    elif isinstance(node, ast.Dict):
        keys = [_literal(k) if k is not None else "**" for k in node.keys]
        values = [_literal(v) for v in node.values]
        if not all(isinstance(k, (str, int, float, bool)) for k in keys):
            return ast.unparse(node)  # a key JSON cannot hold (a tuple, a list, None)
        return dict(zip(keys, values, strict=True))
    elif isinstance(node, ast.Name):
        return node.id
    return ast.unparse(node)


def _call_name(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _python_call(node: ast.Call) -> Call:
    args = {kw.arg: _literal(kw.value) for kw in node.keywords if kw.arg is not None}
    return Call(_call_name(node.func), args)


def _python_strict(text: str) -> list[Call] | None:
    """Calls when the whole text is one call or a list of calls."""
    try:
        tree = ast.parse(text.strip().strip("`").strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if isinstance(tree, ast.Call) and _call_name(tree.func) is not None:
        return [_python_call(tree)]
    if isinstance(tree, (ast.List, ast.Tuple)) and tree.elts and all(
        isinstance(e, ast.Call) for e in tree.elts
    ):
        return [_python_call(e) for e in tree.elts if isinstance(e, ast.Call)]
    return None


def _python_lines(text: str) -> list[Call] | None:
    """One call (or list of calls) per line; prose lines between them are ignored."""
    calls: list[Call] = []
    for line in text.splitlines():
        line = re.sub(r"^\d+[.)]\s*", "", line.strip().rstrip(",;").lstrip("-*• ").strip("`"))
        if "(" not in line:
            continue
        found = _python_strict(line)
        start = _CALL_START.search(line)
        if found is None and start is not None:  # "Sure! f(x=1)": the call after the prose
            found = _python_strict(line[start.start():].rstrip(".!"))
        calls += found or []
        if len(calls) > MAX_CALLS:  # enough to know the answer has too many
            break
    return calls or None


def _regions(text: str) -> list[str]:
    tags = [m.group(2) for m in _TOOL_TAG.finditer(text)]
    if tags:
        return ["[" + ",".join(t.strip() for t in tags) + "]", *tags]
    fences = [m.group(1) for m in _FENCE.finditer(text)]
    return [*fences, text] if fences else [text]


def parse_calls(text: str) -> ParsedCalls:
    """The function calls in ``text`` (see the module docstring); never raises."""
    text = text[:MAX_PARSE_CHARS]
    if not text.strip() or text.strip() in ("[]", "```[]```", "```\n[]\n```"):
        return ParsedCalls([], "empty")
    readers = (("json", _json_whole), ("python", _python_strict), ("json", _json_inside),
               ("python", _python_lines))
    for region in _regions(text):
        for fmt, reader in readers:
            try:
                calls = reader(region)
            except (RecursionError, MemoryError, ValueError, TypeError):
                calls = None
            if calls is None:
                continue
            if not calls:
                return ParsedCalls([], "empty")
            return ParsedCalls(calls[:MAX_CALLS], fmt, len(calls) > MAX_CALLS)  # type: ignore[arg-type]
    return ParsedCalls([], "none")
