"""Algorithm names -> entry points: the registry behind ``--algo NAME`` and ``collabzoo algos``.

Like the env registry (:mod:`collabzoo.envs.registration`): :func:`register` records a name, a
lazy ``"module:Class"`` entry point and a one-line description, so that listing the algorithms
imports none of them (nor torch). Third-party packages add algorithms through the entry-point
group ``collabzoo.algorithms``: each entry point names a callable that calls :func:`register`;
plugins are loaded once, at the first :func:`spec`, :func:`load` or :func:`list_algorithms`.
Registering a name twice with a different entry point is an error.

Without packaging, ``--algo my_module:MyAlgorithm`` (any name of the form ``module:Class``)
imports ``my_module`` from ``sys.path`` (e.g. ``PYTHONPATH``) and uses its ``MyAlgorithm``, which
must be an :class:`~collabzoo.algorithms.base.Algorithm` subclass; no registration needed.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collabzoo.plugins import PluginError, load_attribute, run_plugin_hooks, split_module_path

if TYPE_CHECKING:  # the base class imports torch; the registry must not
    from collabzoo.algorithms.base import Algorithm

__all__ = [
    "PLUGIN_GROUP",
    "AlgorithmInfo",
    "UnknownAlgorithmError",
    "list_algorithms",
    "load",
    "register",
    "spec",
]

PLUGIN_GROUP = "collabzoo.algorithms"


class UnknownAlgorithmError(KeyError):
    """No algorithm is registered under this name."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class AlgorithmInfo:
    """What the registry knows of an algorithm without importing it."""

    name: str
    entry_point: str | Callable[..., Any]
    description: str = ""


_INFOS: dict[str, AlgorithmInfo] = {}
_plugins_loaded = False


def register(name: str, entry_point: str | type, *, description: str = "") -> AlgorithmInfo:
    """Register an :class:`~collabzoo.algorithms.base.Algorithm` class under ``name``.

    Args:
        name: What ``--algo`` takes, e.g. ``"magrpo"``.
        entry_point: ``"module:Class"`` (imported at :func:`load`) or the class itself.
        description: One line shown by ``collabzoo algos``.

    Raises:
        ValueError: ``name`` is registered with another entry point or description
            (registering the identical algorithm again is a no-op).
    """
    if isinstance(entry_point, str) and entry_point.count(":") != 1:
        raise ValueError(f"entry_point must look like 'package.module:Class', got {entry_point!r}")
    info = AlgorithmInfo(name, entry_point, description)
    if _INFOS.get(name) == info:
        return info
    if name in _INFOS:
        raise ValueError(f"algorithm {name!r} is already registered with another entry point; "
                         "choose another name")
    _INFOS[name] = info
    return info


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    run_plugin_hooks(PLUGIN_GROUP, "algorithm")


def spec(name: str) -> AlgorithmInfo:
    """The registration of ``name``.

    Raises:
        UnknownAlgorithmError: No such name; the message suggests the closest ones.
    """
    _load_plugins()
    if name in _INFOS:
        return _INFOS[name]
    if split_module_path(name) is not None:  # module:Class, unregistered
        return AlgorithmInfo(name, name, "")
    close = difflib.get_close_matches(name.lower(), sorted(_INFOS), n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownAlgorithmError(f"no algorithm is registered as {name!r}.{hint} Known: "
                                f"{', '.join(sorted(_INFOS))} (`collabzoo algos` lists them)")


def load(name: str) -> type[Algorithm]:
    """The Algorithm class registered as ``name``, or named by ``module:Class`` (imports its
    module).

    Raises:
        UnknownAlgorithmError: No such name.
        PluginError: A ``module:Class`` that does not import or is no Algorithm subclass.
    """
    from collabzoo.algorithms.base import Algorithm  # noqa: F811 (at run time, not typing)

    target = spec(name).entry_point
    if isinstance(target, str):
        target = load_attribute(target, f"algorithm {name!r}")
    if not (isinstance(target, type) and issubclass(target, Algorithm)):
        raise PluginError(f"algorithm {name!r} is {target!r}, not a subclass of "
                          "collabzoo.algorithms.Algorithm (see docs/algorithms.md)")
    return target


def list_algorithms() -> list[AlgorithmInfo]:
    """Every registered algorithm (built-in and plugins), in registration order."""
    _load_plugins()
    return list(_INFOS.values())
