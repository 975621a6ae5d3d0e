"""Run a team of agents on an env's split under a protocol, and summarise the episodes.

:func:`run_episodes` owns the loop: reset a batch of episodes (each on its own copy of the
env, ``copy.deepcopy`` shares the data), ask the protocol for the joint actions, step, repeat
until every episode has ended, and record every prompt, answer, reward and component.
:func:`summarize` turns the records into the numbers ``collabzoo eval`` prints.

Any env of the contract in :mod:`collabzoo.envs.contract` runs: episode ``k`` runs on split
item ``task_indices[k]`` (default: ``k % env.num_tasks``, so every protocol and team sees the
same items in the same order) with ``reset(seed=seed + k)``; envs without ``num_tasks`` draw
their item from the seed. Each turn, only the agents still in the episode act; the episode
ends when every agent has terminated or truncated (or after ``max_turns`` turns for envs
without ``num_turns``).

Turn-based envs (PettingZoo ``AECEnv``, :mod:`collabzoo.envs.aec`) run too: a turn is one
move, and only ``agent_selection`` acts (one ``act`` call per move, batched across the
batch's episodes that wait on the same role); ``max_turns`` counts moves. Only the protocols
that ask each role on its own observation apply (``parallel``; ``sequential`` is the same
there, since one role speaks per move): ``single`` (one agent writes every role's part of a
joint action) and ``discussion`` (roles answer one turn together) are an error on them.
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from collabzoo.agents.base import Agent
from collabzoo.envs.aec import aec_features, aec_move, aec_reset, env_api
from collabzoo.envs.contract import (
    MAX_TURNS,
    EnvFeatures,
    TextParallelEnv,
    Transition,
    check_copyable,
    env_features,
    read_step,
    step_batch,
)
from collabzoo.protocols.base import CollaborationProtocol, EpisodeRecord, TurnRecord
from collabzoo.protocols.discussion import DiscussionProtocol
from collabzoo.protocols.parallel import ParallelProtocol
from collabzoo.protocols.sequential import SequentialProtocol
from collabzoo.protocols.single import SingleProtocol

__all__ = [
    "PROTOCOLS",
    "RATES",
    "episode_rates",
    "get_protocol",
    "make_team",
    "TURN_BASED_PROTOCOLS",
    "check_protocol",
    "run_episodes",
    "summarize",
]

#: Protocol name -> class, as ``collabzoo eval --protocol`` accepts them.
PROTOCOLS: dict[str, type[CollaborationProtocol]] = {
    "parallel": ParallelProtocol,
    "sequential": SequentialProtocol,
    "discussion": DiscussionProtocol,
    "single": SingleProtocol,
}

#: The protocols that can play a turn-based (AEC) env (each role answers its own observation).
TURN_BASED_PROTOCOLS = ("parallel", "sequential")

# infos entries recorded elsewhere in a TurnRecord
_RECORDED = ("reward_components", "return_normalized", "score", "turn", "task_index")


def get_protocol(name: str | CollaborationProtocol) -> CollaborationProtocol:
    """The protocol called ``name`` (an instance passes through)."""
    if isinstance(name, CollaborationProtocol):
        return name
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]()


def check_protocol(env: Any, protocol: str | CollaborationProtocol) -> None:
    """Check that ``protocol`` can play ``env``.

    Raises:
        ValueError: ``env`` is turn-based (an ``AECEnv``) and the protocol is not one of
            :data:`TURN_BASED_PROTOCOLS`.
    """
    name = get_protocol(protocol).name
    if env_api(env) == "aec" and name not in TURN_BASED_PROTOCOLS:
        raise ValueError(
            f"the {name!r} protocol cannot play the turn-based env {type(env).__name__} (an "
            "AECEnv: one agent moves at a time, on its own observation); use one of "
            f"{list(TURN_BASED_PROTOCOLS)}")


def make_team(
    roles: Sequence[str], agents: Sequence[Agent], protocol: CollaborationProtocol
) -> dict[str, Agent]:
    """Assign agents to roles: one agent plays every role, or one agent per role in order.

    ``single`` needs one agent; given several different agents it uses the first (the first
    role's) and warns that the others do not play.

    Raises:
        ValueError: No agent, or a number of agents that is neither 1 nor ``len(roles)``.
    """
    if not agents:
        raise ValueError("no agent given: pass one agent, or one per role")
    if protocol.agents_needed == 1 and len({id(a) for a in agents}) > 1:
        warnings.warn(
            f"the {protocol.name!r} protocol has one agent write every role: the first agent "
            f"({_agent_name(agents[0])}) plays alone and the other {len(agents) - 1} "
            "do not play; give one agent to silence this", UserWarning, stacklevel=3)
    if protocol.agents_needed == 1 or len(agents) == 1:
        return {r: agents[0] for r in roles}
    if len(agents) != len(roles):
        raise ValueError(
            f"{len(agents)} agents for {len(roles)} roles {list(roles)}: give one agent for "
            "every role, in this order, or one agent that plays them all"
        )
    return dict(zip(roles, agents, strict=True))


def _agent_name(agent: Agent) -> str:
    return str(getattr(agent, "label", None) or type(agent).__name__)


def _json_friendly(value: Any) -> Any:
    return json.loads(json.dumps(value, default=repr))


def run_episodes(
    env: TextParallelEnv,
    agents: Sequence[Agent],
    protocol: str | CollaborationProtocol,
    *,
    episodes: int | None = None,
    seed: int = 0,
    task_indices: Sequence[int] | None = None,
    batch_size: int = 8,
    team_reward: str = "mean",
    max_turns: int = MAX_TURNS,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Run ``episodes`` episodes of ``env`` with ``agents`` under ``protocol``.

    Args:
        env: A ``ParallelEnv`` with text spaces (e.g. ``collabzoo.make(id, ...)``); it is used
            for the first episode of each batch and deep-copied for the others.
        agents: One agent for all roles, or one per role in ``env.possible_agents`` order.
        protocol: A name from :data:`PROTOCOLS` or an instance.
        episodes: How many episodes (default: one per split item, ``env.num_tasks``; for envs
            without it, :data:`~collabzoo.envs.contract.SEEDED_EPISODES`).
        seed: Episode ``k`` is reset with ``seed + k``.
        task_indices: The split item of each episode (default ``k % env.num_tasks``; ignored
            by envs without ``num_tasks``).
        batch_size: Episodes run together: each round of the protocol asks every agent
            once for the whole batch.
        team_reward: How the roles' rewards make the team reward (a key of
            :data:`~collabzoo.envs.contract.TEAM_REWARDS`).
        max_turns: Most turns of an episode for envs without ``num_turns``.
        on_episode: Called with each finished episode (a progress bar, a JSONL writer).

    Returns:
        One :class:`EpisodeRecord` per episode, in episode order.
    """
    protocol = get_protocol(protocol)
    check_protocol(env, protocol)
    turn_based = env_api(env) == "aec"
    features = aec_features(env) if turn_based else env_features(env)
    if task_indices is not None:
        task_indices = [int(i) for i in task_indices]
        episodes = len(task_indices) if episodes is None else episodes
    if episodes is None:
        episodes = features.default_episodes
    if episodes < 1 or batch_size < 1:
        raise ValueError(f"episodes and batch_size must be >= 1, got {episodes}, {batch_size}")
    resets = [features.reset_kwargs(task_indices[k] if task_indices is not None else k,
                                    seed=seed + k) for k in range(episodes)]
    team = make_team(list(features.agents), agents, protocol)
    if min(batch_size, episodes) > 1:
        check_copyable(env, "to run a batch of episodes side by side (batch_size > 1)")
    pool = [env] + [copy.deepcopy(env) for _ in range(min(batch_size, episodes) - 1)]
    records: list[EpisodeRecord] = []
    for start in range(0, episodes, batch_size):
        batch = list(range(start, min(start + batch_size, episodes)))
        run = _run_aec_batch if turn_based else _run_batch
        records.extend(run(pool[: len(batch)], team, protocol, batch, resets,
                           features, team_reward, max_turns, on_episode))
    return records


def _record_turn(record: EpisodeRecord, actions: Mapping[str, str], calls: list[Any],
                 step: Transition) -> None:
    """Append the turn that ``actions`` (asked by ``calls``) made, read as ``step``."""
    record.turns.append(TurnRecord(
        turn=len(record.turns) + 1, calls=calls, actions=dict(actions), reward=step.reward,
        reward_components=step.components, return_normalized=step.return_normalized,
        details=_json_friendly({k: v for k, v in step.info.items() if k not in _RECORDED}),
        rewards=step.rewards, score=step.score))


def _finish(records: list[EpisodeRecord], began: float,
            on_episode: Callable[[EpisodeRecord], None] | None) -> list[EpisodeRecord]:
    """Give every record of a batch its share of the batch's wall time and report it."""
    per_episode = (time.perf_counter() - began) / len(records)
    for record in records:
        record.seconds = per_episode
        if on_episode is not None:
            on_episode(record)
    return records


def _run_batch(
    envs: list[TextParallelEnv],
    team: Mapping[str, Agent],
    protocol: CollaborationProtocol,
    batch: list[int],
    resets: Sequence[dict[str, Any]],
    features: EnvFeatures,
    team_reward: str,
    max_turns: int,
    on_episode: Callable[[EpisodeRecord], None] | None,
) -> list[EpisodeRecord]:
    began = time.perf_counter()
    observations: list[dict[str, str]] = []
    live_roles: list[list[str]] = []
    records: list[EpisodeRecord] = []
    for env, k in zip(envs, batch, strict=True):
        obs, infos = env.reset(**resets[k])
        observations.append(dict(obs))
        live_roles.append([r for r in features.agents if r in obs])
        first = next(iter(infos.values()), {}) if infos else {}
        options = resets[k].get("options") or {}
        task_index = options.get("task_index", first.get("task_index", -1))
        records.append(EpisodeRecord(k, int(task_index), resets[k]["seed"], protocol.name, []))
    turn_limit = features.turn_limit(max_turns)
    live = list(range(len(batch)))
    while live:
        # episodes whose live agents differ (envs where agents leave early) go separately
        groups: dict[tuple[str, ...], list[int]] = {}
        for j in live:
            groups.setdefault(tuple(live_roles[j]), []).append(j)
        finished: set[int] = set()
        for roles, members in groups.items():
            decisions = protocol.turn([observations[j] for j in members], roles, team)
            joint = [actions for actions, _ in decisions]
            outcomes = step_batch([envs[j] for j in members], joint)
            for j, (actions, calls), outcome in zip(members, decisions, outcomes, strict=True):
                before = records[j].return_
                step = read_step(outcome, list(roles), features, team_reward=team_reward,
                                 return_before=before)
                _record_turn(records[j], actions, calls, step)
                observations[j] = step.observations
                live_roles[j] = step.live
                if step.done or len(records[j].turns) >= turn_limit:
                    finished.add(j)
        live = [j for j in live if j not in finished]
    return _finish(records, began, on_episode)


def _run_aec_batch(
    envs: list[Any],
    team: Mapping[str, Agent],
    protocol: CollaborationProtocol,
    batch: list[int],
    resets: Sequence[dict[str, Any]],
    features: EnvFeatures,
    team_reward: str,
    max_turns: int,
    on_episode: Callable[[EpisodeRecord], None] | None,
) -> list[EpisodeRecord]:
    """:func:`_run_batch` for turn-based envs: each round, the episodes whose selected agent
    is the same role move together (one protocol turn with that one role)."""
    began = time.perf_counter()
    observations: list[dict[str, str]] = []
    movers: list[str | None] = []
    records: list[EpisodeRecord] = []
    for env, k in zip(envs, batch, strict=True):
        obs, first = aec_reset(env, **resets[k])
        observations.append(obs)
        movers.append(first)
        infos: dict[str, Any] = getattr(env, "infos", {}) or {}
        options: dict[str, Any] = resets[k].get("options") or {}
        first_info: dict[str, Any] = next(iter(infos.values()), {})
        task_index = options.get("task_index", first_info.get("task_index", -1))
        records.append(EpisodeRecord(k, int(task_index), resets[k]["seed"], protocol.name, []))
    turn_limit = features.turn_limit(max_turns)
    live = [j for j in range(len(batch)) if movers[j] is not None]
    while live:
        groups: dict[str, list[int]] = {}
        for j in live:
            groups.setdefault(str(movers[j]), []).append(j)
        finished: set[int] = set()
        for role, members in groups.items():
            decisions = protocol.turn([{role: observations[j][role]} for j in members], (role,),
                                      team)
            for j, (actions, calls) in zip(members, decisions, strict=True):
                step = aec_move(envs[j], actions[role], features, team_reward=team_reward,
                                return_before=records[j].return_)
                _record_turn(records[j], actions, calls, step)
                observations[j] = step.observations
                movers[j] = step.live[0] if step.live else None
                if step.done or len(records[j].turns) >= turn_limit:
                    finished.add(j)
        live = [j for j in live if j not in finished]
    return _finish(records, began, on_episode)


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"mean": math.nan, "std": math.nan}
    mean = sum(values) / len(values)
    return {"mean": mean, "std": math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))}


