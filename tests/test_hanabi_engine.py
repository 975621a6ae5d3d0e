"""Hanabi's rules engine on hand-worked games (collabzoo/envs/games/hanabi/engine.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from collabzoo.envs.games.hanabi.engine import (
    DISCARD,
    HINT_COLOR,
    HINT_RANK,
    PLAY,
    HanabiGame,
    HanabiRules,
)

R1, R2 = 0, 1  # red 1, red 2 with ranks=2


def test_standard_deck_and_hand_sizes():
    rules = HanabiRules()
    deck = rules.full_deck()
    assert len(deck) == 50 == rules.deck_size and rules.max_score == 25
    assert [deck.count(r) for r in range(5)] == [3, 2, 2, 2, 1]  # red 1,1,1,2,2,3,3,4,4,5
    assert HanabiRules(players=3).hand_size == 5 and HanabiRules(players=4).hand_size == 4
    assert HanabiRules(ranks=3).copies == (3, 2, 1) and HanabiRules(ranks=1).copies == (3,)
    game = HanabiGame(rules, rng=np.random.default_rng(0))
    assert [len(h) for h in game.hands] == [5, 5] and game.deck_size == 40
    assert (game.information_tokens, game.life_tokens, game.score) == (8, 3, 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [(dict(players=1), "players"), (dict(colors=6), "colors"), (dict(ranks=0), "ranks"),
     (dict(hand_size=9), "hand_size"), (dict(players=5, colors=1, hand_size=4), "need more"),
     (dict(max_life_tokens=0), "max_life_tokens")],
)
def test_bad_rules_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HanabiRules(**kwargs)


def test_deck_must_be_the_full_deck():
    with pytest.raises(ValueError, match="permutation"):
        HanabiGame(HanabiRules(colors=1, ranks=2, hand_size=1), deck=[R1, R1, R2])


def test_hint_play_and_complete_the_last_firework():
    # 1 colour, ranks 1-2 (red 1 x3, red 2 x1), hands of 1; deck dealt in this order
    rules = HanabiRules(colors=1, ranks=2, hand_size=1, max_information_tokens=2)
    game = HanabiGame(rules, deck=[R1, R1, R2, R1])
    assert game.hands == [[R1], [R1]] and game.deck_size == 2
    # 8 tokens of 8: no discard; hints only about what the other hand holds
    assert game.legal_moves() == [(PLAY, 0, 0), (HINT_COLOR, 1, 0), (HINT_RANK, 1, 0)]
    record = game.apply((PLAY, 0, 0))
    assert record.scored and record.card == R1 and game.fireworks == [1] and game.score == 1
    assert game.hands[0] == [R2] and game.current_player == 1
    record = game.apply((HINT_RANK, 0, 1))  # "player 0, your card is a 2"
    assert record.touched == (0,) and game.information_tokens == 1
    assert game.rank_plausible[0] == [0b10] and game.color_plausible[0] == [0b1]
    game.apply((PLAY, 0, 0))  # red 2 completes red: +1 token, and every firework is complete
    assert game.fireworks == [2] and game.information_tokens == 2
    assert game.game_over and game.score == 2 and game.legal_moves() == []
    with pytest.raises(RuntimeError, match="over"):
        game.apply((PLAY, 0, 0))


def test_game_ends_one_round_after_the_deck_runs_out():
    rules = HanabiRules(colors=1, ranks=2, hand_size=1, max_information_tokens=2)
    game = HanabiGame(rules, deck=[R1, R1, R1, R2])
    game.apply((HINT_RANK, 1, 0))  # p0 -> p1: rank 1; 1 token left
    game.apply((DISCARD, 0, 0))  # p1 discards red 1, draws red 1; 2 tokens
    assert game.discards == [R1] and game.information_tokens == 2
    assert (DISCARD, 0, 0) not in game.legal_moves()  # tokens at their maximum
    game.apply((PLAY, 0, 0))  # p0 plays red 1, draws red 2: the deck is empty
    assert game.deck_size == 0 and game.turns_after_deck == 2 and not game.game_over
    game.apply((HINT_RANK, 0, 1))  # p1's move after the deck ran out
    assert game.turns_after_deck == 1 and not game.game_over
    assert game.legal_moves() == [(DISCARD, 0, 0), (PLAY, 0, 0), (HINT_COLOR, 1, 0),
                                  (HINT_RANK, 1, 0)]
    game.apply((DISCARD, 0, 0))  # p0's: every player has moved once more
    assert game.game_over and game.score == 1 and game.hands == [[], [R1]]


@pytest.mark.parametrize(("keep", "final"), [(False, 0), (True, 1)])
def test_third_lost_life_scores_zero_unless_kept(keep, final):
    rules = HanabiRules(keep_score_on_loss=keep)
    game = HanabiGame(rules, deck=rules.full_deck())  # p0: red 1 1 1 2 2, p1: red 3 3 4 4 5
    assert game.hands[1] == [2, 2, 3, 3, 4]
    assert game.apply((PLAY, 0, 0)).scored and game.score == 1
    assert not game.apply((PLAY, 0, 0)).scored and game.life_tokens == 2  # red 3 on red 1
    assert game.discards == [2] and game.hands[1][-1] == 5  # drew yellow 1
    game.apply((PLAY, 0, 0))  # red 1 again
    assert game.life_tokens == 1 and game.score == 1 and not game.game_over
    game.apply((PLAY, 0, 0))  # red 3 again: the last life
    assert game.life_tokens == 0 and game.game_over
    assert game.score == final and game.fireworks_score == 1


def test_illegal_moves_cost_a_life_and_nothing_else():
    rules = HanabiRules()
    game = HanabiGame(rules, deck=rules.full_deck())
    hands = copy.deepcopy(game.hands)
    for move in [None, (PLAY, 5, 0), (DISCARD, 0, 0), (HINT_COLOR, 0, 0), (HINT_RANK, 1, 0),
                 (HINT_COLOR, 1, 1), (7, 0, 0), (HINT_RANK, 2, 2)]:
        assert move is None or not game.is_legal(move), move
    for lives, move in ((2, (DISCARD, 0, 0)), (1, (HINT_COLOR, 1, 0))):
        record = game.apply(move)  # a discard at 8 tokens, a hint to oneself (player 1)
        assert record.move is None and game.life_tokens == lives
    assert game.hands == hands and game.information_tokens == 8 and game.discards == []
    assert game.rank_plausible == [[31] * 5, [31] * 5]


def test_hint_records_negative_information():
    rules = HanabiRules()
    game = HanabiGame(rules, deck=rules.full_deck())
    game.apply((HINT_RANK, 1, 2))  # p1 holds red 3 3 4 4 5: touches cards 0 and 1
    assert game.history[-1].touched == (0, 1)
    assert game.rank_plausible[1] == [0b100, 0b100, 0b11011, 0b11011, 0b11011]
    game.apply((HINT_COLOR, 0, 1))  # p0 holds no yellow
    assert game.history[-1].move is None and game.life_tokens == 2


def test_deepcopy_is_independent_and_shares_the_deck():
    game = HanabiGame(HanabiRules(), rng=np.random.default_rng(3))
    branch = copy.deepcopy(game)
    assert branch.deck is game.deck and branch.rules is game.rules
    branch.apply(branch.legal_moves()[-1])
    branch.apply((PLAY, 0, 0))
    assert game.history == [] and game.current_player == 0 and len(branch.history) == 2
    assert game.information_tokens == 8 and game.hands != branch.hands or game.deck_size == 40


def test_random_games_keep_the_invariants():
    rules = HanabiRules(players=3)
    rng = np.random.default_rng(0)
    for _ in range(50):
        game = HanabiGame(rules, rng=rng)
        while not game.game_over:
            moves = game.legal_moves()
            assert all(game.is_legal(m) for m in moves)
            game.apply(moves[int(rng.integers(len(moves)))])
        cards = (sum(len(h) for h in game.hands) + len(game.discards) + game.fireworks_score
                 + game.deck_size)
        assert cards == rules.deck_size
        assert 0 <= game.information_tokens <= 8 and len(game.history) <= rules.max_moves
