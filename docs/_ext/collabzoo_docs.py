"""Sphinx extension: the site's pages that are generated from the code, so they cannot drift.

At ``config-inited`` it writes, under ``docs/generated/`` (not committed):

- ``envs/<id>.md``: one page per id of :func:`collabzoo.envs.list_envs` (built-in, plug-ins,
  and whatever other branches register after a merge): a table measured from the env built at
  build time (API kind, agents, spaces, optional extras), an observation produced by actually
  resetting it (``observe(agent_selection)`` for a PettingZoo ``AECEnv``), then its module
  docstring (PettingZoo's headings: Observations, Actions, Rewards, Episode End, Arguments,
  Version History, Example), converted from the docstring's mix of Markdown and reST roles
  to MyST. An env whose optional dependency is not installed gets a page that says so.
- ``algorithms/<name>.md``: one page per registered algorithm: its module docstring (the
  formula), what it needs from the env, and its config fields with their help text (from
  ``dataclasses.field(metadata={"help": ...})``, else the attribute docstrings of the source).
- ``cli.md``: ``--help`` of ``collabzoo`` and every subcommand, from :func:`collabzoo.cli.build_parser`.
- ``api/<module>.md``: an ``automodule`` page per public module (:data:`API_MODULES`).

The functions that make the text are importable on their own (``tests/test_docs_site.py``).
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import importlib
import inspect
import logging
import os
import pprint
import re
import shutil
import textwrap
import typing
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = DOCS / "generated"

API_MODULES = (
    "collabzoo",
    "collabzoo.envs",
    "collabzoo.agents",
    "collabzoo.trainers",
    "collabzoo.algorithms",
    "collabzoo.protocols",
    "collabzoo.evaluation",
    "collabzoo.benchmark",
)
"""The public modules of the API reference, one page each (their ``__all__``)."""

OBSERVATION_CHARS = 1500
"""An example observation longer than this is cut (the page says how much is left out)."""

logger = logging.getLogger(__name__)

_ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|data|attr|exc|obj):`([^`]+)`")


# --------------------------------------------------------------------- docstring -> MyST
def rst_roles_to_myst(text: str) -> str:
    """``:func:`x``` -> ``{py:func}`x``` (MyST's role syntax; the target is still checked)."""
    return _ROLE.sub(lambda m: f"{{py:{m.group(1)}}}`{m.group(2)}`", text)


def doctest_to_fence(text: str) -> str:
    """Wrap each ``>>>`` session (up to the next blank line) in a ```` ```pycon ```` fence:
    a bare ``>>>`` line is a nested block quote in Markdown."""
    out: list[str] = []
    in_session = False
    for line in text.splitlines():
        if not in_session and line.lstrip().startswith(">>>"):
            out.append("```pycon")
            in_session = True
        elif in_session and not line.strip():
            out.append("```")
            in_session = False
        out.append(line)
    if in_session:
        out.append("```")
    return "\n".join(out)


def literal_blocks_to_fence(text: str) -> str:
    """A reST literal block (a paragraph ending in ``::`` followed by an indented block) as a
    fenced code block; the paragraph keeps one colon."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.strip().startswith((">>>", "|")):
            out.append(line.rstrip()[:-1] if line.strip() != "::" else "")
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            block: list[str] = []
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith((" ", "\t"))):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            out += ["", "```text", textwrap.dedent("\n".join(block)), "```", ""]
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def docstring_to_myst(text: str) -> str:
    """An env module docstring (Markdown headings and tables, reST roles, ``>>>`` examples) as
    MyST Markdown; the first line (the summary) is left to the caller."""
    text = inspect.cleandoc(text)
    return rst_roles_to_myst(doctest_to_fence(literal_blocks_to_fence(text)))


# --------------------------------------------------------------------- env pages
def page_name(env_id: str) -> str:
    """The file name (without ``.md``) of an env id's page: ``collabzoo/TLDR-v1`` ->
    ``collabzoo-TLDR-v1``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", env_id)


def resolve(entry_point: str | Callable[..., Any]) -> Any:
    """The object a ``"module:attr"`` entry point names (or the callable itself)."""
    if not isinstance(entry_point, str):
        return entry_point
    module, _, attr = entry_point.partition(":")
    target: Any = importlib.import_module(module)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def extra_providing(module: str, setup_cfg: Path = ROOT / "setup.cfg") -> str | None:
    """The extra of ``setup.cfg`` whose requirement installs the top-level ``module`` (matched
    by normalised name: ``reasoning_gym`` <- ``reasoning-gym``), or None."""
    parser = configparser.ConfigParser()
    parser.read(setup_cfg, encoding="utf-8")
    if not parser.has_section("options.extras_require"):
        return None
    wanted = re.sub(r"[-_.]+", "_", module.split(".")[0]).lower()
    for extra, requirements in parser.items("options.extras_require"):
        for line in requirements.splitlines():
            name = re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0]
            if name and not name.startswith("#") and re.sub(r"[-_.]+", "_", name).lower() == wanted:
                return extra
    return None


