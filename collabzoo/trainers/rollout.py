"""The rollout tree of one MAGRPO step: generate, score, branch, and the returns.

For each of the B tasks the root node is the env after ``reset``. At a node every agent still
in the episode samples G completions of its own observation; the joint actions (a
:data:`JOINT_MODES` strategy: G aligned, or all G^N combinations) are scored on copies of the
node's env (``copy.deepcopy``), all nodes of a turn in one
:func:`~collabzoo.envs.contract.step_batch`. Each step is read by
:func:`~collabzoo.envs.contract.read_step`: the team reward (a named reduction of the acting
agents' rewards) next to the per-agent rewards. A joint action after which some agent is still
in the episode (and whose ``return_normalized`` is below the early-stop threshold, and whose
turn is below the turn limit) becomes a child node of the next turn, where only the agents
still in the episode act. All nodes of a turn are generated together: one batched ``sample``
call per agent per turn (split in chunks of ``generation_batch_size`` rows), or one call for
every agent where their policies share a base model (:func:`generate_turn`).

The return of a joint action is ``r + discount * mean(returns of the child's joint actions)``
(just ``r`` at a leaf), with r the team reward; the joint actions of one node are the
siblings of one advantage group.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from collabzoo.agents.base import Policy, Samples, SamplingConfig
from collabzoo.envs.contract import MAX_TURNS, EnvFeatures, env_features, read_step, step_batch
from collabzoo.trainers.advantages import marginal_advantages

__all__ = [
    "JOINT_MODES",
    "Edge",
    "Node",
    "Rollout",
    "aligned_choices",
    "compute_returns",
    "concat_samples",
    "cross_choices",
    "generate",
    "generate_turn",
    "regrow",
    "rollout",
]


def aligned_choices(num_generations: int, num_agents: int) -> list[tuple[int, ...]]:
    """Joint action g pairs sample g of every agent: G joint actions."""
    return [(g,) * num_agents for g in range(num_generations)]


def cross_choices(num_generations: int, num_agents: int) -> list[tuple[int, ...]]:
    """Every combination of the agents' samples: G^N joint actions."""
    return list(itertools.product(range(num_generations), repeat=num_agents))


#: Named joint-action strategies (config field ``joint_mode``): ``(G, N) -> choices``, where
#: ``choices[j][n]`` is the sample of agent n in joint action j.
JOINT_MODES: dict[str, Callable[[int, int], list[tuple[int, ...]]]] = {
    "aligned": aligned_choices,
    "cross": cross_choices,
}


@dataclass
class Edge:
    """One joint action taken at a node, with what the env said about it.

    Attributes:
        choice: (N,) the sample index of each agent (ignored for agents not at the node).
        reward: The team reward of this turn.
        rewards: Each acting agent's own reward.
        components: Named parts of the reward.
        score: The episode's result after this turn (``infos["score"]``, else the return so far).
        return_normalized: ``score / reward_max``; None when the env has no ``reward_max``.
        child: The node of the next turn, or None when the branch ends here.
        early_stop: True when the branch ended by ``early_stop_threshold`` (not by the env).
        value: The return, set by :func:`compute_returns`.
    """

    choice: tuple[int, ...]
    reward: float
    rewards: dict[str, float]
    components: dict[str, float]
    score: float
    return_normalized: float | None
    child: Node | None = None
    early_stop: bool = False
    value: float = 0.0


@dataclass
class Node:
    """A decision point: an env state and the observation of every agent still in it.

    Attributes:
        env: The env in this state (the tree's own copy).
        observations: Each live agent's observation text.
        task: Which of the step's B tasks this node belongs to.
        turn: 0 for the roots.
        live: The agents that act here (the others left the episode).
        return_before: The undiscounted team return of the turns before this node.
        edges: The K joint actions taken here (filled by scoring).
        episode: The episode it belongs to in an episode-group rollout
            (:mod:`~collabzoo.trainers.episodes`); 0 in a tree.
    """

    env: Any
    observations: dict[str, str]
    task: int
    turn: int
    live: list[str]
    return_before: float = 0.0
    edges: list[Edge] = field(default_factory=list)
    episode: int = 0


