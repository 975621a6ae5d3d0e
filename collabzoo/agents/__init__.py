"""Who acts: the :class:`Agent` and :class:`Policy` contracts and their implementations.

- :class:`ScriptedAgent`, :class:`RandomTextAgent`: rule-based agents for tests and baselines.
- :func:`load_policy` / :func:`load_policies` -> :class:`HFPolicy`: transformers models with
  optional LoRA (see :mod:`collabzoo.agents.models`). These need the ``train`` extra.

Importing this package does not import torch: the torch-backed names are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from collabzoo.agents.base import Agent, Policy, Samples, SamplingConfig
from collabzoo.agents.scripted import RandomTextAgent, ScriptedAgent

__all__ = [
    "Agent",
    "HFPolicy",
    "LoraSettings",
    "ModelUnavailableError",
    "Policy",
    "RandomTextAgent",
    "Samples",
    "SamplingConfig",
    "ScriptedAgent",
    "load_policies",
    "load_policy",
]

_LAZY = {
    "HFPolicy": "collabzoo.agents.hf",
    "LoraSettings": "collabzoo.agents.models",
    "ModelUnavailableError": "collabzoo.agents.models",
    "load_policies": "collabzoo.agents.models",
    "load_policy": "collabzoo.agents.models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
