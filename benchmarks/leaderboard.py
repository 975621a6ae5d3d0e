"""The README's leaderboard, built from the committed benchmark results only.

Every ``benchmarks/results/<name>/results.json`` written by ``collabzoo benchmark`` (listed in
:data:`BENCHMARKS`, in the README's order) gives one block of rows: for each env, every trained
method and every untrained protocol with its IQM of normalised return over seeds and the
stratified-bootstrap 95% CI (rliable, as the benchmark computed them), the probability that a
trained seed beats the best untrained protocol, a verdict, the budget (seeds x steps, tokens and
training seconds per run) and the CPU the runs trained on. A trained method **wins** when the
lower end of its CI lies above the upper end of the best untrained protocol's CI (the issue's
"non-overlapping 95% CIs"); an untrained protocol decoded greedily is one run, so its CI has no
width: the item-to-item spread of the eval split is not in these intervals.

Writes ``benchmarks/results/leaderboard.md`` (what the README copies: one row per env and
benchmark, one column per method, then the budgets), ``benchmarks/results/leaderboard_rows.md``
(one row per method with the best untrained protocol named: the docs' Leaderboard page) and
``benchmarks/results/leaderboard.json``; prints the README's tables.

Usage::

    python benchmarks/leaderboard.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: (results folder, what the block is), in the README's order
BENCHMARKS = [
    ("cpu-reasoning", "SmolLM2-135M-Instruct x2, LoRA"),
    ("cpu-arith", "SmolLM2-135M-Instruct x2, LoRA"),
    ("cpu-tldr", "SmolLM2-135M-Instruct x2, LoRA"),
    ("cpu-tldr-k50", "SmolLM2-135M-Instruct x2, LoRA, top-k 50"),
    ("tiny-tldr", "tiny x2 (0.6M, random init), full fine-tuning"),
]


def _cell(stat: dict[str, Any]) -> str:
    return f"{stat['iqm']:.3f} [{stat['low']:.3f}, {stat['high']:.3f}]"


def block(name: str, what: str) -> dict[str, Any] | None:
    path = RESULTS / name / "results.json"
    if not path.is_file():
        return None
    results = json.loads(path.read_text())
    sampling = next(iter(results["statistics"]))
    stats = results["statistics"][sampling]
    spec = results["spec"]
    runs = results["runs"]
    machines = sorted({m for r in runs for m in r.get("machines", [])}) or ["not recorded"]
    rows = []
    for env, methods in stats.items():
        if env == "all envs":
            continue
        baselines = {m: s for m, s in methods.items() if s.get("kind") != "team"}
        best = max(baselines, key=lambda m: baselines[m]["iqm"]) if baselines else None
        improvement = results["probability_of_improvement"].get(env, {})
        for method, s in methods.items():
            trained = s.get("kind") == "team"
            row = {"env": env, "method": method, "trained": trained, "iqm": s["iqm"],
                   "low": s["low"], "high": s["high"], "seeds": s.get("seeds", {})}
            if trained and best is not None:
                row["p_over_best_untrained"] = improvement.get(method, {}).get(best)
                row["best_untrained"] = best
                row["wins"] = s["low"] > baselines[best]["high"]
            rows.append(row)
    # per env: trained methods, then untrained protocols, each best first
    rows.sort(key=lambda r: (list(stats).index(r["env"]), not r["trained"], -r["iqm"]))
    budget = {}
    for algo in sorted({r["algorithm"] for r in runs}):  # sorted: the same JSON every time
        mine = [r for r in runs if r["algorithm"] == algo]
        budget[algo] = {"runs": len(mine),
                        "steps": max(r["steps"] for r in mine),
                        "tokens": round(sum(r["tokens"] for r in mine) / len(mine)),
                        "train_s": round(sum(r["train_s"] for r in mine) / len(mine))}
    return {"name": name, "what": what, "spec": f"benchmarks/specs/{name}.yaml",
            "command": f"collabzoo benchmark benchmarks/specs/{name}.yaml --workers 2",
            "sampling": sampling, "seeds": spec.get("seeds"),
            "steps": spec.get("budget", {}).get("steps"), "machines": machines,
            "budget": budget, "rows": rows}


#: the untrained protocols' columns, in this order, after the trained algorithms'
PROTOCOLS = ["single", "parallel", "sequential", "discussion"]


def matrix(blocks: list[dict[str, Any]]) -> str:
    """One row per (env, benchmark), one column per method: MAGRPO, the other trained
    algorithms in the order they first appear, then the untrained protocols. A trained cell:
    IQM [CI], P(> best untrained), and **win** when its CI clears the best untrained
    protocol's; an untrained cell whose CI has no width: its IQM alone."""
    rows = [(b, env) for b in blocks for env in dict.fromkeys(r["env"] for r in b["rows"])]
    algos = sorted(dict.fromkeys(r["method"] for b in blocks for r in b["rows"] if r["trained"]),
                   key=lambda m: m != "magrpo")  # MAGRPO first, the rest as they appear
    untrained = [f"{p} (untrained)" for p in PROTOCOLS]
    others = [m for b in blocks for r in b["rows"]
              if not r["trained"] and (m := r["method"]) not in untrained]
    columns = algos + untrained + list(dict.fromkeys(others))
    lines = ["| env · benchmark | " + " | ".join(columns) + " |",
             "| --- |" + " ---: |" * len(columns)]
    for b, env in rows:
        cells = {r["method"]: r for r in b["rows"] if r["env"] == env}
        out = []
        for column in columns:
            row = cells.get(column)
            if row is None:
                out.append("–")
            elif row["trained"]:
                p = row.get("p_over_best_untrained")
                out.append(_cell(row) + ("" if p is None else f", P {p:.2f}")
                           + (", **win**" if row.get("wins") else ""))
            else:
                out.append(f"{row['iqm']:.3f}" if row["low"] == row["high"] else _cell(row))
        lines.append(f"| {env.split('/')[-1]} · `{b['name']}` | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def budgets(blocks: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | agents | seeds x steps | tokens / run | train s / run | "
             "decoding | trained on |", "| --- | --- | --- | ---: | ---: | --- | --- |"]
    for b in blocks:
        for algo, spent in sorted(b["budget"].items()):
            lines.append(f"| `{b['name']}` ({algo}) | {b['what']} | {len(b['seeds'])} x "
                         f"{b['steps']} | {spent['tokens']} | {spent['train_s']} | "
                         f"{b['sampling']} | {'; '.join(b['machines'])} |")
    return "\n".join(lines) + "\n"


