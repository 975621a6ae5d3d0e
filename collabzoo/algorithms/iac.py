"""``iac``: independent actor-critic: every agent learns alone, with its own critic.

Agent a's critic reads only a's own observation at each node where a acts,
``V_a(node) = critic_a(obs_a)``, and a's own reward (``edge.rewards[a]``; collabzoo's envs
pay every agent the team reward). Per-turn advantages by GAE over the rollout tree::

    A_a(k) = r_a(k) + discount * V_a(child_k) - V_a(node)
             + discount * lambda * mean(A_a of child_k's joint actions)

(0 for the future of a branch that ended or that a left), scaled by the batch's std; the
critic regresses on ``V_a(node) + mean_k A_a(k)``. Fully decentralised: nothing of the other
agents enters a's credit except through the env's rewards. How the critic reads text and
what it costs: :mod:`collabzoo.algorithms.critic`. G = 1 is allowed (the critic is the
baseline).
"""

from __future__ import annotations

from typing import ClassVar

from collabzoo.algorithms.critic import ActorCritic, ActorCriticConfig
from collabzoo.trainers.rollout import Edge, Node

__all__ = ["IAC", "ActorCriticConfig"]


class IAC(ActorCritic):
    """One critic per agent, on the agent's own observation and reward."""

    name: ClassVar[str] = "iac"

    def views(self) -> list[str]:
        return list(self.agents)

    def view_agents(self, view: str) -> list[str]:
        return [view]

    def view_text(self, view: str, node: Node) -> str | None:
        return node.observations[view] if view in node.live else None

    def view_reward(self, view: str, edge: Edge) -> float:
        return edge.rewards.get(view, 0.0)
