"""The deprecated ``-v0`` envs: every turn pays the full joint score.

They differ from ``-v1`` only with ``num_turns > 1``: ``-v1`` pays the improvement of the
joint score over the previous turn (see :mod:`collabzoo.envs.core`), ``-v0`` the score itself
(``turn_reward = "score"``), so that a 2-turn ``-v0`` episode solved at turn 2 returns more
than one solved at turn 1. Kept registered so that old runs can be reproduced;
:func:`collabzoo.make` warns with a :class:`DeprecationWarning`.
"""

from __future__ import annotations

from typing import Any

from collabzoo.envs.coding.coop_humaneval import CoopHumanEvalEnv
from collabzoo.envs.coding.humaneval import HumanEvalEnv
from collabzoo.envs.core import TextCollabEnv
from collabzoo.envs.writing.arxiv import ArxivExpansionEnv
from collabzoo.envs.writing.tldr import TLDREnv

__all__ = ["ArxivExpansionEnvV0", "CoopHumanEvalEnvV0", "HumanEvalEnvV0", "TLDREnvV0"]


def _score_every_turn(cls: type[TextCollabEnv]) -> Any:
    name = cls.metadata["name"].removesuffix("_v1") + "_v0"
    return type(f"{cls.__name__}V0", (cls,), {
        "__module__": __name__,
        "__doc__": f"{cls.__name__} with the -v0 reward: the full joint score every turn.",
        "turn_reward": "score",
        "metadata": {**cls.metadata, "name": name},
    })


TLDREnvV0 = _score_every_turn(TLDREnv)
ArxivExpansionEnvV0 = _score_every_turn(ArxivExpansionEnv)
HumanEvalEnvV0 = _score_every_turn(HumanEvalEnv)
CoopHumanEvalEnvV0 = _score_every_turn(CoopHumanEvalEnv)
