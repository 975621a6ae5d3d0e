"""Third-party plugins, two ways in: a package's entry points (Gymnasium's plugin convention:
an entry point names a callable that registers something), shared by the env, algorithm and
agent registries; and, without packaging, a ``module:attr`` path (gymnasium's
``make("module:Env-v0")``): :func:`load_attribute` imports ``module`` from ``sys.path`` (e.g.
``PYTHONPATH``) and returns its ``attr``."""

from __future__ import annotations

import importlib
import warnings
from importlib import metadata
from typing import Any

__all__ = ["PluginError", "import_module", "load_attribute", "run_plugin_hooks",
           "split_module_path"]


class PluginError(ValueError):
    """A ``module:attr`` path does not import, or names nothing in its module."""


def run_plugin_hooks(group: str, what: str) -> None:
    """Load every entry point of ``group`` and call it; a broken plugin warns (naming it) and
    does not break the built-in registrations. ``what``: the kind, for the warning."""
    for entry in metadata.entry_points(group=group):
        try:
            entry.load()()
        except Exception as error:
            warnings.warn(f"collabzoo {what} plugin {entry.name!r} ({entry.value}) failed to "
                          f"load: {type(error).__name__}: {error}", stacklevel=4)


def split_module_path(text: str) -> tuple[str, str] | None:
    """``("module", "rest")`` of ``"module:rest"`` where ``module`` is a dotted Python module
    name; None for anything else (a registered name, a URL, a path with ``/`` before ``:``).

    >>> split_module_path("my_envs:ns/Name-v0")
    ('my_envs', 'ns/Name-v0')
    >>> split_module_path("collabzoo/TLDR-v1") is None
    True
    """
    module, sep, rest = text.partition(":")
    if not sep or not rest or not all(part.isidentifier() for part in module.split(".")):
        return None
    return module, rest


def import_module(module: str, what: str) -> Any:
    """Import ``module`` for a plug-in; a module that is not found is a :class:`PluginError`
    saying where Python looked (an error raised inside the module propagates unchanged)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and module.startswith(error.name):
            raise PluginError(
                f"{what}: cannot import the module {module!r} ({error}); put its folder on "
                "PYTHONPATH (e.g. `PYTHONPATH=. collabzoo ...`) or install its package") from None
        raise


def load_attribute(path: str, what: str) -> Any:
    """The object ``attr`` of the module ``module`` named by ``"module:attr"`` (``attr`` may be
    dotted: ``module:Class.factory``).

    Args:
        path: ``"module:attr"``.
        what: What the path is for (``"--algo"``, ``"agent spec"``), named in errors.

    Raises:
        PluginError: The path is malformed, the module cannot be found, or has no ``attr``.
    """
    parts = split_module_path(path)
    if parts is None:
        raise PluginError(f"{what}: expected 'module:attr' (a Python module on PYTHONPATH and a "
                          f"name in it), got {path!r}")
    module_name, attr = parts
    target: Any = import_module(module_name, what)
    for name in attr.split("."):
        if not hasattr(target, name):
            public = sorted(n for n in dir(target) if not n.startswith("_"))
            raise PluginError(f"{what}: {module_name!r} has no attribute {attr!r}; it defines "
                              f"{', '.join(public[:20]) or 'nothing public'}")
        target = getattr(target, name)
    return target
