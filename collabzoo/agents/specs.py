"""Agent specs: the strings ``collabzoo eval --agents`` takes, and the agents they build.

=================================  ==========================================================
spec                               agent(s)
=================================  ==========================================================
``tiny``, ``smollm2-135m``         :func:`~collabzoo.agents.load_policy` of that name
                                   (any name registered with ``register_model`` works too)
``hf:PATH``                        a hub id or local model folder, through ``load_policy``
``run:runs/NAME``                  every agent a training run saved (``runs/NAME/agents/*``),
                                   in the env's role order when the folder names are the
                                   roles, else in name order
``run:runs/NAME/AGENT``            one agent of a run (``runs/NAME/agents/AGENT`` or a
                                   folder ``HFPolicy.save`` wrote)
``openai:BASE_URL#MODEL``          :class:`~collabzoo.agents.openai_compat.OpenAICompatibleAgent`
                                   (``openai:http://127.0.0.1:8000/v1#Qwen/Qwen3-1.7B``);
                                   the key comes from the variable ``OPENAI_API_KEY`` (or
                                   ``api_key_env``), never from the spec
``random`` / ``random:SEED``       :class:`~collabzoo.agents.RandomTextAgent` (a no-model
                                   baseline)
``py:MODULE:CLASS[?k=v&k2=v2]``    any class with ``act(observations, n)``, imported from
                                   ``sys.path`` (e.g. ``PYTHONPATH``) and built as
                                   ``CLASS(k=v, ...)``; no packaging needed
``NAME[?k=v&k2=v2]``               an agent registered with :func:`register_agent` (by a
                                   package's entry point of the group ``collabzoo.agents``)
=================================  ==========================================================

Keyword values are converted to the constructor's annotated types (``?seed=3`` gives an
``int``); a class whose constructor takes ``sampling`` or ``seed`` receives the evaluation's
:class:`~collabzoo.agents.base.SamplingConfig` and seed unless the spec sets them.
Any other string without a known prefix goes to ``load_policy`` as it is (a hub id or path).
Equal model specs build ONE agent object, shared (same weights, batched together).
Model-backed specs need the ``train`` extra (torch, transformers); ``openai:`` and
``random`` need nothing more than the core install.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collabzoo.agents.base import Agent, SamplingConfig
from collabzoo.plugins import PluginError, load_attribute, run_plugin_hooks

__all__ = [
    "PLUGIN_GROUP",
    "AgentSpec",
    "AgentSpecError",
    "build_agents",
    "list_agent_names",
    "parse_agent_spec",
    "register_agent",
    "run_agent_folders",
]

PLUGIN_GROUP = "collabzoo.agents"
"""Entry-point group of agent plugins: each entry point names a callable that calls
:func:`register_agent` (the same convention as ``collabzoo.envs`` and ``collabzoo.algorithms``)."""

_AGENTS: dict[str, tuple[str | Callable[..., Any], str]] = {
    # scripted partners shipped with collabzoo's games (lazy: nothing of the env is imported
    # until the spec is built)
    "hanabi-rule": ("collabzoo.envs.games.hanabi.rule_agent:RuleAgent",
                    "Hanabi rule agent: play a known-playable card, else hint one, else discard"),
}
_plugins_loaded = False


def register_agent(name: str, entry_point: str | Callable[..., Any], *,
                   description: str = "") -> None:
    """Make ``name`` (and ``name?k=v``) an agent spec.

    Args:
        name: The spec, e.g. ``"hanabi-rule"``; no ``:`` (those are prefixes).
        entry_point: ``"module:Class"`` (imported when the spec is built) or a callable that
            returns an object with ``act(observations, n)``.
        description: One line for listings.

    Raises:
        ValueError: A malformed name, or ``name`` registered with another entry point.
    """
    if not name or ":" in name or "?" in name:
        raise ValueError(f"an agent name has no ':' or '?' and is not empty, got {name!r}")
    if name in _AGENTS and _AGENTS[name][0] != entry_point:
        raise ValueError(f"agent {name!r} is already registered with another entry point")
    _AGENTS[name] = (entry_point, description)


def _load_plugins() -> None:
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        run_plugin_hooks(PLUGIN_GROUP, "agent")


def list_agent_names() -> dict[str, str]:
    """``{name: description}`` of every registered agent (built-in and plugins)."""
    _load_plugins()
    return {name: description for name, (_, description) in sorted(_AGENTS.items())}

POLICY_FILE = "collabzoo_policy.json"  # what HFPolicy.save writes (collabzoo.agents.hf)


class AgentSpecError(ValueError):
    """An agent spec is malformed or names something that does not exist."""


@dataclass(frozen=True)
class AgentSpec:
    """A parsed agent spec.

    Attributes:
        kind: ``"model"``, ``"run"``, ``"openai"``, ``"random"``, ``"py"`` or
            ``"registered"``.
        target: The model name/path, run folder, base URL, seed text, ``module:Class`` or
            registered name.
        model: The model name of an ``openai`` spec.
        options: The ``?k=v`` keyword arguments of a ``py`` or registered spec (as text).
        text: The spec as written.
    """

    kind: str
    target: str
    model: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    text: str = field(default="", compare=False)


def parse_agent_spec(text: str) -> AgentSpec:
    """Parse one spec (see the module docstring).

    >>> parse_agent_spec("openai:http://127.0.0.1:8000/v1#smollm2")
    AgentSpec(kind='openai', target='http://127.0.0.1:8000/v1', model='smollm2', options=(), text='openai:http://127.0.0.1:8000/v1#smollm2')
    >>> parse_agent_spec("py:my_agents:Echo?prefix=hi&times=2").options
    (('prefix', 'hi'), ('times', '2'))
    >>> parse_agent_spec("hf:HuggingFaceTB/SmolLM2-135M-Instruct").target
    'HuggingFaceTB/SmolLM2-135M-Instruct'
    """
    text = text.strip()
    if not text:
        raise AgentSpecError("empty agent spec")
    if text == "random":
        return AgentSpec("random", "", text=text)
    prefix, sep, rest = text.partition(":")
    if prefix == "py" and sep:
        target, _, query = rest.partition("?")
        if target.count(":") != 1 or not all(target.split(":")):
            raise AgentSpecError(f"{text!r}: write py:MODULE:CLASS (optionally ?key=value&...), "
                                 "e.g. py:my_agents:EchoAgent?prefix=hi")
        return AgentSpec("py", target, options=_parse_options(text, query), text=text)
    name, _, query = text.partition("?")
    _load_plugins()
    if name in _AGENTS:
        return AgentSpec("registered", name, options=_parse_options(text, query), text=text)
    if not sep or prefix not in ("hf", "run", "openai", "random"):
        return AgentSpec("model", text, text=text)
    if prefix == "random":
        if rest and not rest.lstrip("-").isdigit():
            raise AgentSpecError(f"random:SEED needs an integer seed, got {text!r}")
        return AgentSpec("random", rest, text=text)
    if not rest:
        raise AgentSpecError(f"agent spec {text!r} names nothing after '{prefix}:'")
    if prefix == "openai":
        base_url, hash_, model = rest.rpartition("#")
        if not hash_ or not base_url or not model:
            raise AgentSpecError(
                f"{text!r}: write openai:BASE_URL#MODEL, e.g. "
                "openai:http://127.0.0.1:8000/v1#Qwen/Qwen3-1.7B"
            )
        if not base_url.startswith(("http://", "https://")):
            raise AgentSpecError(f"{text!r}: the base URL must start with http:// or https://")
        return AgentSpec("openai", base_url, model, text=text)
    return AgentSpec("model" if prefix == "hf" else "run", rest, text=text)


def _parse_options(text: str, query: str) -> tuple[tuple[str, str], ...]:
    options = []
    for pair in filter(None, query.split("&")):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise AgentSpecError(f"{text!r}: options are key=value pairs joined by '&', "
                                 f"got {pair!r}")
        options.append((key.strip(), value))
    return tuple(options)


def _build_object(spec: AgentSpec, sampling: SamplingConfig | None, seed: int) -> Agent:
    """The agent of a ``py:`` or registered spec: its factory called with the spec's options
    (converted to the annotated types), plus ``sampling``/``seed`` where it takes them."""
    from collabzoo.envs.kwargs import convert_value

    if spec.kind == "py":
        try:
            factory = load_attribute(spec.target, f"agent spec {spec.text!r}")
        except PluginError as error:
            raise AgentSpecError(str(error)) from None
    else:
        entry = _AGENTS[spec.target][0]
        factory = load_attribute(entry, f"agent {spec.target!r}") if isinstance(entry, str) \
            else entry
    if not callable(factory):
        raise AgentSpecError(f"{spec.text!r}: {factory!r} is not a class or callable")
    params: Mapping[str, inspect.Parameter]
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # a builtin without a signature: pass the options as text
        params = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {}
    for key, value in spec.options:
        if key not in params and not takes_any:
            raise AgentSpecError(f"{spec.text!r}: {getattr(factory, '__name__', factory)} takes "
                                 f"no argument {key!r}; it takes {', '.join(params) or 'none'}")
        param = params.get(key)
        try:
            kwargs[key] = convert_value(value, param.annotation if param else inspect.Parameter.empty,
                                        param.default if param else inspect.Parameter.empty)
        except ValueError as error:
            raise AgentSpecError(f"{spec.text!r}: bad value for {key!r}: {error}") from None
    lent: tuple[tuple[str, Any], ...] = (("sampling", sampling), ("seed", seed))
    for name, given in lent:
        if name in params and name not in kwargs and given is not None:
            kwargs[name] = given
    try:
        agent = factory(**kwargs)
    except TypeError as error:
        raise AgentSpecError(f"{spec.text!r}: cannot build the agent: {error}") from None
    if not callable(getattr(agent, "act", None)):
        raise AgentSpecError(f"{spec.text!r} built a {type(agent).__name__}, which has no "
                             "act(observations, n) method (the collabzoo Agent contract)")
    return agent


def run_agent_folders(
    path: str | os.PathLike[str], roles: Sequence[str] | None = None
) -> list[Path]:
    """The saved agent folders of ``run:PATH``.

    ``PATH`` may be one saved agent (it holds ``collabzoo_policy.json``), a run folder
    (its ``agents/*`` folders), or a run folder plus an agent name (``runs/x/helper`` means
    ``runs/x/agents/helper``). A run's agents are ordered by ``roles`` when their folder
    names are exactly the roles, else by name.

    Raises:
        AgentSpecError: Nothing saved there; the message lists what is.
    """
    folder = Path(path)
    if (folder / POLICY_FILE).is_file():
        return [folder]
    if (folder.parent / "agents" / folder.name / POLICY_FILE).is_file():
        return [folder.parent / "agents" / folder.name]
    agents_dir = folder / "agents"
    found = (
        sorted(p for p in agents_dir.glob("*") if (p / POLICY_FILE).is_file())
        if agents_dir.is_dir()
        else []
    )
    if not found:
        where = agents_dir if agents_dir.is_dir() else folder
        listing = sorted(p.name for p in where.glob("*")) if where.is_dir() else []
        raise AgentSpecError(
            f"run:{path}: no saved agent there (looked for {POLICY_FILE} in {folder} and in "
            f"{agents_dir}/*); {where} holds {listing or 'nothing'}"
        )
    if roles is not None and sorted(p.name for p in found) == sorted(roles):
        by_name = {p.name: p for p in found}
        return [by_name[r] for r in roles]
    return found


def build_agents(
    specs: Sequence[str],
    *,
    roles: Sequence[str] | None = None,
    sampling: SamplingConfig | None = None,
    dtype: str = "auto",
    device: str | None = None,
    seed: int = 0,
    openai_options: dict[str, Any] | None = None,
) -> list[Agent]:
    """Build the agents of ``specs``, in order (a ``run:`` spec may give several).

    Args:
        specs: Agent specs (see the module docstring).
        roles: The env's roles, to order a run's agents.
        sampling: Sampling of model-backed agents (``max_new_tokens``, ``temperature``...);
            also gives ``openai`` agents their ``max_tokens``, ``temperature``, ``top_p``
            and ``stop`` unless ``openai_options`` sets them.
        dtype: Weights dtype of model-backed agents (``auto``: bfloat16 where it is faster).
        device: Device of model-backed agents (``None``: cuda if available).
        seed: Seed of model loading (``tiny`` weights), of ``random`` agents without a seed
            and of ``openai`` requests.
        openai_options: More keyword arguments of
            :class:`~collabzoo.agents.openai_compat.OpenAICompatibleAgent`
            (``api_key_env``, ``max_concurrency``, ``timeout``, ``max_retries``...).

    Raises:
        AgentSpecError: A malformed spec or a run folder without saved agents.
    """
    parsed = [parse_agent_spec(s) for s in specs]
    cache: dict[tuple[str, str], Agent] = {}
    agents: list[Agent] = []
    for spec in parsed:
        if spec.kind == "random":
            from collabzoo.agents.scripted import RandomTextAgent

            agent: Agent = RandomTextAgent(seed=int(spec.target) if spec.target else seed)
            _set_label(agent, spec.text)
            agents.append(agent)
        elif spec.kind in ("py", "registered"):
            agent = _build_object(spec, sampling, seed)
            _set_label(agent, spec.text)
            agents.append(agent)
        elif spec.kind == "openai":
            from collabzoo.agents.openai_compat import OpenAICompatibleAgent

            options: dict[str, Any] = {"seed": seed}
            if sampling is not None:
                options.update(
                    max_tokens=sampling.max_new_tokens,
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    stop=list(sampling.stop_strings) or None,
                )
            options.update(openai_options or {})
            agents.append(
                OpenAICompatibleAgent(spec.target, spec.model or "", label=spec.text, **options)
            )
        else:
            folders = (
                [str(p) for p in run_agent_folders(spec.target, roles)]
                if spec.kind == "run"
                else [spec.target]
            )
            for target in folders:
                key = (spec.kind, target)
                if key not in cache:
                    cache[key] = _load_model(
                        target, sampling=sampling, dtype=dtype, device=device, seed=seed
                    )
                    label = spec.text if spec.kind == "model" else f"run:{target}"
                    _set_label(cache[key], label)
                agents.append(cache[key])
    return agents


def _load_model(
    target: str, *, sampling: SamplingConfig | None, dtype: str, device: str | None, seed: int
) -> Agent:
    try:
        from collabzoo.agents import load_policy
    except ImportError as error:  # torch/transformers are the `train` extra
        raise AgentSpecError(
            f"the agent {target!r} is a local model and needs the train extra "
            f"(pip install 'collabzoo[train]'): {error}"
        ) from error
    return load_policy(target, sampling=sampling, dtype=dtype, device=device, seed=seed)


def _set_label(agent: Any, label: str) -> None:
    try:
        agent.label = label
    except AttributeError:  # a class with __slots__: evaluation falls back to its class name
        pass
