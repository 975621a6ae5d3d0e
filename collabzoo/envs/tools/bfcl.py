"""collabzoo/BFCL-v1: two agents answer one request with function calls, checked by AST match.

| | |
|---|---|
| Id | `collabzoo/BFCL-v1` |
| Import | `from collabzoo.envs.tools.bfcl import BFCLEnv` |
| Agents | `("first_caller", "second_caller")` |
| Observation space | `gymnasium.spaces.Text` (the request, the functions' JSON schemas, the agent's share) |
| Action space | `gymnasium.spaces.Text` (any `str` is accepted by `step`) |
| Joint reward | `[0, 1.0]`, every agent gets the same; 1.0 = BFCL counts the answer correct |
| Data | the Berkeley Function Calling Leaderboard v4, categories `parallel`, `parallel_multiple` (default), `multiple`, `simple`, vendored from PyPI `bfcl-eval` 2026.3.23 (Apache-2.0) |
| Reference | the authors' task repository `OpenMLRL/LLM_Collab_BFCL-v4`, task `native_parallel`: README, config and reward at commit `10045469b293bbf44d5e23d2af41f92893fe54a4`, prompts (`formatting.py`) at `178b9dc4494ca2a22cf72d8600911830c01b04cb` |

A user request that needs several function calls (``parallel``: one function called several
times; ``parallel_multiple``: several functions) and the schemas of the functions it may
use. Two agents, who cannot see each other's answer, produce the calls together: the team's
answer is the first agent's calls followed by the second's, and it is scored against BFCL's
possible answers with collabzoo's AST checker (:mod:`collabzoo.envs.tools.ast_check`). The
``multiple`` (one call, chosen among 2-4 functions) and ``simple`` (one call, one function)
categories are there for comparison with a single agent.

## Observations
Each agent sees, in blank-line separated paragraphs: its share of the work (below), the
request (the user turn of BFCL's ``question``), the functions' schemas (BFCL's ``function``
entries, one JSON object per line, as BFCL shows them to prompting models), and the answer
format (a JSON list ``[{"name": ..., "arguments": {...}}]``, or Python calls
``[f(a=1), g(b=2)]`` with ``call_format="python"``). The last three paragraphs are the same
for both agents. With ``num_turns > 1``, later observations add the agent's own earlier
answers, each followed by feedback: the joint reward, every call the team made (its own and
its partner's, marked) with what is wrong with it ("wrong type for 'duration'", "value of
'city' not accepted", "not needed"), and how many needed calls are still missing. The
feedback never shows an allowed value.

The share (``role_split``):

- ``"by_order"`` (default): ``first_caller`` makes the first half of the calls, in the order the
  request asks for them (the middle one too when the number is odd; the only one when there
  is one), ``second_caller`` the rest (nothing, answering ``[]``, when there is one call). A fixed
  convention lets two agents that cannot talk split the work without gaps or overlaps.
- ``"self_select"``: the authors' default (their ``role_mode: self_select``): each agent
  makes the calls it is surest of, "a useful non-empty subset", knowing that the other does
  the same. Both must learn a split.

## Actions
Each agent's calls, any ``str``: see :mod:`collabzoo.envs.tools.parsing` for what is read
(JSON in any of four common shapes, or Python-call syntax, inside tool-call tags, code fences
or prose; positional arguments ignored, values read as literals, never evaluated). Prose,
broken JSON or an empty answer is an agent with no calls (the team is scored on the other's
calls); only the first 20,000 characters are read, so a 1 MB answer costs no more than a
short one. An answer with more than 32 calls scores the team 0 (``too_many``).

## Rewards
The score of a turn is :func:`~collabzoo.envs.tools.ast_check.check_calls` on the team's
calls (the first agent's, then the second's; a call both make is there twice):

- each team call is paired with at most one needed call (BFCL's possible answer), in any
  order, so that the summed credit is largest: 1 for a valid call (the right function, every
  required parameter, no unexpected one, every value of an allowed type and value; BFCL's
  rules), else 0.25 + 0.5 x (parameters right) / (parameters + unexpected ones) for the right
  function, else 0;
- ``score = summed credit / max(needed calls, team calls)``, in [0, 1]: 1 exactly when the
  team made every needed call validly and nothing else (BFCL's verdict), and every extra or
  duplicated call lowers it.

``infos[agent]["reward_components"]`` holds ``exact`` (1.0 when BFCL counts the answer
correct), ``recall`` (valid calls / needed calls) and ``precision`` (valid calls / team
calls, 0 without calls), logged as ``reward/<component>``; ``infos[agent]`` also has
``correct_calls``, ``expected_calls``, ``made_calls``, ``score`` (with ``num_turns > 1`` the reward of a later turn is the improvement of the score
over the previous turn's), ``return_normalized`` (= score), ``calls`` (every team call: agent,
name, arguments, problem or ``None``), ``format_<agent>`` (``json``, ``python``, ``empty`` or
``none``), ``calls_<agent>`` (how many calls it made) and ``too_many``.

Worked examples on ``parallel_0`` ("Play songs from Taylor Swift and Maroon 5, 20 and 15
minutes, on Spotify"; two ``spotify.play(artist, duration)`` calls), each checked in
``tests/test_bfcl_env.py``:

- ``first_caller`` calls Taylor Swift for 20, ``second_caller`` Maroon 5 for 15: 1.0.
- the same, but ``second_caller`` writes ``"duration": "15"`` (a string): (1 + 0.25 + 0.5 x 1/2) / 2
  = 0.75.
- both agents make both calls: four calls for two needed: (1 + 1) / 4 = 0.5.
- ``first_caller`` makes both calls, ``second_caller`` answers prose: 1.0 (the team's calls are right).
- ``first_caller`` answers ``spotify.play(artist="Taylor Swift")`` (``duration`` missing), ``second_caller``
  nothing: (0.25 + 0.5 x 1/2) / 2 = 0.25.

Differences from the authors' reward (``native_parallel_reward.py`` at the commit above):
theirs is a weighted sum of parse success, function-name F1, argument match, call count, a
balance term (each agent's share close to an even split), an exact-match bonus, and
penalties for overlap between agents, lazy agents, extra and duplicated calls, clipped to
[-0.4, 1.2]; calls are de-duplicated before they are matched, and values are compared after
their own normalisation, not with BFCL's types and rules. Here the reward is BFCL's own
criterion with partial credit, so that 1.0 means the leaderboard counts the answer correct;
overlap costs through the extra calls, and who made which call does not matter. The split of
the work is left to the roles' prompts (``role_split``).

## Episode End
Terminates after ``num_turns`` turns, or earlier when the answer is exact. Never truncates.

## Arguments
``BFCLEnv(categories=("parallel", "parallel_multiple"), split="train", dataset="bundled",
max_items=None, role_split="by_order", call_format="json", num_turns=1, render_mode=None)``

- ``categories``: any of ``"parallel"``, ``"parallel_multiple"``, ``"multiple"``,
  ``"simple"`` (BFCL's ``simple_python``), as a sequence or one comma-separated string
  (``--env-kwargs categories=parallel,multiple``); items in this order, each category in
  BFCL's order.
- ``split``: ``"test"`` = the items numbered 0-49 of each category (``parallel_0`` ..
  ``parallel_49``), ``"train"`` = the others, ``"all"``. The two never share an item.
- ``dataset``: ``"bundled"`` (the vendored files) or the path of a folder laid out like
  ``bfcl_eval/data`` of a ``bfcl-eval`` wheel (``BFCL_v4_<category>.json`` and
  ``possible_answer/``), to score another release.
- ``max_items``: keep only the first ``max_items`` items of the split.
- ``role_split``: ``"by_order"`` or ``"self_select"`` (see Observations).
- ``call_format``: the format the prompt asks for, ``"json"`` or ``"python"``; both are read.
- ``num_turns``, ``render_mode``: as every collabzoo env.

Why vendored, not read from an installed ``bfcl-eval``: its wheel pins ``numpy==1.26.4`` and
pulls API clients, ``faiss-cpu`` and ``sentence-transformers``, which would clash with the
training stack; the four files used are 1.4 MB under Apache-2.0, so they ship in the package
(licence and source in ``data/bfcl/NOTE.md``), and ``dataset=`` reads any unzipped release.

``metadata["answer_tokens"]`` is 256 per agent: one agent may have to write every call (under
``self_select`` or the ``single`` protocol), and the JSON of all the calls of an item (each
parameter at its first allowed value) fits in 256 SmolLM2 tokens for 997 of the 1,000 items
(the longest: 338); see :mod:`collabzoo.envs.answer_length`.

## Version History
- v1: first version (numbered like the other ``-v1`` envs: the multi-turn reward is the
  improvement of the score).

## Example
>>> import collabzoo
>>> env = collabzoo.make("collabzoo/BFCL-v1", split="all")
>>> observations, infos = env.reset(options={"task_index": 0})
>>> env.task["id"], env.agents
('parallel_0', ['first_caller', 'second_caller'])
>>> first = '[{"name": "spotify.play", "arguments": {"artist": "Taylor Swift", "duration": 20}}]'
>>> second = 'spotify.play(artist="Maroon 5", duration=15)'
>>> _, rewards, terminations, _, infos = env.step({"first_caller": first, "second_caller": second})
>>> rewards["first_caller"], terminations["first_caller"], infos["first_caller"]["reward_components"]["exact"]
(1.0, True, 1.0)
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from collabzoo.envs.core import Score, TextCollabEnv
from collabzoo.envs.data import DatasetUnavailableError, check_max_items
from collabzoo.envs.tools.ast_check import Call, check_calls
from collabzoo.envs.tools.parsing import parse_calls

__all__ = ["CATEGORIES", "DATA_DIR", "ROLE_SPLITS", "BFCLEnv", "bfcl_score", "load_bfcl"]

DATA_DIR = Path(__file__).resolve().parent / "data" / "bfcl"
#: Category name -> BFCL's file stem.
CATEGORIES: dict[str, str] = {
    "parallel": "parallel", "parallel_multiple": "parallel_multiple",
    "multiple": "multiple", "simple": "simple_python",
}
SPLITS = ("train", "test", "all")
#: Items numbered below this are the test split.
TEST_ITEMS = 50
ROLE_SPLITS = ("by_order", "self_select")
_NUMBER = re.compile(r"_(\d+)$")

TEAM_INTRO = (
    "You are the {position} of two agents who answer one request together with function "
    "calls. You cannot see the other agent's answer. The team's calls are your calls and "
    "theirs together; a call you both make is made twice."
)
SHARES: dict[str, dict[str, str]] = {
    "by_order": {
        "first_caller": " Make the first half of the calls the request needs, in the order the "
                 "request asks for them: with an odd number of calls, the middle one is yours "
                 "too, and a single call is yours.",
        "second_caller": " Make the second half of the calls the request needs, in the order the "
                  "request asks for them: the other agent makes the first half (with an odd "
                  "number of calls, the middle one too). With a single call, make none and "
                  "answer [].",
    },
    "self_select": {
        role: " Make a useful part of the calls: those you are surest of. You need not make "
              "every call, and should make none only when the request needs no call."
        for role in ("first_caller", "second_caller")
    },
}
ANSWER_FORMATS: dict[str, str] = {
    "json": (
        'Answer with your function calls only, as a JSON list, for example:\n'
        '[{"name": "function_name", "arguments": {"parameter": "value", "number": 3}}]\n'
        "Write nothing else. If you make no call, answer []."
    ),
    "python": (
        "Answer with your function calls only, as a Python list of calls with keyword "
        'arguments, for example:\n[function_name(parameter="value", number=3)]\n'
        "Write nothing else. If you make no call, answer []."
    ),
}


def _read_lines(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _category_file(folder: Path, stem: str) -> Path:
    for suffix in (".jsonl", ".json"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise DatasetUnavailableError(
        f"no BFCL file {stem}.json(l) in {folder}; pass dataset='bundled' or a folder laid out "
        "like bfcl_eval/data of a bfcl-eval wheel"
    )


@functools.lru_cache(maxsize=8)
def _load_category(folder: str, category: str) -> tuple[dict[str, Any], ...]:
    root, stem = Path(folder), f"BFCL_v4_{CATEGORIES[category]}"
    questions = _read_lines(_category_file(root, stem))
    answers = {a["id"]: a["ground_truth"] for a in
               _read_lines(_category_file(root / "possible_answer", stem))}
    missing = [q["id"] for q in questions if q["id"] not in answers]
    if missing:
        raise DatasetUnavailableError(f"{stem}: no possible answer for {missing[:3]}")
    return tuple(
        {"id": q["id"], "category": category, "question": q["question"],
         "function": q["function"], "ground_truth": answers[q["id"]]}
        for q in questions
    )


def load_bfcl(
    categories: Sequence[str] = ("parallel", "parallel_multiple"),
    split: str = "train",
    dataset: str = "bundled",
    max_items: int | None = None,
) -> list[dict[str, Any]]:
    """The items of ``split`` in ``categories`` (see the module docstring's Arguments).

    Each item is ``{"id", "category", "question", "function", "ground_truth"}``; the items of
    one folder and category are read once per process and shared.
    """
    check_max_items(max_items)
    if isinstance(categories, str):  # "parallel,multiple", as --env-kwargs gives it
        categories = tuple(c.strip() for c in categories.split(",") if c.strip())
    unknown = [c for c in categories if c not in CATEGORIES]
    if unknown or not categories:
        raise ValueError(f"unknown BFCL categories {unknown}; choose from {list(CATEGORIES)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; the splits are {list(SPLITS)}")
    folder = DATA_DIR if dataset == "bundled" else Path(dataset)
    if not folder.is_dir():
        raise DatasetUnavailableError(
            f"dataset {dataset!r} is not a folder; pass dataset='bundled' (the vendored data) "
            "or the bfcl_eval/data folder of an unzipped bfcl-eval wheel"
        )
    items: list[dict[str, Any]] = []
    for category in dict.fromkeys(categories):
        for item in _load_category(str(folder.resolve()), category):
            match = _NUMBER.search(item["id"])
            test = match is not None and int(match.group(1)) < TEST_ITEMS
            if split == "all" or test == (split == "test"):
                items.append(item)
    return items[:max_items] if max_items is not None else items


def request_text(item: Mapping[str, Any]) -> str:
    """The user turn(s) of BFCL's ``question`` (other roles labelled)."""
    messages = [m for turn in item["question"] for m in turn]
    if len(messages) == 1:
        return str(messages[0].get("content", ""))
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages)


