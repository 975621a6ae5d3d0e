"""Third-party plugins: entry points whose callable registers something (Gymnasium's plugin
convention), shared by the env and the algorithm registries."""

from __future__ import annotations

import warnings
from importlib import metadata

__all__ = ["run_plugin_hooks"]


def run_plugin_hooks(group: str, what: str) -> None:
    """Load every entry point of ``group`` and call it; a broken plugin warns (naming it) and
    does not break the built-in registrations. ``what``: the kind, for the warning."""
    for entry in metadata.entry_points(group=group):
        try:
            entry.load()()
        except Exception as error:
            warnings.warn(f"collabzoo {what} plugin {entry.name!r} ({entry.value}) failed to "
                          f"load: {type(error).__name__}: {error}", stacklevel=4)
