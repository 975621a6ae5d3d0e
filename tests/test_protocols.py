"""Collaboration protocols on scripted agents with known answers give the known rewards."""

from __future__ import annotations

import re

import gymnasium
import pytest
from envtools import TOY_ID, make_offline
from pettingzoo import ParallelEnv

import collabzoo
from collabzoo.envs import Score, TextCollabEnv
from collabzoo.envs.contract import SEEDED_EPISODES
from collabzoo.protocols import (
    PROTOCOLS,
    CodeFormat,
    EpisodeRecord,
    SectionFormat,
    format_for_roles,
    make_team,
    run_episodes,
    split_code,
    split_sections,
    split_shared,
    summarize,
)
from collabzoo.protocols.base import ask
from collabzoo.protocols.discussion import discussion_prompt
from collabzoo.protocols.sequential import sequential_prompt

# ----------------------------------------------------------------------------- a test env
SECRETS = [{"secret": "apple"}, {"secret": "river"}, {"secret": "violet"}]


class SecretEnv(TextCollabEnv):
    """Only ``first`` is told the secret word; reward +1 for each role whose answer says it.

    So ``second`` can score only if it reads ``first``'s answer: parallel gets 1, sequential
    and discussion get 2.
    """

    metadata = {"name": "secret_v0", "render_modes": ["ansi"], "is_parallelizable": True}
    roles = ("first", "second")
    reward_max = 2.0

    def __init__(self, num_turns: int = 1, render_mode: str | None = None) -> None:
        self.tasks = SECRETS
        super().__init__(num_turns=num_turns, render_mode=render_mode)

    def prompt(self, agent, task):
        if agent == "first":
            return f"[first] The secret word is {task['secret']}. Say it."
        return "[second] Say the secret word your teammate knows."

    def score(self, task, actions):
        hits = {a: float(task["secret"] in text.split()) for a, text in actions.items()}
        return Score(
            reward=sum(hits.values()),
            components={f"said_{a}": h for a, h in hits.items()},
            solved=all(hits.values()),
        )


SECRET_ID = "tests/Secret-v0"
if SECRET_ID not in {e.id for e in collabzoo.list_envs()}:  # the module may be imported twice
    collabzoo.register(SECRET_ID, SecretEnv, agents=SecretEnv.roles, description="test only")


class ScriptedAgent:
    """Answers ``reply(observation)``; records every ``act`` call."""

    def __init__(self, reply, label: str = "scripted") -> None:
        self.reply = reply
        self.label = label
        self.calls: list[list[str]] = []

    def act(self, observations: list[str], n: int = 1) -> list[list[str]]:
        self.calls.append(list(observations))
        return [[self.reply(o)] * n for o in observations]


def knows_secret(observation: str) -> str:
    """Says the secret if anything in its observation does, else admits it does not know."""
    found = re.findall(r"secret word is (\w+)", observation)
    return f"the secret word is {found[-1]}" if found else "I do not know"


def single_writer(observation: str) -> str:
    """Writes both parts under ``### ROLE`` headers, as the single prompt asks."""
    return "### FIRST\n" + knows_secret(observation) + "\n### SECOND\n" + knows_secret(observation)


# ----------------------------------------------------------------------------- protocols
@pytest.mark.parametrize(
    "protocol, expected", [("parallel", 1.0), ("sequential", 2.0), ("discussion", 2.0)]
)
def test_secret_rewards_per_protocol(protocol, expected):
    env = collabzoo.make(SECRET_ID)
    records = run_episodes(env, [ScriptedAgent(knows_secret)], protocol, batch_size=2)
    assert [r.task_index for r in records] == [0, 1, 2]
    assert [r.reward for r in records] == [expected] * 3
    assert [r.return_normalized for r in records] == [expected / 2] * 3
    assert records[0].reward_components == {"said_first": 1.0, "said_second": expected - 1}
    assert all(r.protocol == protocol for r in records)


