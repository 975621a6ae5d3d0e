"""Joint actions scored per second by the writing envs (256-word texts) and BFCL-v1, on one
core; and env steps per second of the turn-based Hanabi envs under random legal play.

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

For collabzoo/BFCL-v1, the same three modes on every item of its four categories
(1,000), each joint action the item's gold calls split between the agents (the first half
as JSON, the rest as Python calls), so that both readers and the AST checker run in full.

Hanabi (collabzoo/Hanabi-v1, -Small-v1): seeded games of random legal play (each move drawn
from ``infos[agent]["legal_actions"]``), ``--games`` games per pass; ``env.step`` counts the
steps of live agents timed around the call alone, ``reset+step`` the whole loop (resets and
the random choices included). Target: >= 20,000 env steps per CPU-second.

Usage::

    python benchmarks/env_throughput.py [--pairs 512] [--games 300] [--rounds 5] [--seed 0]

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

REASONING_ID = "collabzoo/ReasoningGym-v1"
#: reasoning-gym tasks measured through collabzoo/ReasoningGym-v1, each with its default config.
REASONING_TASKS = ("leg_counting", "basic_arithmetic", "chain_sum")

ENVS = {
    "collabzoo/TLDR-v1": tldr_reward,
    "collabzoo/ArxivExpansion-v1": arxiv_reward,
}
WORDS_PER_TEXT = 256
TARGET_PER_S = 5_000
AEC_ENVS = ("collabzoo/Hanabi-v1", "collabzoo/Hanabi-Small-v1")
AEC_TARGET_PER_S = 20_000


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


def measure_aec(env_id: str, games: int, seed: int, rounds: int) -> dict[str, tuple[float, float]]:
    """(CPU, wall) env steps per second of random legal play, ``games`` games per round."""
    env = collabzoo.make(env_id)

    def play(clock: Clock, step_only: bool) -> int:
        rng, steps = random.Random(seed), 0
        for game in range(games):
            env.reset(seed=seed + game)
            while not env.terminations[env.agent_selection]:
                action = rng.choice(env.infos[env.agent_selection]["legal_actions"])
                if step_only:
                    with clock:
                        env.step(action)
                else:
                    env.step(action)
                steps += 1
        return steps

    def step_only() -> Clock:
        clock = Clock()
        play(clock, step_only=True)
        return clock

    def reset_and_step() -> Clock:
        with Clock() as clock:
            play(clock, step_only=False)
        return clock

    n = play(Clock(), step_only=False)  # the same games every pass: count their steps once
    return {
        "env.step": best_rates(step_only, n, rounds),
        "reset+step": best_rates(reset_and_step, n, rounds),
    }


def bfcl_actions(env) -> list[tuple[int, dict[str, str]]]:
    """One joint action per BFCL item: the first caller writes the first half of the gold calls
    as JSON, the second the rest in Python-call syntax (both readers, the checker's full work)."""
    out = []
    for index, task in enumerate(env.tasks):
        calls = []
        for entry in task["ground_truth"]:
            ((name, allowed),) = entry.items()
            calls.append((name, {p: v[0] for p, v in allowed.items() if v and v[0] != ""}))
        half = (len(calls) + 1) // 2
        first = json.dumps([{"name": n, "arguments": a} for n, a in calls[:half]])
        second = "[" + ", ".join(
            f"{n}({', '.join(f'{p}={v!r}' for p, v in a.items())})" for n, a in calls[half:]
        ) + "]"
        out.append((index, {"first_caller": first, "second_caller": second}))
    return out


def measure_bfcl(rounds: int) -> dict[str, tuple[float, float]]:
    """collabzoo/BFCL-v1 on every item of its four categories (answers scored per second)."""
    from collabzoo.envs.tools.bfcl import bfcl_score

    env = collabzoo.make(
        "collabzoo/BFCL-v1", categories="parallel,parallel_multiple,multiple,simple", split="all"
    )
    actions = bfcl_actions(env)

    def pure() -> Clock:
        with Clock() as clock:
            for index, joint in actions:
                bfcl_score(env.tasks[index], [joint["first_caller"], joint["second_caller"]])
        return clock

    # item i is task i (split="all"): the shared passes of the other envs apply
    step_only, reset_and_step = episode_runs(env, [joint for _, joint in actions])

    n = len(actions)
    return {
        "reward_fn": best_rates(pure, n, rounds),
        "env.step": best_rates(step_only, n, rounds),
        "reset+step": best_rates(reset_and_step, n, rounds),
    }


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
    parser.add_argument("--games", type=int, default=300, help="Hanabi games per pass")
    parser.add_argument("--reasoning-tasks", nargs="+", default=list(REASONING_TASKS),
                        help="reasoning-gym tasks of ReasoningGym-v1 to measure")
    parser.add_argument("--rounds", type=int, default=5, help="passes; the fastest counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the text sampler")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "env_throughput.json",
        help="where to write the JSON results",
    )
    args = parser.parse_args(argv)

    pinning = pin_to_one_cpu()
    pairs = make_pairs(args.pairs, args.seed)
    results = []
    print(
        f"{WORDS_PER_TEXT}-word texts, {args.pairs} joint actions x {args.rounds} rounds, {pinning}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"{'env':<30} {'mode':<11} {'per CPU-second':>15} {'per wall-second':>16}")
    measured = {env_id: measure(env_id, pairs, args.rounds) for env_id in ENVS}
    measured["collabzoo/BFCL-v1"] = measure_bfcl(args.rounds)
    for env_id, rates in measured.items():
        for mode, (cpu_rate, wall_rate) in rates.items():
            results.append(
                {
                    "env": env_id,
                    "mode": mode,
                    "joint_actions_per_cpu_s": round(cpu_rate, 1),
                    "joint_actions_per_wall_s": round(wall_rate, 1),
                }
            )
            print(f"{env_id:<30} {mode:<11} {cpu_rate:>15,.0f} {wall_rate:>16,.0f}")
    slowest = min(r["joint_actions_per_cpu_s"] for r in results)
    verdict = "meets" if slowest >= TARGET_PER_S else "MISSES"
    print(f"slowest: {slowest:,.0f} per CPU-second, {verdict} the target of {TARGET_PER_S:,}")
    aec_results = []
    print(f"random legal play, {args.games} games x {args.rounds} rounds: env steps per second")
    reasoning = list(args.reasoning_tasks)
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
    for env_id in AEC_ENVS:
        for mode, (cpu_rate, wall_rate) in measure_aec(env_id, args.games, args.seed,
                                                        args.rounds).items():
            aec_results.append({"env": env_id, "mode": mode,
                                "steps_per_cpu_s": round(cpu_rate, 1),
                                "steps_per_wall_s": round(wall_rate, 1)})
            print(f"{env_id:<30} {mode:<11} {cpu_rate:>15,.0f} {wall_rate:>16,.0f}")
    slowest_aec = min(r["steps_per_cpu_s"] for r in aec_results)
    verdict = "meets" if slowest_aec >= AEC_TARGET_PER_S else "MISSES"
    print(f"slowest: {slowest_aec:,.0f} steps per CPU-second, {verdict} the target of "
          f"{AEC_TARGET_PER_S:,}")
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
        "aec_games": args.games,
        "aec_target_per_s": AEC_TARGET_PER_S,
        "aec_results": aec_results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
