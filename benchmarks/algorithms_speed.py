"""Seconds per training step of every registered algorithm at equal settings, on one machine.

Each algorithm trains the same two ``tiny`` agents (full copies) on ``collabzoo/TLDR-v1``'s
bundled train split: B tasks, G samples per agent, ``max_new_tokens`` new tokens, single turn
(or ``--num-turns``), float32, one torch thread, the same seed. The figure is the median of
``perf/step_s`` over the steps after the first (warm-up), with ``perf/generate_s`` and
``perf/loss_s`` beside it, and the ratio to ``magrpo`` in the same run. What it shows: what an
algorithm's extra work costs (``maremax``'s greedy rollouts, the critics' text features and
updates, ``central``'s one policy). ``marloo`` does the same work as ``magrpo``: their ratio
shows the noise of the machine. Not a learning benchmark; asserts nothing.

Usage::

    python benchmarks/algorithms_speed.py                       # all algorithms, 6 steps
    python benchmarks/algorithms_speed.py --algorithms magrpo maac --steps 10

Writes ``benchmarks/results/algorithms_speed.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(name: str, args: argparse.Namespace) -> dict[str, float]:
    """Train ``args.steps`` steps of algorithm ``name``; the medians of the timed steps."""
    from collabzoo import algorithms
    from collabzoo.trainers import Trainer

    config = algorithms.load(name).config_class(
        steps=args.steps, batch_size=args.batch_size, num_generations=args.G,
        max_new_tokens=args.max_new_tokens, agent_sharing="copies", seed=0, num_threads=1,
        dtype="float32",
        progress_bar=False, report_to=())
    env_kwargs = {"dataset": "bundled", "split": "train", "num_turns": args.num_turns}
    start = time.perf_counter()
    history = Trainer("collabzoo/TLDR-v1", env_kwargs=env_kwargs, model="tiny", config=config,
                      algorithm=name).train()
    timed = history[1:] or history
    return {key: statistics.median(h[f"perf/{key}"] for h in timed)
            for key in ("step_s", "generate_s", "loss_s")} | {
        "total_s": time.perf_counter() - start}


def main() -> None:
    from collabzoo.algorithms import list_algorithms

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithms", nargs="+",
                        default=[a.name for a in list_algorithms()])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--G", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--num-turns", type=int, default=1)
    parser.add_argument("--output", type=Path,
                        default=ROOT / "benchmarks" / "results" / "algorithms_speed.json")
    args = parser.parse_args()
    results = {name: measure(name, args) for name in args.algorithms}
    base = results.get("magrpo", {}).get("step_s")
    print(f"{'algorithm':<12} {'step_s':>8} {'generate_s':>11} {'loss_s':>8} {'vs magrpo':>10}")
    for name, r in results.items():
        ratio = f"{r['step_s'] / base:.2f}x" if base else "-"
        print(f"{name:<12} {r['step_s']:>8.3f} {r['generate_s']:>11.3f} {r['loss_s']:>8.3f} "
              f"{ratio:>10}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "output"}
    args.output.write_text(json.dumps({"settings": settings, "results": results}, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