def markdown(blocks: list[dict[str, Any]]) -> str:
    """One row per method: its IQM [CI], P(> best untrained) and the verdict naming that
    protocol."""
    lines = ["| env · benchmark | method | IQM [95% CI] | P(> best untrained) | verdict |",
             "| --- | --- | ---: | ---: | --- |"]
    for b in blocks:
        for row in b["rows"]:
            env = row["env"].split("/")[-1]
            if row["trained"]:
                p = row.get("p_over_best_untrained")
                verdict = ("**wins**" if row.get("wins") else "no firm win") + (
                    f" (vs {row['best_untrained'].removesuffix(' (untrained)')})"
                    if row.get("best_untrained") else "")
                lines.append(f"| {env} · `{b['name']}` | {row['method']} (trained) | "
                             f"{_cell(row)} | {'–' if p is None else f'{p:.2f}'} | {verdict} |")
            else:
                lines.append(f"| {env} · `{b['name']}` | {row['method']} | {_cell(row)} | | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    blocks = [b for name, what in BENCHMARKS if (b := block(name, what)) is not None]
    if not blocks:
        print("no benchmarks/results/<name>/results.json yet", file=sys.stderr)
        return 1
    text = matrix(blocks) + "\n" + budgets(blocks)
    (RESULTS / "leaderboard.md").write_text(text, encoding="utf-8")
    (RESULTS / "leaderboard_rows.md").write_text(markdown(blocks), encoding="utf-8")
    (RESULTS / "leaderboard.json").write_text(json.dumps(blocks, indent=1) + "\n",
                                              encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
