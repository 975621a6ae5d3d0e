"""collabzoo/Hanabi-v1's text face: observations, parsing, rewards, hidden information."""

from __future__ import annotations

import copy
import random

import pytest

import collabzoo
from collabzoo.envs.games.hanabi.engine import (
    DISCARD,
    HINT_COLOR,
    HINT_RANK,
    PLAY,
    HanabiRules,
)
from collabzoo.envs.games.hanabi.env import HanabiEnv, move_text, parse_move

SORTED = HanabiRules().full_deck()  # p0: red 1 1 1 2 2, p1: red 3 3 4 4 5, then yellow 1 ...


def _own_hand_lines(observation: str) -> list[str]:
    lines = observation.splitlines()
    start = lines.index("Your hand (only what hints told you; card 0 is the oldest):") + 1
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  card"))
    return lines[start:end]


@pytest.mark.parametrize(
    ("text", "move"),
    [("play 2", (PLAY, 2, 0)), ("Discard card #0.", (DISCARD, 0, 0)),
     ("hint player 1 red", (HINT_COLOR, 1, 0)), ("HINT PLAYER_1 RANK 3", (HINT_RANK, 1, 2)),
     ("hint player 1 3", (HINT_RANK, 1, 2)), ("clue 1 blues", (HINT_COLOR, 1, 4)),
     ("Tell player 2 about the colour green", (HINT_COLOR, 2, 2)),
     ("```text\nplay card 4\n```", (PLAY, 4, 0)),
     ("I think we should play 1, then discard 0 later.", (PLAY, 1, 0)),
     ("Let me hint player 1 rank 1 so they can play 0", (HINT_RANK, 1, 0)),
     ("", None), ("pass", None), ("play the red one", None), ("hint player 1 purple", None)],
)
def test_parse_move_is_lenient_and_takes_the_first_move(text, move):
    assert parse_move(text) == move


def test_canonical_texts_parse_back():
    env = HanabiEnv(players=3)
    for move, text in env._texts.items():
        assert parse_move(text) == move and move_text(move) == text


def test_observation_of_a_worked_game():
    env = collabzoo.make("collabzoo/Hanabi-v1")
    env.reset(options={"deck": SORTED})
    first = env.observe("player_0")
    assert first.startswith("Hanabi, 2 players. You are player 0. It is your turn.\n")
    assert "Score 0 of 25. Information tokens 8 of 8. Life tokens 3 of 3. Cards left in the " \
           "deck: 40." in first
    assert "  card 4: red 5 (they know: ? ?)" in first and "Discards: none" in first
    assert _own_hand_lines(first) == [f"  card {i}: ? ?" for i in range(5)]
    assert env.infos["player_0"]["legal_actions"] == [
        "play 0", "play 1", "play 2", "play 3", "play 4", "hint player 1 red",
        "hint player 1 rank 3", "hint player 1 rank 4", "hint player 1 rank 5"]
    assert "Legal moves: play 0, play 1, play 2, play 3, play 4, hint player 1 red," in first
    assert env.infos["player_1"]["legal_actions"] == []
    assert "It is player 0's turn." in env.observe("player_1")
    assert "Legal moves" not in env.observe("player_1")

    env.step("Hint player 1 rank 3!")  # touches p1's cards 0 and 1
    seen = env.observe("player_1")
    assert _own_hand_lines(seen) == ["  card 0: ? 3", "  card 1: ? 3", "  card 2: ? ? (not 3)",
                                     "  card 3: ? ? (not 3)", "  card 4: ? ? (not 3)"]
    assert "player 0: hint player 1 rank 3 (touched cards 0, 1)" in seen
    assert env.rewards == {"player_0": 0.0, "player_1": 0.0}
    env.step("discard 4")  # red 5 away: p1 draws yellow 1
    env.step("play 0")  # red 1 scores
    assert env.rewards == {"player_0": 1.0, "player_1": 1.0} and env.infos["player_0"]["score"] == 1
    text = env.observe("player_0")
    assert "Fireworks: red 1, yellow 0, green 0, white 0, blue 0" in text
    assert "Discards: red 5" in text and "Information tokens 8 of 8" in text
    assert "player 1: discard 4 (red 5, discarded)" in text
    assert "player 0: play 0 (red 1, scored)" in text and "Cards left in the deck: 38." in text


