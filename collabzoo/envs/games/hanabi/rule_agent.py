"""A scripted Hanabi player that reads only the observation text (an :class:`Agent`).

Rules, first that applies (the simple rule bot of the Hanabi literature):

1. Play a card known to be playable: every colour and rank the hints still allow for it fits
   on its firework (e.g. a card hinted "rank 1" while every firework is empty).
2. With an information token: give the next player (then the one after, ...) a hint about a
   playable card of theirs that they do not yet know is playable: its rank if they do not know
   it, else its colour.
3. Discard the oldest card no hint has touched (else the oldest card).
4. Otherwise (no discard allowed): the first legal hint, else the first legal move.

It is deterministic: ``act(observations, n)`` repeats its move ``n`` times. Any text it cannot
read as a Hanabi observation of its turn gets ``"discard 0"``.

>>> import collabzoo
>>> env = collabzoo.make("collabzoo/Hanabi-v1")
>>> env.reset(seed=1)
>>> RuleAgent().act([env.observe(env.agent_selection)])
[['hint player 1 red']]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["RuleAgent", "SeenState", "read_observation"]

_CARD = re.compile(r"^  card (\d+): (\S+) (\S+)(?: \(they know: (\S+) (\S+)\)| \(not (.*)\))?$")


@dataclass
class Card:
    """A card as the observation shows it: its true face when visible, and what its holder
    knows (``None``: unknown), with what hints ruled out."""

    color: str | None
    rank: int | None
    known_color: str | None
    known_rank: int | None
    ruled_out: set[str] = field(default_factory=set)


@dataclass
class SeenState:
    """What one observation tells its reader."""

    me: int
    players: int
    information_tokens: int
    fireworks: dict[str, int]
    ranks: int
    hands: dict[int, list[Card]]
    legal: list[str]


def _known(text: str) -> str | None:
    return None if text == "?" else text


def read_observation(text: str) -> SeenState | None:
    """Parse an observation of ``collabzoo/Hanabi-v1``; None if it is not one or has no legal
    moves (not the reader's turn)."""
    head = re.search(r"Hanabi, (\d+) players\. You are player (\d+)\.", text)
    tokens = re.search(r"Score \d+ of (\d+)\. Information tokens (\d+) of", text)
    fireworks = re.search(r"^Fireworks: (.*)$", text, re.MULTILINE)
    legal = re.search(r"^Legal moves: (.*)$", text, re.MULTILINE)
    if not (head and tokens and fireworks and legal):
        return None
    tops = {c: int(top) for c, top in (part.split() for part in fireworks.group(1).split(", "))}
    hands: dict[int, list[Card]] = {}
    holder = -1
    for line in text.splitlines():
        owner = re.match(r"^Player (\d+)'s hand:$", line)
        if line.startswith("Your hand"):
            holder = int(head.group(2))
        elif owner:
            holder = int(owner.group(1))
        elif not line.startswith("  card"):
            holder = -1
        card = _CARD.match(line) if holder >= 0 else None
        if card is None:
            continue
        _, first, second, other_color, other_rank, ruled_out = card.groups()
        if other_color is not None:  # another player's card: true face, then their knowledge
            known_color, known_rank = _known(other_color), _known(other_rank)
            color, rank = first, int(second)
        else:
            color, rank = None, None
            known_color, known_rank = _known(first), _known(second)
        hands.setdefault(holder, []).append(Card(
            color, rank, known_color, None if known_rank is None else int(known_rank),
            set(ruled_out.split(", ")) if ruled_out else set()))
    return SeenState(int(head.group(2)), int(head.group(1)), int(tokens.group(2)), tops,
                     int(tokens.group(1)) // len(tops), hands, legal.group(1).split(", "))


def known_playable(card: Card, fireworks: dict[str, int], ranks: int) -> bool:
    """Whether every colour and rank still possible for ``card`` (to its holder) fits."""
    colors = ([card.known_color] if card.known_color else
              [c for c in fireworks if c not in card.ruled_out])
    rank_options = ([card.known_rank] if card.known_rank else
                    [r for r in range(1, ranks + 1) if str(r) not in card.ruled_out])
    return all(fireworks[c] == r - 1 for c in colors for r in rank_options)


def choose(state: SeenState) -> str:
    """The move of the rules in the module docstring."""
    legal = set(state.legal)
    mine = state.hands.get(state.me, [])
    for i, card in enumerate(mine):
        if known_playable(card, state.fireworks, state.ranks) and f"play {i}" in legal:
            return f"play {i}"
    if state.information_tokens > 0:
        for k in range(1, state.players):
            target = (state.me + k) % state.players
            for card in state.hands.get(target, []):
                assert card.color is not None and card.rank is not None
                if state.fireworks[card.color] != card.rank - 1 or known_playable(
                        card, state.fireworks, state.ranks):
                    continue
                hint = (f"hint player {target} rank {card.rank}" if card.known_rank is None
                        else f"hint player {target} {card.color}")
                if hint in legal:
                    return hint
    unhinted = [i for i, c in enumerate(mine) if c.known_color is None and c.known_rank is None]
    for i in [*unhinted, 0]:
        if f"discard {i}" in legal:
            return f"discard {i}"
    hints = [move for move in state.legal if move.startswith("hint")]
    return (hints or state.legal)[0]


class RuleAgent:
    """The scripted player of the module docstring, as a collabzoo ``Agent``."""

    def act(self, observations: list[str], n: int = 1) -> list[list[str]]:
        """``n`` copies of the rule's move for each observation."""
        moves = []
        for text in observations:
            state = read_observation(text) if isinstance(text, str) else None
            moves.append([choose(state) if state is not None else "discard 0"] * n)
        return moves
