"""What every collaboration protocol shares: the records it returns and how it asks agents.

A protocol decides, for one turn of a batch of episodes, who is asked what and how the
answers become the env's joint action. It sees only the observations the env returned (the
public ``ParallelEnv`` API) and adds text of its own; the runner
(:mod:`collabzoo.protocols.runner`) owns the reset/step loop, so every protocol works for
every registered env, single- or multi-turn.

Batching: all prompts of one round go to each distinct agent in ONE ``act`` call (a team that
uses the same agent object for two roles gets one call with both roles' prompts), so a local
model generates them in one batch and an HTTP agent sends them concurrently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from collabzoo.agents.base import Agent

__all__ = [
    "Call",
    "CollaborationProtocol",
    "EpisodeRecord",
    "TurnRecord",
    "agent_label",
    "ask",
]


@dataclass
class Call:
    """One prompt an agent answered.

    Attributes:
        role: The env role this call speaks for (for ``single``: ``"*"``, all roles).
        round: Position within the turn (``sequential``: the speaker's place in the order;
            ``discussion``: 0 for the first answers, 1 for the final ones).
        prompt: The full text the agent was given.
        answer: The agent's answer.
        agent: A label of the agent that answered (its spec or class name).
    """

    role: str
    round: int
    prompt: str
    answer: str
    agent: str = ""


@dataclass
class TurnRecord:
    """One env step: the calls that led to it, the joint action and what the env returned.

    Attributes:
        turn: 1-based turn number.
        calls: Every agent call of the turn, in the order they were made.
        actions: The joint action sent to ``env.step`` (role -> text).
        reward: The team reward of the turn (a named reduction of ``rewards``, default mean).
        reward_components: ``infos[role]["reward_components"]`` (empty if the env has none).
        return_normalized: ``score / env.reward_max``; None for envs without ``reward_max``.
        details: The remaining JSON-friendly entries of the first role's infos.
        rewards: The reward of every role that acted.
        score: The episode's result after this turn: ``infos[role]["score"]`` when the env
            gives it, else the sum of the team rewards so far.
    """

    turn: int
    calls: list[Call]
    actions: dict[str, str]
    reward: float
    reward_components: dict[str, float] = field(default_factory=dict)
    return_normalized: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    rewards: dict[str, float] = field(default_factory=dict)
    score: float | None = None


@dataclass
class EpisodeRecord:
    """One evaluated episode.

    The episode's *result* is its last turn (the team's final answer): ``score``,
    ``reward``, ``reward_components`` and ``return_normalized`` are the last turn's;
    ``return_`` sums the team rewards of all turns. For single-turn envs ``score``, ``reward``
    and ``return_`` coincide; collabzoo's multi-turn envs pay the improvement of the score
    each turn, so there ``score`` equals ``return_``.

    Attributes:
        episode: Index of the episode in the evaluation (0-based).
        task_index: The split item it ran on (``reset(options={"task_index": ...})``).
        seed: The seed given to ``reset``.
        protocol: The protocol's name.
        turns: One record per env step.
        seconds: Wall time of the episode (for a batch of B episodes run together: the
            batch's wall time divided by B).
    """

    episode: int
    task_index: int
    seed: int | None
    protocol: str
    turns: list[TurnRecord]
    seconds: float = 0.0

    @property
    def reward(self) -> float:
        return self.turns[-1].reward if self.turns else 0.0

    @property
    def score(self) -> float | None:
        return self.turns[-1].score if self.turns else None

    @property
    def return_(self) -> float:
        return float(sum(t.reward for t in self.turns))

    @property
    def return_normalized(self) -> float | None:
        return self.turns[-1].return_normalized if self.turns else None

    @property
    def reward_components(self) -> dict[str, float]:
        return dict(self.turns[-1].reward_components) if self.turns else {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (one line of ``episodes.jsonl``); :meth:`from_dict` inverts it."""
        data = asdict(self)
        data.update(
            score=self.score,
            reward=self.reward,
            return_=self.return_,
            return_normalized=self.return_normalized,
            reward_components=self.reward_components,
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpisodeRecord:
        turns = [
            TurnRecord(
                **{
                    **{k: v for k, v in t.items() if k != "calls"},
                    "calls": [Call(**c) for c in t["calls"]],
                }
            )
            for t in data["turns"]
        ]
        return cls(
            episode=data["episode"],
            task_index=data["task_index"],
            seed=data["seed"],
            protocol=data["protocol"],
            turns=turns,
            seconds=data.get("seconds", 0.0),
        )


def agent_label(agent: Agent) -> str:
    """A short name for an agent: its ``label`` attribute if it has one, else its class."""
    label = getattr(agent, "label", None)
    return str(label) if label else type(agent).__name__


def ask(requests: Sequence[tuple[Agent, str]]) -> list[str]:
    """Answer ``(agent, prompt)`` requests with one ``act`` call per distinct agent object.

    Returns the answers in the order of ``requests``.

    Raises:
        TypeError: An agent returned something else than one list of answers per prompt.
    """
    groups: dict[int, tuple[Agent, list[int]]] = {}
    for i, (agent, _) in enumerate(requests):
        groups.setdefault(id(agent), (agent, []))[1].append(i)
    answers: list[str | None] = [None] * len(requests)
    for agent, indices in groups.values():
        prompts = [requests[i][1] for i in indices]
        result = agent.act(prompts, 1)
        if not isinstance(result, list) or len(result) != len(prompts):
            raise TypeError(
                f"{agent_label(agent)}.act(observations, n=1) must return one list of answers per "
                f"observation ({len(prompts)}), got {type(result).__name__} of length "
                f"{len(result) if hasattr(result, '__len__') else '?'}"
            )
        for i, samples in zip(indices, result, strict=True):
            if (
                not isinstance(samples, list | tuple)
                or not samples
                or not isinstance(samples[0], str)
            ):
                raise TypeError(
                    f"{agent_label(agent)}.act returned {samples!r} for one observation; "
                    "expected a list holding at least one str"
                )
            answers[i] = samples[0]
    return [a if a is not None else "" for a in answers]


class CollaborationProtocol:
    """How a team answers one turn. Subclasses set :attr:`name` and implement :meth:`turn`.

    ``team`` maps every role to its agent (the runner repeats a single agent over the
    roles); ``single`` uses only the agent of the first role.
    """

    name: ClassVar[str] = ""
    #: How many distinct agents the protocol uses (``None``: one per role).
    agents_needed: ClassVar[int | None] = None

    def turn(
        self,
        observations: Sequence[Mapping[str, str]],
        roles: Sequence[str],
        team: Mapping[str, Agent],
    ) -> list[tuple[dict[str, str], list[Call]]]:
        """Decide the joint actions of a batch of live episodes.

        Args:
            observations: For each episode of the batch, role -> the observation the env
                returned for that role this turn.
            roles: The roles that act, in order (the env's live agents).
            team: role -> the agent that plays it.

        Returns:
            For each episode, ``(joint action, calls made)``.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
