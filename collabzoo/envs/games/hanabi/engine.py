"""The rules of Hanabi, in pure Python: no text, no PettingZoo (the env's face is ``env.py``).

The standard game (Bard et al. 2020, "The Hanabi Challenge"), with the conventions of DeepMind's
``hanabi-learning-environment`` (HLE), against which ``tests/test_hanabi_reference.py`` checks
it game by game:

- ``colors`` colours (red, yellow, green, white, blue, in that order) of ``ranks`` ranks; per
  colour three cards of rank 1, one of the top rank and two of every rank between (5 ranks:
  1,1,1,2,2,3,3,4,4,5).
- ``hand_size`` cards each (default 5 for 2-3 players, 4 for 4-5). Player 0 starts. A hand is
  in the order the cards were drawn: card 0 is the oldest, a drawn card goes to the end.
- The deck is dealt in order: the first ``hand_size`` cards to player 0, the next to player 1,
  ..., then one card to whoever played or discarded, while the deck lasts.
- A move is one of: play card i (it extends its colour's firework if its rank is one above the
  top, else it is discarded and a life token is lost); discard card i (only while information
  tokens are below their maximum; gains one); hint another player a colour or a rank (costs one
  information token; must touch at least one card of that hand). Completing a firework (its
  top rank played) gains an information token when below the maximum.
- The game ends when the last life token is lost, when every firework is complete, or once
  every player has made one more move after the deck ran out.
- Score: the sum of the fireworks' tops; 0 once the last life token is lost (HLE's rule),
  unless ``keep_score_on_loss``.

Cards are ints ``color * ranks + rank`` (both 0-based). Moves are tuples, see :data:`PLAY`.
Copying a game (``copy.deepcopy``) copies its small mutable state and shares the rules and
the deck order.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "COLOR_NAMES",
    "DISCARD",
    "HINT_COLOR",
    "HINT_RANK",
    "PLAY",
    "HanabiGame",
    "HanabiRules",
    "MoveRecord",
]

COLOR_NAMES: tuple[str, ...] = ("red", "yellow", "green", "white", "blue")

#: Move kinds. A move is ``(DISCARD, card_index, 0)``, ``(PLAY, card_index, 0)``,
#: ``(HINT_COLOR, target_player, color)`` or ``(HINT_RANK, target_player, rank)`` (0-based).
DISCARD, PLAY, HINT_COLOR, HINT_RANK = 0, 1, 2, 3
Move = tuple[int, int, int]


@dataclass(frozen=True)
class HanabiRules:
    """The parameters of a game; checked on construction.

    Attributes:
        players: 2 to 5.
        colors: 1 to 5.
        ranks: 1 to 5.
        hand_size: Cards per hand; None: 5 for 2-3 players, 4 for 4-5 (set in __post_init__).
        max_information_tokens: Information tokens at the start (and at most).
        max_life_tokens: Life tokens at the start.
        keep_score_on_loss: Keep the fireworks' score after the last life is lost (HLE and the
            default: 0).
    """

    players: int = 2
    colors: int = 5
    ranks: int = 5
    hand_size: int | None = None
    max_information_tokens: int = 8
    max_life_tokens: int = 3
    keep_score_on_loss: bool = False
    copies: tuple[int, ...] = field(init=False)
    """Cards of each rank per colour (set in __post_init__)."""

    def __post_init__(self) -> None:
        for name, low, high in (("players", 2, 5), ("colors", 1, 5), ("ranks", 1, 5),
                                ("max_information_tokens", 1, 100), ("max_life_tokens", 1, 100)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
        if self.hand_size is None:
            object.__setattr__(self, "hand_size", 5 if self.players <= 3 else 4)
        copies = tuple(3 if r == 0 else 1 if r == self.ranks - 1 else 2 for r in range(self.ranks))
        object.__setattr__(self, "copies", copies)
        hand = self.hand_size
        if isinstance(hand, bool) or not isinstance(hand, int) or not 1 <= hand <= 8:
            raise ValueError(f"hand_size must be an integer in [1, 8], got {hand!r}")
        if hand * self.players > self.deck_size:
            raise ValueError(f"{self.players} hands of {hand} cards need more than the "
                             f"{self.deck_size} cards of {self.colors} colours x {self.ranks} ranks")

    @property
    def deck_size(self) -> int:
        return self.colors * sum(self.copies)

    @property
    def max_score(self) -> int:
        return self.colors * self.ranks

    @property
    def max_moves(self) -> int:
        """An upper bound on the moves of one game: plays and discards use up cards, hints use
        up tokens (regained by discards and complete fireworks), an illegal move a life."""
        return 2 * self.deck_size + self.max_information_tokens + self.colors + self.max_life_tokens

    def full_deck(self) -> list[int]:
        """Every card of the game, sorted."""
        return [c * self.ranks + r for c in range(self.colors)
                for r in range(self.ranks) for _ in range(self.copies[r])]

    def card_name(self, card: int) -> str:
        return f"{COLOR_NAMES[card // self.ranks]} {card % self.ranks + 1}"


class MoveRecord(NamedTuple):
    """What one move did, as every player saw it.

    Attributes:
        player: Who moved.
        move: The move, or None for an illegal action (it cost a life, nothing else).
        card: The card played or discarded (-1 for hints and illegal actions).
        scored: A played card extended its firework.
        touched: Card indices a hint touched in the target's hand (empty otherwise).
    """

    player: int
    move: Move | None
    card: int = -1
    scored: bool = False
    touched: tuple[int, ...] = ()


class HanabiGame:
    """One game of Hanabi: its state and its moves.

    Args:
        rules: The game's parameters (shared, not copied, by ``copy.deepcopy``).
        deck: The cards in dealing order (a permutation of ``rules.full_deck()``); None: a
            shuffle of it drawn from ``rng``.
        rng: A :class:`numpy.random.Generator` for the shuffle (None: a fresh unseeded one).

    Attributes:
        hands: ``hands[p]`` the cards of player p, oldest first.
        color_plausible: ``color_plausible[p][i]`` bitmask of the colours card i of player p can
            still be, from the hints p received; ``rank_plausible`` likewise for ranks.
        fireworks: Top rank played per colour (0: none).
        discards: Discarded and misplayed cards, in order.
        information_tokens, life_tokens: Tokens left.
        current_player: Who moves next.
        turns_after_deck: Moves left once the deck is empty (``players`` when it empties).
        game_over: The last life is lost, every firework is complete, or no move is left.
        history: Every move made, oldest first.
    """

    def __init__(self, rules: HanabiRules, deck: Sequence[int] | None = None,
                 rng: np.random.Generator | None = None) -> None:
        self.rules = rules
        full = rules.full_deck()
        if deck is None:
            rng = rng if rng is not None else np.random.default_rng()
            deck = [full[i] for i in rng.permutation(len(full))]
        elif sorted(deck) != full:
            raise ValueError("deck must be a permutation of rules.full_deck()")
        self.deck: tuple[int, ...] = tuple(int(c) for c in deck)
        self._next = 0
        n = rules.players
        self.hands: list[list[int]] = [[] for _ in range(n)]
        self.color_plausible: list[list[int]] = [[] for _ in range(n)]
        self.rank_plausible: list[list[int]] = [[] for _ in range(n)]
        self.fireworks = [0] * rules.colors
        self.discards: list[int] = []
        self.information_tokens = rules.max_information_tokens
        self.life_tokens = rules.max_life_tokens
        self.current_player = 0
        self.turns_after_deck = n
        self.history: list[MoveRecord] = []
        self.game_over = False
        self._max_score = rules.max_score
        self._all_colors = (1 << rules.colors) - 1
        self._all_ranks = (1 << rules.ranks) - 1
        for p in range(n):
            for _ in range(rules.hand_size or 0):
                self._draw(p)

    def __deepcopy__(self, memo: dict[int, Any]) -> HanabiGame:
        other = copy.copy(self)  # shares rules and the deck tuple
        other.hands = [list(h) for h in self.hands]
        other.color_plausible = [list(h) for h in self.color_plausible]
        other.rank_plausible = [list(h) for h in self.rank_plausible]
        other.fireworks = list(self.fireworks)
        other.discards = list(self.discards)
        other.history = list(self.history)
        return other

    # ------------------------------------------------------------------ state
    @property
    def deck_size(self) -> int:
        """Cards left to draw."""
        return len(self.deck) - self._next

    @property
    def fireworks_score(self) -> int:
        return sum(self.fireworks)

    @property
    def score(self) -> int:
        """The sum of the fireworks; 0 once the last life is lost (unless kept by the rules)."""
        if self.life_tokens <= 0 and not self.rules.keep_score_on_loss:
            return 0
        return sum(self.fireworks)


    def playable(self, card: int) -> bool:
        return self.fireworks[card // self.rules.ranks] == card % self.rules.ranks

    # ------------------------------------------------------------------ moves
    def legal_moves(self) -> list[Move]:
        """The current player's legal moves: discards, plays, colour hints, rank hints
        (each by index, target, colour or rank; HLE's order). Empty once the game is over."""
        if self.game_over:
            return []
        player = self.current_player
        size = len(self.hands[player])
        moves: list[Move] = []
        if self.information_tokens < self.rules.max_information_tokens:
            moves += [(DISCARD, i, 0) for i in range(size)]
        moves += [(PLAY, i, 0) for i in range(size)]
        if self.information_tokens > 0:
            ranks = self.rules.ranks
            n = self.rules.players
            targets = [(player + k) % n for k in range(1, n)]
            for target in targets:
                colors = {card // ranks for card in self.hands[target]}
                moves += [(HINT_COLOR, target, c) for c in sorted(colors)]
            for target in targets:
                present = {card % ranks for card in self.hands[target]}
                moves += [(HINT_RANK, target, r) for r in sorted(present)]
        return moves

    def is_legal(self, move: Move) -> bool:
        """Whether ``move`` is legal now; depends only on what the mover sees (never on its
        own cards)."""
        if self.game_over or len(move) != 3:
            return False
        kind, a, b = move
        player = self.current_player
        if kind in (DISCARD, PLAY):
            if kind == DISCARD and self.information_tokens >= self.rules.max_information_tokens:
                return False
            return 0 <= a < len(self.hands[player])
        if kind not in (HINT_COLOR, HINT_RANK) or self.information_tokens <= 0:
            return False
        if a == player or not 0 <= a < self.rules.players:
            return False
        ranks = self.rules.ranks
        if kind == HINT_COLOR:
            return any(card // ranks == b for card in self.hands[a])
        return any(card % ranks == b for card in self.hands[a])

    def apply(self, move: Move | None) -> MoveRecord:
        """Make the current player's move; an illegal move (or None) costs a life and does
        nothing else. Returns what happened.

        Raises:
            RuntimeError: The game is over.
        """
        if self.game_over:
            raise RuntimeError("the game is over")
        player = self.current_player
        legal = move is not None and self.is_legal(move)
        if self.deck_size == 0:
            self.turns_after_deck -= 1
        if move is None or not legal:
            self.life_tokens -= 1
            record = MoveRecord(player, None)
        else:
            kind, a, b = move
            if kind in (PLAY, DISCARD):
                record = self._play_or_discard(player, kind, a)
            else:
                record = self._hint(player, kind, a, b)
        self.history.append(record)
        self.current_player = (player + 1) % self.rules.players
        self.game_over = (self.life_tokens <= 0 or self.turns_after_deck <= 0
                          or sum(self.fireworks) >= self._max_score)
        return record

    def _play_or_discard(self, player: int, kind: int, index: int) -> MoveRecord:
        card = self.hands[player].pop(index)
        del self.color_plausible[player][index], self.rank_plausible[player][index]
        scored = False
        if kind == DISCARD:
            self.information_tokens += 1
            self.discards.append(card)
        elif self.playable(card):
            scored = True
            color = card // self.rules.ranks
            self.fireworks[color] += 1
            if (self.fireworks[color] == self.rules.ranks
                    and self.information_tokens < self.rules.max_information_tokens):
                self.information_tokens += 1
        else:
            self.life_tokens -= 1
            self.discards.append(card)
        self._draw(player)
        return MoveRecord(player, (kind, index, 0), card, scored)

    def _hint(self, player: int, kind: int, target: int, value: int) -> MoveRecord:
        self.information_tokens -= 1
        ranks = self.rules.ranks
        hand = self.hands[target]
        masks = self.color_plausible[target] if kind == HINT_COLOR else self.rank_plausible[target]
        attribute = (lambda c: c // ranks) if kind == HINT_COLOR else (lambda c: c % ranks)
        bit = 1 << value
        touched = []
        for i, card in enumerate(hand):
            if attribute(card) == value:
                masks[i] &= bit
                touched.append(i)
            else:
                masks[i] &= ~bit
        return MoveRecord(player, (kind, target, value), touched=tuple(touched))

    def _draw(self, player: int) -> None:
        if self._next < len(self.deck):
            self.hands[player].append(self.deck[self._next])
            self._next += 1
            self.color_plausible[player].append(self._all_colors)
            self.rank_plausible[player].append(self._all_ranks)
