"""``maac``: multi-agent actor-critic with one centralised critic (CoLLM-CC, arXiv 2601.21972).

One critic reads the joint observation, every acting agent's observation in the env's agent
order, each under a ``[agent]`` header, and values the team's state::

    V(node) = critic("[a1]\\n" + obs_a1 + "\\n[a2]\\n" + obs_a2 ...)

Per-turn advantages by GAE over the rollout tree on the team reward r::

    A(k) = r(k) + discount * V(child_k) - V(node) + discount * lambda * mean(A of child_k's)

(0 for the future of a branch that ended), scaled by the batch's std; every agent's sample
gets the advantage of its joint action (cross mode: the mean over the joint actions it took
part in); the critic regresses on ``V(node) + mean_k A(k)``. Centralised training (the critic
sees everything), decentralised execution (each actor reads only its own observation). How
the critic reads text and what it costs: :mod:`collabzoo.algorithms.critic`. G = 1 is
allowed.
"""

from __future__ import annotations

from typing import ClassVar

from collabzoo.algorithms.critic import ActorCritic, ActorCriticConfig
from collabzoo.trainers.rollout import Edge, Node

__all__ = ["MAAC", "ActorCriticConfig", "joint_observation"]


def joint_observation(node: Node, agents: list[str]) -> str:
    """The centralised critic's text: each acting agent's observation under ``[agent]``."""
    return "\n".join(f"[{a}]\n{node.observations[a]}" for a in agents if a in node.live)


class MAAC(ActorCritic):
    """One centralised critic on the joint observation and the team reward."""

    name: ClassVar[str] = "maac"

    def views(self) -> list[str]:
        return ["team"]

    def view_agents(self, view: str) -> list[str]:
        return list(self.agents)

    def view_text(self, view: str, node: Node) -> str | None:
        return joint_observation(node, self.agents)

    def view_reward(self, view: str, edge: Edge) -> float:
        return edge.reward
