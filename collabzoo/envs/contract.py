"""What collabzoo's trainer, evaluation and protocols use of an env: the contract, in code.

Required: the PettingZoo ``ParallelEnv`` API with text spaces, plus ``copy.deepcopy(env)``
(:class:`TextParallelEnv`): ``possible_agents``, ``agents``, ``observation_space(a)`` and
``action_space(a)`` returning :class:`gymnasium.spaces.Text`, ``reset(seed, options)`` and
``step(actions)``. Agents may leave (terminate or truncate) at different turns; an episode
is over when every agent has.

Optional extras, each with its fallback, all decided by :func:`env_features`:

======================================  =====================================================
extra                                   without it
======================================  =====================================================
``num_tasks`` + ``reset(options=...)``  distinct episodes by seed (``reset(seed=s)``)
(``{"task_index": i}``)
``reward_max``                          no normalised return (``return_normalized`` None)
``type(env).step_many(envs, actions)``  :func:`step_batch` calls ``env.step`` per env
(batched scoring, e.g. a sandbox pool)
``num_turns``                           until every agent terminates or truncates, at most
                                        the caller's ``max_turns`` turns
``infos[agent]["score"]``               the episode's result so far is its undiscounted
                                        team return so far
======================================  =====================================================

Rewards are per agent. The **team reward** of a joint action is a named reduction of the
rewards of the agents that acted (:data:`TEAM_REWARDS`; equal rewards reduce to that value);
:func:`read_step` keeps the per-agent rewards beside it.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium

__all__ = [
    "MAX_TURNS",
    "check_copyable",
    "SEEDED_EPISODES",
    "TEAM_REWARDS",
    "EnvFeatures",
    "TextParallelEnv",
    "Transition",
    "env_features",
    "read_step",
    "step_batch",
]

#: Episodes an evaluation runs by default on an env without ``num_tasks``.
SEEDED_EPISODES = 16
#: Default turn limit of an episode of an env without ``num_turns``.
MAX_TURNS = 4

StepResult = tuple[dict, dict, dict, dict, dict]


@runtime_checkable
class TextParallelEnv(Protocol):
    """The part of PettingZoo's ``ParallelEnv`` API collabzoo relies on (spaces: ``Text``)."""

    possible_agents: list[str]
    agents: list[str]

    def observation_space(self, agent: str) -> gymnasium.spaces.Space: ...

    def action_space(self, agent: str) -> gymnasium.spaces.Space: ...

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]: ...

    def step(self, actions: dict[str, str]) -> StepResult: ...


#: Named team rewards (trainer config field ``team_reward``): the rewards of the agents that
#: acted -> one value. Each maps equal rewards to that value.
TEAM_REWARDS: dict[str, Callable[[Sequence[float]], float]] = {
    "mean": statistics.fmean,
    "min": min,
    "max": max,
}


@dataclass(frozen=True)
class EnvFeatures:
    """Which optional extras an env has (see the module docstring); None: absent.

    Attributes:
        agents: ``possible_agents``, in order.
        num_tasks: Items selectable by ``reset(options={"task_index": i})``.
        reward_max: The largest episode result, for ``return_normalized``.
        num_turns: The env's own turn budget.
        batched: True when ``type(env).step_many`` scores many copies at once.
    """

    agents: tuple[str, ...]
    num_tasks: int | None
    reward_max: float | None
    num_turns: int | None
    batched: bool

    def turn_limit(self, max_turns: int) -> int:
        """Turns a rollout may take: the env's ``num_turns``, else ``max_turns``."""
        return self.num_turns if self.num_turns is not None else max_turns

    def reset_kwargs(self, index: int, seed: int | None = None) -> dict[str, Any]:
        """``reset`` arguments of episode ``index``: item ``index % num_tasks`` (with ``seed``
        when given) if the env has ``num_tasks``; else seed ``seed`` (default ``index``)."""
        if self.num_tasks is None:
            return {"seed": index if seed is None else seed}
        kwargs: dict[str, Any] = {"options": {"task_index": index % self.num_tasks}}
        if seed is not None:
            kwargs["seed"] = seed
        return kwargs

    @property
    def default_episodes(self) -> int:
        """One episode per item, or :data:`SEEDED_EPISODES` seeded episodes."""
        return self.num_tasks if self.num_tasks is not None else SEEDED_EPISODES


