"""The contract of turn-based envs (PettingZoo ``AECEnv``), in code, beside :mod:`.contract`.

Required: PettingZoo's ``AECEnv`` API with text spaces, plus ``copy.deepcopy(env)``
(:class:`TextAECEnv`): ``possible_agents``, ``agents``, ``observation_space(a)`` and
``action_space(a)`` returning :class:`gymnasium.spaces.Text`, ``reset(seed, options)`` (returns
nothing), ``agent_selection`` (the one agent that acts), ``observe(a)``, ``step(action)`` (the
selected agent's action), and the dicts ``rewards``, ``terminations``, ``truncations`` and
``infos``. Only ``agent_selection`` acts: nobody is asked for an action out of turn. Once an
agent is terminated or truncated, its next ``step(None)`` removes it (PettingZoo's "dead
step"); the episode is over when ``agents`` is empty.

Optional extras, as for parallel envs, decided by :func:`aec_features` (which returns the same
:class:`~collabzoo.envs.contract.EnvFeatures`):

==================================  ===========================================================
extra                               without it
==================================  ===========================================================
``num_tasks`` + ``reset(options)``  distinct episodes by seed (``reset(seed=s)``)
(``{"task_index": i}``)
``reward_max``                      no normalised return
``num_turns``                       the most **moves** (``step`` calls of a live agent) an
                                    episode can take; without it, at most the caller's
                                    ``max_turns`` moves
``infos[agent]["legal_actions"]``   any text is offered to the env (it decides what it means)
``infos[agent]["score"]``           the episode's result so far is its undiscounted team return
==================================  ===========================================================

A move's team reward is a :data:`~collabzoo.envs.contract.TEAM_REWARDS` reduction of
``env.rewards`` just after the move (every agent's reward for that move, not the cumulative
rewards that ``last()`` reports).

:func:`aec_reset` and :func:`aec_move` read a turn-based env the way
:func:`~collabzoo.envs.contract.read_step` reads a parallel one: a move is a turn where
exactly one agent (``agent_selection``) is live, so the evaluation runner and the trainer's
episode rollout play both kinds of env with one loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import gymnasium

from collabzoo.envs.contract import TEAM_REWARDS, EnvFeatures, Transition, env_features

__all__ = ["Episode", "TextAECEnv", "aec_features", "aec_move", "aec_reset", "env_api",
           "legal_actions", "next_to_act", "play_episode"]

_AEC_METHODS = ("observe", "last", "agent_iter")


@runtime_checkable
class TextAECEnv(Protocol):
    """The part of PettingZoo's ``AECEnv`` API collabzoo relies on (spaces: ``Text``)."""

    possible_agents: list[str]
    agents: list[str]
    agent_selection: str
    rewards: dict[str, float]
    terminations: dict[str, bool]
    truncations: dict[str, bool]
    infos: dict[str, dict[str, Any]]

    def observation_space(self, agent: str) -> gymnasium.spaces.Space: ...

    def action_space(self, agent: str) -> gymnasium.spaces.Space: ...

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None: ...

    def observe(self, agent: str) -> Any: ...

    def step(self, action: Any) -> None: ...


def env_api(env: Any) -> Literal["parallel", "aec"]:
    """``"aec"`` when ``env`` (an instance or class) is turn-based: it has ``observe``, ``last``
    and ``agent_iter`` (every ``pettingzoo.AECEnv`` does; a ``ParallelEnv`` has none of them);
    else ``"parallel"``."""
    return "aec" if all(callable(getattr(env, name, None)) for name in _AEC_METHODS) else "parallel"


def aec_features(env: Any) -> EnvFeatures:
    """Check the AEC API of ``env`` and decide its optional extras (module docstring).

    Raises:
        TypeError: ``env`` is not an ``AECEnv`` (it lacks ``observe``, ``last`` or
            ``agent_iter``), a required attribute is missing, or a space is not a
            :class:`gymnasium.spaces.Text` (the same message as for parallel envs).
    """
    missing = [name for name in _AEC_METHODS if not callable(getattr(env, name, None))]
    if missing:
        raise TypeError(f"{type(env).__name__} is not a PettingZoo AECEnv: it has no "
                        f"{', '.join(missing)}")
    features = env_features(env)  # possible_agents, reset, step and the Text spaces
    return EnvFeatures(features.agents, features.num_tasks, features.reward_max,
                       features.num_turns, batched=False)


