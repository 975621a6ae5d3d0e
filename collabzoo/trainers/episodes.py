"""The episode-group rollout: a group is G whole episodes from the same reset.

The rollout tree (:mod:`.rollout`) branches G ways at every turn, which explodes over a long
episode (a 50-move game). Here each of the step's B tasks is reset once and copied G times,
and every copy plays one whole episode: at each move only the agents that act (a turn-based
env's ``agent_selection``; a parallel env's live agents) sample **one** completion of their
own observation, all episodes of the step in one batched ``sample`` call per agent
(:func:`~collabzoo.trainers.rollout.generate_turn`). The G episodes of a task are the group
(GRPO's trajectory group): every decision of episode g is credited from that episode's return
against the group (:meth:`EpisodeRollout.node_credit`, the algorithms' own baselines).

The result is a :class:`~collabzoo.trainers.rollout.Rollout` whose trees are chains: level t
holds the decision node of every episode still running at move t, each with one edge (its
move); ``edge.value`` is the discounted return from that move on (the return-to-go,
``r_t + discount * r_{t+1} + ...``), so the episode's return is the value of its first node.
Actor-critics read the chains as they read trees (a critic value per decision node).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from collabzoo.agents.base import Policy, Samples, SamplingConfig
from collabzoo.envs.aec import aec_move, aec_reset, env_api
from collabzoo.envs.contract import EnvFeatures, Transition, read_step, step_batch
from collabzoo.trainers.rollout import Edge, Node, Rollout, compute_returns, generate_turn

__all__ = ["EpisodeResult", "EpisodeRollout", "Start", "episode_rollout", "reset_starts"]

#: A task's start, ``(env in its reset state, observations, the agents that act first)``.
Start = tuple[Any, dict[str, str], list[str]]


@dataclass
class EpisodeResult:
    """One played episode of a group.

    Attributes:
        task: Which of the step's B tasks (its group).
        team_return: The undiscounted sum of the team rewards.
        score: The episode's result after its last move.
        return_normalized: ``score / reward_max``; None without ``reward_max``.
        moves: Moves played.
        truncated: Stopped by the turn limit, not by the env.
    """

    task: int
    team_return: float = 0.0
    score: float = 0.0
    return_normalized: float | None = None
    moves: int = 0
    truncated: bool = False


@dataclass
class EpisodeRollout(Rollout):
    """A step's episode groups as chains of decision nodes (module docstring).

    Attributes:
        generations: G, the episodes of each task; episode ``e`` belongs to task ``e // G``
            (``node.episode`` = e).
        per_decision: Credit each decision from its own return-to-go (True) or from its
            episode's return (False).
        episodes: (B * G) what each episode did, task by task.
    """

    generations: int = 1
    per_decision: bool = False
    episodes: list[EpisodeResult] = field(default_factory=list)

    def group_nodes(self) -> list[Node]:
        """The first node of each task's first episode (its env is the task's reset state)."""
        firsts = {node.episode: node for node in self.levels[0]} if self.levels else {}
        return [firsts[e] for e in range(0, len(self.episodes), self.generations)]

    def group_returns(self) -> torch.Tensor:
        """(B, G) each episode's (discounted) return, one row per task."""
        firsts = {node.episode: node.edges[0].value for node in self.levels[0]} \
            if self.levels else {}
        values = [firsts.get(e, 0.0) for e in range(len(self.episodes))]  # 0: no move at all
        return torch.tensor(values, dtype=torch.float64).reshape(-1, self.generations)

    def node_credit(self, advantages: torch.Tensor, baseline: torch.Tensor,
                    factor: torch.Tensor, num_agents: int) -> torch.Tensor:
        """(N, nodes, 1) the credit of every decision: its episode's advantage
        ``advantages[b, g]``, or with ``per_decision`` ``(return-to-go - baseline[b, g]) *
        factor[b, g]`` (the group's baseline and scale applied to the decision's return)."""
        G = self.generations
        values = []
        for level in self.levels:
            for node in level:
                b, g = divmod(node.episode, G)
                if self.per_decision:
                    values.append(float((node.edges[0].value - baseline[b, g]) * factor[b, g]))
                else:
                    values.append(float(advantages[b, g]))
        column = torch.tensor(values, dtype=torch.float64).reshape(1, -1, 1)
        return column.expand(num_agents, -1, 1)


def reset_starts(env: Any, resets: Sequence[Mapping[str, Any]]) -> list[Start]:
    """The start of every task: a copy of ``env`` reset with each ``reset`` arguments."""
    turn_based = env_api(env) == "aec"
    starts: list[Start] = []
    for kwargs in resets:
        copy_ = copy.deepcopy(env)
        if turn_based:
            obs, first = aec_reset(copy_, **kwargs)
            starts.append((copy_, obs, [first] if first is not None else []))
        else:
            obs, _ = copy_.reset(**kwargs)
            starts.append((copy_, dict(obs), [a for a in copy_.possible_agents if a in obs]))
    return starts


