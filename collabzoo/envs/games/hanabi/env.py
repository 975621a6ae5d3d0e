"""collabzoo/Hanabi-v1: the cooperative card game of hidden hands and hints, turn by turn.

| | |
|---|---|
| Ids | `collabzoo/Hanabi-v1`, `collabzoo/Hanabi-Small-v1`, `collabzoo/Hanabi-Very-Small-v1` |
| Import | `from collabzoo.envs.games.hanabi.env import HanabiEnv` |
| API | PettingZoo `AECEnv` (turn-based: only `env.agent_selection` acts) |
| Agents | `player_0` ... `player_{players-1}` (2 by default) |
| Observation space | `gymnasium.spaces.Text` (the seat's view: own hand only as hinted) |
| Action space | `gymnasium.spaces.Text` (any `str` is accepted by `step`) |
| Joint reward | the change in score per move, `[-colors * ranks, 1]`; return = final score, `[0, colors * ranks]` |
| Reference | Bard et al. 2020, "The Hanabi Challenge"; rules as DeepMind's hanabi-learning-environment |

The cooperative card game on collabzoo's own rules engine
(:mod:`collabzoo.envs.games.hanabi.engine`, checked move by move against DeepMind's
hanabi-learning-environment). Each player sees every hand but their own, and learns about their
own cards only from the other players' hints. Players move in turn, ``player_0`` first; only
``env.agent_selection`` acts.

## Observations

``env.observe(agent)`` is a text any agent can read at any time, from that agent's seat: who it
is and whose turn it is; the score, information tokens, life tokens and cards left in the deck;
the fireworks; the discard pile; **its own hand as known from hints only** (``card 0: red ?``,
with what hints ruled out, ``not 1, 2``; never a true card that no hint named); every other
player's hand (true cards, with what that player knows of them); the last ``recent_moves``
moves of everyone (a played or discarded card is public; a hint lists the cards it touched);
and the legal moves when it is the agent's turn. Card 0 is a hand's oldest card; a drawn card
goes to the end.

``infos[agent]`` holds ``legal_actions`` (the legal moves as action strings, in the form the
env parses; empty when it is not the agent's turn), ``score`` (the game's score now), ``turn``
(moves made so far) and ``illegal`` (whether the last move was an illegal action).

## Actions

One move as text: ``play 2``, ``discard 0`` (card index in one's own hand), ``hint player 1
red`` or ``hint player 1 rank 3`` (a colour or a rank to another player; it must touch at least
one of their cards). Parsing is lenient: case, punctuation, ``player_1``/``#2``, the words
``card``/``colour``/``color``/``rank``/``number``, a markdown fence and prose around the move
are all accepted; ``clue``/``tell`` mean ``hint``. The **first** move found in the text counts.
Any ``str`` is accepted. A text with no move, or a move that is illegal now (a card index
beyond the hand, a hint to oneself or touching no card, a hint without information tokens, a
discard at the maximum of information tokens), is an **illegal action**: it costs one life
token and changes nothing else (no card is played, moved or revealed; whether an action is
illegal never depends on the mover's own cards). After an episode ends, ``step`` removes the
selected agent whatever action it gets (PettingZoo's "dead step").

## Rewards

After every move, every agent receives the same reward: the change in score, so a game's
undiscounted return is its final score. The score is the sum of the fireworks' tops,
``0 .. colors * ranks`` (``reward_max``); when the last life token is lost the score becomes
0 and that move's reward takes back every point scored (hanabi-learning-environment's rule), or,
with ``keep_score_on_loss=True``, the fireworks' score stays.

## Episode End

Termination (every agent): the last life token is lost, every firework is complete, or every
player has moved once after the deck ran out. Truncation (every agent): ``max_moves`` moves
were made (only when set; the rules bound a game by ``num_turns`` moves anyway).

## Arguments

- ``players`` (2-5, default 2): number of players.
- ``colors`` (1-5, default 5) and ``ranks`` (1-5, default 5): the deck; per colour three 1s, one
  card of the top rank and two of every rank between.
- ``hand_size`` (default None: 5 for 2-3 players, 4 for 4-5).
- ``max_information_tokens`` (default 8) and ``max_life_tokens`` (default 3).
- ``keep_score_on_loss`` (default False): keep the fireworks' score when the last life is lost.
- ``max_moves`` (default None): truncate after this many moves (a CPU budget for LLM play).
- ``recent_moves`` (default 6): how many past moves an observation lists.
- ``render_mode`` (``"ansi"`` or None): ``render()`` returns the full state, every hand shown.

Attributes other envs of collabzoo declare: ``reward_max`` (``colors * ranks``), ``num_turns``
(the most moves a game can take: ``max_moves`` when set, else the rules' bound) and
``metadata["answer_tokens"]`` (32 per player: a move is a few words). No ``num_tasks``:
episodes are distinct by seed (``reset(seed=s)`` deals the same deck for the same ``s``).

## Variants

The registered ids differ only in their default arguments (any of them takes any argument):

| Id | colours | ranks | hand | information tokens | life tokens | max score |
|---|---|---|---|---|---|---|
| `collabzoo/Hanabi-v1` | 5 | 5 | 5 (2-3 players), 4 | 8 | 3 | 25 |
| `collabzoo/Hanabi-Small-v1` | 2 | 5 | 2 | 3 | 1 | 10 |
| `collabzoo/Hanabi-Very-Small-v1` | 1 | 5 | 2 | 3 | 1 | 5 |

The small ones are hanabi-learning-environment's "Hanabi-Small" and "Hanabi-Very-Small": with
one life token, the first misplay or illegal action ends the game at score 0.

## Version History

- v1: first version.

## Example

>>> import collabzoo
>>> env = collabzoo.make("collabzoo/Hanabi-Small-v1")
>>> env.reset(seed=0)
>>> agent = env.agent_selection
>>> agent, env.infos[agent]["legal_actions"][:3]
('player_0', ['play 0', 'play 1', 'hint player 1 red'])
>>> env.step("I will play card 0.")
>>> env.agent_selection, env.infos["player_1"]["score"] == env.rewards["player_0"]
('player_1', True)
"""

