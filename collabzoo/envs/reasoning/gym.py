"""collabzoo/ReasoningGym-v1: two solvers cross-check their answers to one reasoning-gym problem.

| | |
|---|---|
| Id | `collabzoo/ReasoningGym-v1` |
| Import | `from collabzoo.envs.reasoning.gym import ReasoningGymEnv` |
| Agents | `("solver_a", "solver_b")` |
| Observation space | `gymnasium.spaces.Text` (each agent's own prompt, later its partner's answer) |
| Action space | `gymnasium.spaces.Text` (any `str` is accepted by `step`) |
| Joint reward | `[0, 1.0]`, every agent gets the same |
| Data | any of reasoning-gym's ~100 procedural datasets (`pip install 'collabzoo[reasoning]'`) |
| Reference | reasoning-gym (Stojanovski et al., 2025), PyPI `reasoning-gym`, Apache-2.0 |

Any dataset of reasoning-gym (arithmetic, algebra, logic, graphs, games, ...) as a team task
with a verifiable reward: the score is reasoning-gym's own checker (the dataset's
``score_answer``), and difficulty is a knob of the dataset's config (``task_config``).

## The team protocol (cross-check)
Two solvers work on the same problem; neither sees the other's answer in the same turn.
Turn 1: each solves it and gives an answer. Turn 2 (the default ``num_turns=2``): each reads
its partner's turn-1 answer (the text, its last 1,200 characters, and the answer in its
tags) next to its own, and gives its final answer. The team is scored on both agents'
answers of every turn, so an agent that was right must make its answer convincing and an
agent that was wrong can only recover through its partner's: with ``joint="min"`` the team
scores only when both end right. Later turns (``num_turns > 2``) repeat turn 2. The
feedback never says whether an answer was right (that would leak the checker's verdict).

## Observations
Turn 1, each agent: the dataset item's ``question`` (reasoning-gym's text, which states the
answer format the checker expects), then "You are solver A (B) of a team of two; the team is
scored on both answers." (with ``num_turns > 1`` also: "Before your final answer you will
see solver B's (A's) answer."), then: "Reason briefly, then put only your final answer
between <answer> and </answer>." The two prompts differ only in the letters, so that one
model playing both solvers with greedy decoding does not give two copies of one answer.
From turn 2 on: that prompt, then for every earlier turn the agent's own answer and the
feedback: the partner's answer (the last 1,200 characters), both answers as extracted, and
the request to give the final answer in tags. (``collabzoo eval --protocol single`` asks one
agent with solver A's prompt and gives its answer to both solvers.)

## Actions
Any ``str``. The answer is the content of the LAST complete ``<answer>...</answer>`` pair
(tags in any case, content stripped; :func:`~collabzoo.envs.reasoning.scoring.extract_answer`).
Without one (no tags, or an opening tag cut off before its closing one) the agent has no
answer and scores 0 (reasoning-gym's own convention), unless ``untagged="last_line"`` (the
last non-empty line is the answer) or ``untagged="last_number"`` (the last number in the
text: for numeric tasks and models that never write tags, such as SmolLM2-135M-Instruct).
Answers longer than 4,096 characters score 0 without being checked. Empty, unicode, 1 MB or
broken-tag texts are scored like any other, never refused.

## Rewards
Each agent's answer of a turn gets ``s_agent = score_answer(answer, item)`` of the
dataset (in [0, 1]; most datasets give 1 for a correct answer and 0 otherwise, some give
partial credit, e.g. the default checker pays len(expected) / len(answer) when the answer
contains the expected one). A checker that raises, or returns no finite number, scores 0.
The joint score of the turn is ``mean(s_solver_a, s_solver_b)`` (``joint="mean"``, default)
or ``min(...)`` (``joint="min"``). The reward of turn 1 is that score; the reward of turn t
is the score of turn t minus that of turn t-1 (improvement), so the undiscounted return of an
episode is the joint score of its final turn's answers.

``infos[agent]["reward_components"]``: ``solver_a``, ``solver_b`` (each agent's checker
score), ``no_answer``, ``too_long``, ``checker_error`` (how many of the two answers were not
scored by the checker, for each reason). ``infos[agent]`` also has ``score``,
``return_normalized`` (= score), ``answers`` (the extracted answers), ``reasons`` (per
agent: ``""``, ``"no_answer"``, ``"too_long"``, ``"checker_error: <Type>: <message>"``,
``"not_a_number"``) and ``expected_answer`` (the dataset's answer: infos never reach the
agents).

Worked examples on ``leg_counting``, ``split="all"``, item 0 (expected answer ``"500"``),
``num_turns=2`` (checked in ``tests/test_reasoning_env.py``): both answer
``<answer>500</answer>`` on turn 1: reward 1.0, solved, the episode ends. ``solver_a``
answers ``... <answer>500</answer>``, ``solver_b`` ``I count 490.``: reward 0.5 (``no_answer``
1); on turn 2 both answer ``<answer> 500 </answer>``: reward 0.5 (score 1.0), return 1.0.
With ``joint="min"`` the same turns pay 0.0 then 1.0. ``<answer>490</answer>`` scores 0,
``<answer>500 legs</answer>`` 0.375 (leg_counting keeps reasoning-gym's default checker:
an answer that contains the expected one earns len("500") / len("500 legs")).

## Episode End
Terminates after ``num_turns`` turns, or earlier when both answers score 1 (nothing left to
improve). Never truncates.

## Arguments
``ReasoningGymEnv(task="leg_counting", task_config=None, size=500, data_seed=0,
split="train", num_turns=2, joint="mean", untagged="zero", render_mode=None)``

- ``task``: a reasoning-gym dataset name (``reasoning_gym.factory.DATASETS``).
- ``task_config``: that dataset's config keys (its difficulty lives there), e.g.
  ``{"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}`` for ``chain_sum``;
  an unknown key or an invalid value is a ``ValueError`` that lists the keys.
- ``size``: items in the split (``num_tasks``), at most (see ``split``).
- ``data_seed``: the dataset's seed. Beware: reasoning-gym derives item i from the seed
  ``data_seed + i``, so seed 1's item i is seed 0's item i + 1; different seeds are not
  different data.
- ``split``: ``"all"``: item i is exactly item i of ``reasoning_gym.create_dataset(task,
  seed=data_seed, size=size, **task_config)``. ``"train"`` / ``"test"``: the items of that
  dataset's stream (items 0, 1, 2, ...) whose question falls into the split by its hash
  (SHA-256 of the question text: 20% of questions are test questions), the first ``size``
  distinct questions in stream order (a repeated question is skipped). A question is in the
  same split whatever the seed, size or order, so train and test never share an item (not
  even a repeated question, which small-number configs produce often). A split with fewer
  distinct questions than ``size`` holds all of them and warns (:class:`SplitSizeWarning`):
  ``chain-small`` has 200 questions, 39 of them test questions, so its training ``size=160``
  evaluates on ``split="test"`` with the same kwargs; a split with none raises.
- ``num_turns``: turns per episode (1: two independent answers, no cross-check).
- ``joint``: ``"mean"`` or ``"min"`` of the two agents' scores (see Rewards).
- ``untagged``: ``"zero"`` (default), ``"last_line"`` or ``"last_number"`` (see Actions).
- ``render_mode``: ``"ansi"`` (``render()`` returns the transcript) or ``None``.

Curated difficulty presets (:data:`CURATED`, kwargs for ``collabzoo.make``), chosen by
measuring the untrained SmolLM2-135M-Instruct (``benchmarks/reasoning_untrained.sh``) so that
it scores above 0 and far below the top: ``chain-small`` (``chain_sum`` of two one-digit
terms) and ``arith-small`` (two or three one-digit ``basic_arithmetic`` terms, + and -), each
with ``untagged="last_number"`` (the model does not write the tags it is asked for).
``leg_counting`` with two or three animals was measured too and scored 0.

``metadata["answer_tokens"]`` is 256 for each agent: room for a short reasoning and the tag;
the tagged answer of the curated presets takes under 16 tokens.

## Version History
- v1: first version (-v1 like the other collabzoo envs: multi-turn reward = improvement).

## Example
>>> import collabzoo
>>> env = collabzoo.make("collabzoo/ReasoningGym-v1", task="leg_counting", split="all")
>>> obs, infos = env.reset(options={"task_index": 0})
>>> env.task["answer"]
'500'
>>> _, rewards, terms, _, infos = env.step(
...     {"solver_a": "5*6 + 8*0 + ... = 500 <answer>500</answer>", "solver_b": "I count 490."})
>>> rewards["solver_a"], terms["solver_a"], infos["solver_b"]["reward_components"]
(0.5, False, {'solver_a': 1.0, 'solver_b': 0.0, 'no_answer': 1.0, 'too_long': 0.0, 'checker_error': 0.0})
>>> "I count 490." in env.step({"solver_a": "ok", "solver_b": "x"})[0]["solver_a"]
True
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib
import warnings
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, ClassVar, Literal

from collabzoo.envs.core import Score, TextCollabEnv
from collabzoo.envs.reasoning.scoring import (
    MAX_ANSWER_CHARS,
    Checker,
    extract_answer,
    joint_score,
    score_answer_safely,
)

__all__ = ["CURATED", "SPLITS", "TEST_PERCENT", "ReasoningGymEnv", "SplitSizeWarning",
           "in_test_split", "load_items"]

#: The split names; see the module docstring.
SPLITS = ("train", "test", "all")
#: Percent of questions (by the hash of their text) in the test split.
TEST_PERCENT = 20
#: Characters of the partner's answer shown in the feedback (the end: the answer is last).
PARTNER_CHARS = 1200
#: Curated difficulty presets: name -> ``collabzoo.make`` kwargs.
CURATED: dict[str, dict[str, Any]] = {
    "arith-small": {"task": "basic_arithmetic", "task_config": {
        "min_terms": 2, "max_terms": 3, "min_digits": 1, "max_digits": 1,
        "operators": ["+", "-"], "allow_parentheses": False, "allow_negation": False},
        "untagged": "last_number"},
    "chain-small": {"task": "chain_sum", "task_config": {
        "min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1},
        "untagged": "last_number"},
}

_INSTRUCTION = "Reason briefly, then put only your final answer between <answer> and </answer>."
_ROLE_LINE = "You are solver {me} of a team of two; the team is scored on both answers."
_CROSS_LINE = " Before your final answer you will see solver {partner}'s answer."


def _reasoning_gym() -> Any:
    try:
        return importlib.import_module("reasoning_gym")
    except ImportError as error:
        raise ImportError(
            "collabzoo/ReasoningGym-v1 needs the reasoning-gym package: "
            "pip install 'collabzoo[reasoning]' -c constraints.txt"
        ) from error


def in_test_split(question: str) -> bool:
    """Whether a question belongs to the test split: the first 8 bytes of the SHA-256 of its
    UTF-8 text, as an integer, mod 100 is below :data:`TEST_PERCENT`."""
    digest = hashlib.sha256(question.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < TEST_PERCENT


def _create(task: str, config: Mapping[str, Any], seed: int, size: int) -> Any:
    """``reasoning_gym.create_dataset`` with errors that say what to change."""
    rg = _reasoning_gym()
    datasets = rg.factory.DATASETS
    if task not in datasets:
        close = difflib.get_close_matches(task, list(datasets), n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown reasoning-gym task {task!r}.{hint} "
                         f"The tasks are reasoning_gym.factory.DATASETS ({len(datasets)}).")
    config_cls = datasets[task][1]
    keys = [f.name for f in dataclasses.fields(config_cls) if f.name not in ("seed", "size")]
    unknown = sorted(set(config) - set(keys))
    if unknown or "seed" in config or "size" in config:
        raise ValueError(f"task_config of {task!r} has unknown keys {unknown or ['seed/size']}; "
                         f"its keys are {keys} (seed and size are the env's data_seed and size)")
    try:
        return rg.create_dataset(task, seed=seed, size=size, **config)
    except (AssertionError, TypeError, ValueError) as error:
        raise ValueError(f"invalid task_config for {task!r}: {error or type(error).__name__} "
                         f"(its keys are {keys})") from error


@lru_cache(maxsize=16)
def _cached_items(task: str, config_key: str, size: int, data_seed: int,
                  split: str) -> tuple[Any, tuple[dict[str, Any], ...]]:
    config = _CONFIGS[config_key]
    if split == "all":
        dataset = _create(task, config, data_seed, size)
        return dataset, tuple(dataset[i] for i in range(size))
    want_test = split == "test"
    share = TEST_PERCENT if want_test else 100 - TEST_PERCENT
    # 20x what a fair hash needs: room for repeats (collecting the last distinct questions of
    # a small config takes many draws); only a config that fails pays for the whole scan
    scan = max(1000, size * 100 // share * 20)
    dataset = _create(task, config, data_seed, scan)
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index in range(scan):
        item = dataset[index]
        question = item["question"]
        if question not in seen and in_test_split(question) == want_test:
            seen.add(question)
            items.append(item)
            if len(items) == size:
                return dataset, tuple(items)
    if not items:
        raise ValueError(
            f"no question of the first {scan} items of {task!r} falls into split {split!r}: "
            "this task_config has too few distinct questions; widen the config")
    # A small config's test split (chain-small: 39 questions) is smaller than the size that
    # its train split uses: keep every question there is and say so once (the result is
    # cached), so that training and evaluation can share the env's kwargs but for the split.
    warnings.warn(
        f"split {split!r} of {task!r} holds only {len(items)} distinct questions (the first "
        f"{scan} items scanned), fewer than size={size}: using all {len(items)}",
        SplitSizeWarning, stacklevel=4)
    return dataset, tuple(items)


class SplitSizeWarning(UserWarning):
    """A ``train``/``test`` split has fewer distinct questions than ``size``; all are used."""


_CONFIGS: dict[str, dict[str, Any]] = {}


def load_items(task: str, task_config: Mapping[str, Any] | None, size: int, data_seed: int,
               split: str) -> tuple[Checker, Sequence[dict[str, Any]]]:
    """The reasoning-gym dataset (the checker) and the ``size`` items of one split.

    Cached: envs made with the same arguments share one dataset and one tuple of items.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")
    if isinstance(data_seed, bool) or not isinstance(data_seed, int):
        raise ValueError(f"data_seed must be an integer, got {data_seed!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    if not isinstance(task, str):
        raise ValueError(f"task must be a reasoning-gym dataset name (str), got {task!r}")
    if task_config is not None and not isinstance(task_config, Mapping):
        raise ValueError(f"task_config must be a dict of the dataset's config keys, got "
                         f"{type(task_config).__name__}")
    config = dict(task_config or {})
    key = repr(sorted(config.items()))
    _CONFIGS.setdefault(key, config)
    return _cached_items(task, key, size, data_seed, split)


class ReasoningGymEnv(TextCollabEnv):
    """collabzoo/ReasoningGym-v1 (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {
        "name": "reasoning_gym_v1",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
        "answer_tokens": {"solver_a": 256, "solver_b": 256},
        "answer_tokens_note": "a short reasoning and the <answer> tag; an answer cut off "
                              "before </answer> has no answer",
    }
    roles: ClassVar[tuple[str, ...]] = ("solver_a", "solver_b")
    reward_max: ClassVar[float] = 1.0
    _shared_attrs: ClassVar[tuple[str, ...]] = (*TextCollabEnv._shared_attrs, "checker")

    def __init__(
        self,
        task: str = "leg_counting",
        task_config: dict[str, Any] | None = None,
        size: int = 500,
        data_seed: int = 0,
        split: str = "train",
        num_turns: int = 2,
        joint: Literal["mean", "min"] = "mean",
        untagged: Literal["zero", "last_line", "last_number"] = "zero",
        render_mode: str | None = None,
    ) -> None:
        if joint not in ("mean", "min"):
            raise ValueError(f"joint must be 'mean' or 'min', got {joint!r}")
        extract_answer("", untagged)  # checks the value
        self.task_name, self.split, self.joint, self.untagged = task, split, joint, untagged
        self.checker, self.tasks = load_items(task, task_config, size, data_seed, split)
        super().__init__(num_turns=num_turns, render_mode=render_mode)

    # ------------------------------------------------------------------ task hooks
    def prompt(self, agent: str, task: Mapping[str, Any]) -> str:
        me, partner = ("A", "B") if agent == self.roles[0] else ("B", "A")
        team = _ROLE_LINE.format(me=me)
        if self.num_turns > 1:
            team += _CROSS_LINE.format(partner=partner)
        return f"{str(task['question']).rstrip()}\n\n{team}\n\n{_INSTRUCTION}"

    def score(self, task: Mapping[str, Any], actions: Mapping[str, str]) -> Score:
        entry = dict(task)
        results = {
            agent: score_answer_safely(
                self.checker, entry, extract_answer(actions[agent], self.untagged),
                MAX_ANSWER_CHARS)
            for agent in self.roles
        }
        scores = {agent: r.score for agent, r in results.items()}
        reasons = {agent: r.reason for agent, r in results.items()}
        components = dict(scores)
        for reason in ("no_answer", "too_long", "checker_error"):
            components[reason] = float(sum(r.startswith(reason) for r in reasons.values()))
        value = joint_score(scores, self.joint)
        return Score(
            reward=value,
            components=components,
            details={"answers": {a: r.answer for a, r in results.items()}, "reasons": reasons,
                     "expected_answer": str(task.get("answer"))},
            solved=all(s >= 1.0 for s in scores.values()),
        )

    def feedback(
        self, agent: str, task: Mapping[str, Any], actions: Mapping[str, str], score: Score
    ) -> str:
        """The partner's answer (its end) and both extracted answers; never the verdict."""
        partner = next(a for a in self.roles if a != agent)
        text = actions[partner]
        shown = text if len(text) <= PARTNER_CHARS else "..." + text[-PARTNER_CHARS:]
        answers = score.details["answers"]

        def said(role: str) -> str:
            value = answers[role]
            return "none in <answer> tags" if value is None else value

        return (f"Your partner's answer:\n{shown}\n\nYour partner's final answer: "
                f"{said(partner)}. Yours: {said(agent)}.\nCheck both, then put only the "
                "team's final answer between <answer> and </answer>.")
