"""``iac``: independent actor-critic: every agent learns alone, with its own critic.

Agent a's critic reads only a's own observation at each node where a acts,
``V_a(node) = critic_a(obs_a)``, and a's own reward (``edge.rewards[a]``; ``reward="team"``:
the team reward, as CoMLRL's IAC uses the joint return; collabzoo's envs pay every agent the
team reward, so there the two agree). Per-turn advantages by GAE over the rollout tree::

    A_a(k) = r_a(k) + discount * V_a(child_k) - V_a(node)
             + discount * lambda * mean(A_a of child_k's joint actions)

(0 for the future of a branch that ended or that a left), scaled by the batch's std; the
critic regresses on ``V_a(node) + mean_k A_a(k)``. Fully decentralised: nothing of the other
agents enters a's credit except through the env's rewards. How the critic reads text and
what it costs: :mod:`collabzoo.algorithms.critic`. G = 1 is allowed (the critic is the
baseline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from collabzoo.algorithms.critic import ActorCritic, ActorCriticConfig
from collabzoo.trainers.config import TrainerConfig
from collabzoo.trainers.rollout import Edge, Node

__all__ = ["IAC", "IACConfig"]


@dataclass
class IACConfig(ActorCriticConfig):
    """Hyper-parameters of IAC: the actor-critics', plus which reward each agent learns from."""

    # --- critic ---
    reward: Literal["own", "team"] = field(
        default="own",
        metadata={"help": (
            "Each agent's reward: its ``own`` (``edge.rewards[agent]``) or the "
            "``team`` reward."
        )},
    )


class IAC(ActorCritic):
    """One critic per agent, on the agent's own observation and reward."""

    name: ClassVar[str] = "iac"
    config_class: ClassVar[type[TrainerConfig]] = IACConfig
    config: IACConfig

    def views(self) -> list[str]:
        return list(self.agents)

    def view_agents(self, view: str) -> list[str]:
        return [view]

    def view_text(self, view: str, node: Node) -> str | None:
        # a tree node holds the live agents' observations; an episode-group node of a
        # turn-based env holds every agent's, so the critic follows the agent between its moves
        return node.observations.get(view)

    def view_reward(self, view: str, edge: Edge) -> float:
        return edge.rewards.get(view, 0.0) if self.config.reward == "own" else edge.reward