from __future__ import annotations

import copy
import re
import warnings
from typing import Any, ClassVar

import gymnasium
from gymnasium.utils import seeding
from pettingzoo import AECEnv

from collabzoo.envs.core import MAX_ACTION_CHARS, MAX_OBSERVATION_CHARS, TEXT_CHARSET
from collabzoo.envs.games.hanabi.engine import (
    COLOR_NAMES,
    DISCARD,
    HINT_COLOR,
    HINT_RANK,
    PLAY,
    HanabiGame,
    HanabiRules,
    Move,
    MoveRecord,
)

__all__ = ["HanabiEnv", "move_text", "parse_move"]

_MAX_PLAYERS = 5
_FENCE = re.compile(r"```[a-zA-Z]*")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_CARD_MOVE = re.compile(r"\b(play|discard)(?: (?:card|the|number|no))* (\d+)\b")
_HINT_MOVE = re.compile(
    r"\b(?:hint|clue|tell)(?: (?:to|player))* (\d+)(?: (?:about|that|the|they|have|has"
    r"|colou?r|rank|number|cards?|is|are))* (red|yellow|green|white|blue|\d+)s?\b"
)


def move_text(move: Move) -> str:
    """The canonical action string of ``move`` (what ``legal_actions`` lists)."""
    kind, a, b = move
    if kind == PLAY:
        return f"play {a}"
    if kind == DISCARD:
        return f"discard {a}"
    if kind == HINT_COLOR:
        return f"hint player {a} {COLOR_NAMES[b]}"
    return f"hint player {a} rank {b + 1}"