def _constructor_kwargs(cls: Any) -> dict[str, Any]:
    """Keyword arguments that keep the build offline: ``dataset="bundled"`` where accepted."""
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return {}
    return {"dataset": "bundled"} if "dataset" in parameters else {}


def space_summary(space: Any) -> str:
    """A space in one short line: a ``Text`` space's repr lists its whole character set."""
    import gymnasium

    if isinstance(space, gymnasium.spaces.Text):
        return (f"Text(min_length={space.min_length}, max_length={space.max_length}, "
                f"{len(space.character_set)} characters)")
    text = " ".join(repr(space).split()).replace("`", "'")
    return text if len(text) <= 100 else text[:97] + "..."


def _short(value: Any) -> str:
    """An observation for a code block: long lines wrapped, the whole cut at a length."""
    if isinstance(value, str):
        text = "\n".join(textwrap.fill(line, 80, replace_whitespace=False) if line else line
                         for line in value.splitlines())
    else:
        text = pprint.pformat(value, width=88)
    if len(text) > OBSERVATION_CHARS:
        left = len(text) - OBSERVATION_CHARS
        text = f"{text[:OBSERVATION_CHARS]}\n[... {left} more characters]"
    return text


def _fence(text: str, language: str = "text") -> str:
    ticks = "````" if "```" in text else "```"
    return f"{ticks}{language}\n{text}\n{ticks}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclasses.dataclass
class EnvSample:
    """What building and resetting an env at build time showed."""

    kind: str
    """``ParallelEnv`` or ``AECEnv``."""
    agents: list[str]
    observation_space: str
    action_space: str
    observations: dict[str, Any]
    """The first observation of each agent that observes at reset (AEC: the selected one)."""
    info_keys: list[str]
    extras: dict[str, str]
    """Optional contract extras found on the env (``num_tasks``, ``reward_max``, ...)."""


def sample_env(env_id: str, kwargs: dict[str, Any]) -> EnvSample:
    """Make ``env_id`` with ``kwargs``, reset it with seed 0 and record what it shows."""
    from pettingzoo import AECEnv

    import collabzoo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a deprecated id's DeprecationWarning is on its page
        env = collabzoo.make(env_id, **kwargs)
    try:
        agents = list(env.possible_agents)
        if isinstance(env, AECEnv):
            env.reset(seed=0)
            selected = env.agent_selection
            observations = {selected: env.observe(selected)}
            infos = env.infos.get(selected, {})
            kind = "AECEnv"
        else:
            observations, all_infos = env.reset(seed=0)
            infos = all_infos.get(agents[0], {}) if agents else {}
            kind = "ParallelEnv"
        extras: dict[str, str] = {}
        for name in ("num_tasks", "reward_max", "num_turns"):
            value = getattr(env, name, None)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                extras[name] = f"{value:g}" if isinstance(value, float) else str(value)
        answer_tokens = getattr(env, "metadata", {}).get("answer_tokens")
        if answer_tokens:
            extras["metadata['answer_tokens']"] = str(answer_tokens)
        if hasattr(type(env), "step_many"):
            extras["step_many"] = "batched scoring"
        return EnvSample(kind, agents, space_summary(env.observation_space(agents[0])),
                         space_summary(env.action_space(agents[0])), dict(observations),
                         sorted(infos), extras)
    finally:
        env.close()


