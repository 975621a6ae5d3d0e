"""collabzoo's Hanabi engine against DeepMind's hanabi-learning-environment (HLE), game by game.

For each game, HLE deals (its own seeded random deals) and plays random legal moves; at every
move we record HLE's legal moves, score, information and life tokens, fireworks, deck size and
whether the game is over. collabzoo's engine then replays the same game: the same deck order
(HLE's deals, then the undealt cards) and the same moves, and every recorded quantity is
compared. A game agrees when every move's quantities are equal and both games end together.

The random player reads the true cards to reach every kind of game end, not only the last lost
life: with probability ``--careful`` / 2 it plays a playable card when it holds one; otherwise
it draws a uniform legal move, and redraws a misplay among the other moves with probability
``--careful``.

Needs ``hanabi-learning-environment==0.0.4`` (``make install-hanabi-reference``). The slow test
``tests/test_hanabi_reference.py`` runs :func:`compare` on 1,000 games.

Usage::

    python benchmarks/hanabi_reference.py [--games 1000] [--seed 0] [--careful 0.8]

Prints a table and writes ``benchmarks/results/hanabi_reference.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from collabzoo.envs.games.hanabi.engine import (
    DISCARD,
    HINT_COLOR,
    HINT_RANK,
    PLAY,
    HanabiGame,
    HanabiRules,
)

#: name -> HanabiRules arguments (also HLE's parameters).
VARIANTS: dict[str, dict[str, int]] = {
    "Hanabi-v1 2p": dict(players=2),
    "Hanabi-v1 3p": dict(players=3),
    "Hanabi-v1 4p": dict(players=4),
    "Hanabi-v1 5p": dict(players=5),
    "Hanabi-Small-v1": dict(players=2, colors=2, hand_size=2, max_information_tokens=3,
                            max_life_tokens=1),
    "Hanabi-Very-Small-v1": dict(players=2, colors=1, hand_size=2, max_information_tokens=3,
                                 max_life_tokens=1),
    "3 colours, 3 ranks, 3p": dict(players=3, colors=3, ranks=3, hand_size=3,
                                   max_information_tokens=5, max_life_tokens=2),
}
# HLE's move types
_HLE_KIND = {1: PLAY, 2: DISCARD, 3: HINT_COLOR, 4: HINT_RANK}


def _hle_move(move: Any, player: int, players: int) -> tuple[int, int, int]:
    kind = _HLE_KIND[int(move.type())]
    if kind in (PLAY, DISCARD):
        return (kind, move.card_index(), 0)
    target = (player + move.target_offset()) % players
    return (kind, target, move.color() if kind == HINT_COLOR else move.rank())


def _snapshot_hle(state: Any, players: int) -> dict[str, Any]:
    player = state.cur_player()
    terminal = state.is_terminal()
    legal = [] if terminal else sorted(_hle_move(m, player, players) for m in state.legal_moves())
    return {"legal": legal, "score": state.score(), "info": state.information_tokens(),
            "life": state.life_tokens(), "fireworks": list(state.fireworks()),
            "deck": state.deck_size(), "over": terminal}


def _snapshot(game: HanabiGame) -> dict[str, Any]:
    return {"legal": sorted(game.legal_moves()), "score": game.score,
            "info": game.information_tokens, "life": game.life_tokens,
            "fireworks": list(game.fireworks), "deck": game.deck_size, "over": game.game_over}


def play_hle(rules: HanabiRules, seed: int, careful: float, rng: np.random.Generator
             ) -> tuple[list[int], list[tuple[int, int, int]], list[dict[str, Any]], str]:
    """One random game in HLE: (deal order, moves, snapshot before each move and at the end,
    HLE's end-of-game type)."""
    from hanabi_learning_environment import pyhanabi

    game = pyhanabi.HanabiGame({
        "players": rules.players, "colors": rules.colors, "ranks": rules.ranks,
        "hand_size": rules.hand_size, "max_information_tokens": rules.max_information_tokens,
        "max_life_tokens": rules.max_life_tokens, "seed": seed, "random_start_player": False})
    state = game.new_initial_state()
    moves, snapshots = [], []
    while True:
        while state.cur_player() == pyhanabi.CHANCE_PLAYER_ID:
            state.deal_random_card()
        snapshots.append(_snapshot_hle(state, rules.players))
        if state.is_terminal():
            break
        player = state.cur_player()
        legal = state.legal_moves()
        hand = state.player_hands()[player]
        plays = [m for m in legal if m.type() == pyhanabi.HanabiMoveType.PLAY]
        good = [m for m in plays if state.card_playable_on_fireworks(
            hand[m.card_index()].color(), hand[m.card_index()].rank())]
        chance = rng.random()
        if good and chance < careful / 2:
            choice = good[int(rng.integers(len(good)))]
        else:
            choice = legal[int(rng.integers(len(legal)))]
            if choice in plays and choice not in good and chance < careful:
                safe = [m for m in legal if m not in plays or m in good]
                choice = safe[int(rng.integers(len(safe)))] if safe else choice
        moves.append(_hle_move(choice, player, rules.players))
        state.apply_move(choice)
    dealt = [item.move().color() * rules.ranks + item.move().rank()
             for item in state.move_history() if item.move().type() == pyhanabi.HanabiMoveType.DEAL]
    return dealt, moves, snapshots, state.end_of_game_status().name


def compare_game(rules: HanabiRules, seed: int, careful: float, rng: np.random.Generator
                 ) -> tuple[bool, int, str, str]:
    """(agree, moves, HLE's end type, first difference or "")."""
    dealt, moves, expected, end = play_hle(rules, seed, careful, rng)
    rest = rules.full_deck()
    for card in dealt:
        rest.remove(card)
    game = HanabiGame(rules, deck=dealt + rest)
    for i, move in enumerate(moves):
        got = _snapshot(game)
        if got != expected[i]:
            return False, len(moves), end, f"move {i}: {got} != {expected[i]}"
        game.apply(move)
    got = _snapshot(game)
    if got != expected[-1]:
        return False, len(moves), end, f"end: {got} != {expected[-1]}"
    return True, len(moves), end, ""


def compare(variants: dict[str, dict[str, int]], games: int, seed: int = 0,
            careful: float = 0.8) -> list[dict[str, Any]]:
    """``games`` games per variant; one result row per variant."""
    rows = []
    for v, (name, kwargs) in enumerate(variants.items()):
        rules = HanabiRules(**kwargs)
        rng = np.random.default_rng([seed, v])
        agree, moves, ends, first_difference = 0, 0, Counter[str](), ""
        for g in range(games):
            ok, n, end, difference = compare_game(rules, seed * 1_000_003 + g + 1, careful, rng)
            agree += ok
            moves += n
            ends[end] += 1
            first_difference = first_difference or difference
        rows.append({"variant": name, "rules": kwargs, "games": games, "agree": agree,
                     "moves": moves, "ends": dict(ends), "first_difference": first_difference})
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=1000, help="games per variant")
    parser.add_argument("--seed", type=int, default=0, help="seed of deals and moves")
    parser.add_argument("--careful", type=float, default=0.8,
                        help="probability that a misplay is replaced by another random move")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results"
                        / "hanabi_reference.json", help="where to write the JSON results")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = compare(VARIANTS, args.games, args.seed, args.careful)
    print(f"{'variant':<24} {'games':>6} {'agree':>6} {'moves':>8}  ends")
    for row in rows:
        print(f"{row['variant']:<24} {row['games']:>6} {row['agree']:>6} {row['moves']:>8}  "
              f"{row['ends']}")
        if row["first_difference"]:
            print(f"  first difference: {row['first_difference']}")
    total, agree = sum(r["games"] for r in rows), sum(r["agree"] for r in rows)
    print(f"{agree} of {total} games agree move by move ({time.perf_counter() - start:.0f} s)")
    report = {"benchmark": "hanabi_reference", "reference": "hanabi-learning-environment 0.0.4",
              "games_per_variant": args.games, "seed": args.seed, "careful": args.careful,
              "games": total, "agree": agree, "python": sys.version.split()[0], "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
