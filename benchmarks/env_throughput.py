"""Joint actions scored per second by the writing envs, on 256-word texts, on one core.

Measures, for collabzoo/TLDR-v1 and collabzoo/ArxivExpansion-v1:

- ``reward_fn``: the pure reward function (``tldr_reward`` / ``arxiv_reward``) alone;
- ``env.step``: ``env.step(joint_action)`` alone (timed around the call), the cost a
  trainer pays per joint action after branching an env;
- ``reset+step``: ``env.reset(options={"task_index": i})`` then ``env.step``, one
  single-turn episode per joint action.

Texts are 256 words drawn (seeded) from the bundled TLDR posts, so their vocabulary and
transition words are realistic; both texts of a joint action have 256 words (the most work
per action: every measure is computed whatever the gates decide). The process is pinned to
one CPU where the OS allows it. Each figure is the best of ``--rounds`` passes over
``--pairs`` joint actions, timed twice: in CPU time of this thread (``time.thread_time``,
the figure that stays meaningful on a machine shared with other jobs) and in wall-clock time
(equal to it on an idle machine). Target: >= 5,000 joint actions per CPU-second.

For collabzoo/ReasoningGym-v1 (the ``reasoning`` extra) it measures, per reasoning-gym task
of :data:`REASONING_TASKS` (the task's default config, ``num_turns=1``), the same modes with
``checker`` in place of ``reward_fn``: reasoning-gym's own ``score_answer`` alone on the two
extracted answers of each joint action. Each answer is a short reasoning that ends in
``<answer>X</answer>``, X the dataset's answer for every other joint action and a wrong one
otherwise. ``answers_per_cpu_s`` counts the two answers of a joint action, and
``checker_share`` is the part of ``env.step``'s CPU time spent in the checker.

Usage::

    python benchmarks/env_throughput.py [--pairs 512] [--rounds 5] [--seed 0] [--only ID_PART]

Prints a table and writes ``benchmarks/results/env_throughput.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import collabzoo
from collabzoo.envs.writing.rewards import arxiv_reward, tldr_reward

ENVS = {
    "collabzoo/TLDR-v1": tldr_reward,
    "collabzoo/ArxivExpansion-v1": arxiv_reward,
}
WORDS_PER_TEXT = 256
TARGET_PER_S = 5_000
REASONING_ID = "collabzoo/ReasoningGym-v1"
#: reasoning-gym tasks measured through collabzoo/ReasoningGym-v1, each with its default config.
REASONING_TASKS = ("leg_counting", "basic_arithmetic", "chain_sum")


def word_pool() -> list[str]:
    """Every whitespace word of the bundled TLDR posts (punctuation kept, as LLMs write)."""
    env = collabzoo.make("collabzoo/TLDR-v1", dataset="bundled")
    return [w for task in env.tasks for w in env.source_text(task).split()]


def make_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pool = word_pool()

    def text() -> str:
        start = rng.randrange(len(pool) - WORDS_PER_TEXT)  # a run of real text, not word salad
        return " ".join(pool[start : start + WORDS_PER_TEXT])

    return [(text(), text()) for _ in range(n)]


class Clock:
    """Wall-clock and thread CPU time, accumulated over the timed sections."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.thread_time() - self._cpu


def best_rates(run, n: int, rounds: int) -> tuple[float, float]:
    """(CPU, wall) joint actions per second: ``n`` over the fastest of ``rounds`` runs."""
    clocks = [run() for _ in range(rounds)]
    return n / min(c.cpu for c in clocks), n / min(c.wall for c in clocks)


def episode_runs(
    env: Any, actions: list[dict[str, str]]
) -> tuple[Callable[[], Clock], Callable[[], Clock]]:
    """Two timed passes over ``actions`` (joint action i on task i mod ``num_tasks``):
    ``env.step`` alone (timed around the call) and ``reset`` + ``step``."""

    def step_only() -> Clock:
        clock = Clock()
        for i, joint in enumerate(actions):
            env.reset(options={"task_index": i % env.num_tasks})
            with clock:
                env.step(joint)
        return clock

    def reset_and_step() -> Clock:
        with Clock() as clock:
            for i, joint in enumerate(actions):
                env.reset(options={"task_index": i % env.num_tasks})
                env.step(joint)
        return clock

    return step_only, reset_and_step


def measure(
    env_id: str, pairs: list[tuple[str, str]], rounds: int
) -> dict[str, tuple[float, float]]:
    reward_fn = ENVS[env_id]
    env = collabzoo.make(env_id, dataset="bundled")
    first, second = env.possible_agents
    actions = [{first: a, second: b} for a, b in pairs]

    def pure() -> Clock:
        with Clock() as clock:
            for a, b in pairs:
                reward_fn(a, b)
        return clock

    step_only, reset_and_step = episode_runs(env, actions)
    n = len(pairs)
    return {
        "reward_fn": best_rates(pure, n, rounds),
        "env.step": best_rates(step_only, n, rounds),
        "reset+step": best_rates(reset_and_step, n, rounds),
    }


