"""collabzoo's BFCL checker against BFCL's own, on every shipped item and deliberate variants.

Downloads the ``bfcl-eval`` wheel the data was vendored from (``pip download --no-deps``, from
PyPI: needs network once; the wheel is cached in ``--cache``), unzips it, checks that the
vendored files under ``collabzoo/envs/tools/data/bfcl/`` equal the wheel's byte for byte,
then, for every item of the four shipped categories (``simple_python``, ``multiple``,
``parallel``, ``parallel_multiple``: 1,000 items), builds these answers from the possible
answers and the schemas:

- ``expected_first``: every gold call, each parameter at its first allowed value (an
  optional parameter whose first allowed value is ``""`` left out);
- ``expected_last``: the calls in reverse order, each parameter at its last allowed value
  (optional parameters left out);
- ``case_and_spaces``: ``expected_first`` with every string value upper-cased and with its
  spaces replaced by ``_`` (BFCL's string comparison ignores both);
- ``int_for_float``: ``expected_first`` with an integral ``float`` value written as an ``int``;
- ``wrong_function``: the first call renamed (to another listed function, else ``name_x``);
- ``missing_argument``: the first call without its first required parameter;
- ``wrong_type``: the first call's first parameter given a value of another type;
- ``wrong_value``: the first call's first string parameter given another string;
- ``extra_call``: ``expected_first`` plus a copy of its first call;
- ``missing_call``: ``expected_first`` without its last call (items with several calls);

and compares two verdicts per answer:

- **checker**: BFCL's ``ast_checker`` (``bfcl_eval.eval_checker.ast_eval.ast_checker``, with
  the item's category) on the decoded calls vs collabzoo's ``check_calls(...).exact``;
- **end to end**: the answer written as Python-call text (``[f(a=1), g(b='x')]``, as BFCL's
  prompting models answer), BFCL's ``default_decode_ast_prompting`` then its checker vs
  collabzoo's ``parse_calls`` then ``check_calls``; plus four other texts per item: prose,
  the Python text cut off in the middle, an empty list, and the expected calls as JSON in
  BFCL's own JSON shape (``[{"function": f, "parameters": {...}}]``, decoded on BFCL's side
  by its ``ReturnFormat.JSON`` decoder).

BFCL runs in a subprocess with only the unzipped wheel on ``sys.path`` (its own dependencies
are never installed). Stubbed there, because their imports are heavy or absent and the code
paths used never call them: ``bfcl_eval.constants.model_config`` (imports every API client;
the checker reads only ``underscore_to_dot``, false here: function names keep their dots),
``tenacity`` (retry decorators of API calls), and the Java/JavaScript tree-sitter parsers.

Usage::

    python benchmarks/bfcl_agreement.py [--cache DIR] [--out benchmarks/results/bfcl_agreement.json]

Prints the agreement per variant and every disagreement; writes the JSON report.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from collabzoo.envs.tools.ast_check import Call, check_calls
from collabzoo.envs.tools.bfcl import CATEGORIES, DATA_DIR, load_bfcl
from collabzoo.envs.tools.parsing import parse_calls

BFCL_VERSION = "2026.3.23"
WHEEL = f"bfcl_eval-{BFCL_VERSION}-py3-none-any.whl"

# Runs in the subprocess: stubs, then BFCL's decoder and checker over the cases.
DRIVER = r'''
import json, sys, types
wheel_root, cases_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, wheel_root)

class _Config:
    underscore_to_dot = False

class _Mapping(dict):
    def __getitem__(self, key):
        return _Config()

def _stub(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module

_stub("bfcl_eval.constants.model_config", MODEL_CONFIG_MAPPING=_Mapping())
_identity = lambda *a, **k: (lambda f: f)
_stub("tenacity", retry=_identity, retry_if_exception_message=_identity,
      retry_if_exception_type=_identity, wait_random_exponential=_identity,
      stop_after_attempt=_identity)
_stub("bfcl_eval.model_handler.parser.java_parser", parse_java_function_call=None)
_stub("bfcl_eval.model_handler.parser.js_parser", parse_javascript_function_call=None)

from bfcl_eval.constants.enums import Language, ReturnFormat
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
from bfcl_eval.model_handler.utils import ast_parse, default_decode_ast_prompting
from bfcl_eval.utils import is_function_calling_format_output

def check(functions, output, gold, category):
    try:
        return bool(ast_checker(functions, output, gold, Language.PYTHON, category, "stub")["valid"])
    except Exception as error:
        return "error: " + type(error).__name__

out = []
for case in json.load(open(cases_path)):
    checker = check(case["functions"], case["decoded"], case["gold"], case["category"])
    try:
        if case["json"]:
            decoded = ast_parse(case["text"], ReturnFormat.JSON)
        else:
            decoded = default_decode_ast_prompting(case["text"])
        ok = is_function_calling_format_output(decoded)
    except Exception:
        ok = False
    text = check(case["functions"], decoded, case["gold"], case["category"]) if ok else False
    out.append([checker, text])
json.dump(out, sys.stdout)
'''


def fetch_wheel(cache: Path) -> Path:
    """The unzipped wheel's root (download and unzip once into ``cache``)."""
    root = cache / "unzipped"
    if (root / "bfcl_eval").is_dir():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / WHEEL).is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             f"bfcl-eval=={BFCL_VERSION}", "-d", str(cache)],
            check=True,
        )
    with zipfile.ZipFile(cache / WHEEL) as archive:
        archive.extractall(root)
    return root


