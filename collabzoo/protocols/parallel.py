"""``parallel``: every agent answers its own observation, exactly as the env poses it.

This is the Dec-POMDP turn itself and what a MAGRPO-trained team does at run time:
decentralised execution, no agent sees another's answer within a turn. The protocol adds no
text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collabzoo.agents.base import Agent
from collabzoo.protocols.base import Call, CollaborationProtocol, agent_label, ask

__all__ = ["ParallelProtocol"]


class ParallelProtocol(CollaborationProtocol):
    """Each role's agent answers that role's observation; answers are the joint action."""

    name = "parallel"

    def turn(
        self,
        observations: Sequence[Mapping[str, str]],
        roles: Sequence[str],
        team: Mapping[str, Agent],
    ) -> list[tuple[dict[str, str], list[Call]]]:
        requests = [(team[r], obs[r]) for obs in observations for r in roles]
        answers = iter(ask(requests))
        results = []
        for obs in observations:
            calls = [
                Call(
                    role=r, round=0, prompt=obs[r], answer=next(answers), agent=agent_label(team[r])
                )
                for r in roles
            ]
            results.append(({c.role: c.answer for c in calls}, calls))
        return results
