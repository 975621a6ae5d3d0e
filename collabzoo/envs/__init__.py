"""The collabzoo environment suite: PettingZoo ``ParallelEnv`` text tasks with a joint reward.

All registrations live in :data:`REGISTRATIONS`, one flat list with lazy ``"module:attr"``
entry points: nothing of a task is imported until :func:`make` asks for it.

>>> import collabzoo
>>> [e.id for e in collabzoo.envs.list_envs()][:1]
['collabzoo/ArxivExpansion-v0']
"""

from __future__ import annotations

from collabzoo.envs.contract import EnvFeatures, TextParallelEnv, env_features, step_batch
from collabzoo.envs.core import Score, TextCollabEnv
from collabzoo.envs.registration import (
    EnvInfo,
    UnknownEnvError,
    list_envs,
    make,
    register,
    spec,
)

__all__ = [
    "REGISTRATIONS",
    "EnvFeatures",
    "EnvInfo",
    "Score",
    "TextCollabEnv",
    "TextParallelEnv",
    "UnknownEnvError",
    "env_features",
    "list_envs",
    "make",
    "register",
    "spec",
    "step_batch",
]

REGISTRATIONS: list[dict] = [
    dict(
        id="collabzoo/TLDR-v1",
        entry_point="collabzoo.envs.writing.tldr:TLDREnv",
        agents=("concise", "detailed"),
        description="Two summaries of one Reddit post: a concise one and a detailed one that fits it.",
    ),
    dict(
        id="collabzoo/ArxivExpansion-v1",
        entry_point="collabzoo.envs.writing.arxiv:ArxivExpansionEnv",
        agents=("background", "method"),
        description="Expand a paper abstract into an introduction: background and methodology.",
    ),
    dict(
        id="collabzoo/HumanEval-v1",
        entry_point="collabzoo.envs.coding.humaneval:HumanEvalEnv",
        agents=("helper", "main"),
        description="HumanEval in a sandbox: a helper function aux and the main function that calls it.",
    ),
    dict(
        id="collabzoo/CoopHumanEval-v1",
        entry_point="collabzoo.envs.coding.coop_humaneval:CoopHumanEvalEnv",
        agents=("helper", "main"),
        description="Coding problems designed for a helper: aux plus a main function, run in a sandbox.",
    ),
    dict(
        id="collabzoo/ReasoningGym-v1",
        entry_point="collabzoo.envs.reasoning.gym:ReasoningGymEnv",
        agents=("solver_a", "solver_b"),
        description="Any reasoning-gym dataset: two solvers answer, cross-check, answer again "
                    "(its own checker scores).",
    ),
    # -v0: every turn paid the full score (a late solution earned more than an early one)
    *(
        dict(
            id=f"collabzoo/{name}-v0",
            entry_point=f"collabzoo.envs.v0:{cls}V0",
            agents=agents,
            description=f"deprecated, use collabzoo/{name}-v1: every turn pays the full score "
                        "(a late solution earns more than an early one)",
            deprecated=f"collabzoo/{name}-v1",
        )
        for name, cls, agents in (
            ("TLDR", "TLDREnv", ("concise", "detailed")),
            ("ArxivExpansion", "ArxivExpansionEnv", ("background", "method")),
            ("HumanEval", "HumanEvalEnv", ("helper", "main")),
            ("CoopHumanEval", "CoopHumanEvalEnv", ("helper", "main")),
        )
    ),
    # turn-based (PettingZoo AECEnv): only env.agent_selection acts
    *(
        dict(
            id=f"collabzoo/{name}-v1",
            entry_point="collabzoo.envs.games.hanabi.env:HanabiEnv",
            agents=("player_0", "player_1"),
            description=description,
            kwargs=kwargs,
            api="aec",
        )
        for name, description, kwargs in (
            ("Hanabi", "Hanabi, the cooperative card game of hidden hands and hints (5 colours).",
             {}),
            ("Hanabi-Small", "Hanabi with 2 colours, hands of 2, 3 hints, 1 life (max score 10).",
             dict(colors=2, hand_size=2, max_information_tokens=3, max_life_tokens=1)),
            ("Hanabi-Very-Small", "Hanabi with 1 colour, hands of 2, 3 hints, 1 life (max score 5).",
             dict(colors=1, hand_size=2, max_information_tokens=3, max_life_tokens=1)),
        )
    ),
    dict(
        id="collabzoo/BFCL-v1",
        entry_point="collabzoo.envs.tools.bfcl:BFCLEnv",
        agents=("first_caller", "second_caller"),
        description="Two agents answer one BFCL request with function calls, scored by AST match.",
    ),
]

for _registration in REGISTRATIONS:
    register(**_registration)