def episode_rates(record: EpisodeRecord) -> dict[str, float]:
    """The coding rates of one episode, from its final turn (empty for other envs).

    - ``pass_rate``: ``tests_passed / tests_total`` (infos of envs that run tests);
    - ``pass_all_rate``: 1.0 when every test passed (pass@1 of the joint solution);
    - ``cooperation_rate``: 1.0 when the ``aux_called`` reward component is positive (main
      calls the helper's ``aux`` and a test passed).
    """
    if not record.turns:
        return {}
    last = record.turns[-1]
    rates: dict[str, float] = {}
    passed, total = last.details.get("tests_passed"), last.details.get("tests_total")
    if isinstance(passed, int | float) and isinstance(total, int | float) and total > 0:
        rates["pass_rate"] = min(passed, total) / total
        rates["pass_all_rate"] = float(passed >= total)
    if "aux_called" in last.reward_components:
        rates["cooperation_rate"] = float(last.reward_components["aux_called"] > 0)
    return rates


RATES = ("pass_rate", "pass_all_rate", "cooperation_rate")


def summarize(records: Sequence[EpisodeRecord], **meta: Any) -> dict[str, Any]:
    """The summary of an evaluation: means and (population) stds over episodes.

    Keys: ``episodes``, ``return_normalized``, ``score``, ``reward``, ``return``, ``components``
    (``{name: {mean, std}}``), ``seconds_per_episode`` (each ``{mean, std}``), and for envs
    that report them (coding) ``pass_rate``, ``pass_all_rate`` and ``cooperation_rate`` (each
    ``{mean, std}`` over the episodes; see :func:`episode_rates`). ``meta`` is copied in first.
    """
    summary: dict[str, Any] = dict(meta)
    summary["episodes"] = len(records)
    normalized = [r.return_normalized for r in records if r.return_normalized is not None]
    summary["return_normalized"] = _mean_std(normalized)
    summary["score"] = _mean_std([r.score for r in records if r.score is not None])
    summary["reward"] = _mean_std([r.reward for r in records])
    summary["return"] = _mean_std([r.return_ for r in records])
    names: list[str] = []
    for record in records:
        names.extend(n for n in record.reward_components if n not in names)
    summary["components"] = {
        n: _mean_std([r.reward_components[n] for r in records if n in r.reward_components])
        for n in names
    }
    rates = [episode_rates(r) for r in records]
    for rate in RATES:
        values = [r[rate] for r in rates if rate in r]
        if values:
            summary[rate] = _mean_std(values)
    summary["turns"] = _mean_std([float(len(r.turns)) for r in records])
    summary["seconds_per_episode"] = _mean_std([r.seconds for r in records])
    return summary