def bfcl_score(item: Mapping[str, Any], answers: Sequence[str]) -> tuple[float, dict[str, Any]]:
    """The team's score on ``item`` for the agents' ``answers`` (in role order), and the
    details: a pure function (see Rewards in the module docstring)."""
    parsed = [parse_calls(a) for a in answers]
    calls: list[Call] = [c for p in parsed for c in p.calls]
    owners = [k for k, p in enumerate(parsed) for _ in p.calls]
    check = check_calls(calls, item["ground_truth"], item["function"])
    too_many = any(p.too_many for p in parsed)
    score = 0.0 if too_many else check.score
    details = {
        "exact": check.exact and not too_many,
        "correct_calls": check.correct,
        "expected_calls": check.expected,
        "made_calls": check.made,
        "too_many": too_many,
        "formats": [p.format for p in parsed],
        "counts": [len(p.calls) for p in parsed],
        "calls": [
            {"agent": owners[i], **call.to_dict(), "problem": check.problems[i]}
            for i, call in enumerate(calls)
        ],
    }
    return score, details


def _render_call(call: Mapping[str, Any]) -> str:
    arguments = call["arguments"] if isinstance(call["arguments"], dict) else {}
    text = f"{call['name']}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})"
    return text if len(text) <= 200 else text[:197] + "..."