def episode_rollout(
    starts: Sequence[Start],
    policies: Mapping[str, Policy],
    *,
    num_generations: int,
    sampling: SamplingConfig,
    features: EnvFeatures,
    discount: float = 1.0,
    per_decision: bool = False,
    generation_batch_size: int | None = None,
    team_reward: str = "mean",
    max_turns: int = 1_000,
    timing: dict[str, float] | None = None,
    generate_together: bool = True,
) -> EpisodeRollout:
    """Play G whole episodes from each of the B ``starts`` (see the module docstring).

    Args:
        starts: (B,) each task's start (:func:`reset_starts`, or the first node of a group:
            ``(node.env, node.observations, node.live)``); the envs are copied, not modified.
        policies: One policy per agent, in the env's agent order.
        num_generations: G, episodes per task.
        sampling: How the policies sample.
        features: The env's features (the turn limit, ``reward_max``).
        discount: The return-to-go's discount.
        per_decision: See :attr:`EpisodeRollout.per_decision`.
        generation_batch_size: Most rows per ``sample`` call (None: one call per agent and
            move).
        team_reward: A key of :data:`~collabzoo.envs.contract.TEAM_REWARDS`.
        max_turns: Move limit for envs without ``num_turns``.
        timing: If given, ``generate_s`` and ``score_s`` are added to it.
        generate_together: As :func:`~collabzoo.trainers.rollout.rollout`.
    """
    timing = timing if timing is not None else {}
    timing.setdefault("generate_s", 0.0)
    timing.setdefault("score_s", 0.0)
    agents = list(policies)
    G = num_generations
    turn_based = env_api(starts[0][0]) == "aec"
    limit = features.turn_limit(max_turns)
    states: list[Any] = []
    level: list[Node] = []
    results: list[EpisodeResult] = []
    for b, (start, obs, live) in enumerate(starts):
        for g in range(G):
            episode = len(results)
            results.append(EpisodeResult(task=b))
            states.append(copy.deepcopy(start))
            if live:  # the first episode's node keeps the start (a replay's baseline)
                level.append(Node(env=copy.deepcopy(start) if g == 0 else None,
                                  observations=dict(obs), task=b, turn=0, live=list(live),
                                  episode=episode))
    levels: list[list[Node]] = []
    active: dict[str, list[list[int]]] = {a: [] for a in agents}
    samples: dict[str, list[Samples | None]] = {a: [] for a in agents}
    while level:
        levels.append(level)
        t0 = time.perf_counter()
        prompts: dict[str, list[str]] = {}
        for a in agents:
            where = [m for m, node in enumerate(level) if a in node.live]
            active[a].append(where)
            prompts[a] = [level[m].observations[a] for m in where]
        drawn = generate_turn(policies, prompts, 1, sampling, generation_batch_size,
                              generate_together)
        texts: list[dict[str, str]] = [{} for _ in level]
        for a in agents:
            samples[a].append(drawn.get(a))
            for p, m in enumerate(active[a][-1]):
                texts[m][a] = drawn[a].texts[p]
        t1 = time.perf_counter()
        timing["generate_s"] += t1 - t0
        steps: list[Transition]
        if turn_based:
            steps = [aec_move(states[node.episode], texts[m][node.live[0]], features,
                              team_reward=team_reward, return_before=node.return_before)
                     for m, node in enumerate(level)]
        else:
            outcomes = step_batch([states[node.episode] for node in level], texts)
            steps = [read_step(out, node.live, features, team_reward=team_reward,
                               return_before=node.return_before)
                     for node, out in zip(level, outcomes, strict=True)]
        next_level = []
        for node, step in zip(level, steps, strict=True):
            edge = Edge(choice=(0,) * len(agents), reward=step.reward, rewards=step.rewards,
                        components=step.components, score=step.score,
                        return_normalized=step.return_normalized)
            node.edges.append(edge)
            result = results[node.episode]
            result.moves += 1
            result.team_return += step.reward
            result.score, result.return_normalized = step.score, step.return_normalized
            if not step.done and node.turn + 1 >= limit:
                result.truncated = True
            elif not step.done:
                edge.child = Node(env=None, observations=step.observations, task=node.task,
                                  turn=node.turn + 1, live=step.live,
                                  return_before=node.return_before + step.reward,
                                  episode=node.episode)
                next_level.append(edge.child)
        level = next_level
        timing["score_s"] += time.perf_counter() - t1
    compute_returns(levels, discount)
    return EpisodeRollout(levels=levels, active=active, samples=samples,
                          choices=torch.zeros(1, len(agents), dtype=torch.long),
                          generations=G, per_decision=per_decision, episodes=results)

