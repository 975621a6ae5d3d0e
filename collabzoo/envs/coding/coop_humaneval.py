"""CoopHumanEval: coding problems designed so that a helper function is natural.

===================  ==========================================================
Id                   ``collabzoo/CoopHumanEval-v1``
Agents               ``("helper", "main")``
Observation space    ``gymnasium.spaces.Text`` (the prompt; later turns add feedback)
Action space         ``gymnasium.spaces.Text`` (any string: the agent's answer)
Reward               joint, in ``[0, 4.0]``
Import               ``collabzoo.make("collabzoo/CoopHumanEval-v1")``
===================  ==========================================================

Problems in HumanEval's schema whose solution splits naturally into a sub-step and the rest
(a primality test, a bracket matcher, a merge, a distance...): the hub dataset
``OpenMLRL/CoopHumanEval`` (82 problems) or the split bundled with collabzoo (20 problems
written for this project, each canonical solution checked by the tests; origin in
``data/NOTE.md``). Everything else -- agents, observations, code extraction, sandbox,
reward, feedback, episode end -- is exactly as in ``collabzoo/HumanEval-v1``
(:mod:`collabzoo.envs.coding.humaneval`); its docstring is the reference.

Observations:
    As in HumanEval-v1: ``helper`` is asked for ``def aux(...)`` only, ``main`` for the
    entry point, told that ``aux`` exists; later turns add each agent's own code and the
    feedback (static problems, the first failing *visible* test with expected vs actual;
    held-out tests are never shown, see ``feedback``).

Actions:
    Any string; code extracted as in HumanEval-v1 (the helper's ``aux`` wins over one that
    ``main`` writes).

Rewards (max 4.0, joint):
    ``aux_defined`` 0.4, ``main_defined`` 0.6 (gate), ``syntax`` 0.5 (gate), ``tests``
    passed/total in [0, 1], then, if a test passed and main calls ``aux``: ``aux_called``
    0.5, ``beyond_wrapper`` 1.0 (main is not just ``return aux(...)``),
    ``aux_return_ignored`` -0.5. A correct main that ignores ``aux`` scores 2.5. Where this
    differs from the authors' reward code (the combination of the answers, the tests, the
    thin-wrapper rule, the ignored-result penalty), which differences are fixes and which
    choices, with worked examples: HumanEval-v1's "Differences" section.

Episode End:
    Termination after ``num_turns`` turns, or earlier when every test passes. No truncation.

Arguments:
    - ``dataset``: ``"OpenMLRL/CoopHumanEval"`` (default, the hub's 82 problems),
      ``"bundled"`` (offline: the 20 problems shipped with collabzoo) or a local
      ``.jsonl``/``.parquet`` path in the same schema.
    - ``split``: ``"eval"`` = the first 16 problems, ``"train"`` = the others, ``"all"``.
    - ``source_split``: the split of a hub or folder dataset to read (default ``"test"``).
    - ``max_items``, ``num_turns``, ``render_mode``, ``max_workers``, ``sandbox_limits``,
      ``pool``: as in HumanEval-v1.
    - ``feedback``: ``"first_assert"`` (default), ``"docstring"`` or ``"none"``: which tests
      a later turn's feedback may show, as in HumanEval-v1 (every bundled problem has
      docstring examples).
    - ``combine`` (``"definitions"`` or ``"reference"``) and ``thin_wrapper`` (``"exact"`` or
      ``"reference"``): the authors' choices on request, as in HumanEval-v1.

    ``metadata["answer_tokens"]``: 256 for each agent, as in HumanEval-v1.

Version History:
    - v0: initial release. Fixed later in v0: the feedback showed the first failing test
      of *all* tests, which could be a held-out one; it now shows only visible tests
      (``feedback=``, default ``"first_assert"``). The reward is unchanged. Later added
      ``combine`` and ``thin_wrapper`` (defaults unchanged).
    - v1: with ``num_turns > 1`` the reward of turn t is the improvement of the joint score
      over turn t-1 (turn 1: the score), so an episode's undiscounted return is its final
      score and solving earlier is worth more under a discount; ``infos[agent]["score"]``
      holds the score and ``return_normalized`` is score / 4.0. ``-v0`` (deprecated, still
      registered) paid the full score every turn. Feedback shows only visible tests from
      the start.

>>> import collabzoo
>>> env = collabzoo.make("collabzoo/CoopHumanEval-v1", dataset="bundled", split="all")
>>> obs, _ = env.reset(options={"task_index": 6})
>>> env.task["entry_point"]
'list_gcd'
>>> helper = "```python\\ndef aux(a, b):\\n    while b:\\n        a, b = b, a % b\\n    return a\\n```"
>>> main = ("Using the helper:\\n```python\\ndef list_gcd(numbers):\\n    g = numbers[0]\\n"
...         "    for x in numbers[1:]:\\n        g = aux(g, x)\\n    return g\\n```")
>>> _, rewards, terminations, _, infos = env.step({"helper": helper, "main": main})
>>> rewards["main"], infos["main"]["tests_passed"], terminations["main"]
(4.0, 6, True)
>>> env.close()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from collabzoo.envs.coding.base import REQUIRED_COLUMNS, CodingCollabEnv
from collabzoo.envs.coding.sandbox import SandboxLimits, SandboxPool
from collabzoo.envs.data import check_max_items, load_records

__all__ = ["EVAL_SIZE", "SPLITS", "CoopHumanEvalEnv", "load_coop_humaneval"]

BUNDLED_DIR = Path(__file__).parent / "data" / "coop_humaneval"
HUB_ID = "OpenMLRL/CoopHumanEval"
EVAL_SIZE = 16
SPLITS = ("eval", "train", "all")


def load_coop_humaneval(
    dataset: str = HUB_ID,
    split: str = "eval",
    max_items: int | None = None,
    source_split: str = "test",
) -> list[dict[str, Any]]:
    """The records of one CoopHumanEval split (see the module docstring for the arguments)."""
    check_max_items(max_items)
    if split not in SPLITS:
        raise ValueError(f"unknown CoopHumanEval split {split!r}; the splits are {list(SPLITS)}")
    records = load_records(dataset, "all" if dataset == "bundled" else source_split,
                           bundled_dir=BUNDLED_DIR, required_columns=REQUIRED_COLUMNS)
    chosen = {"eval": records[:EVAL_SIZE], "train": records[EVAL_SIZE:], "all": records}[split]
    if not chosen:
        raise ValueError(f"dataset {dataset!r} has no problem in split {split!r}")
    return chosen[:max_items] if max_items is not None else chosen


class CoopHumanEvalEnv(CodingCollabEnv):
    """``collabzoo/CoopHumanEval-v1``; see the module docstring."""

    metadata: ClassVar[dict[str, Any]] = {
        "name": "coop_humaneval_v1",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
        "answer_tokens": {"helper": 256, "main": 256},
        "answer_tokens_note": "a cut-off function does not compile: reward 0.4 at most",
    }

    def __init__(
        self,
        dataset: str = HUB_ID,
        split: str = "eval",
        max_items: int | None = None,
        num_turns: int = 1,
        render_mode: str | None = None,
        max_workers: int | None = None,
        sandbox_limits: SandboxLimits | None = None,
        pool: SandboxPool | None = None,
        source_split: str = "test",
        feedback: str = "first_assert",
        combine: str = "definitions",
        thin_wrapper: str = "exact",
    ) -> None:
        self.dataset, self.split = dataset, split
        super().__init__(
            tasks=load_coop_humaneval(dataset, split, max_items, source_split),
            num_turns=num_turns,
            render_mode=render_mode,
            max_workers=max_workers,
            sandbox_limits=sandbox_limits,
            pool=pool,
            feedback=feedback,
            combine=combine,
            thin_wrapper=thin_wrapper,
        )