def missing_dependency_page(info: Any, error: ModuleNotFoundError) -> str:
    """The page of an env whose optional dependency is not installed in this build."""
    extra = extra_providing(error.name or "")
    how = (f"`pip install -c constraints.txt -e \".[{extra}]\"`" if extra
           else "the package that provides it")
    return "\n".join([
        f"# {info.id}", "", info.description, "",
        "```{note}",
        f"This page was built without the Python package `{error.name}`, which this env "
        f"needs, so its documentation and example observation are missing here. Install "
        f"{how} and run `make docs` again.",
        "```", "",
        "| | |", "|---|---|",
        f"| Id | `{info.id}` |",
        f"| Agents | `{tuple(info.agents)}` |",
        f"| Entry point | `{_cell(info.entry_point)}` |", "",
    ])


def env_page(info: Any) -> str:
    """The MyST page of one registered env (``info``: its :class:`~collabzoo.envs.EnvInfo`).

    Raises:
        ModuleNotFoundError: The env needs a package that is not installed (the caller writes
            :func:`missing_dependency_page` instead).
    """
    target = resolve(info.entry_point)
    cls = target if inspect.isclass(target) else None
    module = inspect.getmodule(target)
    kwargs = {**_constructor_kwargs(target), **info.kwargs}
    sample = sample_env(info.id, kwargs)

    summary, body = info.description, ""
    # the module docstring is the page (PettingZoo's convention) when it is written as one;
    # otherwise the env's own docstring (an env class in a module about other things)
    module_doc = inspect.cleandoc(module.__doc__ or "") if module is not None else ""
    is_page = module_doc.startswith(f"{info.id}:") or "\n## " in module_doc
    doc = (module_doc if is_page and not info.deprecated else "") \
        or inspect.getdoc(target) or module_doc
    if doc:
        first, _, rest = inspect.cleandoc(doc).partition("\n")
        summary = first.split(":", 1)[1].strip() if first.startswith(f"{info.id}:") else first
        summary = summary[:1].upper() + summary[1:]
        body = docstring_to_myst(rest)

    import_line = (f"from {target.__module__} import {target.__qualname__}"
                   if cls is not None or inspect.isfunction(target) else str(info.entry_point))
    rows = [
        ("Id", f"`{info.id}`"),
        ("Import", f"`{import_line}`"),
        ("API", f"PettingZoo `{sample.kind}`"),
        ("Agents", f"`{tuple(sample.agents)}`"),
        ("Observation space", f"`{_cell(sample.observation_space)}`"),
        ("Action space", f"`{_cell(sample.action_space)}`"),
        *((f"`{name}`", f"`{_cell(value)}`") for name, value in sample.extras.items()),
    ]
    if info.deprecated:
        rows.append(("Deprecated", f"use [{info.deprecated}]({page_name(info.deprecated)}.md)"))
    lines = [f"# {info.id}", "", summary, ""]
    if info.deprecated:
        lines += ["```{warning}", f"Deprecated: `collabzoo.make` warns; use "
                  f"[{info.deprecated}]({page_name(info.deprecated)}.md).", "```", ""]
    lines += ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    built = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    reset = ("`env.reset(seed=0)`, then `env.observe(env.agent_selection)`"
             if sample.kind == "AECEnv" else "`env.reset(seed=0)`")
    lines += ["## Observation at reset", "",
              f"Produced when this page was built: `collabzoo.make({info.id!r}"
              f"{', ' + built if built else ''})`, {reset}. "
              f"Info keys: {', '.join(f'`{k}`' for k in sample.info_keys) or 'none'}.", ""]
    for agent, observation in sample.observations.items():
        lines += [f"`{agent}`:", "", _fence(_short(observation)), ""]
    if body:
        lines += [body, ""]
    return "\n".join(lines)


