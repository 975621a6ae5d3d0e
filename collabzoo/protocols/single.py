"""``single``: one agent writes the whole result, then a parser splits it into the env's actions.

The agent of the first role reads every role's observation in one prompt and answers all
parts at once; a :class:`SingleFormat` builds that prompt and splits the answer into one
action per role. The format is chosen by the env's roles (the public ``possible_agents``),
so it also applies to third-party envs with the same roles; :func:`register_single_format`
adds one for other roles, and :class:`SectionFormat` is the default for any env.

Env families:

**Function calling** (roles ``first_caller``/``second_caller``: ``collabzoo/BFCL-v1``): :class:`CallsFormat`.
The prompt is :data:`CALLS_INTRO` and the shared paragraphs (request, schemas, answer format);
the whole answer is the first role's calls, the second role makes none.

**Writing** (roles ``concise``/``detailed``, ``background``/``method``):
:class:`SectionFormat`. The prompt is :data:`SECTION_INTRO`; the paragraphs every role's
observation shares (the post or abstract, see :func:`split_shared`) once under
``## Shared by every part``; for each role a part ``## Part k: the <role> part`` with the
rest of that role's observation (its instructions); then the instruction to answer with one
header line ``### <ROLE>`` per part (:data:`SECTION_INSTRUCTIONS`). The parser
(:func:`split_sections`) takes the text under each role's header (``### Concise``,
``**Concise:**``, ``Concise summary:`` and ``CONCISE: text on the same line`` all count).
Without any header it splits the answer at blank lines: the first paragraphs go to the first
roles, the remaining ones together to the last role.

**Coding** (roles ``helper``/``main``): :class:`CodeFormat`. The prompt shows the shared
paragraphs (the problem) once, then what each programmer was told, and asks for ONE Python
code block with the helper function ``aux`` and the main function (:data:`CODE_INTRO`,
:data:`CODE_INSTRUCTIONS`). The parser (:func:`split_code`) takes the fenced code blocks (or the whole
answer when there are none), gives the top-level ``def aux`` to ``helper`` and every other
top-level statement to ``main``; imports go to both. Code that does not parse is split at
top-level ``def``/``class``/``@`` lines instead.

**Reasoning** (roles ``solver_a``/``solver_b``): :class:`SameAnswerFormat`. The one agent
reads the first solver's observation and its answer is every solver's answer.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from collabzoo.agents.base import Agent
from collabzoo.protocols.base import Call, CollaborationProtocol, agent_label, ask

__all__ = [
    "CallsFormat",
    "CodeFormat",
    "SameAnswerFormat",
    "SectionFormat",
    "SingleFormat",
    "SingleProtocol",
    "format_for_roles",
    "register_single_format",
    "split_code",
    "split_sections",
    "split_shared",
]

SECTION_INTRO = (
    "You are writing alone what a team of {n} writers would write together: write every "
    "part yourself, and make the parts fit each other.\n"
)
SECTION_PART = "## Part {k}: the {role} part"
SECTION_INSTRUCTIONS = "\nWrite every part, in this order. {steps} Write nothing else."
CODE_INTRO = (
    "You are writing alone what a team of two programmers would write together: a helper "
    "function `{helper}` and the main function that calls it. The two programmers' "
    "instructions follow; you write both parts.\n"
)
CODE_PART = "## What the {role} programmer was told"
CALLS_INTRO = (
    "You answer alone a request that a team of agents would answer together with function "
    "calls: make every call the request needs."
)
CODE_INSTRUCTIONS = (
    "\nAnswer with ONE Python code block (```python ... ```) that defines both functions: "
    "first `def {helper}(...)`, then the main function, which calls `{helper}`.\n"
)


def split_shared(
    observations: Mapping[str, str], roles: Sequence[str]
) -> tuple[list[str], dict[str, list[str]]]:
    r"""Paragraphs every role's observation contains, and each role's remaining paragraphs.

    Paragraphs are blank-line separated. The shared ones (e.g. the post to summarise, the
    problem to solve) keep the order of the first role's observation; shown once, they make
    the single prompt half as long as the observations put side by side.

    >>> split_shared({"a": "Do A.\n\nPOST", "b": "Do B.\n\nPOST"}, ["a", "b"])
    (['POST'], {'a': ['Do A.'], 'b': ['Do B.']})
    """
    paragraphs = {
        r: [p for p in re.split(r"\n\s*\n", observations[r].strip("\n")) if p.strip()]
        for r in roles
    }
    if len(roles) < 2:
        return [], paragraphs
    common = set(paragraphs[roles[0]])
    for r in roles[1:]:
        common &= set(paragraphs[r])
    shared = [p for p in dict.fromkeys(paragraphs[roles[0]]) if p in common]
    return shared, {r: [p for p in paragraphs[r] if p not in common] for r in roles}


def _parts_text(observations: Mapping[str, str], roles: Sequence[str], part_header: str) -> str:
    shared, own = split_shared(observations, roles)
    text = ""
    if shared:
        text += "\n## Shared by every part\n" + "\n\n".join(shared) + "\n"
    for k, r in enumerate(roles, start=1):
        body = "\n\n".join(own[r]) or "(nothing more)"
        text += "\n" + part_header.format(k=k, role=r) + "\n" + body + "\n"
    return text


class SingleFormat:
    """How one agent is asked for every role's part, and how its answer is split."""

    def prompt(self, observations: Mapping[str, str], roles: Sequence[str]) -> str:
        raise NotImplementedError

    def parse(self, answer: str, roles: Sequence[str]) -> dict[str, str]:
        raise NotImplementedError


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def _header_regexes(roles: Sequence[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    names = "|".join(
        re.escape(_normalise(r)).replace(r"\ ", r"[\s_\-]+")
        for r in sorted(roles, key=len, reverse=True)
    )
    number = r"(?:(?:part[ \t]*)?\d+[ \t]*[:.)\-][ \t]*)?"
    # a line: optional markdown decoration, optional "Part k:", the role name, optionally a
    # word such as "summary"/"part", then ":" and maybe inline text, or the end of the line.
    strict = re.compile(
        rf"^[ \t]*(?:#{{1,6}}[ \t]*)?(?:\*\*|__)?[ \t]*{number}"
        rf"(?:the[ \t]+)?(?P<role>{names})(?:[ \t]+(?:summary|part|section|text|agent))?"
        rf"[ \t]*(?:\*\*|__)?[ \t]*(?::[ \t]*(?:\*\*|__)?[ \t]*(?P<inline>[^\n]*)|(?=\n|$))",
        re.IGNORECASE | re.MULTILINE,
    )
    # a markdown heading whose first word is the role: the rest of the line is its title
    heading = re.compile(
        rf"^[ \t]*#{{1,6}}[ \t]*(?:\*\*|__)?[ \t]*{number}(?:the[ \t]+)?(?P<role>{names})\b[^\n]*$",
        re.IGNORECASE | re.MULTILINE,
    )
    return strict, heading


def _headers(answer: str, roles: Sequence[str]) -> list[tuple[int, int, str, str]]:
    """``(start, end, role text, inline text)`` of every header line, in order."""
    strict, heading = _header_regexes(roles)
    found: dict[int, tuple[int, int, str, str]] = {}
    for m in strict.finditer(answer):
        found[m.start()] = (m.start(), m.end(), m.group("role"), m.group("inline") or "")
    for m in heading.finditer(answer):
        found.setdefault(m.start(), (m.start(), m.end(), m.group("role"), ""))
    return [found[k] for k in sorted(found)]


def split_sections(answer: str, roles: Sequence[str]) -> dict[str, str]:
    """Split ``answer`` into one text per role at header lines naming the roles.

    A header is a line holding the role's name (any case, ``_``/``-``/space alike),
    optionally decorated (``###``, ``**``, ``Part 1:``, ``1.``, ``The``, a trailing
    ``summary``/``part``) and optionally followed by ``:`` and text on the same line; or a
    markdown heading (``#`` to ``######``) whose first word is the role's name (``### Method
    and results``: the rest of the line is a title, not content). A role's text runs from its
    header to the next header; text before the first header is dropped; the first header of
    a role wins. Roles without a header get ``""``.

    Without any header: paragraphs (blank-line separated) are dealt out in order, one per
    role, and the last role gets all remaining paragraphs.

    >>> split_sections("### CONCISE\\nShort.\\n### DETAILED\\nLong text.", ["concise", "detailed"])
    {'concise': 'Short.', 'detailed': 'Long text.'}
    >>> split_sections("One.\\n\\nTwo.\\n\\nThree.", ["concise", "detailed"])
    {'concise': 'One.', 'detailed': 'Two.\\n\\nThree.'}
    """
    by_name = {_normalise(r): r for r in roles}
    matches = _headers(answer, roles)
    if not matches:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", answer.strip()) if p.strip()]
        parts = {r: "" for r in roles}
        for k, role in enumerate(roles):
            if k == len(roles) - 1:
                parts[role] = "\n\n".join(paragraphs[k:])
            elif k < len(paragraphs):
                parts[role] = paragraphs[k]
        return parts
    parts = {r: "" for r in roles}
    seen: set[str] = set()
    for k, (_, header_end, name, inline) in enumerate(matches):
        role = by_name[re.sub(r"[\s_\-]+", " ", name.lower())]
        if role in seen:
            continue
        seen.add(role)
        end = matches[k + 1][0] if k + 1 < len(matches) else len(answer)
        body = answer[header_end:end]
        parts[role] = (inline + body).strip() if inline else body.strip()
    return parts


@dataclass(frozen=True)
class SectionFormat(SingleFormat):
    """One section per role under a ``### ROLE`` header (writing envs; the default)."""

    def prompt(self, observations: Mapping[str, str], roles: Sequence[str]) -> str:
        parts = _parts_text(observations, roles, SECTION_PART)
        steps = " ".join(
            f"{'Start' if k == 0 else 'Then start'} the {r} part with a line that says only "
            f"### {r.upper()}."
            for k, r in enumerate(roles)
        )
        return SECTION_INTRO.format(n=len(roles)) + parts + SECTION_INSTRUCTIONS.format(steps=steps)

    def parse(self, answer: str, roles: Sequence[str]) -> dict[str, str]:
        return split_sections(answer, roles)


_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)
_TOP_LEVEL = re.compile(r"^(?=def |async def |class |@|import |from \S+ import )", re.MULTILINE)


def _code_of(answer: str) -> str:
    blocks = _FENCE.findall(answer)
    return "\n\n".join(b.strip("\n") for b in blocks) if blocks else answer


def split_code(
    answer: str, helper_role: str = "helper", main_role: str = "main", helper_name: str = "aux"
) -> dict[str, str]:
    """Split one answer holding both functions into the helper's and the main's code.

    The code is the answer's fenced code blocks joined (or the whole answer if it has none).
    Top-level ``def helper_name`` (with its decorators) goes to ``helper_role``; imports go
    to both roles; every other top-level statement goes to ``main_role``. When the code does
    not parse, it is cut at top-level ``def``/``class``/``@``/import lines instead. Without
    a ``helper_name`` function the helper's part is ``""``.

    >>> parts = split_code("```python\\nimport math\\ndef aux(x):\\n    return x\\n"
    ...                    "def f(x):\\n    return aux(x)\\n```")
    >>> print(parts["helper"])
    import math
    def aux(x):
        return x
    >>> print(parts["main"])
    import math
    def f(x):
        return aux(x)
    """
    code = _code_of(answer)
    lines = code.splitlines()
    imports: list[str] = []
    helper: list[str] = []
    main: list[str] = []
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        tree = None
    if tree is not None:
        for node in tree.body:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            text = "\n".join(lines[start - 1 : node.end_lineno])
            if isinstance(node, ast.Import | ast.ImportFrom):
                imports.append(text)
            elif (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name == helper_name
            ):
                helper.append(text)
            else:
                main.append(text)
    else:
        cuts = [m.start() for m in _TOP_LEVEL.finditer(code)]
        if not cuts or cuts[0] != 0:
            cuts = [0, *cuts]
        chunks = [code[a:b].rstrip("\n") for a, b in zip(cuts, [*cuts[1:], len(code)], strict=True)]
        pending_decorators: list[str] = []
        for chunk in chunks:
            if not chunk.strip():
                continue
            if chunk.startswith("@"):
                pending_decorators.append(chunk)
                continue
            text = "\n".join([*pending_decorators, chunk])
            pending_decorators = []
            if chunk.startswith(("import ", "from ")) and "\n" not in chunk.strip():
                imports.append(text)
            elif re.match(rf"(?:async )?def {re.escape(helper_name)}\s*\(", chunk):
                helper.append(text)
            else:
                main.append(text)
        main.extend(pending_decorators)
    return {
        helper_role: "\n".join(imports + helper) if helper else "",
        main_role: "\n".join(imports + main),
    }


@dataclass(frozen=True)
class CodeFormat(SingleFormat):
    """Both functions in one code block, split into helper and main (coding envs)."""

    helper_role: str = "helper"
    main_role: str = "main"
    helper_name: str = "aux"

    def prompt(self, observations: Mapping[str, str], roles: Sequence[str]) -> str:
        parts = _parts_text(observations, roles, CODE_PART)
        return (
            CODE_INTRO.format(helper=self.helper_name)
            + parts
            + CODE_INSTRUCTIONS.format(helper=self.helper_name)
        )

    def parse(self, answer: str, roles: Sequence[str]) -> dict[str, str]:
        parts = split_code(answer, self.helper_role, self.main_role, self.helper_name)
        return {r: parts.get(r, "") for r in roles}


class CallsFormat(SingleFormat):
    """Every function call by one agent (function-calling envs: ``collabzoo/BFCL-v1``).

    The prompt is :data:`CALLS_INTRO` and the paragraphs every role's observation shares (the
    request, the schemas, the answer format), without the roles' shares of the work; the
    whole answer goes to the first role and ``[]`` (no call) to the others.
    """

    def prompt(self, observations: Mapping[str, str], roles: Sequence[str]) -> str:
        shared, _ = split_shared(observations, roles)
        return CALLS_INTRO + "\n\n" + "\n\n".join(shared)

    def parse(self, answer: str, roles: Sequence[str]) -> dict[str, str]:
        return {r: answer if k == 0 else "[]" for k, r in enumerate(roles)}


class SameAnswerFormat(SingleFormat):
    """One answer that every role gives (roles that answer the same question, e.g. the two
    solvers of ReasoningGym): the prompt is the first role's observation."""

    def prompt(self, observations: Mapping[str, str], roles: Sequence[str]) -> str:
        return observations[roles[0]]

    def parse(self, answer: str, roles: Sequence[str]) -> dict[str, str]:
        return {r: answer for r in roles}


_FORMATS: dict[tuple[str, ...], SingleFormat] = {
    ("concise", "detailed"): SectionFormat(),
    ("background", "method"): SectionFormat(),
    ("helper", "main"): CodeFormat(),
    ("first_caller", "second_caller"): CallsFormat(),
    ("solver_a", "solver_b"): SameAnswerFormat(),
}


def register_single_format(roles: Sequence[str], single_format: SingleFormat) -> None:
    """Use ``single_format`` for every env whose roles are exactly ``roles`` (in order)."""
    _FORMATS[tuple(roles)] = single_format


def format_for_roles(roles: Sequence[str]) -> SingleFormat:
    """The registered format of these roles, else :class:`SectionFormat`."""
    return _FORMATS.get(tuple(roles), SectionFormat())


class SingleProtocol(CollaborationProtocol):
    """The first role's agent writes every part; the format's parser splits the answer.

    Args:
        single_format: Force a format (default: :func:`format_for_roles` of the env's roles).
    """

    name = "single"
    agents_needed = 1

    def __init__(self, single_format: SingleFormat | None = None) -> None:
        self.single_format = single_format

    def turn(
        self,
        observations: Sequence[Mapping[str, str]],
        roles: Sequence[str],
        team: Mapping[str, Agent],
    ) -> list[tuple[dict[str, str], list[Call]]]:
        fmt = self.single_format or format_for_roles(roles)
        agent = team[roles[0]]
        prompts = [fmt.prompt(obs, roles) for obs in observations]
        answers = ask([(agent, p) for p in prompts])
        return [
            (fmt.parse(answer, roles), [Call("*", 0, prompt, answer, agent=agent_label(agent))])
            for prompt, answer in zip(prompts, answers, strict=True)
        ]
