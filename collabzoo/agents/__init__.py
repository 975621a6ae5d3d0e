"""Who acts: the :class:`Agent` and :class:`Policy` contracts and their implementations.

Importing this package does not import torch; model-backed agents live in submodules.
"""

from __future__ import annotations

from collabzoo.agents.base import Agent, Policy, Samples, SamplingConfig

__all__ = ["Agent", "Policy", "SamplingConfig", "Samples"]