class BFCLEnv(TextCollabEnv):
    """collabzoo/BFCL-v1 (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {
        "name": "bfcl_v1",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
        "answer_tokens": {"first_caller": 256, "second_caller": 256},
        "answer_tokens_note": "one agent may write every call: 997 of 1,000 items fit in 256",
    }
    roles = ("first_caller", "second_caller")
    reward_max: ClassVar[float] = 1.0

    def __init__(
        self,
        categories: Sequence[str] = ("parallel", "parallel_multiple"),
        split: str = "train",
        dataset: str = "bundled",
        max_items: int | None = None,
        role_split: str = "by_order",
        call_format: str = "json",
        num_turns: int = 1,
        render_mode: str | None = None,
    ) -> None:
        if role_split not in ROLE_SPLITS:
            raise ValueError(f"role_split must be one of {ROLE_SPLITS}, got {role_split!r}")
        if call_format not in ANSWER_FORMATS:
            raise ValueError(f"call_format must be one of {list(ANSWER_FORMATS)}, got {call_format!r}")
        self.split, self.dataset = split, dataset
        self.role_split, self.call_format = role_split, call_format
        self.tasks = load_bfcl(categories, split, dataset, max_items)
        self.categories = tuple(dict.fromkeys(t["category"] for t in self.tasks))
        if not self.tasks:
            raise ValueError(f"no BFCL item in categories {categories!r}, split {split!r}")
        super().__init__(num_turns=num_turns, render_mode=render_mode)

    # ------------------------------------------------------------------ task hooks
    def prompt(self, agent: str, task: Mapping[str, Any]) -> str:
        position = "first" if agent == self.roles[0] else "second"
        schemas = "\n".join(json.dumps(f, ensure_ascii=False) for f in task["function"])
        return "\n\n".join([
            TEAM_INTRO.format(position=position) + SHARES[self.role_split][agent],
            f"User request:\n{request_text(task)}",
            f"Available functions (JSON schemas):\n{schemas}",
            ANSWER_FORMATS[self.call_format],
        ])

    def score(self, task: Mapping[str, Any], actions: Mapping[str, str]) -> Score:
        value, found = bfcl_score(task, [actions[a] for a in self.roles])
        details: dict[str, Any] = {
            key: found[key] for key in ("correct_calls", "expected_calls", "made_calls", "too_many")
        }
        details["calls"] = [{**c, "agent": self.roles[c["agent"]]} for c in found["calls"]]
        for role, fmt, count in zip(self.roles, found["formats"], found["counts"], strict=True):
            details[f"format_{role}"], details[f"calls_{role}"] = fmt, count
        components = {
            "exact": float(found["exact"]),
            "recall": found["correct_calls"] / max(found["expected_calls"], 1),
            "precision": found["correct_calls"] / max(found["made_calls"], 1),
        }
        return Score(reward=value, components=components, details=details, solved=found["exact"])

    def feedback(
        self, agent: str, task: Mapping[str, Any], actions: Mapping[str, str], score: Score
    ) -> str:
        """The joint reward, every team call with its problem, and how many calls are missing."""
        d = score.details
        lines = [f"The team's joint reward was {score.reward:.2f} of {self.reward_max:g}."]
        if d["too_many"]:
            lines.append("- An answer had more than 32 calls: the whole answer scored 0.")
        calls = d["calls"]
        lines.append(f"The team made {len(calls)} calls, {d['correct_calls']} of them correct:")
        for call in calls:
            who = "yours" if call["agent"] == agent else "partner's"
            verdict = call["problem"] or "correct"
            lines.append(f"- ({who}) {_render_call(call)}: {verdict}")
        missing = d["expected_calls"] - d["correct_calls"]
        if missing > 0:
            lines.append(f"Needed calls not yet made correctly: {missing}.")
        return "\n".join(lines)
