"""Named run settings shipped with collabzoo: ``collabzoo train --preset NAME``.

A preset is a YAML file in this folder with the shape of a run's ``config.yaml``: ``env``,
``env_kwargs``, ``model`` and ``config`` (fields of
:class:`~collabzoo.trainers.config.MAGRPOConfig`), plus a one-line ``description``. Comments
in the file cite where each setting comes from.

- ``paper-tldr``, ``paper-arxiv``, ``paper-humaneval``, ``paper-coophumaneval``: the MAGRPO
  paper's settings (arXiv 2508.04652) as far as the authors published them; they need a GPU.
- ``cpu-tldr``, ``cpu-arxiv``, ``cpu-humaneval``, ``cpu-coophumaneval``: the embedded
  SmolLM2-135M on the bundled data, with generation budgets that can reach each env's
  maximum reward (its ``metadata["answer_tokens"]``), sized for 2 CPU cores; ``cpu-reasoning``:
  the same model as the two solvers of ReasoningGym-v1 on a curated small ``chain_sum``.

Settings are layered: the preset, then ``--config FILE.yaml``, then ``--env``, ``--model``,
``--env-kwargs``, ``--set`` and ``--steps`` on the command line.

>>> "paper-tldr" in list_presets()
True
>>> preset = load_preset("cpu-arxiv")
>>> preset.env, preset.model, preset.config["max_new_tokens"]
('collabzoo/ArxivExpansion-v1', 'smollm2-135m', 256)
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PRESETS_DIR", "Preset", "UnknownPresetError", "list_presets", "load_preset",
           "run_settings"]

#: The folder of the shipped YAML files (``<name>.yaml``).
PRESETS_DIR = Path(__file__).resolve().parent

_RUN_KEYS = ("env", "env_kwargs", "model")


class UnknownPresetError(ValueError):
    """No shipped preset has this name."""


@dataclass(frozen=True)
class Preset:
    """One shipped preset, as read from ``<name>.yaml``."""

    name: str
    """The file name without ``.yaml``."""
    description: str
    """One line: what it reproduces or is for."""
    env: str
    """The env id."""
    model: str | list[str]
    """A model spec for every role, or one per role."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the env."""
    config: dict[str, Any] = field(default_factory=dict)
    """MAGRPOConfig fields."""


def list_presets() -> list[str]:
    """The names of the shipped presets, sorted."""
    return sorted(path.stem for path in PRESETS_DIR.glob("*.yaml"))


def load_preset(name: str) -> Preset:
    """Read the preset ``name``; an unknown name is an error that suggests the closest."""
    import yaml

    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        names = list_presets()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownPresetError(f"no preset named {name!r}.{hint} The presets are {names}")
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = sorted(set(values) - {*_RUN_KEYS, "config", "description"})
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}")
    return Preset(name=name, description=str(values.get("description", "")),
                  env=values["env"], model=values["model"],
                  env_kwargs=dict(values.get("env_kwargs") or {}),
                  config=dict(values.get("config") or {}))


def run_settings(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a settings mapping into ``(run, config)``.

    ``run`` holds whichever of ``env``, ``env_kwargs`` and ``model`` are present; ``config``
    the MAGRPOConfig fields: the ``config`` mapping of a preset or a run's ``config.yaml``,
    or the remaining keys of a flat file. ``description`` is dropped.
    """
    run = {key: values[key] for key in _RUN_KEYS if values.get(key) is not None}
    if "config" in values:
        config = dict(values["config"] or {})
    else:
        config = {k: v for k, v in values.items() if k not in (*_RUN_KEYS, "description")}
    return run, config