def _positive_number(env: Any, name: str, kind: type) -> Any:
    value = getattr(env, name, None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return kind(value)


def env_features(env: Any) -> EnvFeatures:
    """Check the required API and decide the optional extras of ``env``: the one place that
    does (trainer, evaluation, protocols and :func:`step_batch` all ask it).

    Raises:
        TypeError: A required method or attribute is missing, or an agent's observation or
            action space is not a :class:`gymnasium.spaces.Text` (the message names both).
    """
    missing = [n for n in ("possible_agents", "observation_space", "action_space", "reset", "step")
               if not hasattr(env, n)]
    if missing:
        raise TypeError(f"{type(env).__name__} is not a PettingZoo ParallelEnv: it has no "
                        f"{', '.join(missing)}")
    agents = tuple(env.possible_agents)
    if not agents:
        raise TypeError(f"{type(env).__name__}.possible_agents is empty")
    for agent in agents:
        for kind in ("observation", "action"):
            try:
                space = getattr(env, f"{kind}_space")(agent)
            except Exception as error:  # e.g. PettingZoo's default without *_spaces dicts
                raise TypeError(f"{type(env).__name__}.{kind}_space({agent!r}) failed "
                                f"({type(error).__name__}: {error}); collabzoo needs a "
                                "gymnasium.spaces.Text for every agent") from error
            if not isinstance(space, gymnasium.spaces.Text):
                raise TypeError(
                    f"agent {agent!r} of {type(env).__name__} has the {kind} space {space!r}; "
                    "collabzoo's agents read and write text: both spaces of every agent must "
                    "be gymnasium.spaces.Text"
                )
    num_tasks = _positive_number(env, "num_tasks", int)
    num_turns = _positive_number(env, "num_turns", int)
    reward_max = _positive_number(env, "reward_max", float)
    batched = callable(getattr(type(env), "step_many", None))
    return EnvFeatures(agents, num_tasks, reward_max, num_turns, batched)


def check_copyable(env: Any, needed_for: str) -> None:
    """Deep-copy ``env`` once, at the boundary, so that an env that cannot be copied fails
    here with the reason rather than at the first branch of a rollout.

    Args:
        env: The env.
        needed_for: Why the caller copies envs (named in the error).

    Raises:
        TypeError: ``copy.deepcopy(env)`` failed; the message names the env, the cause and
            what to change.
    """
    try:
        copy.deepcopy(env)
    except Exception as error:
        raise TypeError(
            f"{type(env).__name__} cannot be deep-copied ({type(error).__name__}: {error}); "
            f"collabzoo copies envs {needed_for}. Keep the env's state copyable: open locks, "
            "threads, sockets or servers lazily, or share them in a __deepcopy__ that copies "
            "only the episode's state") from error


def step_batch(envs: Sequence[Any], actions: Sequence[Mapping[str, str]]) -> list[StepResult]:
    """``[env.step(a) for env, a in zip(envs, actions)]``, with envs of one type that has the
    batched fast path ``step_many`` stepped together (e.g. scored in parallel)."""
    if len(envs) != len(actions):
        raise ValueError(f"{len(envs)} envs but {len(actions)} joint actions")
    results: list[StepResult | None] = [None] * len(envs)
    groups: dict[type, list[int]] = {}
    for i, env in enumerate(envs):
        groups.setdefault(type(env), []).append(i)
    for kind, indices in groups.items():
        if env_features(envs[indices[0]]).batched:
            step_many: Callable[..., list[StepResult]] = kind.step_many  # type: ignore[attr-defined]
            outs = step_many([envs[i] for i in indices], [actions[i] for i in indices])
        else:
            outs = [envs[i].step(dict(actions[i])) for i in indices]
        for i, out in zip(indices, outs, strict=True):
            results[i] = out
    return results  # type: ignore[return-value]


@dataclass
class Transition:
    """One ``env.step`` read through the contract.

    Attributes:
        observations: The next observation of every agent still in the episode.
        rewards: The reward of every agent that acted.
        reward: The team reward (a :data:`TEAM_REWARDS` reduction of ``rewards``).
        score: The episode's result so far: ``infos[agent]["score"]`` when the env gives it,
            else the undiscounted team return so far.
        return_normalized: ``score / reward_max``; None without ``reward_max``.
        components: ``infos[agent]["reward_components"]`` of the first acting agent that has
            them (empty otherwise).
        live: The agents still in the episode (none: the episode is over).
        info: The infos of the first agent that acted.
    """

    observations: dict[str, str]
    rewards: dict[str, float]
    reward: float
    score: float
    return_normalized: float | None
    components: dict[str, float] = field(default_factory=dict)
    live: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return not self.live


def read_step(
    result: StepResult,
    acting: Sequence[str],
    features: EnvFeatures,
    *,
    team_reward: str = "mean",
    return_before: float = 0.0,
) -> Transition:
    """Read ``env.step``'s 5-tuple for the agents in ``acting``.

    Args:
        result: ``(observations, rewards, terminations, truncations, infos)``.
        acting: The agents that acted (were live) in this step.
        features: The env's :func:`env_features`.
        team_reward: A key of :data:`TEAM_REWARDS`.
        return_before: The episode's undiscounted team return before this step.
    """
    obs, rewards, terminations, truncations, infos = result
    per_agent = {a: float(rewards.get(a, 0.0)) for a in acting}
    reward = float(TEAM_REWARDS[team_reward](list(per_agent.values())))
    info = dict(infos.get(acting[0], {})) if acting else {}
    components: dict[str, float] = {}
    for a in acting:
        if "reward_components" in infos.get(a, {}):
            components = {k: float(v) for k, v in infos[a]["reward_components"].items()}
            break
    score = float(info["score"]) if "score" in info else return_before + reward
    live = [a for a in acting if not (terminations.get(a, False) or truncations.get(a, False))]
    return Transition(
        observations={a: obs[a] for a in live if a in obs},
        rewards=per_agent,
        reward=reward,
        score=score,
        return_normalized=score / features.reward_max if features.reward_max else None,
        components=components,
        live=live,
        info=info,
    )