def test_illegal_actions_cost_a_life_and_the_last_takes_the_score_back():
    env = collabzoo.make("collabzoo/Hanabi-v1")
    env.reset(options={"deck": SORTED})
    env.step("play 0")  # red 1: score 1
    hands = copy.deepcopy(env.game.hands)
    env.step("hint player 1 red")  # player 1 hinting itself: illegal
    assert env.infos["player_0"]["illegal"] and env.game.life_tokens == 2
    assert env.game.hands == hands and env.rewards["player_0"] == 0.0
    assert "player 1: an illegal action (a life token lost)" in env.observe("player_0")
    env.step("discard 0")  # at 8 information tokens
    assert env.game.life_tokens == 1 and env.agent_selection == "player_1"
    env.step("")  # nothing parsable: the last life
    assert env.rewards == {"player_0": -1.0, "player_1": -1.0}
    assert all(env.terminations.values()) and env.infos["player_1"]["score"] == 0
    assert "The game is over: final score 0." in env.observe("player_0")
    env.step("anything")  # the dead steps take any action
    env.step(None)
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step("play 0")


def test_keep_score_on_loss_keeps_the_fireworks():
    env = collabzoo.make("collabzoo/Hanabi-v1", keep_score_on_loss=True, max_life_tokens=1)
    env.reset(options={"deck": SORTED})
    env.step("play 0")
    env.step("play 0")  # red 3: the only life
    assert all(env.terminations.values()) and env.rewards["player_0"] == 0.0
    assert env.infos["player_0"]["score"] == 1


def test_max_moves_truncates():
    env = collabzoo.make("collabzoo/Hanabi-v1", max_moves=3)
    assert env.num_turns == 3
    env.reset(seed=0)
    for action in ["hint player 1 red", "hint player 0 rank 1", "discard 0"]:
        assert not any(env.truncations.values())
        env.step(action)
    assert all(env.truncations.values()) and not any(env.terminations.values())
    assert env.infos["player_0"]["legal_actions"] == []
    assert "The game was stopped after 3 moves" in env.observe("player_0")


def test_seeded_deals_and_declared_attributes():
    env = collabzoo.make("collabzoo/Hanabi-v1", players=4)
    assert env.possible_agents == ["player_0", "player_1", "player_2", "player_3"]
    assert env.metadata["answer_tokens"] == dict.fromkeys(env.possible_agents, 32)
    assert env.reward_max == 25.0 and env.num_turns == env.rules.max_moves == 116  # 2 * 50 + 8 + 5 + 3
    env.reset(seed=4)
    deck = env.game.deck
    env.reset(seed=4)
    assert env.game.deck == deck and len(env.game.hands[0]) == 4
    env.reset()
    assert env.game.deck != deck
    for env_id, score in [("collabzoo/Hanabi-Small-v1", 10.0),
                          ("collabzoo/Hanabi-Very-Small-v1", 5.0)]:
        assert collabzoo.make(env_id).reward_max == score


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [(dict(players=6), "players"), (dict(max_moves=0), "max_moves"),
     (dict(recent_moves=-1), "recent_moves"), (dict(render_mode="human"), "render_mode")],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HanabiEnv(**kwargs)


def test_misuse_is_a_clear_error():
    env = HanabiEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step("play 0")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="must be a str"):
        env.step(3)
    with pytest.raises(ValueError, match="unknown agent"):
        env.observe("player_2")
    with pytest.warns(UserWarning, match="ignores unknown options"):
        env.reset(options={"task_index": 0})


def test_render_shows_every_hand():
    env = HanabiEnv(render_mode="ansi")
    env.reset(options={"deck": SORTED})
    assert "player 1: red 3, red 3, red 4, red 4, red 5" in env.render()


@pytest.mark.parametrize("players", [2, 4])
def test_no_observation_shows_the_observers_own_cards(players):
    """Over many random games: an own card's line names its true card only when hints have
    named both its colour and rank, and every observation stays the same when the observer's
    own cards are swapped for any cards its hints allow."""
    env = HanabiEnv(players=players, colors=3, ranks=3, hand_size=3)
    rng = random.Random(players)
    checked = 0
    for seed in range(15):
        env.reset(seed=seed)
        while env.agents and not env.terminations[env.agent_selection]:
            for me, agent in enumerate(env.possible_agents):
                text = env.observe(agent)
                game = env.game
                for i, line in enumerate(_own_hand_lines(text)):
                    card = game.hands[me][i]
                    known = (bin(game.color_plausible[me][i]).count("1") == 1
                             and bin(game.rank_plausible[me][i]).count("1") == 1)
                    assert known or env.rules.card_name(card) not in line, (line, card)
                swapped = copy.deepcopy(env)
                for i in range(len(game.hands[me])):
                    colors = [c for c in range(3) if game.color_plausible[me][i] >> c & 1]
                    ranks = [r for r in range(3) if game.rank_plausible[me][i] >> r & 1]
                    swapped.game.hands[me][i] = rng.choice(colors) * 3 + rng.choice(ranks)
                assert swapped.observe(agent) == text
                checked += 1
            legal = env.infos[env.agent_selection]["legal_actions"]
            env.step(rng.choice(legal) if rng.random() < 0.9 else "play 9")
    assert checked > 300
