"""The scripted Hanabi player reads the observation text and follows its four rules."""

from __future__ import annotations

import pytest

import collabzoo
from collabzoo.agents import Agent
from collabzoo.envs.aec import play_episode
from collabzoo.envs.games.hanabi.engine import HanabiRules
from collabzoo.envs.games.hanabi.rule_agent import RuleAgent, read_observation

SORTED = HanabiRules().full_deck()  # p0: red 1 1 1 2 2, p1: red 3 3 4 4 5, then yellow 1 ...

OBSERVATION = """Hanabi, 3 players. You are player 1. It is your turn.
Score 2 of 25. Information tokens 3 of 8. Life tokens 3 of 3. Cards left in the deck: 20.
Fireworks: red 1, yellow 0, green 1, white 0, blue 0
Discards: none
Your hand (only what hints told you; card 0 is the oldest):
  card 0: red ?
  card 1: ? ? (not red, 1)
  card 2: ? ? (not 5)
Player 2's hand:
  card 0: white 4 (they know: ? ?)
  card 1: green 2 (they know: ? ?)
Player 0's hand:
  card 0: white 1 (they know: white 1)
Last moves:
  player 0: play 0 (red 1, scored)
Legal moves: discard 0, discard 1, discard 2, play 0, play 1, play 2, hint player 2 white, \
hint player 2 green, hint player 2 rank 2, hint player 2 rank 4, hint player 0 white, \
hint player 0 rank 1
Answer with exactly one legal move, e.g. 'play 0'."""


def test_reads_every_part_of_an_observation():
    state = read_observation(OBSERVATION)
    assert state is not None and (state.me, state.players, state.information_tokens) == (1, 3, 3)
    assert state.fireworks == {"red": 1, "yellow": 0, "green": 1, "white": 0, "blue": 0}
    assert state.ranks == 5 and len(state.legal) == 12
    mine, theirs = state.hands[1], state.hands[2]
    assert (mine[0].known_color, mine[0].known_rank, mine[1].ruled_out) == ("red", None,
                                                                           {"red", "1"})
    assert (theirs[1].color, theirs[1].rank, theirs[1].known_rank) == ("green", 2, None)
    assert state.hands[0][0].known_color == "white" and state.hands[0][0].known_rank == 1
    assert read_observation("play 0") is None


def test_rules_in_order_on_a_worked_game():
    env = collabzoo.make("collabzoo/Hanabi-v1")
    env.reset(options={"deck": SORTED})
    agent = RuleAgent()

    def move() -> str:
        action = agent.act([env.observe(env.agent_selection)])[0][0]
        env.step(action)
        assert not env.infos[env.agent_selection]["illegal"]
        return action

    # p0: nothing known, nothing playable in p1's hand, no discard at 8 tokens: a hint
    assert move() == "hint player 1 red"
    assert move() == "hint player 0 rank 1"  # p1: p0's red 1s are playable
    assert move() == "play 0"  # p0: a 1 while every firework is empty
    assert move() == "hint player 0 rank 2"  # p1: p0's red 2 is playable now, its rank unknown


def test_hint_to_the_next_player_then_discard_the_oldest_unhinted_card():
    assert RuleAgent().act([OBSERVATION], n=2) == [["hint player 2 rank 2"] * 2]
    no_tokens = OBSERVATION.replace("Information tokens 3 of 8", "Information tokens 0 of 8")
    assert RuleAgent().act([no_tokens]) == [["discard 1"]]  # card 0 is hinted red


def test_known_playable_by_every_possibility():
    text = OBSERVATION.replace("  card 2: ? ? (not 5)", "  card 2: ? 1 (not red, green)")
    assert RuleAgent().act([text]) == [["play 2"]]  # yellow, white or blue 1: all fit


def test_unreadable_text_gets_a_move_and_it_is_an_agent():
    assert isinstance(RuleAgent(), Agent)
    assert RuleAgent().act(["", "hello"], n=1) == [["discard 0"], ["discard 0"]]


@pytest.mark.parametrize(("env_id", "least"), [("collabzoo/Hanabi-v1", 12.0),
                                               ("collabzoo/Hanabi-Small-v1", 3.0)])
def test_never_illegal_and_scores_well_above_random(env_id, least):
    env = collabzoo.make(env_id)
    agent = RuleAgent()
    scores = []

    def act(name: str, observation: str, info: dict) -> str:
        action = agent.act([observation])[0][0]
        assert action in info["legal_actions"]
        return action

    for seed in range(20):
        scores.append(play_episode(env, act, seed=seed).score)
    assert sum(scores) / len(scores) >= least