def test_single_writes_both_parts_and_is_split():
    env = collabzoo.make(SECRET_ID)
    writer = ScriptedAgent(single_writer)
    records = run_episodes(env, [writer], "single")
    assert [r.reward for r in records] == [2.0, 2.0, 2.0]
    turn = records[1].turns[0]
    assert len(turn.calls) == 1 and turn.calls[0].role == "*"
    assert turn.actions == {
        "first": "the secret word is river",
        "second": "the secret word is river",
    }
    # the single prompt holds both roles' observations
    assert "[first] The secret word is river" in turn.calls[0].prompt
    assert "[second] Say the secret word" in turn.calls[0].prompt
    # without headers: one paragraph goes to the first role only
    plain = ScriptedAgent(knows_secret)
    assert [r.reward for r in run_episodes(env, [plain], "single")] == [1.0] * 3


def test_sequential_really_shows_the_first_answer_to_the_second():
    env = collabzoo.make(SECRET_ID)
    first = ScriptedAgent(lambda o: "ANSWER-OF-FIRST " + knows_secret(o), label="a1")
    second = ScriptedAgent(knows_secret, label="a2")
    (record,) = run_episodes(env, [first, second], "sequential", episodes=1)
    calls = record.turns[0].calls
    assert [(c.role, c.round, c.agent) for c in calls] == [("first", 0, "a1"), ("second", 1, "a2")]
    assert calls[0].prompt == "[first] The secret word is apple. Say it."
    assert calls[1].prompt == sequential_prompt(
        "[second] Say the secret word your teammate knows.",
        [("first", "ANSWER-OF-FIRST the secret word is apple")],
    )
    assert "ANSWER-OF-FIRST the secret word is apple" in second.calls[0][0]
    assert record.reward == 2.0


def test_discussion_second_round_shows_own_and_other_first_answers():
    env = collabzoo.make(SECRET_ID)
    agent = ScriptedAgent(knows_secret)
    (record,) = run_episodes(env, [agent], "discussion", episodes=1)
    calls = record.turns[0].calls
    assert [(c.role, c.round) for c in calls] == [
        ("first", 0),
        ("second", 0),
        ("first", 1),
        ("second", 1),
    ]
    assert calls[1].answer == "I do not know"
    assert calls[3].prompt == discussion_prompt(
        "[second] Say the secret word your teammate knows.",
        "I do not know",
        [("first", "the secret word is apple")],
    )
    assert calls[3].answer == "the secret word is apple"
    assert record.turns[0].actions == {c.role: c.answer for c in calls[2:]}


@pytest.mark.parametrize(
    "protocol, calls_per_batch",
    [("parallel", 1), ("sequential", 2), ("discussion", 2), ("single", 1)],
)
def test_one_act_call_per_agent_and_round_for_the_whole_batch(protocol, calls_per_batch):
    env = collabzoo.make(SECRET_ID)
    writer = single_writer if protocol == "single" else knows_secret
    agent = ScriptedAgent(writer)
    run_episodes(env, [agent], protocol, episodes=6, batch_size=3)
    assert len(agent.calls) == 2 * calls_per_batch
    per_call = {"parallel": 6, "sequential": 3, "discussion": 6, "single": 3}[protocol]
    assert all(len(c) == per_call for c in agent.calls)


def test_multi_turn_uses_feedback_and_ends_when_solved():
    # turn 1 wrong for alpha; the env's feedback "Not the word we want." makes it try the target
    words = {"yellow": "banana", "sky": "blue", "grey": "elephant", "cold": "hot"}

    def learner(observation: str) -> str:
        right = next(w for k, w in words.items() if k in observation)
        if observation.startswith("[alpha]") and "Not the word" not in observation:
            return "pineapple"
        return right

    env = collabzoo.make(TOY_ID, num_turns=3)
    records = run_episodes(env, [ScriptedAgent(learner)], "parallel")
    for record in records:
        # scores 1 then 2 (solved at turn 2: ends early); the reward is the improvement
        assert [t.score for t in record.turns] == [1.0, 2.0]
        assert [t.reward for t in record.turns] == [1.0, 1.0]
        assert record.score == record.return_ == 2.0 and record.reward == 1.0
        assert record.return_normalized == 1.0
        assert "[Turn 1] Feedback:\nNot the word we want." in record.turns[1].calls[0].prompt


