"""What the trained teams of ``cpu-reasoning`` learnt, read from their answers.

For every answer of the greedy evaluations in ``benchmarks/results/cpu-reasoning/evals/``
(the untrained model under the parallel protocol, and each trained method's team of every
seed, both solvers, the 39 test questions ``a + b`` / ``a - b`` with one-digit terms): whether
its last number is the right result (what the env scores with ``untagged="last_number"``),
split by operator and by the sign of the result; whether it still says the untrained model's
constant "... is 1."; whether it restates the question's equation (``4 - 1 = ...``), a
format the untrained model almost never writes; and whether it is terse (at most 6 words).
Writes ``benchmarks/results/cpu-reasoning/answers.json`` and prints a table.

Usage::

    python benchmarks/reasoning_answers.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "cpu-reasoning"
EVALS = ROOT / "evals" / "ReasoningGym-v1"
GROUPS = {
    "untrained (parallel)": "baseline/parallel/*/*/greedy/episodes.jsonl",
    "magrpo (trained)": "team/magrpo/*/*/parallel/greedy/episodes.jsonl",
    "mareinforce (trained)": "team/mareinforce/*/*/parallel/greedy/episodes.jsonl",
}
QUESTION = re.compile(r"problem: (-?\d+) ([+-]) (-?\d+) =")


def classify(prompt: str, answer: str) -> dict[str, bool]:
    """One answer's features (see the module docstring)."""
    match = QUESTION.search(prompt)
    if match is None:
        raise ValueError(f"not a chain_sum question: {prompt[:80]!r}")
    a, op, b = int(match.group(1)), match.group(2), int(match.group(3))
    truth = a + b if op == "+" else a - b
    numbers = re.findall(r"-?\d+", answer)
    equation = re.escape(f"{match.group(1)} {op} {match.group(3)}") + r"\s*="
    return {"correct": bool(numbers) and int(numbers[-1]) == truth, "plus": op == "+",
            "negative": truth < 0, "says_1": "is 1." in answer,
            "restates": re.search(equation, answer) is not None,
            "terse": len(answer.split()) <= 6}


def summarise(rows: list[dict[str, bool]]) -> dict[str, float | int]:
    def share(key: str, among: list[dict[str, bool]]) -> float:
        return round(sum(r[key] for r in among) / len(among), 3) if among else float("nan")

    plus = [r for r in rows if r["plus"]]
    minus = [r for r in rows if not r["plus"]]
    negative = [r for r in rows if r["negative"]]
    return {"answers": len(rows), "correct": share("correct", rows),
            "correct_plus": share("correct", plus), "correct_minus": share("correct", minus),
            "correct_negative_result": share("correct", negative),
            "says_1": share("says_1", rows), "restates_equation": share("restates", rows),
            "terse": share("terse", rows)}


def main() -> int:
    out = {}
    for name, pattern in GROUPS.items():
        rows = []
        for path in sorted(EVALS.glob(pattern)):
            for line in path.read_text(encoding="utf-8").splitlines():
                for call in json.loads(line)["turns"][0]["calls"]:
                    rows.append(classify(call["prompt"], call["answer"]))
        out[name] = summarise(rows)
    (ROOT / "answers.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    keys = list(next(iter(out.values())))
    print("| answers of | " + " | ".join(keys) + " |")
    print("| --- |" + " ---: |" * len(keys))
    for name, stats in out.items():
        print(f"| {name} | " + " | ".join(str(stats[k]) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
