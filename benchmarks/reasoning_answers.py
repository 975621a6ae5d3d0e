"""What the trained teams of a reasoning benchmark learnt, read from their answers.

For every answer of the greedy evaluations in ``benchmarks/results/<name>/evals/`` (the
untrained model under the parallel protocol, and each trained method's team of every seed,
both solvers, the held-out questions: ``cpu-reasoning``'s ``a + b`` / ``a - b`` of chain_sum,
``cpu-arith``'s two or three terms of basic_arithmetic): whether its last number is the right
result (what the env scores with ``untagged="last_number"``), split by the question's
operators (only ``+``, any ``-``), its number of terms and the sign of the result; whether it
still says the untrained model's constant "... is 1."; whether it restates the question's
expression followed by ``=`` (``4 - 1 = ...``), a format the untrained model seldom writes;
and whether it is terse (at most 6 words). Writes ``benchmarks/results/<name>/answers.json``
and prints a table.

Usage::

    python benchmarks/reasoning_answers.py [name]     # default: cpu-reasoning
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
GROUPS = {
    "untrained (parallel)": "baseline/parallel/*/*/greedy/episodes.jsonl",
    "magrpo (trained)": "team/magrpo/*/*/parallel/greedy/episodes.jsonl",
    "mareinforce (trained)": "team/mareinforce/*/*/parallel/greedy/episodes.jsonl",
}
# the question's expression: the first run of integers joined by + or - (chain_sum: "problem:
# 4 - 1 =", basic_arithmetic: "Calculate 7 + 4 - 6.", "What is 3 - 5?", ...)
EXPRESSION = re.compile(r"-?\d+(?:\s*[+-]\s*-?\d+)+")
TOKEN = re.compile(r"\d+|[+-]")


def parse(expression: str) -> tuple[int, list[str]]:
    """The value of ``a (+|-) b (+|-) c ...`` read left to right, and its binary operators
    (a ``-`` right after the start or after an operator negates the next number)."""
    total, sign, operators, after_number = 0, 1, [], False
    for token in TOKEN.findall(expression):
        if token.isdigit():
            total, sign, after_number = total + sign * int(token), 1, True
        elif after_number:
            operators.append(token)
            sign, after_number = (1 if token == "+" else -1), False
        else:
            sign = -sign if token == "-" else sign
    return total, operators


def classify(prompt: str, answer: str) -> dict[str, bool]:
    """One answer's features (see the module docstring)."""
    match = EXPRESSION.search(prompt)
    if match is None:
        raise ValueError(f"no +/- expression in the question: {prompt[:80]!r}")
    expression = match.group(0)
    truth, operators = parse(expression)
    numbers = re.findall(r"-?\d+", answer)
    restated = r"\s*".join(re.escape(t) for t in TOKEN.findall(expression)) + r"\s*="
    return {"correct": bool(numbers) and int(numbers[-1]) == truth,
            "plus": "-" not in operators, "three_terms": len(operators) >= 2,
            "negative": truth < 0, "says_1": "is 1." in answer,
            "restates": re.search(restated, answer) is not None,
            "terse": len(answer.split()) <= 6}


def summarise(rows: list[dict[str, bool]]) -> dict[str, float | int | None]:
    def share(key: str, among: list[dict[str, bool]]) -> float | None:
        return round(sum(r[key] for r in among) / len(among), 3) if among else None

    plus = [r for r in rows if r["plus"]]
    minus = [r for r in rows if not r["plus"]]
    negative = [r for r in rows if r["negative"]]
    three = [r for r in rows if r["three_terms"]]
    return {"answers": len(rows), "correct": share("correct", rows),
            "correct_plus": share("correct", plus), "correct_minus": share("correct", minus),
            "correct_three_terms": share("correct", three),
            "correct_negative_result": share("correct", negative),
            "says_1": share("says_1", rows), "restates_equation": share("restates", rows),
            "terse": share("terse", rows)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = RESULTS / (argv[0] if argv else "cpu-reasoning")
    evals = root / "evals" / "ReasoningGym-v1"
    if not evals.is_dir():
        print(f"no reasoning evaluations under {evals}", file=sys.stderr)
        return 1
    out = {}
    for name, pattern in GROUPS.items():
        rows = []
        for path in sorted(evals.glob(pattern)):
            for line in path.read_text(encoding="utf-8").splitlines():
                for call in json.loads(line)["turns"][0]["calls"]:
                    rows.append(classify(call["prompt"], call["answer"]))
        out[name] = summarise(rows)
    (root / "answers.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    keys = list(next(iter(out.values())))
    print("| answers of | " + " | ".join(keys) + " |")
    print("| --- |" + " ---: |" * len(keys))
    for name, stats in out.items():
        print(f"| {name} | " + " | ".join(str(stats[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
