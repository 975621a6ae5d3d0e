r"""collabzoo's AST checker of function calls against BFCL's possible answers.

A **call** is a function name and its keyword arguments (:class:`Call`). A **gold call** is
one entry of a BFCL ``possible_answer`` record: ``{name: {parameter: [allowed values]}}``,
where ``""`` among the allowed values marks the parameter as optional. The function's JSON
schema (BFCL's ``function`` entries: ``parameters.properties`` with a ``type`` per parameter,
``parameters.required``) gives the expected types.

One call against one gold call (:func:`check_call`) is **valid** when

- the names are equal;
- every required parameter of the schema is given;
- every given parameter is in the schema and in the gold call (else "unexpected");
- every given value has the schema's type, or the type of the gold's allowed values (BFCL's
  "variable" rule: an allowed ``"x"`` for an ``integer`` parameter means a variable name),
  with an ``int`` accepted for a ``float`` parameter and the items of an ``array``/``tuple``
  checked one level deep;
- every given value is allowed: strings compared after :func:`standardize` (lower case,
  without spaces and ``,./-_*^``, ``'`` read as ``"``), lists item by item in the same way,
  dicts key by key (each key allowed and each required key present), lists of dicts dict by
  dict, anything else with ``==``;
- every gold parameter that is not given is optional.

These are the rules of BFCL's ``ast_checker`` for Python (``bfcl-eval`` 2026.3.23), written
anew here; ``benchmarks/bfcl_agreement.py`` compares the two verdicts on every shipped item.

A list of calls against a list of gold calls (:func:`check_calls`) is **exact** when the two
lists have the same length and the calls can be paired one to one with the gold calls so
that every pair is valid, in any order (order-insensitive, as BFCL's ``parallel`` checker).
BFCL pairs greedily (each gold call takes the first unpaired valid call); here the pairing is
optimal, which differs only where a greedy choice blocks a pairing that exists.

**Partial credit** (the env's reward): each pair earns a credit
:math:`c = 1` when valid, else :math:`c = 0.25 + 0.5 \cdot s / (P + U)` when the names are
equal (``s`` parameters satisfied out of the ``P`` the gold call and the schema's
``required`` name together, ``U`` unexpected parameters given), else 0. The calls are paired
with the gold calls to maximise the summed credit, and

.. math:: \text{score} = \frac{\sum c}{\max(\#\text{gold}, \#\text{calls})} \in [0, 1],

which is 1 exactly when the list is exact. A call nobody needed (an extra call, the same call
made twice) still counts in the denominator. A partly right call is worth at most 0.75.

>>> gold = [{"spotify.play": {"artist": ["Taylor Swift"], "duration": [20]}},
...         {"spotify.play": {"artist": ["Maroon 5"], "duration": [15]}}]
>>> schema = [{"name": "spotify.play", "parameters": {"type": "dict", "properties": {
...     "artist": {"type": "string"}, "duration": {"type": "integer"}},
...     "required": ["artist", "duration"]}}]
>>> calls = [Call("spotify.play", {"artist": "maroon 5", "duration": 15}),
...          Call("spotify.play", {"artist": "Taylor Swift", "duration": "20"})]
>>> result = check_calls(calls, gold, schema)
>>> result.exact, result.correct, result.score   # (1 + 0.25 + 0.5 * 1/2) / 2
(False, 1, 0.75)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ARGUMENT_CREDIT",
    "NAME_CREDIT",
    "Call",
    "CallCheck",
    "CallsCheck",
    "check_call",
    "check_calls",
    "standardize",
]

#: Credit of a call with the right function name, before its arguments count.
NAME_CREDIT = 0.25
#: Most credit the arguments of a not fully valid call add to :data:`NAME_CREDIT`.
ARGUMENT_CREDIT = 0.5

#: BFCL's parameter types and the Python type a value must have.
PYTHON_TYPES: dict[str, type] = {
    "string": str, "integer": int, "float": float, "boolean": bool,
    "array": list, "tuple": list, "dict": dict, "any": str,
}
_SEQUENCE_TYPES = ("array", "tuple")
_IGNORED_CHARS = re.compile(r"[ ,./\-_*^]")


@dataclass
class Call:
    """One function call: ``name(**arguments)``. ``name`` is ``None`` for an item that was
    meant as a call but has no usable name (it matches nothing)."""

    name: str | None
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


@dataclass
class CallCheck:
    """One call against one gold call: the verdict, the credit and the first problem."""

    valid: bool
    credit: float
    problem: str | None = None


@dataclass
class CallsCheck:
    """A list of calls against the gold calls (see the module docstring).

    Attributes:
        exact: Same number of calls and a one-to-one valid pairing (BFCL's verdict).
        score: Summed credit of the best pairing / max(#gold, #calls), in [0, 1].
        correct: Valid pairs in the best pairing.
        expected: Number of gold calls.
        made: Number of calls.
        pairing: For each call, the index of its gold call in the best pairing, or ``None``.
        problems: For each call, what is wrong with it (``None`` when valid).
    """

    exact: bool
    score: float
    correct: int
    expected: int
    made: int
    pairing: list[int | None]
    problems: list[str | None]


@functools.lru_cache(maxsize=1 << 16)  # the allowed values of an item recur at every step
def standardize(text: str) -> str:
    """A string as BFCL compares it: lower case, without ``" ,./-_*^"``, ``'`` read as ``"``.

    >>> standardize("April 1, 2024") == standardize("april 1 2024")
    True
    """
    return _IGNORED_CHARS.sub("", text).lower().replace("'", '"')


def _answer_type(allowed: Sequence[Any]) -> type | None:
    """The type of the first allowed value that is not the optional marker ``""``."""
    return next((type(a) for a in allowed if a != ""), None)


def _items_typed(value: list[Any], allowed: Sequence[Any], item_type: type) -> bool:
    """One level of item types: some allowed entry accepts the types of all items."""
    for entry in allowed:
        if not isinstance(entry, list):  # e.g. the optional marker: no item types to check
            return True
        entry_type = _answer_type(entry)
        if all(type(v) is item_type or type(v) is entry_type for v in value):
            return True
    return False


def _dict_allowed(value: Mapping[str, Any], allowed: Sequence[Any]) -> bool:
    """Some allowed dict accepts every key and value of ``value`` and gets its required keys."""
    if not isinstance(value, Mapping):
        return False
    for entry in allowed:
        if entry == "" or not isinstance(entry, Mapping):
            continue
        keys_ok = all(
            key in entry and _plain(item) in [_plain(a) for a in _options(entry[key])]
            for key, item in value.items()
        )
        if keys_ok and all(key in value or "" in _options(o) for key, o in entry.items()):
            return True
    return False


def _options(allowed: Any) -> list[Any]:
    return allowed if isinstance(allowed, list) else [allowed]


def _plain(value: Any) -> Any:
    return standardize(value) if isinstance(value, str) else value


def _as_entries(entry: Any) -> list[Any]:
    # an allowed entry of a list parameter is a list; BFCL walks a string entry (the
    # optional marker "") character by character, so "" stands for the empty list
    return list(entry) if isinstance(entry, (list, tuple, str)) else [entry]


def _value_problem(
    parameter: str, value: Any, allowed: Sequence[Any], schema: Mapping[str, Any]
) -> str | None:
    """Why ``value`` is not allowed for ``parameter`` (``None`` when it is)."""
    type_name = schema.get("type")
    expected = PYTHON_TYPES.get(type_name) if isinstance(type_name, str) else None
    if expected is None:  # a type BFCL does not know for Python: compare values only
        return None if value in allowed else f"value of {parameter!r} not accepted"
    if type_name == "float" and type(value) is int:
        value = float(value)
    if type_name == "tuple" and type(value) is tuple:
        value = list(value)
    answer_type = _answer_type(allowed)
    variable = answer_type is not None and answer_type is not expected
    items = schema.get("items")
    item_type = (
        PYTHON_TYPES.get(str(items.get("type")))
        if type_name in _SEQUENCE_TYPES and isinstance(items, Mapping) else None
    )
    value_type = type(value)  # compared as a name: `type(value) is X` would narrow value
    if value_type is expected:
        if item_type is not None and not _items_typed(value, allowed, item_type):
            return f"wrong item type in {parameter!r}"
    elif answer_type is not None and value_type is answer_type:
        variable = True
    else:
        return f"wrong type for {parameter!r}: {type(value).__name__}, expected {type_name}"
    if not variable:
        if expected is dict:
            ok = _dict_allowed(value, allowed)
        elif expected is list and item_type is dict:
            ok = any(
                len(value) == len(_as_entries(entry))
                and all(_dict_allowed(v, [e]) for v, e in zip(value, _as_entries(entry), strict=True))
                for entry in allowed
            )
        elif expected is str:
            ok = standardize(value) in [standardize(a) for a in allowed if isinstance(a, str)]
        elif expected is list:
            ok = [_plain(v) for v in value] in [
                [_plain(a) for a in _as_entries(entry)] for entry in allowed
            ]
        else:
            ok = value in allowed
    else:
        ok = value in allowed
    return None if ok else f"value of {parameter!r} not accepted"


def check_call(
    call: Call, gold: Mapping[str, Mapping[str, Sequence[Any]]], function: Mapping[str, Any]
) -> CallCheck:
    """Check one call against one gold call ``{name: {parameter: allowed values}}``.

    Args:
        call: The call made.
        gold: One entry of BFCL's ``ground_truth`` list.
        function: The schema of the gold call's function (BFCL's ``function`` entry).
    """
    ((name, allowed_by_parameter),) = gold.items()
    if call.name != name:
        return CallCheck(False, 0.0, f"wrong function {call.name!r}" if call.name else
                         "not a function call")
    parameters = function.get("parameters") or {}
    properties = parameters.get("properties") or {}
    required = list(parameters.get("required") or [])
    unexpected = [p for p in call.arguments if p not in properties or p not in allowed_by_parameter]
    names = list(allowed_by_parameter) + [p for p in required if p not in allowed_by_parameter]
    problems: list[str] = [f"unexpected parameter {p!r}" for p in unexpected]
    satisfied = 0
    for parameter in names:
        if parameter in unexpected:
            continue
        if parameter in call.arguments:
            problem = _value_problem(parameter, call.arguments[parameter],
                                     allowed_by_parameter[parameter], properties[parameter])
        elif parameter in required:
            problem = f"missing required parameter {parameter!r}"
        elif "" in allowed_by_parameter.get(parameter, ()):
            problem = None
        else:
            problem = f"missing parameter {parameter!r}"
        if problem is None:
            satisfied += 1
        else:
            problems.append(problem)
    if not problems:
        return CallCheck(True, 1.0)
    total = len(names) + len(unexpected)
    return CallCheck(False, NAME_CREDIT + ARGUMENT_CREDIT * satisfied / total, problems[0])


def _best_pairing(credits: list[list[float]], n_gold: int) -> tuple[float, list[int | None]]:
    """Maximum summed credit of a one-to-one pairing, by dynamic programming over the set
    of gold calls used (at most a few gold calls per item); calls of zero credit are skipped."""
    best: dict[int, tuple[float, tuple[tuple[int, int], ...]]] = {0: (0.0, ())}
    for i, row in enumerate(credits):
        options = [(g, c) for g, c in enumerate(row) if c > 0.0]
        if not options:
            continue
        nxt = dict(best)
        for mask, (total, pairs) in best.items():
            for g, c in options:
                if mask >> g & 1:
                    continue
                key = mask | 1 << g
                if key not in nxt or total + c > nxt[key][0]:
                    nxt[key] = (total + c, (*pairs, (i, g)))
        best = nxt
    total, pairs = max(best.values(), key=lambda item: item[0])
    pairing: list[int | None] = [None] * len(credits)
    for i, g in pairs:
        pairing[i] = g
    return total, pairing


def check_calls(
    calls: Sequence[Call],
    gold: Sequence[Mapping[str, Mapping[str, Sequence[Any]]]],
    functions: Sequence[Mapping[str, Any]],
) -> CallsCheck:
    """Check a list of calls against a list of gold calls, in any order (module docstring).

    Args:
        calls: The calls made (by the whole team).
        gold: BFCL's ``ground_truth`` list of the item.
        functions: BFCL's ``function`` list of the item (the schemas).
    """
    schemas = {f.get("name"): f for f in functions}
    gold_schemas = [schemas.get(next(iter(g)), {}) for g in gold]
    checks = [[check_call(call, g, s) for g, s in zip(gold, gold_schemas, strict=True)] for call in calls]
    total, pairing = _best_pairing([[c.credit for c in row] for row in checks], len(gold))
    correct = sum(1 for i, g in enumerate(pairing) if g is not None and checks[i][g].valid)
    problems: list[str | None] = []
    for i, g in enumerate(pairing):
        if g is not None:
            problems.append(checks[i][g].problem)
        elif calls[i].name is None:
            problems.append("not a function call")
        elif calls[i].name not in schemas:
            problems.append(f"unknown function {calls[i].name!r}")
        else:
            problems.append("not needed (an extra call, or the wrong function)")
    denominator = max(len(gold), len(calls))
    exact = len(calls) == len(gold) and correct == len(gold)
    score = 1.0 if exact else (total / denominator if denominator else 0.0)
    return CallsCheck(exact, min(score, 1.0), correct, len(gold), len(calls), pairing, problems)