def legal_actions(env: Any, agent: str) -> list[str] | None:
    """``infos[agent]["legal_actions"]`` as a list of str, or None when the env gives none."""
    listed = getattr(env, "infos", {}).get(agent, {}).get("legal_actions")
    return None if listed is None else [str(a) for a in listed]


@dataclass
class Episode:
    """One played episode (:func:`play_episode`).

    Attributes:
        score: ``infos[agent]["score"]`` after the last move when the env gives it, else the
            undiscounted team return.
        team_return: The sum of the moves' team rewards.
        moves: ``(agent, action, team reward)`` per move, in order.
        truncated: The episode ended by truncation (or by ``max_turns``), not termination.
    """

    score: float
    team_return: float
    moves: list[tuple[str, str, float]] = field(default_factory=list)
    truncated: bool = False


def play_episode(
    env: Any,
    act: Callable[[str, str, dict[str, Any]], str],
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    max_turns: int = 1_000,
    team_reward: str = "mean",
) -> Episode:
    """Play one episode: ``act(agent, observation, info) -> action`` for the selected agent
    at every move, at most ``env.num_turns`` (else ``max_turns``) moves; then the dead steps.

    The reference loop of the contract; trainers and protocols follow the same order.
    """
    features = aec_features(env)
    env.reset(seed=seed, options=options)
    episode = Episode(score=0.0, team_return=0.0)
    score: float | None = None
    limit = features.turn_limit(max_turns)
    while env.agents:
        agent = env.agent_selection
        if env.terminations[agent] or env.truncations[agent]:
            env.step(None)  # the dead step: removes the agent
            continue
        if len(episode.moves) >= limit:
            episode.truncated = True
            break
        action = act(agent, env.observe(agent), env.infos[agent])
        env.step(action)
        reward = float(TEAM_REWARDS[team_reward]([float(r) for r in env.rewards.values()]))
        episode.team_return += reward
        episode.moves.append((agent, action, reward))
        info = env.infos.get(agent, {})
        score = float(info["score"]) if "score" in info else score
        episode.truncated = any(env.truncations.values())
    episode.score = episode.team_return if score is None else score
    return episode


def next_to_act(env: Any) -> str | None:
    """Take the dead steps of terminated or truncated agents; the agent that acts next, or
    None when the episode is over (``env.agents`` empty)."""
    while env.agents:
        agent = env.agent_selection
        if env.terminations.get(agent, False) or env.truncations.get(agent, False):
            env.step(None)  # the dead step: removes the agent
            continue
        return str(agent)
    return None


def _observations(env: Any) -> dict[str, str]:
    """Every agent still in the episode's current observation."""
    return {a: env.observe(a) for a in env.agents}


def aec_reset(env: Any, **kwargs: Any) -> tuple[dict[str, str], str | None]:
    """``env.reset(**kwargs)``; returns ``(observation of every agent in the episode, the
    agent that acts first)`` (None: the episode ended at once)."""
    env.reset(**kwargs)
    first = next_to_act(env)
    return (_observations(env) if first is not None else {}), first


def aec_move(
    env: Any,
    action: str,
    features: EnvFeatures,
    *,
    team_reward: str = "mean",
    return_before: float = 0.0,
) -> Transition:
    """Step the selected agent's ``action`` and read the move like a parallel turn.

    ``rewards``: every agent's reward for the move (``env.rewards``); ``reward``: their
    ``team_reward`` reduction; ``score``: ``infos[mover]["score"]`` when given, else
    ``return_before + reward``; ``observations``: every agent still in the episode; ``live``:
    ``[the agent that acts next]``, empty when the episode is over; ``info``: the mover's infos.
    """
    mover = env.agent_selection
    env.step(action)
    rewards = {str(a): float(r) for a, r in env.rewards.items()}
    reward = float(TEAM_REWARDS[team_reward](list(rewards.values()))) if rewards else 0.0
    info = dict(env.infos.get(mover, {}))
    components = {k: float(v) for k, v in info.get("reward_components", {}).items()}
    score = float(info["score"]) if "score" in info else return_before + reward
    following = next_to_act(env)
    return Transition(
        observations=_observations(env) if following is not None else {},
        rewards=rewards, reward=reward, score=score,
        return_normalized=score / features.reward_max if features.reward_max else None,
        components=components, live=[following] if following is not None else [], info=info)
