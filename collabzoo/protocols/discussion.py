"""``discussion``: one round of answers, then a second round after reading the others'.

Round 0 is a ``parallel`` turn. In round 1 each agent gets its own observation, its own
first answer and every other agent's first answer (:data:`DISCUSSION_TEMPLATE`), and its
round-1 answer becomes its action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collabzoo.agents.base import Agent
from collabzoo.protocols.base import Call, CollaborationProtocol, agent_label, ask

__all__ = ["DISCUSSION_OTHER", "DISCUSSION_TEMPLATE", "DiscussionProtocol", "discussion_prompt"]

#: Round-1 text added after the agent's own observation; ``{others}`` is one
#: :data:`DISCUSSION_OTHER` per other agent.
DISCUSSION_TEMPLATE = (
    "\n\nYour first answer was:\n<<<\n{own}\n>>>{others}\n\n"
    "Write your final answer, revised so that it fits with your teammates' answers."
)
#: One other agent's first answer, shown in round 1.
DISCUSSION_OTHER = "\n\nYour teammate, the {role} agent, answered:\n<<<\n{answer}\n>>>"


def discussion_prompt(observation: str, own: str, others: Sequence[tuple[str, str]]) -> str:
    """The round-1 prompt: ``observation``, the agent's ``own`` first answer, the ``others``."""
    shown = "".join(DISCUSSION_OTHER.format(role=r, answer=a) for r, a in others)
    return observation + DISCUSSION_TEMPLATE.format(own=own, others=shown)


class DiscussionProtocol(CollaborationProtocol):
    """Two rounds: independent answers, then answers revised after reading the others'."""

    name = "discussion"

    def turn(
        self,
        observations: Sequence[Mapping[str, str]],
        roles: Sequence[str],
        team: Mapping[str, Agent],
    ) -> list[tuple[dict[str, str], list[Call]]]:
        slots = [(i, r) for i in range(len(observations)) for r in roles]  # (B*R,)
        first = ask([(team[r], observations[i][r]) for i, r in slots])
        firsts: list[dict[str, str]] = [{} for _ in observations]
        for (i, r), answer in zip(slots, first, strict=True):
            firsts[i][r] = answer
        prompts = [
            discussion_prompt(
                observations[i][r], firsts[i][r], [(o, firsts[i][o]) for o in roles if o != r]
            )
            for i, r in slots
        ]
        final = ask([(team[r], p) for (_, r), p in zip(slots, prompts, strict=True)])
        results = []
        for i, obs in enumerate(observations):
            calls = [Call(r, 0, obs[r], firsts[i][r], agent=agent_label(team[r])) for r in roles]
            actions = {}
            for k, r in enumerate(roles):
                j = i * len(roles) + k
                calls.append(Call(r, 1, prompts[j], final[j], agent=agent_label(team[r])))
                actions[r] = final[j]
            results.append((actions, calls))
        return results
