"""What the trained teams of a TLDR benchmark learnt, read from their answers.

TLDR-v1's reward scores a pair (concise, detailed) in levels, each gate stopping the scoring
(:mod:`collabzoo.envs.writing.rewards`): both answers 8-256 words (0.5), the detailed answer
1.1-5 times the concise one's characters (up to 1.0, full at 1.6-3.2), 1.3 times its distinct
words or more (up to 0.5), then transition words and shared content words. Each eval episode's
pair is scored again here with ``tldr_reward`` to read where it stopped and its measures:
the share of pairs that stop at each gate or pass them all, the mean words of each answer,
the length ratio, the vocabulary ratio, the transition-word categories and the content-word
Jaccard overlap of the two answers. The length ratio is a property of the pair, not of either
answer: a team reaches the band only when one role writes longer or the other shorter, which
is what leave-one-agent-out then attributes to a role.

Groups: the untrained model under the parallel protocol and each trained method's teams (all
seeds), from the greedy evaluations in ``benchmarks/results/<name>/evals/TLDR-v1/``.
Writes ``benchmarks/results/<name>/answers.json`` and prints a table.

Usage::

    python benchmarks/tldr_answers.py [cpu-tldr-k50]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from statistics import mean
from typing import Any

from collabzoo.envs.writing.rewards import tldr_reward

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
GATES = ("structure", "length_ratio", "vocabulary")


def classify(concise: str, detailed: str) -> dict[str, Any]:
    """One pair's figures (see the module docstring)."""
    result = tldr_reward(concise, detailed)
    m = result.measures
    return {"reward": result.total, "stopped_at": result.stopped_at,
            "words_concise": m.words[0], "words_detailed": m.words[1],
            "length_ratio": m.length_ratio, "vocabulary_ratio": m.vocabulary_ratio,
            "categories": len(m.categories), "jaccard": m.jaccard}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Shares of pairs stopping at each gate, and the mean of every measure."""
    if not rows:
        return {"pairs": 0}
    out: dict[str, Any] = {"pairs": len(rows)}
    for gate in GATES:
        out[f"stops_at_{gate}"] = round(sum(r["stopped_at"] == gate for r in rows) / len(rows), 3)
    out["passes_all_gates"] = round(sum(r["stopped_at"] is None for r in rows) / len(rows), 3)
    for key in ("reward", "words_concise", "words_detailed", "length_ratio",
                "vocabulary_ratio", "categories", "jaccard"):
        out[key] = round(mean(r[key] for r in rows), 3)
    return out


def groups(evals: Path) -> dict[str, list[Path]]:
    """The untrained parallel protocol, then each trained method, to their episode files."""
    out = {"untrained (parallel)": sorted(evals.glob("baseline/parallel/*/*/greedy/episodes.jsonl"))}
    for method in sorted(p.name for p in (evals / "team").glob("*") if p.is_dir()):
        out[f"{method} (trained)"] = sorted(
            evals.glob(f"team/{method}/*/*/parallel/greedy/episodes.jsonl"))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else "cpu-tldr-k50"
    root = RESULTS / name
    out = {}
    for group, paths in groups(root / "evals" / "TLDR-v1").items():
        rows = []
        for path in paths:
            for line in path.read_text(encoding="utf-8").splitlines():
                actions = json.loads(line)["turns"][0]["actions"]
                rows.append(classify(actions["concise"], actions["detailed"]))
        out[group] = summarise(rows)
    if not any(s["pairs"] for s in out.values()):
        print(f"no episodes.jsonl under {root}/evals/TLDR-v1", file=sys.stderr)
        return 1
    (root / "answers.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    keys = list(next(s for s in out.values() if s["pairs"]))
    print("| pairs of | " + " | ".join(keys) + " |")
    print("| --- |" + " ---: |" * len(keys))
    for group, stats in out.items():
        print(f"| {group} | " + " | ".join(str(stats.get(k, "–")) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