def vendored_equal(root: Path) -> dict[str, bool]:
    """Each vendored file against the wheel's."""
    result = {}
    for stem in CATEGORIES.values():
        for sub in ("", "possible_answer/"):
            ours = DATA_DIR / f"{sub}BFCL_v4_{stem}.jsonl"
            theirs = root / "bfcl_eval" / "data" / f"{sub}BFCL_v4_{stem}.json"
            result[f"{sub}BFCL_v4_{stem}"] = ours.read_bytes() == theirs.read_bytes()
    return result


# ---------------------------------------------------------------- answers built from the gold
def _choose(value: Any, last: bool) -> Any:
    """A value a model could give for an allowed value: inside a dict of allowed values (or
    a list of such dicts) pick one value per key, leaving optional keys out."""
    if isinstance(value, dict):
        out = {}
        for key, options in value.items():
            give, chosen = _pick(options if isinstance(options, list) else [options], last)
            if give:
                out[key] = chosen
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_choose(v, last) for v in value]
    return value


def _pick(allowed: list[Any], last: bool) -> tuple[bool, Any]:
    """(give it?, value): an allowed value, or leave the parameter out when optional."""
    values = [a for a in allowed if a != ""]
    if not values or (last and "" in allowed):
        return False, None
    return True, _choose(values[-1] if last else values[0], last)


def _gold_calls(gold: list[dict], functions: list[dict], last: bool = False) -> list[dict]:
    """The gold calls as a model would make them (parameters the schema lacks left out)."""
    schemas = {f["name"]: f["parameters"].get("properties", {}) for f in functions}
    calls = []
    for entry in gold:
        ((name, params),) = entry.items()
        args = {}
        for p, allowed in params.items():
            give, value = _pick(allowed, last)
            if give and (p in schemas.get(name, {}) or "" not in allowed):
                args[p] = value
        calls.append({name: args})
    return calls[::-1] if last else calls