@dataclass
class Rollout:
    """One step's rollout forest.

    Attributes:
        levels: ``levels[t]`` = the M_t nodes that act at turn t (roots first).
        active: ``active[agent][t]``: the positions in ``levels[t]`` of the nodes where the
            agent acts (all of them unless agents leave early).
        samples: ``samples[agent][t]``: (len(active[agent][t]) * G rows) the agent's
            completions at turn t, row ``p * G + g`` = sample g at node
            ``levels[t][active[agent][t][p]]``; None when it acts at no node of turn t.
        choices: (K, N) int64, the joint-action strategy's choices (same at every node).
    """

    levels: list[list[Node]]
    active: dict[str, list[list[int]]]
    samples: dict[str, list[Samples | None]]
    choices: torch.Tensor

    @property
    def edges(self) -> list[Edge]:
        """Every joint action of the step, turn by turn."""
        return [e for level in self.levels for node in level for e in node.edges]

    def returns(self) -> torch.Tensor:
        """(sum_t M_t, K) the return of every joint action, one row per node, turn by turn."""
        return torch.tensor([[e.value for e in node.edges] for level in self.levels for node in level],
                            dtype=torch.float64)

    @property
    def samples_per_node(self) -> int:
        """Samples each acting agent drew at a node: G in a tree, 1 in an episode group."""
        return int(self.choices.max()) + 1 if self.choices.numel() else 1

    # What a group-relative algorithm reads (an episode-group rollout overrides these):
    def group_nodes(self) -> list[Node]:
        """The node of every advantage group, in the row order of :meth:`group_returns`:
        every node, turn by turn."""
        return [node for level in self.levels for node in level]

    def group_returns(self) -> torch.Tensor:
        """(groups, K) the returns compared within each group: :meth:`returns`."""
        return self.returns()

    def node_credit(self, advantages: torch.Tensor, baseline: torch.Tensor,
                    factor: torch.Tensor, num_agents: int) -> torch.Tensor:
        """(N, nodes, samples_per_node) each agent's credit for each of its samples, from the
        (groups, K) ``advantages`` of :meth:`group_returns` (``baseline`` and ``factor``,
        the per-entry scale, are what made them): the mean advantage of the joint actions
        that used the sample (:func:`~collabzoo.trainers.advantages.marginal_advantages`)."""
        return marginal_advantages(advantages, self.choices, self.samples_per_node)


def concat_samples(parts: Sequence[Samples]) -> Samples:
    """Stack several :class:`Samples` row-wise, left-padding prompts and right-padding
    completions to the widest (pad id 0 under a 0 mask: padding never enters a loss)."""
    if len(parts) == 1:
        return parts[0]
    width_p = max(p.prompt_ids.shape[1] for p in parts)
    width_c = max(p.completion_ids.shape[1] for p in parts)

    def pad(t: torch.Tensor, width: int, left: bool) -> torch.Tensor:
        extra = width - t.shape[1]
        return torch.nn.functional.pad(t, (extra, 0) if left else (0, extra))

    return Samples(
        texts=[t for p in parts for t in p.texts],
        prompt_ids=torch.cat([pad(p.prompt_ids, width_p, True) for p in parts]),
        prompt_mask=torch.cat([pad(p.prompt_mask, width_p, True) for p in parts]),
        completion_ids=torch.cat([pad(p.completion_ids, width_c, False) for p in parts]),
        completion_mask=torch.cat([pad(p.completion_mask, width_c, False) for p in parts]),
        extra=dict(parts[0].extra),
    )