def parse_move(text: str) -> Move | None:
    """The first move named in ``text`` (lenient, see the module docstring), else None.

    >>> parse_move("```\\nHint Player_1: RED!\\n```"), parse_move("I'd play card #3."), parse_move("?")
    ((2, 1, 0), (1, 3, 0), None)
    """
    words = _NOT_WORD.sub(" ", _FENCE.sub(" ", text.lower().replace("_", " ")))
    found: list[tuple[int, Move]] = []
    card = _CARD_MOVE.search(words)
    if card:
        kind = PLAY if card.group(1) == "play" else DISCARD
        found.append((card.start(), (kind, int(card.group(2)), 0)))
    hint = _HINT_MOVE.search(words)
    if hint:
        target, value = int(hint.group(1)), hint.group(2)
        move = ((HINT_RANK, target, int(value) - 1) if value.isdigit()
                else (HINT_COLOR, target, COLOR_NAMES.index(value)))
        found.append((hint.start(), move))
    return min(found)[1] if found else None


class HanabiEnv(AECEnv):
    """Hanabi as a PettingZoo ``AECEnv`` with text observations and actions (module docstring)."""

    metadata: dict[str, Any] = {  # an instance narrows answer_tokens to its players
        "name": "hanabi_v1",
        "render_modes": ["ansi"],
        "is_parallelizable": False,
        "answer_tokens": {f"player_{i}": 32 for i in range(_MAX_PLAYERS)},
        "answer_tokens_note": "a move is a few words, e.g. 'hint player 1 rank 3'",
    }
    #: Names of the players of the largest game; a game of n players has the first n.
    roles: ClassVar[tuple[str, ...]] = tuple(f"player_{i}" for i in range(_MAX_PLAYERS))
    _shared: ClassVar[tuple[str, ...]] = ("rules", "_spaces", "_texts", "_moves_by_text")

    def __init__(
        self,
        players: int = 2,
        colors: int = 5,
        ranks: int = 5,
        hand_size: int | None = None,
        max_information_tokens: int = 8,
        max_life_tokens: int = 3,
        keep_score_on_loss: bool = False,
        max_moves: int | None = None,
        recent_moves: int = 6,
        render_mode: str | None = None,
    ) -> None:
        super().__init__()
        self.rules = HanabiRules(players, colors, ranks, hand_size, max_information_tokens,
                                 max_life_tokens, keep_score_on_loss)
        if max_moves is not None and (isinstance(max_moves, bool) or not isinstance(max_moves, int)
                                      or max_moves < 1):
            raise ValueError(f"max_moves must be None or an integer >= 1, got {max_moves!r}")
        if isinstance(recent_moves, bool) or not isinstance(recent_moves, int) or recent_moves < 0:
            raise ValueError(f"recent_moves must be an integer >= 0, got {recent_moves!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be 'ansi' or None, got {render_mode!r}")
        self.max_moves = max_moves
        self.recent_moves = recent_moves
        self.render_mode = render_mode
        self.possible_agents = list(self.roles[:players])
        self.metadata = {**self.metadata, "answer_tokens": {
            a: self.metadata["answer_tokens"][a] for a in self.possible_agents}}
        self.reward_max = float(self.rules.max_score)
        self.num_turns = max_moves if max_moves is not None else self.rules.max_moves
        space = gymnasium.spaces.Text(MAX_OBSERVATION_CHARS, min_length=0, charset=TEXT_CHARSET)
        action = gymnasium.spaces.Text(MAX_ACTION_CHARS, min_length=0, charset=TEXT_CHARSET)
        self._spaces = (space, action)
        # every move of the rules and its text, for the fast path of step and legal_actions
        h, n = self.rules.hand_size or 0, self.rules.players
        moves = [(k, i, 0) for k in (DISCARD, PLAY) for i in range(h)]
        moves += [(HINT_COLOR, t, c) for t in range(n) for c in range(self.rules.colors)]
        moves += [(HINT_RANK, t, r) for t in range(n) for r in range(self.rules.ranks)]
        self._texts: dict[Move, str] = {m: move_text(m) for m in moves}
        self._moves_by_text: dict[str, Move] = {t: m for m, t in self._texts.items()}
        self._np_random: Any = None
        self.game: HanabiGame | None = None
        self.agents: list[str] = []
        self.moves = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> HanabiEnv:
        other = copy.copy(self)
        for name, value in self.__dict__.items():
            if name not in self._shared:
                other.__dict__[name] = copy.deepcopy(value, memo)
        return other

    # ------------------------------------------------------------------ spaces, seeding
    def observation_space(self, agent: str) -> gymnasium.spaces.Text:
        self._check_agent(agent)
        return self._spaces[0]

    def action_space(self, agent: str) -> gymnasium.spaces.Text:
        self._check_agent(agent)
        return self._spaces[1]

    @property
    def np_random(self) -> Any:
        """The env's :class:`numpy.random.Generator`, which shuffles the deck."""
        if self._np_random is None:
            self._np_random, _ = seeding.np_random()
        return self._np_random

    # ------------------------------------------------------------------ API
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Deal a new game: the same ``seed``, the same deck.

        Args:
            seed: Seeds ``self.np_random``, which shuffles the deck.
            options: ``{"deck": cards}`` deals exactly this deck (cards as the engine's ints,
                in dealing order) instead of a shuffle.
        """
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        options = dict(options or {})
        deck = options.pop("deck", None)
        if options:
            warnings.warn(f"HanabiEnv.reset ignores unknown options {sorted(options)}; the one "
                          "option is 'deck'", stacklevel=2)
        self.game = HanabiGame(self.rules, deck=deck, rng=None if deck else self.np_random)
        self.agents = list(self.possible_agents)
        self.moves = 0
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.agent_selection = self.agents[0]
        self._illegal = False
        self._update_infos()

    def step(self, action: Any) -> None:
        """The selected agent's move (any ``str``; see Actions in the module docstring).

        Raises:
            RuntimeError: Before ``reset`` or once every agent has left the episode.
            TypeError: ``action`` is not a ``str`` while the game is on.
        """
        if self.game is None:
            raise RuntimeError("step() called before reset(): call env.reset() first")
        if not self.agents:
            raise RuntimeError("step() called after the episode ended: call env.reset()")
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(None)
            return
        if not isinstance(action, str):
            raise TypeError(f"the action of {agent!r} must be a str, got {type(action).__name__}")
        game = self.game
        move = self._moves_by_text.get(action)
        if move is None:
            move = parse_move(action)
        before = game.score
        record = game.apply(move)
        self._illegal = record.move is None
        self.moves += 1
        reward = float(game.score - before)
        self._cumulative_rewards[agent] = 0.0
        self.rewards = {a: reward for a in self.agents}
        self._accumulate_rewards()
        if game.game_over:
            self.terminations = {a: True for a in self.agents}
        elif self.max_moves is not None and self.moves >= self.max_moves:
            self.truncations = {a: True for a in self.agents}
        self.agent_selection = self.possible_agents[game.current_player]
        self._update_infos()

    def observe(self, agent: str) -> str:
        """The text ``agent`` sees now (module docstring, Observations)."""
        self._check_agent(agent)
        if self.game is None:
            raise RuntimeError("observe() called before reset(): call env.reset() first")
        return self._observation(self.possible_agents.index(agent))

    def render(self) -> str | None:
        """The full state (every hand shown) when ``render_mode="ansi"``."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; use render_mode='ansi'")
            return None
        if self.game is None:
            return "(no game: call reset())"
        hands = [f"player {p}: " + ", ".join(self.rules.card_name(c) for c in hand)
                 for p, hand in enumerate(self.game.hands)]
        return "\n".join([self._status_line(), self._fireworks_line(), *hands])

    def close(self) -> None:
        """Nothing to release."""

    # ------------------------------------------------------------------ text
    def _update_infos(self) -> None:
        game = self.game
        assert game is not None
        over = game.game_over or (self.max_moves is not None and self.moves >= self.max_moves)
        legal = [] if over else [self._texts[m] for m in game.legal_moves()]
        score = game.score
        self.infos = {
            a: {"legal_actions": legal if a == self.agent_selection else [], "score": score,
                "turn": self.moves, "illegal": self._illegal}
            for a in self.agents
        }

    def _status_line(self) -> str:
        game = self.game
        assert game is not None
        return (f"Score {game.score} of {self.rules.max_score}. Information tokens "
                f"{game.information_tokens} of {self.rules.max_information_tokens}. Life tokens "
                f"{game.life_tokens} of {self.rules.max_life_tokens}. Cards left in the deck: "
                f"{game.deck_size}.")

    def _fireworks_line(self) -> str:
        assert self.game is not None
        return "Fireworks: " + ", ".join(
            f"{COLOR_NAMES[c]} {top}" for c, top in enumerate(self.game.fireworks))

    def _knowledge(self, player: int, index: int) -> tuple[str, str]:
        """(what ``player`` knows of its card ``index``, what hints ruled out)."""
        game = self.game
        assert game is not None
        colors, ranks = game.color_plausible[player][index], game.rank_plausible[player][index]
        possible_colors = [c for c in range(self.rules.colors) if colors >> c & 1]
        possible_ranks = [r for r in range(self.rules.ranks) if ranks >> r & 1]
        color = COLOR_NAMES[possible_colors[0]] if len(possible_colors) == 1 else "?"
        rank = str(possible_ranks[0] + 1) if len(possible_ranks) == 1 else "?"
        ruled_out = []
        if color == "?":
            ruled_out += [COLOR_NAMES[c] for c in range(self.rules.colors) if not colors >> c & 1]
        if rank == "?":
            ruled_out += [str(r + 1) for r in range(self.rules.ranks) if not ranks >> r & 1]
        return f"{color} {rank}", ", ".join(ruled_out)

    def _describe(self, record: MoveRecord) -> str:
        if record.move is None:
            return f"player {record.player}: an illegal action (a life token lost)"
        text = self._texts[record.move]
        if record.move[0] in (HINT_COLOR, HINT_RANK):
            touched = ", ".join(str(i) for i in record.touched)
            return f"player {record.player}: {text} (touched cards {touched})"
        outcome = "scored" if record.scored else (
            "discarded" if record.move[0] == DISCARD else "misplayed, a life token lost")
        return f"player {record.player}: {text} ({self.rules.card_name(record.card)}, {outcome})"

    def _observation(self, me: int) -> str:
        game = self.game
        assert game is not None
        n = self.rules.players
        turn = game.current_player
        if game.game_over or not self.agents or self.terminations.get(self.possible_agents[me]):
            whose = f"The game is over: final score {game.score}."
        elif self.truncations.get(self.possible_agents[me]):
            whose = f"The game was stopped after {self.moves} moves: score {game.score}."
        else:
            whose = "It is your turn." if turn == me else f"It is player {turn}'s turn."
        lines = [f"Hanabi, {n} players. You are player {me}. {whose}", self._status_line(),
                 self._fireworks_line(),
                 "Discards: " + (", ".join(self.rules.card_name(c) for c in sorted(game.discards))
                                 or "none")]
        lines.append("Your hand (only what hints told you; card 0 is the oldest):")
        for i in range(len(game.hands[me])):
            known, ruled_out = self._knowledge(me, i)
            lines.append(f"  card {i}: {known}" + (f" (not {ruled_out})" if ruled_out else ""))
        for k in range(1, n):
            other = (me + k) % n
            lines.append(f"Player {other}'s hand:")
            for i, card in enumerate(game.hands[other]):
                known, _ = self._knowledge(other, i)
                lines.append(f"  card {i}: {self.rules.card_name(card)} (they know: {known})")
        recent = game.history[-self.recent_moves:] if self.recent_moves else []
        lines.append("Last moves:" + ("" if recent else " none"))
        lines += [f"  {self._describe(r)}" for r in recent]
        if turn == me and not game.game_over and self.agents and not (
                self.truncations.get(self.possible_agents[me])):
            lines.append("Legal moves: " + ", ".join(self._texts[m] for m in game.legal_moves()))
            lines.append("Answer with exactly one legal move, e.g. 'play 0'.")
        return "\n".join(lines)

    def _check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise ValueError(f"unknown agent {agent!r}; this game's agents are "
                             f"{self.possible_agents}")

