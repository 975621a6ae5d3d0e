"""collabzoo: LLM collaboration as a standard multi-agent RL problem.

``collabzoo.make(id)`` builds a registered PettingZoo ``ParallelEnv``; ``collabzoo.register``
adds your own. Importing collabzoo never imports torch or transformers: the trainer and the
model-backed agents live in ``collabzoo.trainers`` and ``collabzoo.agents.hf`` and need the
``train`` extra.
"""

from __future__ import annotations

from collabzoo.envs import list_envs, make, register, spec

__all__ = ["__version__", "list_envs", "make", "register", "spec"]
__version__ = "0.1.0"
