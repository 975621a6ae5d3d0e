"""Mean Hanabi score of random legal play and of the scripted rule agent, per variant.

Each player of a game is the same agent: ``random`` draws every move uniformly from
``infos[agent]["legal_actions"]`` (seeded), ``rule`` is
:class:`collabzoo.envs.games.hanabi.rule_agent.RuleAgent`, which reads only the observation
text. Game ``g`` of every agent and variant is dealt with ``reset(seed=seed + g)``, so both
agents play the same decks. ``mean_fireworks`` is the fireworks' sum at the end, before the
rule that a game lost on its last life scores 0.

Usage::

    python benchmarks/hanabi_agents.py [--games 500] [--seed 0]

Prints a table and writes ``benchmarks/results/hanabi_agents.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import collabzoo
from collabzoo.envs.aec import play_episode
from collabzoo.envs.games.hanabi.rule_agent import RuleAgent

#: name -> (env id, env arguments)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "Hanabi-v1 (2 players)": ("collabzoo/Hanabi-v1", {}),
    "Hanabi-v1 (4 players)": ("collabzoo/Hanabi-v1", {"players": 4}),
    "Hanabi-Small-v1": ("collabzoo/Hanabi-Small-v1", {}),
    "Hanabi-Very-Small-v1": ("collabzoo/Hanabi-Very-Small-v1", {}),
}
Act = Callable[[str, str, dict[str, Any]], str]


def random_legal(seed: int) -> Act:
    rng = random.Random(seed)
    return lambda agent, observation, info: rng.choice(info["legal_actions"])


def rule_based(seed: int) -> Act:
    agent = RuleAgent()
    return lambda name, observation, info: agent.act([observation])[0][0]


AGENTS: dict[str, Callable[[int], Act]] = {"random": random_legal, "rule": rule_based}


def evaluate(env_id: str, kwargs: dict[str, Any], agent: str, games: int, seed: int
             ) -> dict[str, Any]:
    env = collabzoo.make(env_id, **kwargs)
    act = AGENTS[agent](seed)
    scores, fireworks, moves = [], [], 0
    for game in range(games):
        episode = play_episode(env, act, seed=seed + game)
        scores.append(episode.score)
        fireworks.append(env.game.fireworks_score)
        moves += len(episode.moves)
    return {"agent": agent, "games": games, "mean_score": round(statistics.fmean(scores), 3),
            "sem": round(statistics.stdev(scores) / games ** 0.5, 3),
            "mean_fireworks": round(statistics.fmean(fireworks), 3),
            "max_score": max(scores), "reward_max": env.reward_max,
            "mean_moves": round(moves / games, 1)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=500, help="games per agent and variant")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first deal")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results"
                        / "hanabi_agents.json", help="where to write the JSON results")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = []
    print(f"{'variant':<24} {'agent':<7} {'mean score':>10} {'+-sem':>6} {'best':>5} "
          f"{'fireworks':>9} {'moves':>6}")
    for name, (env_id, kwargs) in VARIANTS.items():
        for agent in AGENTS:
            row = {"variant": name, "env": env_id, "env_kwargs": kwargs,
                   **evaluate(env_id, kwargs, agent, args.games, args.seed)}
            rows.append(row)
            print(f"{name:<24} {agent:<7} {row['mean_score']:>10.2f} {row['sem']:>6.2f} "
                  f"{row['max_score']:>5.0f} {row['mean_fireworks']:>9.2f} {row['mean_moves']:>6.1f}")
    print(f"({time.perf_counter() - start:.0f} s)")
    report = {"benchmark": "hanabi_agents", "games": args.games, "seed": args.seed,
              "python": sys.version.split()[0], "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