def reasoning_answer(answer: str) -> str:
    return f"Let me work it out step by step, one part at a time. So it is {answer}.\n<answer>{answer}</answer>"


def measure_reasoning(task: str, n: int, rounds: int) -> dict[str, tuple[float, float]]:
    """The three modes of :func:`measure` on ReasoningGym-v1, ``checker`` for ``reward_fn``."""
    from collabzoo.envs.reasoning.scoring import extract_answer

    env = collabzoo.make(REASONING_ID, task=task, size=n, split="all", num_turns=1)
    actions = []
    for i, item in enumerate(env.tasks):
        right = item["answer"]
        wrong = right + "1" if i % 2 else right
        actions.append({"solver_a": reasoning_answer(right), "solver_b": reasoning_answer(wrong)})

    extracted = [[extract_answer(text) for text in joint.values()] for joint in actions]

    def checker_only() -> Clock:
        with Clock() as clock:
            for item, answers in zip(env.tasks, extracted, strict=True):
                for answer in answers:
                    env.checker.score_answer(answer, item)
        return clock

    step_only, reset_and_step = episode_runs(env, actions)

    return {
        "checker": best_rates(checker_only, n, rounds),
        "env.step": best_rates(step_only, n, rounds),
        "reset+step": best_rates(reset_and_step, n, rounds),
    }


def pin_to_one_cpu() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity on this OS)"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=512, help="joint actions per pass")
    parser.add_argument("--rounds", type=int, default=5, help="passes; the fastest counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the text sampler")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "env_throughput.json",
        help="where to write the JSON results",
    )
    parser.add_argument("--only", default="", help="measure only the envs whose id contains "
                        "this text (e.g. ReasoningGym); default: all")
    parser.add_argument("--reasoning-tasks", nargs="+", default=list(REASONING_TASKS),
                        help="reasoning-gym tasks of ReasoningGym-v1 to measure")
    args = parser.parse_args(argv)

    pinning = pin_to_one_cpu()
    pairs = make_pairs(args.pairs, args.seed)
    results = []
    print(
        f"{WORDS_PER_TEXT}-word texts, {args.pairs} joint actions x {args.rounds} rounds, {pinning}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"{'env':<30} {'mode':<11} {'per CPU-second':>15} {'per wall-second':>16}")
    for env_id in (e for e in ENVS if args.only in e):
        for mode, (cpu_rate, wall_rate) in measure(env_id, pairs, args.rounds).items():
            results.append(
                {
                    "env": env_id,
                    "mode": mode,
                    "joint_actions_per_cpu_s": round(cpu_rate, 1),
                    "joint_actions_per_wall_s": round(wall_rate, 1),
                }
            )
            print(f"{env_id:<30} {mode:<11} {cpu_rate:>15,.0f} {wall_rate:>16,.0f}")
    reasoning = [t for t in args.reasoning_tasks if args.only in REASONING_ID]
    if reasoning and importlib.util.find_spec("reasoning_gym") is None:
        print(f"{REASONING_ID}: skipped (pip install 'collabzoo[reasoning]')")
        reasoning = []
    for task in reasoning:
        rates = measure_reasoning(task, args.pairs, args.rounds)
        name = f"{REASONING_ID}:{task}"
        share = rates["env.step"][0] / rates["checker"][0]  # checker's part of env.step's CPU
        for mode, (cpu_rate, wall_rate) in rates.items():
            results.append(
                {
                    "env": name,
                    "mode": mode,
                    "joint_actions_per_cpu_s": round(cpu_rate, 1),
                    "joint_actions_per_wall_s": round(wall_rate, 1),
                    "answers_per_cpu_s": round(2 * cpu_rate, 1),
                    "checker_share": round(share, 3),
                }
            )
            print(f"{name:<30} {mode:<11} {cpu_rate:>15,.0f} {wall_rate:>16,.0f}")
        print(f"  {2 * rates['env.step'][0]:,.0f} answers per CPU-second through env.step; "
              f"reasoning-gym's checker is {share:.1%} of it")
    slowest = min(r["joint_actions_per_cpu_s"] for r in results)
    verdict = "meets" if slowest >= TARGET_PER_S else "MISSES"
    print(f"slowest: {slowest:,.0f} per CPU-second, {verdict} the target of {TARGET_PER_S:,}")
    if load is not None and load > (os.cpu_count() or 1) * 0.5:
        print(f"note: load average {load:.1f}: other jobs share this machine; wall times are noisy")

    report = {
        "benchmark": "env_throughput",
        "words_per_text": WORDS_PER_TEXT,
        "pairs": args.pairs,
        "rounds": args.rounds,
        "seed": args.seed,
        "target_per_s": TARGET_PER_S,
        "cpu": pinning,
        "load_average_1min": load,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
