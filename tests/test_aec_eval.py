"""Turn-based (AEC) envs in the evaluation path: only ``agent_selection`` acts, one ``act``
call per move batched across episodes, records as for parallel envs, and the protocols that
cannot play a turn-based env refused."""

from __future__ import annotations

import pytest
from plain_aec_env import CountTogether

from collabzoo.cli import main
from collabzoo.evaluation.evaluate import evaluate
from collabzoo.protocols.runner import run_episodes


class Counter:
    """Says the next number of the count in its prompt (``... The count is c. ...``);
    records every ``act`` call's prompts."""

    def __init__(self, wrong: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.wrong = wrong

    def act(self, observations: list[str], n: int = 1) -> list[list[str]]:
        self.calls.append(list(observations))
        count = [int(o.split("The count is ")[1].split(".")[0]) for o in observations]
        return [[str(c + (2 if self.wrong else 1))] * n for c in count]


def test_only_the_selected_agent_acts_one_call_per_move_for_the_batch():
    first, second = Counter(), Counter(wrong=True)
    records = run_episodes(CountTogether(moves=3), [first, second], "parallel", episodes=2,
                           batch_size=2)
    # moves: first, second, first; each move is one call with both episodes' prompts
    assert len(first.calls) == 2 and len(second.calls) == 1
    assert all(len(c) == 2 for c in first.calls + second.calls)
    assert all(p.startswith("You are first") for c in first.calls for p in c)
    assert all(p.startswith("You are second") for c in second.calls for p in c)
    for record in records:
        assert [list(t.actions) for t in record.turns] == [["first"], ["second"], ["first"]]
        assert [len(t.calls) for t in record.turns] == [1, 1, 1]
        assert [t.reward for t in record.turns] == [1.0, 0.0, 1.0]
        assert [t.score for t in record.turns] == [1.0, 1.0, 2.0]  # no infos score: the return
        assert record.return_ == 2.0 and record.return_normalized is None
        assert record.turns[0].rewards == {"first": 1.0, "second": 1.0}
    assert [r.seed for r in records] == [0, 1]


def test_episodes_and_max_turns_count_moves():
    records = run_episodes(CountTogether(moves=10), [Counter()], "sequential", episodes=3,
                           batch_size=2, max_turns=4)
    assert [len(r.turns) for r in records] == [4, 4, 4]
    assert all(r.return_ == 4.0 for r in records)


@pytest.mark.parametrize("protocol", ["single", "discussion"])
def test_protocols_that_cannot_take_turns_are_refused(protocol):
    with pytest.raises(ValueError, match=f"'{protocol}' protocol cannot play the turn-based"):
        run_episodes(CountTogether(), [Counter()], protocol, episodes=1)


def test_evaluate_scores_hanabi_with_its_reward_max():
    import collabzoo
    from collabzoo.agents import specs

    env = collabzoo.make("collabzoo/Hanabi-Very-Small-v1")
    rule = specs.build_agents(["hanabi-rule"], roles=list(env.possible_agents))[0]
    result = evaluate(env, [rule], episodes=2, batch_size=2)
    for record, score in zip(result.records, result.episode_scores, strict=True):
        assert record.score == record.return_  # Hanabi's reward is the change in score
        assert score == pytest.approx(record.score / env.reward_max)
        assert {c.role for t in record.turns for c in t.calls} <= set(env.possible_agents)


def test_cli_eval_on_hanabi(tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "--env", "collabzoo/Hanabi-Small-v1", "--agents", "hanabi-rule",
                 "--episodes", "2", "--no-progress", "--output", str(out)]) == 0
    assert "return (normalised)" in capsys.readouterr().out
    assert main(["eval", "--env", "collabzoo/Hanabi-Small-v1", "--agents", "hanabi-rule",
                 "--protocol", "single", "--output", str(out)]) == 2
    assert "cannot play the turn-based env" in capsys.readouterr().err
