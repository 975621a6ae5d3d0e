"""``sequential``: agents answer one after another; each sees the answers written before it.

Agents speak in the env's role order (``possible_agents``). The first answers its own
observation unchanged; agent ``k`` gets its own observation followed by
:data:`SEQUENTIAL_TEMPLATE` once for each earlier agent ``j`` (``role`` = ``j``'s role,
``answer`` = ``j``'s answer), then :data:`SEQUENTIAL_CLOSING`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collabzoo.agents.base import Agent
from collabzoo.protocols.base import Call, CollaborationProtocol, agent_label, ask

__all__ = ["SEQUENTIAL_CLOSING", "SEQUENTIAL_TEMPLATE", "SequentialProtocol"]

#: Shown to a later agent for each earlier agent's answer.
SEQUENTIAL_TEMPLATE = (
    "\n\nYour teammate, the {role} agent, has already written its part:\n<<<\n{answer}\n>>>"
)
#: Closes the added text.
SEQUENTIAL_CLOSING = "\n\nNow write your own part so that it fits with your teammate's."


def sequential_prompt(observation: str, earlier: Sequence[tuple[str, str]]) -> str:
    """``observation`` followed by the earlier ``(role, answer)`` pairs (none: unchanged)."""
    if not earlier:
        return observation
    shown = "".join(SEQUENTIAL_TEMPLATE.format(role=r, answer=a) for r, a in earlier)
    return observation + shown + SEQUENTIAL_CLOSING


class SequentialProtocol(CollaborationProtocol):
    """Roles answer in order; agent ``k`` reads the answers of agents ``0..k-1``."""

    name = "sequential"

    def turn(
        self,
        observations: Sequence[Mapping[str, str]],
        roles: Sequence[str],
        team: Mapping[str, Agent],
    ) -> list[tuple[dict[str, str], list[Call]]]:
        calls: list[list[Call]] = [[] for _ in observations]
        for position, role in enumerate(roles):
            prompts = [
                sequential_prompt(obs[role], [(c.role, c.answer) for c in calls[i]])
                for i, obs in enumerate(observations)
            ]
            answers = ask([(team[role], p) for p in prompts])
            for i, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
                calls[i].append(Call(role, position, prompt, answer, agent=agent_label(team[role])))
        return [({c.role: c.answer for c in episode}, episode) for episode in calls]