def generate(
    policy: Policy, prompts: list[str], n: int, sampling: SamplingConfig, max_rows: int | None
) -> Samples:
    """``n`` samples of every prompt, in ``sample`` calls of at most ``max_rows`` rows."""
    per_call = len(prompts) if max_rows is None else max(1, max_rows // n)
    parts = [policy.sample(prompts[i:i + per_call], n, sampling)
             for i in range(0, len(prompts), per_call)]
    return concat_samples(parts)


def generate_turn(
    policies: Mapping[str, Policy], prompts: Mapping[str, list[str]], n: int,
    sampling: SamplingConfig, max_rows: int | None, together: bool = True,
) -> dict[str, Samples]:
    """``n`` samples of each agent's ``prompts`` (agents without prompts are left out).

    With ``together``, agents whose policies can share one generate call (a policy class's
    optional ``sample_together(policies, prompts, n, sampling)``, e.g. LoRA adapters of one
    base model: :meth:`~collabzoo.agents.hf.HFPolicy.sample_together`) are sampled in one
    call when all their rows fit in ``max_rows``; otherwise, and whenever that method
    declines (returns None), one :func:`generate` per agent.
    """
    names = [a for a in policies if prompts.get(a)]
    rows = n * sum(len(prompts[a]) for a in names)
    first = type(policies[names[0]]) if names else None
    joint = getattr(first, "sample_together", None)
    if (together and joint is not None and len(names) > 1
            and all(type(policies[a]) is first for a in names)
            and (max_rows is None or rows <= max_rows)):
        out = joint([policies[a] for a in names], [prompts[a] for a in names], n, sampling)
        if out is not None:
            return dict(zip(names, out, strict=True))
    return {a: generate(policies[a], prompts[a], n, sampling, max_rows) for a in names}


def rollout(
    envs: Sequence[Any],
    observations: Sequence[Mapping[str, str]],
    policies: Mapping[str, Policy],
    *,
    num_generations: int,
    sampling: SamplingConfig,
    joint_mode: str = "aligned",
    discount: float = 1.0,
    early_stop_threshold: float | None = None,
    generation_batch_size: int | None = None,
    features: EnvFeatures | None = None,
    team_reward: str = "mean",
    max_turns: int = MAX_TURNS,
    timing: dict[str, float] | None = None,
    return_before: Sequence[float] | None = None,
    turns_left: int | None = None,
    generate_together: bool = True,
) -> Rollout:
    """Grow the rollout trees of B freshly reset envs turn by turn, then set every return.

    Args:
        envs: (B,) envs just after ``reset`` (they become the roots; not modified).
        observations: (B,) each env's ``reset`` observations.
        policies: One policy per agent, keyed by agent name in the env's agent order.
        num_generations: G.
        sampling: How the policies sample.
        joint_mode: A key of :data:`JOINT_MODES`.
        discount: Weight of the children's mean return.
        early_stop_threshold: Stop branching after a joint action whose ``return_normalized``
            reaches this; None: only the env's termination stops a branch.
        generation_batch_size: Most rows per ``sample`` call (None: one call per agent and turn).
        features: The envs' :func:`~collabzoo.envs.contract.env_features` (default: read from
            ``envs[0]``).
        team_reward: A key of :data:`~collabzoo.envs.contract.TEAM_REWARDS`.
        max_turns: Turn limit for envs without ``num_turns``.
        timing: If given, ``generate_s`` and ``score_s`` (seconds) are added to it.
        return_before: (B,) the team return of turns already played in each env (when the
            roots are mid-episode states); default 0.
        turns_left: Turns the roots may still take (mid-episode roots); default: the env's
            ``num_turns``, else ``max_turns``.
        generate_together: Sample the agents of a turn in one call where their policies
            allow it (:func:`generate_turn`); False: one call per agent.
    """
    timing = timing if timing is not None else {}
    timing.setdefault("generate_s", 0.0)
    timing.setdefault("score_s", 0.0)
    features = features if features is not None else env_features(envs[0])
    turn_limit = turns_left if turns_left is not None else features.turn_limit(max_turns)
    agents = list(policies)
    G = num_generations
    choices = JOINT_MODES[joint_mode](G, len(agents))
    before = return_before if return_before is not None else [0.0] * len(envs)
    level = [Node(env=env, observations=dict(obs), task=b, turn=0,
                  live=[a for a in agents if a in obs], return_before=before[b])
             for b, (env, obs) in enumerate(zip(envs, observations, strict=True))]
    levels: list[list[Node]] = []
    active: dict[str, list[list[int]]] = {a: [] for a in agents}
    samples: dict[str, list[Samples | None]] = {a: [] for a in agents}
    while level:
        levels.append(level)
        # generate: one batched call per agent (or one for all agents) over every node of
        # this turn where it acts
        t0 = time.perf_counter()
        position: dict[str, dict[int, int]] = {}
        prompts: dict[str, list[str]] = {}
        for a in agents:
            where = [m for m, node in enumerate(level) if a in node.live]
            active[a].append(where)
            position[a] = {m: p for p, m in enumerate(where)}
            prompts[a] = [level[m].observations[a] for m in where]
        drawn = generate_turn(policies, prompts, G, sampling, generation_batch_size,
                              generate_together)
        for a in agents:
            samples[a].append(drawn.get(a))  # each (len(where) * G rows), None if not acting
        t1 = time.perf_counter()
        timing["generate_s"] += t1 - t0
        # score: every joint action of every node on its own env copy, one batched call
        branch_envs, joint_actions = [], []
        for m, node in enumerate(level):
            for choice in choices:
                branch_envs.append(copy.deepcopy(node.env))
                joint_actions.append({
                    a: _texts(samples[a][-1])[position[a][m] * G + choice[n]]
                    for n, a in enumerate(agents) if a in node.live
                })
        results = step_batch(branch_envs, joint_actions)
        next_level = []
        for j, (env, result) in enumerate(zip(branch_envs, results, strict=True)):
            node = level[j // len(choices)]
            step = read_step(result, node.live, features, team_reward=team_reward,
                             return_before=node.return_before)
            edge = Edge(choice=choices[j % len(choices)], reward=step.reward, rewards=step.rewards,
                        components=step.components, score=step.score,
                        return_normalized=step.return_normalized)
            node.edges.append(edge)
            ended = step.done or node.turn + 1 >= turn_limit
            if not ended and early_stop_threshold is not None and edge.return_normalized is not None:
                edge.early_stop = edge.return_normalized >= early_stop_threshold
            if not ended and not edge.early_stop:
                edge.child = Node(env=env, observations=step.observations, task=node.task,
                                  turn=node.turn + 1, live=step.live,
                                  return_before=node.return_before + step.reward)
                next_level.append(edge.child)
        level = next_level
        timing["score_s"] += time.perf_counter() - t1
    compute_returns(levels, discount)
    return Rollout(levels=levels, active=active, samples=samples, choices=torch.tensor(choices))


def regrow(nodes: Sequence[Node], policies: Mapping[str, Policy], *, num_generations: int,
           features: EnvFeatures, max_turns: int = MAX_TURNS, **options: Any) -> list[Node]:
    """New rollout trees grown from copies of existing ``nodes`` (e.g. a greedy continuation
    of every node, for a baseline): each node's env is copied and its observations, agents
    still in the episode and return so far are kept; the turn budget left is its own.

    Args:
        nodes: Nodes of a rollout tree (any turns).
        policies, num_generations, features, options: As :func:`rollout`.
        max_turns: The turn limit of envs without ``num_turns`` (counted from the episode's
            start, as in the tree of ``nodes``).

    Returns:
        The roots of the new trees, in the order of ``nodes``; each root's edges carry their
        returns.
    """
    roots: list[Node | None] = [None] * len(nodes)
    for turn in sorted({node.turn for node in nodes}):
        where = [i for i, node in enumerate(nodes) if node.turn == turn]
        tree = rollout([copy.deepcopy(nodes[i].env) for i in where],
                       [{a: nodes[i].observations[a] for a in nodes[i].live} for i in where],
                       policies,
                       num_generations=num_generations, features=features,
                       turns_left=features.turn_limit(max_turns) - turn,
                       return_before=[nodes[i].return_before for i in where], **options)
        for i, root in zip(where, tree.levels[0], strict=True):
            roots[i] = root
    return roots  # type: ignore[return-value]


def _texts(samples: Samples | None) -> list[str]:
    """The texts of an agent's samples at a turn where it acts (a live agent always has some)."""
    assert samples is not None
    return samples.texts


def compute_returns(levels: list[list[Node]], discount: float) -> None:
    """Set ``edge.value = reward + discount * mean(child's edge values)``, leaves first."""
    for level in reversed(levels):
        for node in level:
            for edge in node.edges:
                edge.value = edge.reward
                if edge.child is not None and edge.child.edges:
                    child_values = [e.value for e in edge.child.edges]
                    edge.value += discount * sum(child_values) / len(child_values)