class PlainEnv(ParallelEnv):
    """A third-party ParallelEnv that is not a TextCollabEnv and has no task index."""

    metadata = {"name": "plain_v0"}
    possible_agents = ["x", "y"]

    def observation_space(self, agent):
        return gymnasium.spaces.Text(100)

    action_space = observation_space

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.word = ["sun", "moon"][(seed or 0) % 2]
        return {a: f"{a}: say {self.word}" for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        reward = float(sum(self.word in t for t in actions.values()))
        self.agents = []
        ones = dict.fromkeys(actions, True)
        return (
            {},
            dict.fromkeys(actions, reward),
            ones,
            dict.fromkeys(actions, False),
            {a: {"reward_components": {"hits": reward}} for a in actions},
        )


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_any_parallel_env_works(protocol):
    agent = ScriptedAgent(lambda o: " ".join(re.findall(r"say (\w+)", o)))
    records = run_episodes(PlainEnv(), [agent], protocol, episodes=3, seed=4)
    assert [r.seed for r in records] == [4, 5, 6]
    if protocol == "single":  # the generic section format: no headers -> first role only
        assert [r.reward for r in records] == [1.0] * 3
    else:
        assert [r.reward for r in records] == [2.0] * 3
    assert records[0].return_normalized is None
    assert [r.score for r in records] == [r.reward for r in records]  # the return so far
    # without num_tasks: SEEDED_EPISODES episodes, seeds 0, 1, ...
    records = run_episodes(PlainEnv(), [agent], protocol)
    assert [r.seed for r in records] == list(range(SEEDED_EPISODES))


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_registered_env_runs_under_every_protocol(env_id, protocol):
    """Bundled data, one episode, an agent that answers with a fixed short text."""
    env = make_offline(env_id)
    agent = ScriptedAgent(lambda o: "def aux(x):\n    return x\n")
    (record,) = run_episodes(env, [agent], protocol, episodes=1)
    assert record.turns and set(record.turns[0].actions) == set(env.possible_agents)
    assert record.return_normalized is not None
    env.close()


# ----------------------------------------------------------------------------- helpers
def test_make_team():
    a, b, c = (ScriptedAgent(str) for _ in range(3))
    parallel = PROTOCOLS["parallel"]()
    assert make_team(["p", "q"], [a], parallel) == {"p": a, "q": a}
    assert make_team(["p", "q"], [a, b], parallel) == {"p": a, "q": b}
    assert make_team(["p", "q"], [a, b], PROTOCOLS["single"]()) == {"p": a, "q": a}
    with pytest.raises(ValueError, match="3 agents for 2 roles"):
        make_team(["p", "q"], [a, b, c], parallel)
    with pytest.raises(ValueError, match="no agent"):
        make_team(["p", "q"], [], parallel)


def test_ask_groups_by_agent_and_checks_shapes():
    a, b = ScriptedAgent(lambda o: o + "!"), ScriptedAgent(lambda o: o + "?")
    assert ask([(a, "1"), (b, "2"), (a, "3")]) == ["1!", "2?", "3!"]
    assert a.calls == [["1", "3"]] and b.calls == [["2"]]

    class Broken:
        def act(self, observations, n=1):
            return ["not a list of lists"]

    with pytest.raises(TypeError, match="expected a list holding at least one str"):
        ask([(Broken(), "x")])


def test_summarize_known_numbers_and_record_roundtrip():
    env = collabzoo.make(SECRET_ID)
    # answers right on tasks 0 and 2 only: rewards 2, 1, 2 under sequential
    agent = ScriptedAgent(lambda o: "I do not know" if "river" in o else knows_secret(o))
    records = run_episodes(env, [agent], "sequential")
    assert [r.reward for r in records] == [2.0, 0.0, 2.0]
    summary = summarize(records, env="x")
    assert summary["env"] == "x" and summary["episodes"] == 3
    assert summary["reward"]["mean"] == pytest.approx(4 / 3)
    assert summary["reward"]["std"] == pytest.approx((8 / 9) ** 0.5)
    assert summary["return_normalized"]["mean"] == pytest.approx(2 / 3)
    assert summary["components"]["said_first"]["mean"] == pytest.approx(2 / 3)
    assert summary["seconds_per_episode"]["mean"] >= 0
    assert "pass_rate" not in summary
    again = [EpisodeRecord.from_dict(r.to_dict()) for r in records]
    assert [r.to_dict() for r in again] == [r.to_dict() for r in records]


# ----------------------------------------------------------------------------- single parser
@pytest.mark.parametrize(
    "answer, expected",
    [
        (
            "### CONCISE\nShort one.\n\n### DETAILED\nA longer one.\nTwo lines.",
            {"concise": "Short one.", "detailed": "A longer one.\nTwo lines."},
        ),
        (
            "Sure! Here you go.\n**Concise summary:** Short.\n**Detailed summary:**\nLong.",
            {"concise": "Short.", "detailed": "Long."},
        ),
        (
            "Concise: a cat sat.\nDetailed: a black cat sat on a mat.",
            {"concise": "a cat sat.", "detailed": "a black cat sat on a mat."},
        ),
        (
            "## Part 2: Detailed\nLong first.\n## Part 1: Concise\nShort last.",
            {"concise": "Short last.", "detailed": "Long first."},
        ),
        (
            "First paragraph.\n\nSecond paragraph.\n\nThird.",
            {"concise": "First paragraph.", "detailed": "Second paragraph.\n\nThird."},
        ),
        ("Only one paragraph.", {"concise": "Only one paragraph.", "detailed": ""}),
        ("### DETAILED\nOnly the long one.", {"concise": "", "detailed": "Only the long one."}),
        ("", {"concise": "", "detailed": ""}),
        (
            "### 1. The concise part\nShort.\n### 2) Detailed summary:\nLong.",
            {"concise": "Short.", "detailed": "Long."},
        ),
        # a markdown heading starting with the role: the rest of the line is a title
        (
            "### CONCISE and the concise part\nShort.\n\n## Detailed version of the post\nLong.",
            {"concise": "Short.", "detailed": "Long."},
        ),
        ("# Concise: Short.\n# Detailed\nLong.", {"concise": "Short.", "detailed": "Long."}),
        # a heading that does not start with a role is not a header
        (
            "### Summary of the concise kind\nShort.\n\nLong.",
            {"concise": "### Summary of the concise kind\nShort.", "detailed": "Long."},
        ),
        # a role name inside a sentence is not a header
        (
            "The concise version misses things.\n\nMore.",
            {"concise": "The concise version misses things.", "detailed": "More."},
        ),
    ],
)
def test_split_sections_worked_examples(answer, expected):
    assert split_sections(answer, ["concise", "detailed"]) == expected


def test_split_sections_role_names_with_underscores():
    roles = ["main_writer", "critic"]
    assert split_sections("### MAIN WRITER\nText.\n### critic\nNote.", roles) == {
        "main_writer": "Text.",
        "critic": "Note.",
    }


CODE_ANSWER = '''Here is my solution.

```python
import math
from typing import List

def aux(numbers: List[float]) -> float:
    """Mean."""
    return sum(numbers) / len(numbers)

def mean_absolute_deviation(numbers: List[float]) -> float:
    m = aux(numbers)
    return sum(abs(x - m) for x in numbers) / len(numbers)
```
It uses the helper.'''


def test_split_code_worked_example():
    parts = split_code(CODE_ANSWER)
    assert parts["helper"] == (
        "import math\nfrom typing import List\n"
        'def aux(numbers: List[float]) -> float:\n    """Mean."""\n'
        "    return sum(numbers) / len(numbers)"
    )
    assert parts["main"] == (
        "import math\nfrom typing import List\n"
        "def mean_absolute_deviation(numbers: List[float]) -> float:\n"
        "    m = aux(numbers)\n    return sum(abs(x - m) for x in numbers) / len(numbers)"
    )


def test_split_code_without_fences_decorators_and_syntax_errors():
    unfenced = "import functools\n@functools.cache\ndef aux(n):\n    return n\n\ndef f(n):\n    return aux(n)\n"
    parts = split_code(unfenced)
    assert parts["helper"] == "import functools\n@functools.cache\ndef aux(n):\n    return n"
    assert parts["main"] == "import functools\ndef f(n):\n    return aux(n)"
    broken = "def aux(n):\n    return n +\n\ndef f(n):\n    return aux(n)\n"
    parts = split_code(broken)
    assert parts["helper"] == "def aux(n):\n    return n +"
    assert parts["main"] == "def f(n):\n    return aux(n)"
    assert split_code("def f(n):\n    return n") == {
        "helper": "",
        "main": "def f(n):\n    return n",
    }
    assert split_code("no code at all") == {"helper": "", "main": "no code at all"}


def test_single_formats_per_family():
    assert isinstance(format_for_roles(["helper", "main"]), CodeFormat)
    assert isinstance(format_for_roles(["concise", "detailed"]), SectionFormat)
    assert isinstance(format_for_roles(["background", "method"]), SectionFormat)
    assert isinstance(format_for_roles(["anything", "else"]), SectionFormat)
    prompt = CodeFormat().prompt({"helper": "H-OBS", "main": "M-OBS"}, ["helper", "main"])
    assert "H-OBS" in prompt and "M-OBS" in prompt and "`aux`" in prompt and "```python" in prompt
    prompt = SectionFormat().prompt(
        {"concise": "C-OBS", "detailed": "D-OBS"}, ["concise", "detailed"]
    )
    assert prompt.index("C-OBS") < prompt.index("D-OBS") < prompt.index("### CONCISE")
    assert "### DETAILED" in prompt


def test_single_answers_every_solver_of_a_reasoning_team():
    from collabzoo.protocols.single import SameAnswerFormat

    roles = ["solver_a", "solver_b"]
    fmt = format_for_roles(roles)
    assert isinstance(fmt, SameAnswerFormat)
    assert fmt.prompt({"solver_a": "A-OBS", "solver_b": "B-OBS"}, roles) == "A-OBS"
    assert fmt.parse("so <answer>5</answer>", roles) == {
        "solver_a": "so <answer>5</answer>", "solver_b": "so <answer>5</answer>"}


def test_split_shared_shows_common_paragraphs_once():
    observations = {
        "concise": "Write a concise summary.\n\nPOST: a long post\n\nInstructions: short.",
        "detailed": "Write a detailed summary.\n\nPOST: a long post\n\nInstructions: long.",
    }
    shared, own = split_shared(observations, ["concise", "detailed"])
    assert shared == ["POST: a long post"]
    assert own == {
        "concise": ["Write a concise summary.", "Instructions: short."],
        "detailed": ["Write a detailed summary.", "Instructions: long."],
    }
    prompt = SectionFormat().prompt(observations, ["concise", "detailed"])
    assert prompt.count("POST: a long post") == 1
    assert prompt.index("POST") < prompt.index("## Part 1: the concise part")


# ----------------------------------------------------------------------------- coding, end to end
AUX = "```python\ndef aux(a, b):\n    return abs(a - b)\n```"
MAIN = (
    "def has_close_elements(numbers, threshold):\n"
    "    return any(aux(a, b) < threshold\n"
    "               for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
)


def coder(observation: str) -> str:
    """Answers HumanEval problem 0: aux for the helper, the main function for main, both
    in one block for the single prompt."""
    if "programmers would write together" in observation:
        return "Here it is:\n```python\n" + AUX.strip("`").removeprefix("python\n") + MAIN + "```"
    return AUX if "You are the helper" in observation else MAIN


@pytest.mark.parametrize("protocol", ["parallel", "single"])
def test_humaneval_known_solution_scores_full_marks(protocol):
    env = make_offline("collabzoo/HumanEval-v1", split="eval")
    records = run_episodes(env, [ScriptedAgent(coder)], protocol, task_indices=[0])
    env.close()
    assert records[0].reward == 4.0
    summary = summarize(records)
    assert summary["pass_rate"]["mean"] == 1.0 and summary["pass_all_rate"]["mean"] == 1.0
    assert summary["cooperation_rate"]["mean"] == 1.0
    if protocol == "single":
        actions = records[0].turns[0].actions
        assert (
            actions["helper"].startswith("def aux(a, b):")
            and "def has_close" not in actions["helper"]
        )
        assert (
            actions["main"].startswith("def has_close_elements")
            and "def aux" not in actions["main"]
        )