def env_page_or_note(info: Any, log: Callable[[str], None],
                     warn: Callable[[str], None]) -> str:
    """:func:`env_page`; where the env needs a package that is not installed, the note page
    (logged, not a warning: CI installs every extra, a user's ``make docs`` may not). Any other
    failure is a warning (``-W`` fails the build) and a page that shows the error."""
    try:
        return env_page(info)
    except Exception as error:  # a broken env must not stop the other pages
        if (isinstance(error, ModuleNotFoundError) and error.name
                and error.name.split(".")[0] != "collabzoo"):
            log(f"collabzoo docs: {info.id} needs {error.name}, not installed: a note page")
            return missing_dependency_page(info, error)
        warn(f"collabzoo docs: could not build {info.id}'s page: {error!r}")
        return "\n".join([f"# {info.id}", "", info.description, "", "```{error}",
                          f"Building or resetting this env failed: {error!r}", "```", ""])


# --------------------------------------------------------------------- algorithm pages
def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def field_help(cls: type) -> dict[str, str]:
    """``{field: help}`` of a config dataclass: ``field.metadata["help"]`` where set, else the
    attribute docstring in the source (``collabzoo.trainers.config.field_docs``), else ""."""
    from collabzoo.trainers.config import field_docs

    source_docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            try:
                source_docs.update(field_docs(klass))
            except (OSError, TypeError):
                pass  # a class without source (made in a notebook): its metadata only
    return {f.name: str(f.metadata.get("help") or source_docs.get(f.name, ""))
            for f in dataclasses.fields(cls)}


def config_table(cls: type, names: list[str]) -> str:
    """A Markdown table of the config fields ``names`` of ``cls``: type, default, help."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    helps = field_help(cls)
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not evaluate here: show the raw one
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
    rows = ["| field | type | default | what it does |", "| --- | --- | --- | --- |"]
    for name in names:
        f = fields[name]
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        rows.append(f"| `{name}` | `{_cell(_type_name(hints.get(name, f.type)))}` | "
                    f"`{_cell(repr(default))}` | {_cell(helps[name])} |")
    return "\n".join(rows)


def env_needs(name: str, table: Path = DOCS / "algorithms.md") -> str:
    """The "needs from the env" cell of ``name``'s row in the overview table, or the contract."""
    if table.exists():
        for line in table.read_text(encoding="utf-8").splitlines():
            if line.startswith(f"| `{name}` |"):
                cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
                if len(cells) >= 4:
                    return cells[3]
    return "the env contract (a PettingZoo env plus `copy.deepcopy`)"


def algorithm_page(info: Any) -> str:
    """The MyST page of one registered algorithm (``info``: its ``AlgorithmInfo``)."""
    from collabzoo.algorithms import load
    from collabzoo.algorithms.base import Algorithm

    algorithm = load(info.name)
    module = inspect.getmodule(algorithm)
    config_class = algorithm.config_class
    base_fields = {f.name for f in dataclasses.fields(Algorithm.config_class)}
    own = [f.name for f in dataclasses.fields(config_class) if f.name not in base_fields]
    description = info.description[:1].upper() + info.description[1:]
    lines = [f"# {info.name}", "", description, "", "| | |", "|---|---|",
             f"| `--algo` | `{info.name}` |",
             f"| Class | `{algorithm.__module__}.{algorithm.__qualname__}` |",
             f"| Config | `{config_class.__module__}.{config_class.__qualname__}` |",
             f"| Needs from the env | {env_needs(info.name)} |", "",
             "## Credit assignment", ""]
    doc = (module.__doc__ if module is not None else None) or inspect.getdoc(algorithm) or ""
    lines += ["```{eval-rst}", inspect.cleandoc(doc), "```", ""]
    lines += ["## Config fields", "",
              f"`collabzoo train --algo {info.name} --set FIELD=VALUE` (or a YAML `--config`); "
              f"`collabzoo algos {info.name}` prints the same. The fields of the training loop "
              "that every algorithm shares are on [the training loop page](trainer-config.md).",
              ""]
    lines += [config_table(config_class, own) if own else "No fields beyond the loop's.", ""]
    lines += ["## Train with it", "", "```bash",
              f"collabzoo train --algo {info.name} --env collabzoo/TLDR-v1 "
              "--env-kwargs dataset=bundled \\",
              f"    --model tiny --steps 20 --output runs/{info.name}", "```", ""]
    return "\n".join(lines)


