"""Inference-time collaboration protocols: how a team of agents answers an env.

- ``parallel``: each agent answers its own observation, as in the env (the Dec-POMDP turn,
  and what a MAGRPO-trained team does at run time);
- ``sequential``: agents answer in role order, each seeing the earlier answers;
- ``discussion``: one round each, then a second round after reading the others' answers;
- ``single``: one agent writes every part; a per-family parser splits its answer.

Protocols use only the public env API (observations in, joint actions out) and the
:class:`~collabzoo.agents.Agent` contract, so any registered env and any agent works:

>>> import collabzoo
>>> from collabzoo.protocols import run_episodes, summarize
>>> class Echo:
...     def act(self, observations, n=1):
...         return [[o.split()[-1]] * n for o in observations]
>>> env = collabzoo.make("collabzoo/TLDR-v1", dataset="bundled")
>>> records = run_episodes(env, [Echo()], "sequential", episodes=2)
>>> summarize(records)["return_normalized"]
{'mean': 0.0, 'std': 0.0}
"""

from __future__ import annotations

from collabzoo.protocols.base import (
    Call,
    CollaborationProtocol,
    EpisodeRecord,
    TurnRecord,
    agent_label,
    ask,
)
from collabzoo.protocols.discussion import DiscussionProtocol
from collabzoo.protocols.parallel import ParallelProtocol
from collabzoo.protocols.runner import (
    PROTOCOLS,
    RATES,
    episode_rates,
    get_protocol,
    make_team,
    run_episodes,
    summarize,
)
from collabzoo.protocols.sequential import SequentialProtocol
from collabzoo.protocols.single import (
    CodeFormat,
    SectionFormat,
    SingleFormat,
    SingleProtocol,
    format_for_roles,
    register_single_format,
    split_code,
    split_sections,
    split_shared,
)

__all__ = [
    "PROTOCOLS",
    "RATES",
    "Call",
    "CodeFormat",
    "CollaborationProtocol",
    "DiscussionProtocol",
    "EpisodeRecord",
    "ParallelProtocol",
    "SectionFormat",
    "SequentialProtocol",
    "SingleFormat",
    "SingleProtocol",
    "TurnRecord",
    "agent_label",
    "ask",
    "episode_rates",
    "format_for_roles",
    "get_protocol",
    "make_team",
    "register_single_format",
    "run_episodes",
    "split_code",
    "split_sections",
    "split_shared",
    "summarize",
]