def _recase(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper().replace(" ", "_")
    if isinstance(value, list):
        return [_recase(v) for v in value]
    return value


def _swap_number(value: Any) -> Any:
    """5 -> 5.0 and 5.0 -> 5 (an int is accepted for a float parameter)."""
    if type(value) is int:
        return float(value)
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _other_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return f"{value}"
    if isinstance(value, str):
        return 12345
    return "not a list or dict"


def variants(item: dict[str, Any]) -> dict[str, list[dict[str, dict]]]:
    gold, functions = item["ground_truth"], item["function"]
    schemas = {f["name"]: f for f in functions}
    first = _gold_calls(gold, functions)
    out: dict[str, list[dict[str, dict]]] = {
        "expected_first": first,
        "expected_last": _gold_calls(gold, functions, last=True),
        "case_and_spaces": [{n: {p: _recase(v) for p, v in a.items()}} for c in first
                            for n, a in c.items()],
    }
    floats = []
    for c in first:
        ((name, args),) = c.items()
        props = schemas[name]["parameters"]["properties"]
        floats.append({name: {p: _swap_number(v) if props.get(p, {}).get("type") == "float"
                              else v for p, v in args.items()}})
    if json.dumps(floats) != json.dumps(first):  # 5 == 5.0 in Python: compare the text
        out["int_for_float"] = floats
    ((name0, args0),) = first[0].items()
    others = [n for n in schemas if n != name0]
    out["wrong_function"] = [{others[0] if others else f"{name0}_x": args0}, *first[1:]]
    required = [p for p in schemas[name0]["parameters"].get("required", []) if p in args0]
    if required:
        out["missing_argument"] = [{name0: {p: v for p, v in args0.items() if p != required[0]}},
                                   *first[1:]]
    if args0:
        p0 = next(iter(args0))
        out["wrong_type"] = [{name0: {**args0, p0: _other_type(args0[p0])}}, *first[1:]]
    strings = [p for p, v in args0.items() if isinstance(v, str)]
    if strings:
        out["wrong_value"] = [{name0: {**args0, strings[0]: "zz not an allowed value"}}, *first[1:]]
    out["extra_call"] = [*first, first[0]]
    if len(first) > 1:
        out["missing_call"] = first[:-1]
    return out


def as_python(calls: list[dict[str, dict]]) -> str:
    return "[" + ", ".join(
        f"{n}({', '.join(f'{p}={v!r}' for p, v in a.items())})" for c in calls for n, a in c.items()
    ) + "]"


def malformed(item: dict[str, Any]) -> dict[str, str]:
    calls = _gold_calls(item["ground_truth"], item["function"])
    text = as_python(calls)
    return {
        "prose": "I would call the functions to answer this request.",
        "cut_off": text[: len(text) // 2],
        "json_form": json.dumps([{"function": n, "parameters": a}
                                 for c in calls for n, a in c.items()]),
        "empty_list": "[]",
    }


def ours(item: dict[str, Any], decoded: list[dict[str, dict]] | None, text: str) -> tuple[bool, bool]:
    gold, functions = item["ground_truth"], item["function"]
    checker = False
    if decoded is not None:
        calls = [Call(n, a) for c in decoded for n, a in c.items()]
        checker = check_calls(calls, gold, functions).exact
    return checker, check_calls(parse_calls(text).calls, gold, functions).exact


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / f"collabzoo-bfcl-eval-{BFCL_VERSION}",
                        help="where the wheel is downloaded and unzipped")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent / "results" / "bfcl_agreement.json")
    args = parser.parse_args(argv)

    root = fetch_wheel(args.cache)
    equal = vendored_equal(root)
    print(f"vendored files equal to bfcl-eval {BFCL_VERSION}'s: {sum(equal.values())}/{len(equal)}")

    cases, meta = [], []
    items = load_bfcl(list(CATEGORIES), split="all")
    for item in items:
        for name, decoded in variants(item).items():
            meta.append((item, name, decoded, as_python(decoded)))
        for name, text in malformed(item).items():
            meta.append((item, name, None, text))
    for item, name, decoded, text in meta:
        cases.append({"json": name == "json_form", "functions": item["function"], "gold": item["ground_truth"],
                      "category": CATEGORIES[item["category"]], "decoded": decoded or [],
                      "text": text})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cases, f)
    run = subprocess.run([sys.executable, "-c", DRIVER, str(root), f.name],
                         capture_output=True, text=True, check=False)
    Path(f.name).unlink()
    if run.returncode != 0:
        raise SystemExit(f"BFCL's checker failed to run:\n{run.stderr[-3000:]}")
    theirs = json.loads(run.stdout)

    totals: Counter[str] = Counter()
    agree: Counter[str] = Counter()
    valid: Counter[str] = Counter()
    disagreements = []
    for (item, name, decoded, text), (their_checker, their_text) in zip(meta, theirs, strict=True):
        our_checker, our_text = ours(item, decoded, text)
        pairs = [("text", our_text, their_text)]
        if decoded is not None:
            pairs.insert(0, ("checker", our_checker, their_checker))
        for kind, a, b in pairs:
            key = f"{kind}/{name}"
            totals[key] += 1
            valid[key] += b is True
            if a == b:
                agree[key] += 1
            else:
                disagreements.append({"id": item["id"], "variant": name, "kind": kind,
                                      "collabzoo": a, "bfcl": b, "text": text[:300]})
    rows = [{"comparison": k, "cases": totals[k], "bfcl_valid": valid[k], "agree": agree[k]}
            for k in sorted(totals)]
    print(f"{'comparison':<28} {'cases':>6} {'BFCL valid':>10} {'agree':>6}")
    for r in rows:
        print(f"{r['comparison']:<28} {r['cases']:>6} {r['bfcl_valid']:>10} {r['agree']:>6}")
    n, a = sum(totals.values()), sum(agree.values())
    print(f"total: {a}/{n} agree ({100 * a / n:.2f}%), {len(disagreements)} disagreements")
    for d in disagreements:
        print(f"  {d['id']} {d['variant']} ({d['kind']}): collabzoo {d['collabzoo']}, "
              f"BFCL {d['bfcl']}: {d['text'][:160]}")
    report = {
        "benchmark": "bfcl_agreement",
        "bfcl_eval_version": BFCL_VERSION,
        "items": len(items),
        "vendored_files_equal": equal,
        "cases": n,
        "agree": a,
        "rows": rows,
        "disagreements": disagreements,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
