"""Environment ids -> entry points, on top of PettingZoo's registry.

``collabzoo.register`` records an env in :data:`pettingzoo.parallel_registry`, or
:data:`pettingzoo.aec_registry` for a turn-based ``AECEnv`` (``api="aec"``), so that
``pettingzoo.make("parallel"/"aec", id)`` works too, plus the agent names and a one-line
description that ``collabzoo envs`` prints without importing the env. Unlike PettingZoo,
which only warns, registering an id twice is an error: two packages silently fighting over
one name is a bug worth a traceback.

Third-party packages add envs through the entry-point group ``collabzoo.envs``: each entry
point names a callable that calls :func:`register` (Gymnasium's plugin convention). Plugins
are loaded once, at the first :func:`make`, :func:`spec` or :func:`list_envs`.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pettingzoo
from pettingzoo import AECEnv, ParallelEnv

from collabzoo.plugins import import_module, run_plugin_hooks, split_module_path

__all__ = [
    "PLUGIN_GROUP",
    "EnvInfo",
    "UnknownEnvError",
    "list_envs",
    "make",
    "register",
    "spec",
]

PLUGIN_GROUP = "collabzoo.envs"


class UnknownEnvError(KeyError):
    """No env is registered under this id."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


@dataclass(frozen=True)
class EnvInfo:
    """What the registry knows of an env without importing it."""

    id: str
    entry_point: str | Callable[..., ParallelEnv]
    agents: tuple[str, ...] = ()
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    deprecated: str | None = None
    """The id that replaces this one (``make`` warns), or None."""
    api: Literal["parallel", "aec"] = "parallel"
    """PettingZoo's API of the env: ``ParallelEnv`` or turn-based ``AECEnv``."""


_INFOS: dict[str, EnvInfo] = {}
_plugins_loaded = False


def register(
    id: str,
    entry_point: str | Callable[..., ParallelEnv],
    *,
    agents: tuple[str, ...] | list[str] = (),
    description: str = "",
    kwargs: dict[str, Any] | None = None,
    deprecated: str | None = None,
    api: Literal["parallel", "aec"] = "parallel",
) -> EnvInfo:
    """Register a ``ParallelEnv`` (or an ``AECEnv``) under ``id`` (``namespace/Name-vN``).

    Args:
        id: The env id, e.g. ``"myorg/Debate-v0"``.
        entry_point: ``"module:attr"`` (imported lazily at :func:`make`) or a callable.
        agents: The agent names, in order (shown by ``collabzoo envs``).
        description: One line shown by ``collabzoo envs``.
        kwargs: Default keyword arguments of the entry point.
        deprecated: The id that replaces this one: :func:`make` then warns with a
            :class:`DeprecationWarning` (bump ``-vN`` when a reward's meaning changes and keep
            the old id registered this way).
        api: ``"parallel"`` for a ``ParallelEnv``, ``"aec"`` for a turn-based ``AECEnv``.

    Raises:
        ValueError: ``id`` is already registered (here or in PettingZoo's registry) with a
            different entry point, agents, description or kwargs. Registering the identical
            env again is a no-op, so importing a registering module twice is harmless.
    """
    if isinstance(entry_point, str) and entry_point.count(":") != 1:
        raise ValueError(f"entry_point must look like 'package.module:attr', got {entry_point!r}")
    if api not in ("parallel", "aec"):
        raise ValueError(f"api must be 'parallel' or 'aec', got {api!r}")
    info = EnvInfo(id, entry_point, tuple(agents), description, dict(kwargs or {}), deprecated,
                   api)
    if _INFOS.get(id) == info:
        # the same module imported twice (e.g. by a doctest collector): nothing to do
        return info
    if id in _INFOS or id in pettingzoo.parallel_registry or id in pettingzoo.aec_registry:
        raise ValueError(
            f"env id {id!r} is already registered with another entry point; "
            "choose another id or bump its version"
        )
    pettingzoo.register(api, id, entry_point, kwargs=dict(kwargs or {}))
    _INFOS[id] = info
    return info


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    run_plugin_hooks(PLUGIN_GROUP, "env")


def spec(id: str) -> EnvInfo:
    """The registration of ``id``.

    ``id`` may be ``"module:ns/Name-v0"`` (gymnasium's form, for an env that no package
    registers): ``module`` is imported first (from ``sys.path``, e.g. ``PYTHONPATH``) and is
    expected to :func:`register` ``ns/Name-v0`` on import.

    Raises:
        UnknownEnvError: No such id; the message suggests the closest registered ids.
        PluginError: ``module`` cannot be imported.
    """
    _load_plugins()
    if id in _INFOS:
        return _INFOS[id]
    parts = split_module_path(id)
    if parts is not None:
        module, env_id = parts
        import_module(module, f"env {id!r}")
        if env_id in _INFOS:
            return _INFOS[env_id]
        raise UnknownEnvError(
            f"importing {module!r} registered no env {env_id!r}: the module must call "
            f"collabzoo.register({env_id!r}, entry_point=...) when imported")
    known = sorted(_INFOS)
    close = difflib.get_close_matches(id, known, n=3, cutoff=0.5)
    # case-insensitive match first: "collabzoo/tldr-v0" is nearly always a typo of one id
    close = [k for k in known if k.lower() == id.lower()] + [c for c in close if c.lower() != id.lower()]
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownEnvError(
        f"no collabzoo env is registered as {id!r}.{hint} "
        f"`collabzoo envs` lists all {len(known)} registered ids."
    )


def make(id: str, **kwargs: Any) -> ParallelEnv | AECEnv:
    """Create the env registered as ``id`` with keyword arguments ``kwargs`` (an ``AECEnv``
    when it was registered with ``api="aec"``)."""
    info = spec(id)
    if info.deprecated:
        warnings.warn(f"{id}: {info.description}", DeprecationWarning, stacklevel=2)
    return pettingzoo.make(info.api, info.id, **kwargs)


def list_envs() -> list[EnvInfo]:
    """Every registered env (built-in and plugins), sorted by id."""
    _load_plugins()
    return [_INFOS[k] for k in sorted(_INFOS)]
