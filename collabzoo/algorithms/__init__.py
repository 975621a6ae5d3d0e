"""The training algorithms: one file each, all on the shared loop
(:class:`~collabzoo.trainers.Trainer`).

All built-in registrations live in :data:`REGISTRATIONS`, one flat list with lazy
``"module:Class"`` entry points: listing them imports neither the algorithms nor torch. A
package adds its own with :func:`register` from an entry point of the group
``collabzoo.algorithms`` (see :mod:`collabzoo.algorithms.registration`); ``docs/algorithms.md``
shows how to write one.

>>> from collabzoo.algorithms import list_algorithms
>>> [a.name for a in list_algorithms()][:3]
['magrpo', 'mareinforce', 'marloo']
"""

from __future__ import annotations

from collabzoo.algorithms.registration import (
    AlgorithmInfo,
    UnknownAlgorithmError,
    list_algorithms,
    load,
    register,
    spec,
)

__all__ = [
    "REGISTRATIONS",
    "AlgorithmInfo",
    "UnknownAlgorithmError",
    "list_algorithms",
    "load",
    "register",
    "spec",
]

REGISTRATIONS: list[dict[str, str]] = [
    {"name": "magrpo", "entry_point": "collabzoo.algorithms.magrpo:MAGRPO",
     "description": "group-relative: return minus the mean of the node's G joint actions"},
    {"name": "mareinforce", "entry_point": "collabzoo.algorithms.mareinforce:MAREINFORCE",
     "description": "plain policy gradient on the return, no baseline (G=1 allowed)"},
    {"name": "marloo", "entry_point": "collabzoo.algorithms.marloo:MARLOO",
     "description": "leave-one-out: return minus the mean of the other G-1 joint actions"},
    {"name": "maremax", "entry_point": "collabzoo.algorithms.maremax:MAReMax",
     "description": "return minus the greedy joint action's return (one greedy sample per node)"},
    {"name": "central", "entry_point": "collabzoo.algorithms.central:Central",
     "description": "one policy writes every agent's part (env parses it), trained with GRPO"},
    {"name": "iac", "entry_point": "collabzoo.algorithms.iac:IAC",
     "description": "independent actor-critic: a value head per agent on its own observation, GAE"},
    {"name": "maac", "entry_point": "collabzoo.algorithms.maac:MAAC",
     "description": "actor-critic with one centralised critic on the joint observation, GAE"},
]

for _registration in REGISTRATIONS:
    register(**_registration)