def trainer_config_page() -> str:
    """The fields of the base config that every algorithm shares."""
    from collabzoo.algorithms.base import Algorithm

    cls = Algorithm.config_class
    return "\n".join([
        "# The training loop's config", "",
        f"`{cls.__module__}.{cls.__qualname__}`: the fields every algorithm shares "
        "(each algorithm's page lists its own). Set them with `collabzoo train --set "
        "FIELD=VALUE`, a YAML file (`--config`) or a preset (`--preset`).", "",
        config_table(cls, [f.name for f in dataclasses.fields(cls)]), ""])


# --------------------------------------------------------------------- CLI and API pages
@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def cli_page() -> str:
    """``collabzoo --help`` and every subcommand's ``--help``, from the argparse parsers."""
    import argparse

    from collabzoo.cli import build_parser

    with _columns(100):
        parser = build_parser()
        lines = ["# Command line", "",
                 "Generated from the argparse parsers of `collabzoo/cli.py` when the site was "
                 "built: what `--help` prints.", "", "```text", parser.format_help().rstrip(),
                 "```", ""]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    lines += [f"## collabzoo {name}", "", "```text",
                              sub.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def api_modules() -> list[str]:
    """:data:`API_MODULES`, then every other public module of the package (no ``_`` names)."""
    import pkgutil

    import collabzoo

    found = [m.name for m in pkgutil.walk_packages(collabzoo.__path__, "collabzoo.")
             if not any(part.startswith("_") for part in m.name.split("."))]
    return [*API_MODULES, *sorted(set(found) - set(API_MODULES))]


def api_page(module: str) -> str:
    """An ``automodule`` page of ``module`` in reST (autodoc's output is reST). A package of
    :data:`API_MODULES` re-exports objects that the page of their own module documents: there
    they are listed without index entries, so that every reference has one target."""
    title = f"``{module}``"
    options = ["   :members:", "   :show-inheritance:"]
    if module in API_MODULES and importlib.import_module(module).__file__.endswith("__init__.py"):
        options.append("   :no-index:")
    return "\n".join([title, "=" * len(title), "", f".. automodule:: {module}", *options, ""])


def env_modules() -> dict[str, str]:
    """``{module: env id}`` of the modules that define a registered env (their docstring is
    Markdown: it is that env's page, and the API page links there instead)."""
    import collabzoo.envs

    modules: dict[str, str] = {}
    for info in collabzoo.envs.list_envs():
        if isinstance(info.entry_point, str) and not info.deprecated:
            modules.setdefault(info.entry_point.partition(":")[0], info.id)
    return modules


def _index(title: str, intro: str, entries: list[tuple[str, tuple[str, str]]],
           suffix: str = ".md") -> str:
    lines = [f"# {title}", "", intro, "", "| page | |", "| --- | --- |"]
    lines += [f"| [{label}]({target}{suffix}) | {_cell(text)} |"
              for target, (label, text) in entries]
    lines += ["", "```{toctree}", ":hidden:", "", *(t for t, _ in entries), "```", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------- writing the pages
def generate(out: Path = GENERATED, log: Callable[[str], None] = logger.info,
             warn: Callable[[str], None] = logger.warning) -> list[Path]:
    """Write every generated page under ``out`` (emptied first); returns the files."""
    import collabzoo.algorithms
    import collabzoo.envs

    if out.exists():
        shutil.rmtree(out)
    pages: dict[str, str] = {}
    current: list[tuple[str, tuple[str, str]]] = []
    deprecated: list[tuple[str, tuple[str, str]]] = []
    for info in collabzoo.envs.list_envs():
        name = page_name(info.id)
        pages[f"envs/{name}"] = env_page_or_note(info, log, warn)
        (deprecated if info.deprecated else current).append(
            (name, (info.id, f"{info.description} Agents: {', '.join(info.agents)}.")))
    pages["envs/index"] = _index(
        "Environments",
        "Every registered env, one page each, generated from `collabzoo.envs.list_envs()` "
        "when the site was built: its module docstring, and the table and observation measured "
        "from the env itself. Plug-in envs of installed packages appear here too.",
        current + deprecated)
    algorithms: list[tuple[str, tuple[str, str]]] = []
    for info in collabzoo.algorithms.list_algorithms():
        pages[f"algorithms/{info.name}"] = algorithm_page(info)
        algorithms.append((info.name, (info.name, info.description)))
    pages["algorithms/trainer-config"] = trainer_config_page()
    pages["algorithms/index"] = _index(
        "Algorithm reference",
        "Every registered algorithm (`collabzoo algos`), one page each, generated from the "
        "registry: the module docstring's formula, its config fields with their help text, "
        "and what it needs from the env. [The overview](../../algorithms.md) compares them.",
        algorithms + [("trainer-config", ("training loop", "the fields every algorithm shares"))])
    pages["cli"] = cli_page()
    modules = api_modules()
    for module in modules:
        pages[f"api/{module}.rst"] = api_page(module)
    pages["api/index"] = _index(
        "API reference",
        "The public packages first, then every module; each page documents the module's "
        "`__all__`. A module that defines an env documents it on the env's page.",
        [(m, (m, _first_line(m))) for m in modules], suffix=".rst")
    written = []
    for name, text in pages.items():
        path = out / (name if name.endswith(".rst") else f"{name}.md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _first_line(module: str) -> str:
    lines = (importlib.import_module(module).__doc__ or "").strip().splitlines()
    return rst_roles_to_myst(lines[0]) if lines else ""


def link_env_module_docstrings(app: Any, what: str, name: str, obj: Any, options: Any,
                               lines: list[str]) -> None:
    """autodoc hook: the Markdown docstring of an env's module becomes a link to its page."""
    env_id = env_modules().get(name) if what == "module" else None
    if env_id:
        lines[:] = [f"The module of ``{env_id}``, documented on "
                    f":doc:`its page </generated/envs/{page_name(env_id)}>`.", ""]


def canonical_name(target: str) -> str | None:
    """Where a collabzoo object is defined: ``collabzoo.agents.HFPolicy.hidden_states`` ->
    ``collabzoo.agents.hf.HFPolicy.hidden_states`` (packages re-export, e.g. lazily through a
    module ``__getattr__``). None if ``target`` names nothing importable."""
    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        rest = parts[split:]
        for i, attr in enumerate(rest):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                return None
            home = getattr(obj, "__module__", None)
            qualname = getattr(obj, "__qualname__", None)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and home and qualname:
                return ".".join([home, qualname, *rest[i + 1:]])
        return target
    return None


def resolve_reexports(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """``missing-reference`` hook: a reference to a collabzoo object through a package that
    re-exports it (``collabzoo.make``, ``collabzoo.agents.Agent``) goes to the page of the
    module that defines it; one to a package of :data:`API_MODULES` to that package's page; one
    to an object that exists but is not documented is plain code. A reference that names
    nothing in the code stays missing (nitpicky warns: a broken reference)."""
    from sphinx.util.nodes import make_refnode

    target = node.get("reftarget", "").lstrip("~")
    if node.get("refdomain") != "py" or not target.startswith("collabzoo"):
        return None
    if target in API_MODULES:
        return make_refnode(app.builder, node["refdoc"], f"generated/api/{target}", "",
                            contnode, target)
    canonical = canonical_name(target)
    if canonical is None:
        return None  # names nothing in the code: a broken reference
    if canonical != target:
        found = env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder,
                                                  node["reftype"], canonical, node, contnode)
        if found is not None:
            return found
    # it exists but has no page (not in its module's __all__, e.g. an annotation's helper
    # class): shown as code, without a link
    return contnode


def setup(app: Any) -> dict[str, Any]:
    from sphinx.util import logging as sphinx_logging

    sphinx_logger = sphinx_logging.getLogger(__name__)

    def on_config_inited(app: Any, config: Any) -> None:
        files = generate(GENERATED, log=sphinx_logger.info, warn=sphinx_logger.warning)
        sphinx_logger.info(f"collabzoo docs: generated {len(files)} pages")

    app.connect("config-inited", on_config_inited)
    app.connect("autodoc-process-docstring", link_env_module_docstrings)
    app.connect("missing-reference", resolve_reexports)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
