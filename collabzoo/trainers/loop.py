"""The shared training loop: one :class:`Trainer` for every algorithm.

The loop owns what every algorithm needs; an :class:`~collabzoo.algorithms.base.Algorithm`
(one file in :mod:`collabzoo.algorithms`) owns its config, its credit assignment, its loss and
any extra trainable module. One step reads top to bottom in :meth:`Trainer.training_step`:

1. **generate + score** (:func:`~collabzoo.trainers.rollout.rollout`): B tasks; every agent
   samples G completions of its own observation; the joint actions (G aligned, G^N cross)
   are scored on env copies; multi-turn branches recurse; returns flow up the trees. Or,
   with ``rollout_mode="episodes"`` (the default for turn-based and long envs,
   :func:`rollout_mode`), :func:`~collabzoo.trainers.episodes.episode_rollout`: G whole
   episodes from each task's reset, one sample per acting agent and move.
2. **credit** (``algorithm.credit``): the advantage of every agent's every sample, from the
   tree (MAGRPO: each return minus the mean over its siblings, scaled).
3. **loss + update**: each agent's loss (``algorithm.policy_loss``) over its own completion
   tokens, in micro-batches with accumulated gradients, then the extra modules' losses
   (``algorithm.module_losses``, e.g. a critic's value loss); one AdamW step per agent and per
   extra module, each with its own learning rate.
4. **log**: metrics.jsonl, TensorBoard, the progress bar; checkpoints every ``save_every``
   (the algorithm's state and its modules' optimizers included).

Data parallel: under ``accelerate launch`` every process rolls out its own B tasks; the
returns of all processes are gathered before the advantages are taken, and the gradients are
averaged across processes before each update.

The env contract (:mod:`collabzoo.envs.contract`): the trainer uses only the PettingZoo
``ParallelEnv`` API with ``gymnasium.spaces.Text`` observation and action spaces, plus
``copy.deepcopy(env)`` to branch turns, so any such env trains; a non-text space is an error
at construction naming the agent and the space. Optional extras, each used when present,
with its fallback (decided once, by :func:`~collabzoo.envs.contract.env_features`):

- ``num_tasks`` + ``reset(options={"task_index": i})``: tasks in a seeded shuffled order
  (evaluation: the first ``eval_tasks``); without them, distinct episodes by seed
  (evaluation: seeds 0 .. eval_tasks - 1).
- ``reward_max``: ``return_normalized`` = episode result / reward_max; without it, no
  normalised return is logged.
- ``type(env).step_many``: a batched scoring fast path; without it, ``env.step`` per branch.
- ``num_turns``: the turn budget (metrics); without it, an episode lasts until every agent
  terminates or truncates, at most ``max_turns`` turns.
- ``infos[agent]["score"]``: the episode's result so far; without it, the undiscounted team
  return so far.

Turn-based envs (PettingZoo ``AECEnv`` with text spaces, :mod:`collabzoo.envs.aec`) train the
same way in ``episodes`` mode: only ``agent_selection`` samples at each move, and a move's
team reward is the reduction of every agent's reward for it.

Rewards: the team reward of a joint action is the ``team_reward`` reduction (default
``mean``) of the rewards of the agents that acted; the per-agent rewards stay in the rollout
tree (:class:`~collabzoo.trainers.rollout.Edge`). Agents may leave at different turns: from
then on they do not act and take no loss; a branch ends when every agent has left. The return
is the discounted sum of team rewards (collabzoo's own envs pay the improvement of the joint
score each turn, so that solving earlier is better).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from collabzoo.agents.base import Policy, Samples, SamplingConfig
from collabzoo.algorithms.base import StepContext
from collabzoo.envs.aec import aec_features, env_api
from collabzoo.envs.answer_length import check_max_new_tokens, tokens_needed
from collabzoo.envs.contract import (
    MAX_TURNS,
    EnvFeatures,
    TextParallelEnv,
    check_copyable,
    env_features,
)
from collabzoo.trainers.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from collabzoo.trainers.config import TrainerConfig
from collabzoo.trainers.distributed import Distributed
from collabzoo.trainers.episodes import EpisodeRollout, episode_rollout, reset_starts
from collabzoo.trainers.losses import aggregate_loss, loss_normalizer
from collabzoo.trainers.metrics import MetricsLogger, plot_reward_curve
from collabzoo.trainers.optimizers import adamw, lr_schedule
from collabzoo.trainers.rollout import Node, Rollout, regrow, rollout

if TYPE_CHECKING:
    from collabzoo.algorithms.base import Algorithm

__all__ = ["AgentBatch", "Trainer", "TrainingDiverged", "rollout_mode"]

#: ``max_new_tokens`` for an env that declares no answer length (``metadata["answer_tokens"]``).
DEFAULT_MAX_NEW_TOKENS = 64


def rollout_mode(env: Any, mode: str) -> str:
    """The rollout mode ``mode`` (``tree``, ``episodes`` or ``auto``) resolves to on ``env``:
    ``auto`` is ``episodes`` for a turn-based (AEC) env or one that declares more than
    :data:`~collabzoo.envs.contract.MAX_TURNS` turns (``num_turns``), else ``tree``.

    Raises:
        ValueError: ``tree`` on a turn-based env (one agent moves at a time: branching G ways
            at every move of a long game is pointless; use ``episodes``).
    """
    turn_based = env_api(env) == "aec"
    if mode == "auto":
        features = aec_features(env) if turn_based else env_features(env)
        long = features.num_turns is not None and features.num_turns > MAX_TURNS
        return "episodes" if turn_based or long else "tree"
    if mode == "tree" and turn_based:
        raise ValueError(f"rollout_mode='tree' cannot train the turn-based env "
                         f"{type(env).__name__} (an AECEnv, one agent moves at a time: the tree "
                         "would branch G ways at every move); use rollout_mode='episodes' (or "
                         "'auto')")
    return mode


class TrainingDiverged(RuntimeError):
    """``max_bad_steps`` steps in a row had a non-finite loss or gradient."""


@dataclass
class AgentBatch:
    """One agent's share of a step's loss: its completions of one turn and their credit.

    Attributes:
        samples: (M, T) the completions (M = nodes x G rows).
        advantages: (M,) the credit of every completion.
        old_log_probs: (M, T) log-probs at sampling time (num_iterations > 1 only), or None.
        ref_log_probs: (M, T) log-probs under the initial policy (beta > 0 only), or None.
    """

    samples: Samples
    advantages: torch.Tensor
    old_log_probs: torch.Tensor | None = None
    ref_log_probs: torch.Tensor | None = None


class _TaskOrder:
    """The episodes of training, an endless stream: with ``num_tasks``, a seeded shuffled
    order over the split's tasks (epoch e is permutation (seed, e)); without, one seed drawn
    from (seed, position) per episode."""

    def __init__(self, features: EnvFeatures, seed: int) -> None:
        self.features, self.num_tasks, self.seed = features, features.num_tasks, seed

    def take(self, start: int, count: int) -> list[dict[str, Any]]:
        """``reset`` arguments of episodes start .. start + count - 1 of the stream."""
        out = []
        for pos in range(start, start + count):
            if self.num_tasks is None:
                seed = int(np.random.default_rng([self.seed, pos]).integers(2**31))
                out.append(self.features.reset_kwargs(pos, seed=seed))
                continue
            epoch, offset = divmod(pos, self.num_tasks)
            out.append(self.features.reset_kwargs(int(self._permutation(epoch)[offset])))
        return out

    def _permutation(self, epoch: int) -> np.ndarray:
        assert self.num_tasks is not None  # only envs with tasks are permuted
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_tasks)


def _make_env_factory(env: str | Callable[..., TextParallelEnv], env_kwargs: Mapping[str, Any]):
    if isinstance(env, str):
        import collabzoo

        collabzoo.envs.spec(env)  # a clear error for an unknown id, before anything loads
        return lambda **extra: collabzoo.make(env, **{**env_kwargs, **extra})
    if callable(env):
        return lambda **extra: env(**{**env_kwargs, **extra})
    raise TypeError(f"env must be a registered id or a callable returning an env, got {env!r}")


def _accepts(factory_target: str | Callable[..., Any], name: str) -> bool:
    if isinstance(factory_target, str):
        from collabzoo.envs.kwargs import entry_point_callable

        factory_target = entry_point_callable(factory_target)
    try:
        params = inspect.signature(factory_target).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _resolve_algorithm(algorithm: str | type[Algorithm] | None,
                       config: TrainerConfig | None) -> tuple[type[Algorithm], TrainerConfig]:
    """The algorithm class and its config: ``algorithm`` by name, ``module:Class`` or class;
    None: the one algorithm whose ``config_class`` is exactly ``type(config)`` (``magrpo`` for
    a :class:`MAGRPOConfig`, a plain :class:`TrainerConfig` or no config). A config of a base
    class of the algorithm's ``config_class`` (a plain ``TrainerConfig``) is completed with
    the algorithm's own defaults; any other config must be an instance of its
    ``config_class``."""
    from collabzoo import algorithms
    from collabzoo.algorithms.magrpo import MAGRPOConfig

    if algorithm is None and config is not None and type(config) not in (MAGRPOConfig,
                                                                          TrainerConfig):
        owners = [info.name for info in algorithms.list_algorithms()
                  if algorithms.load(info.name).config_class is type(config)]
        if len(owners) != 1:
            raise TypeError(f"a {type(config).__name__} is the config of "
                            f"{owners or 'no registered algorithm'}: pass algorithm=NAME "
                            "(or algorithm=YourAlgorithmClass)")
        algorithm = owners[0]
    cls = algorithms.load(algorithm or "magrpo") if not isinstance(algorithm, type) else algorithm
    if config is None:
        return cls, cls.config_class()
    if not isinstance(config, cls.config_class) and issubclass(cls.config_class, type(config)):
        return cls, cls.config_class(**{f.name: getattr(config, f.name)
                                        for f in dataclasses.fields(config)})
    if not isinstance(config, cls.config_class):
        raise TypeError(f"algorithm {cls.name!r} takes a {cls.config_class.__name__}, got a "
                        f"{type(config).__name__}")
    return cls, config


def _algorithm_reference(algorithm: str | type[Algorithm] | None, cls: type[Algorithm]) -> str:
    """What config.yaml records, so that a resume loads the same class: the name or
    ``module:Class`` the user gave; for a class, its registered name, else ``module:Class``."""
    from collabzoo import algorithms

    if isinstance(algorithm, str):
        return algorithm
    try:
        if algorithms.load(cls.name) is cls:
            return cls.name
    except (algorithms.UnknownAlgorithmError, ValueError):
        pass
    return f"{cls.__module__}:{cls.__qualname__}"


class Trainer:
    """Trains one policy per env agent with an algorithm of :mod:`collabzoo.algorithms`.

    Args:
        env: A registered env id (``"collabzoo/TLDR-v1"``) or a callable returning an env:
            any PettingZoo ``ParallelEnv`` with text spaces (see the module docstring).
        env_kwargs: Keyword arguments of the env constructor (e.g. ``dataset="bundled"``).
        policies: One :class:`~collabzoo.agents.Policy` per env agent: a list in the env's
            agent order, or a dict by agent name (heterogeneous agents: any mix).
        model: Instead of ``policies``: a model for every agent (``"tiny"``,
            ``"smollm2-135m"``, a hub id or a path), loaded per ``config.agent_sharing``
            (one frozen base + one LoRA adapter each, or full copies); or a list of models,
            one per agent.
        config: The hyper-parameters: an instance of the algorithm's ``config_class`` (e.g.
            :class:`~collabzoo.algorithms.magrpo.MAGRPOConfig`); None: its defaults.
        algorithm: A registered algorithm name (``collabzoo algos``) or an
            :class:`~collabzoo.algorithms.base.Algorithm` subclass; default ``"magrpo"``.
    """

    def __init__(
        self,
        env: str | Callable[..., TextParallelEnv],
        env_kwargs: Mapping[str, Any] | None = None,
        policies: Sequence[Policy] | Mapping[str, Policy] | None = None,
        model: str | Sequence[str] | None = None,
        config: TrainerConfig | None = None,
        algorithm: str | type[Algorithm] | None = None,
    ) -> None:
        algorithm_class, self.config = _resolve_algorithm(algorithm, config)
        self.algorithm_name = _algorithm_reference(algorithm, algorithm_class)
        self.env_id = env if isinstance(env, str) else None
        self.env_kwargs = dict(env_kwargs or {})
        self.model_spec = model
        if self.config.num_threads is not None:
            torch.set_num_threads(self.config.num_threads)
        self.dist = Distributed()
        make_env = _make_env_factory(env, self.env_kwargs)
        # an algorithm may adapt the env (the centralised baseline: one agent writes all parts)
        self._make_env = lambda **extra: algorithm_class.wrap_env(make_env(**extra), self.config)
        self._env_target = env
        self.env = self._make_env()
        check_copyable(self.env, "to branch a rollout (the G samples of a turn continue from "
                                 "copies of one state) and to run tasks side by side")
        if self.config.max_new_tokens is None:  # the length the env declares its answers need
            self.config = dataclasses.replace(
                self.config, max_new_tokens=tokens_needed(self.env) or DEFAULT_MAX_NEW_TOKENS)
        else:
            check_max_new_tokens(self.env, self.config.max_new_tokens)
        # checks the spaces; decides the extras
        self.features = (aec_features(self.env) if env_api(self.env) == "aec"
                         else env_features(self.env))
        self.rollout_mode = rollout_mode(self.env, self.config.rollout_mode)
        self.agents: list[str] = list(self.features.agents)
        torch.manual_seed(self.config.seed)  # identical initialisation on every process
        self.policies = self._match_policies(policies, model)
        self.algorithm = algorithm_class(self.config, self.agents, self.policies)
        self.modules = self.algorithm.modules()  # extra trainable modules (e.g. critics)
        torch.manual_seed(self.config.seed + self.dist.rank)  # sampling differs per process
        self._check_distinct_parameters()
        self.optimizers = {a: adamw(p.trainable_parameters(), self.config)
                           for a, p in self.policies.items()}
        self.module_optimizers = {
            name: adamw(list(m.module.parameters()), self.config, m.learning_rate)
            for name, m in self.modules.items()}
        self.schedulers = {a: torch.optim.lr_scheduler.LambdaLR(o, lr_schedule(self.config))
                           for a, o in self.optimizers.items()}
        self.module_schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(o, lr_schedule(self.config))
            for name, o in self.module_optimizers.items()}
        self.task_order = _TaskOrder(self.features, self.config.seed)
        assert self.config.max_new_tokens is not None  # decided above from the env
        self.sampling = SamplingConfig(max_new_tokens=self.config.max_new_tokens,
                                       temperature=self.config.temperature,
                                       top_p=self.config.top_p, top_k=self.config.top_k)
        self.step = 0
        self.bad_steps_in_a_row = 0
        self.skipped_steps = 0
        self._eval_env = None
        if self.config.eval_every:
            # built now, so that an eval split the env cannot make fails before training
            # rather than at the first evaluation, eval_every steps in
            self._eval_env = self._build_eval_env()

    # ------------------------------------------------------------------ setup
    def _match_policies(self, policies, model) -> dict[str, Policy]:
        if (policies is None) == (model is None):
            raise ValueError("pass exactly one of policies=[...] (one per agent) or model=...")
        if model is not None:
            policies = _load_policies(model, self.agents, self.config)
        if isinstance(policies, Mapping):
            missing = [a for a in self.agents if a not in policies]
            unknown = [a for a in policies if a not in self.agents]
            if missing or unknown:
                raise ValueError(f"policies must be keyed by the env's agents {self.agents}; "
                                 f"missing {missing}, unknown {unknown}")
            return {a: policies[a] for a in self.agents}
        policies = list(policies)
        if len(policies) != len(self.agents):
            raise ValueError(
                f"the env has {len(self.agents)} agents {self.agents} but {len(policies)} "
                "policies were given: pass one per agent, in this order (or a dict by name)"
            )
        return dict(zip(self.agents, policies, strict=True))

    def _check_distinct_parameters(self) -> None:
        seen: dict[int, str] = {}
        for agent, policy in self.policies.items():
            for p in policy.trainable_parameters():
                if id(p) in seen and seen[id(p)] != agent:
                    raise ValueError(
                        f"agents {seen[id(p)]!r} and {agent!r} share trainable parameters: give "
                        "each agent its own policy (e.g. one LoRA adapter each)"
                    )
                seen[id(p)] = agent

    # ------------------------------------------------------------------ one step
    def training_step(self) -> dict[str, float]:
        """One step of the algorithm on the next B tasks; returns its metrics."""
        c, G = self.config, self.config.num_generations
        t0 = time.perf_counter()
        episodes = self.task_order.take(
            (self.step * self.dist.world + self.dist.rank) * c.batch_size, c.batch_size)

        # 1. generate + score: the rollout trees of the B tasks (or their episode groups)
        timing: dict[str, float] = {}
        if self.rollout_mode == "episodes":
            tree: Rollout = self._episodes(reset_starts(self.env, episodes), G, self.sampling,
                                           timing)
        else:
            tree = self._rollout(self.env, episodes, G, self.sampling, c.joint_mode, c.discount,
                                 c.early_stop_threshold, timing)

        # 2. credit: the algorithm's advantage of every agent's every sample (per turn)
        credit = self.algorithm.credit(tree, self._context())
        credit.check(tree, self.agents, self.algorithm_name)
        batches = self._agent_batches(tree, credit.advantages)

        # 3. loss + update, num_iterations times on the same rollouts
        t_loss = time.perf_counter()
        lr = self.optimizers[self.agents[0]].param_groups[0]["lr"]
        losses: dict[str, list[float]] = {a: [] for a in self.agents}
        kls: dict[str, list[float]] = {a: [] for a in self.agents}
        module_losses: dict[str, list[float]] = {name: [] for name in self.modules}
        grad_norms: dict[str, float] = {}
        finite = True
        for _ in range(c.num_iterations):
            for agent in self.agents:
                loss, kl = self._accumulate_gradients(agent, batches[agent])
                losses[agent].append(loss)
                kls[agent].append(kl)
            for name, module_loss in self.algorithm.module_losses(tree).items():  # value loss
                module_loss.backward()
                module_losses[name].append(float(module_loss.detach()))
            losses_finite = all(math.isfinite(vs[-1]) for vs in (*losses.values(),
                                                                 *module_losses.values()) if vs)
            grad_norms = self._update(losses_finite)
            finite = finite and losses_finite and all(math.isfinite(v) for v in grad_norms.values())
        for scheduler in (*self.schedulers.values(), *self.module_schedulers.values()):
            scheduler.step()  # once per step, whatever num_iterations
        timing["loss_s"] = time.perf_counter() - t_loss

        # 4. metrics
        step_s = time.perf_counter() - t0
        metrics = self._step_metrics(tree, batches, losses, kls, grad_norms, step_s, timing)
        metrics.update(credit.metrics)
        for name, values in module_losses.items():
            if values:
                metrics[f"loss/{name}"] = float(np.mean(values))
        metrics["lr"] = lr
        self.step += 1
        self._count_bad_step(finite, metrics)
        return metrics

    def _context(self) -> StepContext:
        return StepContext(policies=self.policies, sampling=self.sampling,
                           gather=self.dist.gather_objects, rank=self.dist.rank,
                           rollout_from=self._rollout_from)

    def _rollout_from(self, nodes: list[Node], G: int, sampling: SamplingConfig) -> list[Node]:
        c = self.config
        if self.rollout_mode == "episodes":  # whole episodes from each group's reset state
            with torch.random.fork_rng(devices=[]):
                replay = self._episodes([(n.env, n.observations, n.live) for n in nodes], G,
                                        sampling, {})
            return replay.group_nodes()
        with torch.random.fork_rng(devices=[]):  # leaves the training RNG alone
            return regrow(nodes, self.policies, num_generations=G, sampling=sampling,
                          joint_mode=c.joint_mode, discount=c.discount,
                          early_stop_threshold=c.early_stop_threshold,
                          generation_batch_size=c.generation_batch_size,
                          features=self.features, team_reward=c.team_reward,
                          max_turns=c.max_turns, generate_together=c.generate_together)

    def _episodes(self, starts: list[Any], G: int, sampling: SamplingConfig,
                  timing: dict[str, float]) -> EpisodeRollout:
        """G whole episodes from each start (:mod:`~collabzoo.trainers.episodes`)."""
        c = self.config
        return episode_rollout(starts, self.policies, num_generations=G, sampling=sampling,
                               features=self.features, discount=c.discount,
                               per_decision=c.episode_credit == "to_go",
                               generation_batch_size=c.generation_batch_size,
                               team_reward=c.team_reward, max_turns=c.max_turns, timing=timing,
                               generate_together=c.generate_together)

    def _rollout(self, env: TextParallelEnv, episodes: list[dict[str, Any]], G: int,
                 sampling: SamplingConfig, joint_mode: str, discount: float,
                 early_stop_threshold: float | None, timing: dict[str, float]) -> Rollout:
        """The rollout trees of ``episodes`` (``reset`` arguments) on copies of ``env``."""
        envs, observations = [], []
        for kwargs in episodes:
            copy_ = copy.deepcopy(env)
            obs, _ = copy_.reset(**kwargs)
            envs.append(copy_)
            observations.append(obs)
        c = self.config
        return rollout(envs, observations, self.policies, num_generations=G, sampling=sampling,
                       joint_mode=joint_mode, discount=discount,
                       early_stop_threshold=early_stop_threshold,
                       generation_batch_size=c.generation_batch_size, features=self.features,
                       team_reward=c.team_reward, max_turns=c.max_turns, timing=timing,
                       generate_together=c.generate_together)

    def _agent_batches(self, tree: Rollout, credit: dict[str, list[torch.Tensor | None]]
                       ) -> dict[str, list[AgentBatch]]:
        """Each agent's per-turn batches of completions (the nodes where it acted) with their
        credit."""
        c = self.config
        batches: dict[str, list[AgentBatch]] = {a: [] for a in self.agents}
        for t in range(len(tree.levels)):
            for agent in self.agents:
                samples = tree.samples[agent][t]
                if samples is None:  # the agent left the episode at every node of turn t
                    continue
                advantages = credit[agent][t]
                assert advantages is not None  # Credit.check: given wherever the agent acted
                batch = AgentBatch(samples, advantages)  # (M*G,)
                policy = self.policies[agent]
                with torch.no_grad():
                    if c.num_iterations > 1:
                        batch.old_log_probs = _in_micro_batches(
                            policy.log_probs, samples, c.micro_batch_size)
                    if c.beta > 0:
                        batch.ref_log_probs = _in_micro_batches(
                            functools.partial(policy.log_probs, reference=True), samples,
                            c.micro_batch_size)
                batches[agent].append(batch)
        return batches

    def _accumulate_gradients(self, agent: str, batches: list[AgentBatch]) -> tuple[float, float]:
        """Backward the agent's loss in micro-batches; returns (loss, mean KL) of the batch."""
        c = self.config
        policy = self.policies[agent]
        normalizer = loss_normalizer([b.samples.completion_mask for b in batches],
                                     c.loss_aggregation)
        total_loss, total_kl, kl_tokens = 0.0, 0.0, 0.0
        for batch in batches:
            # a zero-advantage row has zero policy gradient: skip its forward (unless a KL
            # term makes it count)
            rows = [i for i in range(len(batch.samples))
                    if c.beta > 0 or batch.advantages[i] != 0]
            for start in range(0, len(rows), c.micro_batch_size):
                idx = rows[start:start + c.micro_batch_size]
                sub = _trim(batch.samples.select(idx))
                width = sub.completion_ids.shape[1]
                mask = sub.completion_mask.to(torch.float32)
                log_probs = policy.log_probs(sub)  # (mb, T)
                old = None if batch.old_log_probs is None else batch.old_log_probs[idx, :width]
                ref = None if batch.ref_log_probs is None else batch.ref_log_probs[idx, :width]
                per_token, kl = self.algorithm.policy_loss(log_probs, batch.advantages[idx], old,
                                                           ref)
                if kl is not None:
                    total_kl += float((kl.detach() * mask).sum())
                    kl_tokens += float(mask.sum())
                loss = aggregate_loss(per_token, mask, c.loss_aggregation, normalizer)
                loss.backward()
                total_loss += float(loss.detach())
        return total_loss, (total_kl / kl_tokens if kl_tokens else 0.0)

    def _update(self, losses_finite: bool) -> dict[str, float]:
        """Average gradients across processes, clip, and step the optimizer of every agent and
        every extra module; all of them skip when a loss or a gradient is not finite. Returns
        each grad norm (agents by name, extra modules as ``module:<name>``)."""
        groups = {**{a: (p.trainable_parameters(), self.optimizers[a])
                     for a, p in self.policies.items()},
                  **{f"module:{n}": (list(m.module.parameters()), self.module_optimizers[n])
                     for n, m in self.modules.items()}}
        max_norm = self.config.max_grad_norm if self.config.max_grad_norm else float("inf")
        norms = {}
        for name, (params, _) in groups.items():
            self.dist.mean_gradients(params)
            with_grad = [p for p in params if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(with_grad, max_norm) if with_grad else torch.zeros(())
            norms[name] = float(norm)
        ok = losses_finite and all(math.isfinite(v) for v in norms.values())
        for _, optimizer in groups.values():
            if ok:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return norms

    def _count_bad_step(self, finite: bool, metrics: dict[str, float]) -> None:
        if finite:
            self.bad_steps_in_a_row = 0
        else:
            self.bad_steps_in_a_row += 1
            self.skipped_steps += 1
        metrics["train/skipped_steps"] = float(self.skipped_steps)

    def _raise_if_diverged(self) -> None:
        if self.bad_steps_in_a_row >= self.config.max_bad_steps:
            raise TrainingDiverged(
                f"{self.bad_steps_in_a_row} steps in a row (up to step {self.step}) had a "
                "non-finite loss or gradient and were skipped; check the rewards for nan/inf, "
                "lower learning_rate or set max_grad_norm"
            )

    # ------------------------------------------------------------------ metrics
    def _tree_metrics(self, tree: Rollout) -> dict[str, float]:
        """The rollout tree's metrics: rewards of every joint action, per turn, returns."""
        edges = tree.edges
        local = {
            "rewards": [e.reward for e in edges],
            "normalized": [e.return_normalized for e in edges if e.return_normalized is not None],
            "components": [e.components for e in edges],
            "turns": [(node.turn, e.reward) for level in tree.levels for node in level
                      for e in node.edges],
            "root_values": [e.value for node in tree.levels[0] for e in node.edges],
            "early_stop": [e.early_stop for e in edges],
            "nodes": sum(len(level) for level in tree.levels),
        }
        gathered = self.dist.gather_objects(local)
        rewards = torch.tensor([r for g in gathered for r in g["rewards"]], dtype=torch.float64)
        m: dict[str, float] = {
            "reward/mean": float(rewards.mean()),
            "reward/std": float(rewards.std()) if len(rewards) > 1 else 0.0,
        }
        names = sorted({k for g in gathered for comp in g["components"] for k in comp})
        for name in names:
            values = [comp[name] for g in gathered for comp in g["components"] if name in comp]
            m[f"reward/{name}"] = float(np.mean(values))
        turns = sorted({t for g in gathered for t, _ in g["turns"]})
        if len(turns) > 1 or self.features.turn_limit(self.config.max_turns) > 1:
            for t in turns:
                m[f"reward/turn_{t + 1}"] = float(np.mean(
                    [r for g in gathered for tt, r in g["turns"] if tt == t]))
            m["rollout/frac_early_stop"] = float(np.mean(
                [s for g in gathered for s in g["early_stop"]]))
        m["return/mean"] = float(np.mean([v for g in gathered for v in g["root_values"]]))
        normalized = [v for g in gathered for v in g["normalized"]]
        if normalized:  # envs without reward_max have no normalised return
            m["return_normalized"] = float(np.mean(normalized))
        m["rollout/nodes"] = float(sum(g["nodes"] for g in gathered))
        return m

    def _episode_metrics(self, tree: EpisodeRollout) -> dict[str, float]:
        """The rollout's metrics in episodes mode: ``reward/mean`` and ``reward/std`` over
        the episodes' undiscounted team returns, ``return/mean`` their discounted return,
        ``return_normalized`` their final one, ``rollout/moves`` and
        ``rollout/frac_truncated``."""
        local = [(e.team_return, e.return_normalized, e.moves, e.truncated)
                 for e in tree.episodes]
        gathered = [e for g in self.dist.gather_objects(local) for e in g]
        returns = torch.tensor([e[0] for e in gathered], dtype=torch.float64)
        roots = [v for g in self.dist.gather_objects(tree.group_returns().reshape(-1).tolist())
                 for v in g]
        m: dict[str, float] = {
            "reward/mean": float(returns.mean()),
            "reward/std": float(returns.std()) if len(returns) > 1 else 0.0,
            "return/mean": float(np.mean(roots)),
            "rollout/moves": float(np.mean([e[2] for e in gathered])),
            "rollout/frac_truncated": float(np.mean([e[3] for e in gathered])),
            "rollout/nodes": float(sum(e[2] for e in gathered)),
        }
        normalized = [e[1] for e in gathered if e[1] is not None]
        if normalized:
            m["return_normalized"] = float(np.mean(normalized))
        return m

    def _step_metrics(self, tree, batches, losses, kls, grad_norms, step_s,
                      timing) -> dict[str, float]:
        m = (self._episode_metrics(tree) if isinstance(tree, EpisodeRollout)
             else self._tree_metrics(tree))
        for agent in self.agents:
            m[f"loss/policy/{agent}"] = float(np.mean(losses[agent]))
            m[f"grad_norm/{agent}"] = grad_norms[agent]
        m["loss/policy"] = float(np.mean([m[f"loss/policy/{a}"] for a in self.agents]))
        if self.config.beta > 0:
            m["loss/kl"] = float(np.mean([np.mean(kls[a]) for a in self.agents]))
        m["grad_norm"] = float(np.mean([grad_norms[a] for a in self.agents]))
        for name in self.modules:
            m[f"grad_norm/{name}"] = grad_norms[f"module:{name}"]
        lengths = []
        for agent in self.agents:
            agent_lengths = [n for b in batches[agent] for n in b.samples.completion_mask.sum(1).tolist()]
            if agent_lengths:  # an agent that never moved (a turn-based game ended first)
                m[f"completion/{agent}/mean_length"] = float(np.mean(agent_lengths))
            lengths += agent_lengths
        m["completion/mean_length"] = float(np.mean(lengths))
        m["completion/clipped_frac"] = float(np.mean([n >= self.config.max_new_tokens for n in lengths]))
        m["perf/step_s"] = step_s
        m["perf/generate_s"] = timing.get("generate_s", 0.0)
        m["perf/score_s"] = timing.get("score_s", 0.0)
        m["perf/loss_s"] = timing.get("loss_s", 0.0)
        m["perf/tokens_per_s"] = sum(lengths) * self.dist.world / step_s
        return m

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, num_tasks: int | None = None) -> dict[str, float]:
        """Run the first ``num_tasks`` (default ``config.eval_tasks``) tasks of the eval split
        (envs without ``num_tasks``: seeds ``config.seed`` + 0, 1, ...) through
        :func:`collabzoo.evaluation.evaluate` (the same path as ``collabzoo eval``: the
        ``parallel`` protocol, each agent on its own observation), greedy or sampling with the
        fixed seed ``config.seed``, at the training answer length. Returns ``eval/...``
        metrics: the episode's undiscounted team return (``eval/reward/mean``), its final
        ``return_normalized``, the final turn's reward components and the mean answer length
        in tokens. Does not touch the training RNG."""
        from collabzoo.evaluation.evaluate import eval_sampling
        from collabzoo.evaluation.evaluate import evaluate as run_evaluation

        c = self.config
        if self._eval_env is None:
            self._eval_env = self._build_eval_env()
        features = env_features(self._eval_env)
        count = min(num_tasks or c.eval_tasks, features.num_tasks or c.eval_tasks)
        sampling = eval_sampling(self._eval_env, max_new_tokens=self.sampling.max_new_tokens,
                                 temperature=c.eval_temperature, top_p=self.sampling.top_p,
                                 top_k=self.sampling.top_k, seed=c.seed, warn=False)
        with torch.random.fork_rng(devices=[]):
            result = run_evaluation(self._eval_env, [self.policies[a] for a in self.agents],
                                    protocol="parallel", episodes=count, seed=c.seed,
                                    sampling=sampling, batch_size=count,
                                    team_reward=c.team_reward, max_turns=c.max_turns)
        records = result.records
        m = {"eval/reward/mean": float(np.mean([r.return_ for r in records]))}
        normalized = [r.return_normalized for r in records if r.return_normalized is not None]
        if normalized:
            m["eval/return_normalized"] = float(np.mean(normalized))
        lengths = [self._answer_tokens(call.role, call.answer)
                   for r in records for turn in r.turns for call in turn.calls]
        m["eval/completion/mean_length"] = float(np.mean(lengths)) if lengths else 0.0
        for name in sorted({k for r in records for k in r.reward_components}):
            m[f"eval/reward/{name}"] = float(np.mean([r.reward_components[name] for r in records
                                                      if name in r.reward_components]))
        return m

    def _build_eval_env(self):
        """The env of :meth:`evaluate`: the training env's kwargs with ``split=eval_split``."""
        c = self.config
        extra = {}
        if c.eval_split is not None:
            if not _accepts(self._env_target, "split"):
                raise ValueError(f"eval_split={c.eval_split!r} but the env takes no 'split'")
            extra["split"] = c.eval_split
        return self._make_env(**extra)

    def _answer_tokens(self, agent: str, answer: str) -> float:
        """An answer's length in its policy's tokens (characters for a policy without a
        tokenizer)."""
        tokenizer = getattr(self.policies.get(agent), "tokenizer", None)
        if tokenizer is None:
            return float(len(answer))
        return float(len(tokenizer(answer, add_special_tokens=False)["input_ids"]))

    # ------------------------------------------------------------------ the loop
    def train(self, resume: bool | str | os.PathLike = False) -> list[dict[str, Any]]:
        """Train to ``config.steps``; returns the metrics of every step.

        Args:
            resume: True: continue from the newest checkpoint of ``config.output_dir`` (if
                any); a path: continue from that checkpoint folder.
        """
        c = self.config
        out = Path(c.output_dir) if c.output_dir else None
        if resume:
            # resume=True without an output folder has no checkpoint to find (it once passed
            # True on as a path)
            path = (latest_checkpoint(out / "checkpoints") if out else None) if resume is True \
                else resume
            if path:
                self.load_checkpoint(path)
        elif out is not None and latest_checkpoint(out / "checkpoints") is not None:
            raise ValueError(f"{out} already holds checkpoints of another run: resume it "
                             "(train(resume=True), `collabzoo train --resume`) or choose a new "
                             "output folder")
        logger = MetricsLogger(out if self.dist.main else None, c.report_to,
                               config=self.resolved_config(),
                               resume_step=self.step if resume else None)
        if out is not None and self.dist.main:
            self._write_config(out)
        bar = None
        if c.progress_bar and self.dist.main:
            from tqdm.auto import tqdm

            bar = tqdm(total=c.steps, initial=self.step, desc=self.algorithm_name, unit="step",
                       dynamic_ncols=True)
        try:
            while self.step < c.steps:
                metrics = self.training_step()
                last = self.step == c.steps
                if c.eval_every and (self.step % c.eval_every == 0 or last):
                    evaluation = self.evaluate() if self.dist.main else {}
                    metrics.update(evaluation)
                logger.log(metrics, self.step)
                self._raise_if_diverged()
                if bar is not None:
                    bar.update(1)
                    postfix = {"reward": f"{metrics['reward/mean']:.3f}",
                               "step_s": f"{metrics['perf/step_s']:.1f}"}
                    if "eval/reward/mean" in metrics:
                        postfix["eval"] = f"{metrics['eval/reward/mean']:.3f}"
                    bar.set_postfix(postfix)
                if out is not None and c.save_every and (self.step % c.save_every == 0 or last):
                    self.save_checkpoint()
        finally:
            if bar is not None:
                bar.close()
            logger.close()
        if out is not None:
            self.save(out / "agents")
            if self.dist.main:
                plot_reward_curve(out / "metrics.jsonl", out / "reward_curve.png")
        return logger.history

    # ------------------------------------------------------------------ saving
    def resolved_config(self) -> dict[str, Any]:
        """What config.yaml holds: the env, its kwargs, the model, the algorithm and its full
        config."""
        return {"env": self.env_id, "env_kwargs": self.env_kwargs,
                "model": self.model_spec if isinstance(self.model_spec, (str, type(None)))
                else list(self.model_spec),
                # what config.dtype (e.g. auto) resolved to, per agent, on this machine
                "dtype": {a: str(getattr(p, "dtype", None)).removeprefix("torch.")
                          for a, p in self.policies.items()},
                "algorithm": self.algorithm_name,
                "config": self.config.to_dict()}

    def _write_config(self, out: Path) -> None:
        import yaml

        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(self.resolved_config(), sort_keys=False))

    def save(self, directory: str | os.PathLike) -> None:
        """Write every agent's policy to ``<directory>/<agent name>/``."""
        if self.dist.main:
            for agent, policy in self.policies.items():
                policy.save(str(Path(directory) / agent))
        self.dist.barrier()

    def save_checkpoint(self) -> Path:
        """Write ``<output>/checkpoints/step-N/`` atomically and prune old ones."""
        if not self.config.output_dir:
            raise ValueError("save_checkpoint needs config.output_dir")
        root = Path(self.config.output_dir) / "checkpoints"
        path = save_checkpoint(
            root, self.step, policies=self.policies, optimizers=self._all_optimizers(),
            schedulers=self._all_schedulers(), rank=self.dist.rank, barrier=self.dist.barrier,
            algorithm_state=self.algorithm.state_dict(),
            trainer_state={"skipped_steps": self.skipped_steps,
                           "bad_steps_in_a_row": self.bad_steps_in_a_row,
                           "world_size": self.dist.world, **self.resolved_config()},
        )
        if self.dist.main:
            prune_checkpoints(root, self.config.keep_checkpoints)
        self.dist.barrier()
        return path

    def _all_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {**self.optimizers, **{f"module:{n}": o for n, o in self.module_optimizers.items()}}

    def _all_schedulers(self) -> dict[str, Any]:
        return {**self.schedulers, **{f"module:{n}": s for n, s in self.module_schedulers.items()}}

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` (same agents and config)."""
        state = load_checkpoint(path, policies=self.policies, optimizers=self._all_optimizers(),
                                schedulers=self._all_schedulers(), rank=self.dist.rank)
        if "algorithm_state" in state:
            self.algorithm.load_state_dict(state["algorithm_state"])
        self.step = int(state["step"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.bad_steps_in_a_row = int(state.get("bad_steps_in_a_row", 0))

    @classmethod
    def from_run(cls, output_dir: str | os.PathLike, **overrides: Any) -> Trainer:
        """Rebuild the trainer of a run folder from its config.yaml (for ``--resume``); call
        ``train(resume=True)`` to continue it. ``overrides`` replace config fields (e.g. steps)."""
        import yaml

        saved = yaml.safe_load((Path(output_dir) / "config.yaml").read_text())
        if saved.get("env") is None or saved.get("model") is None:
            raise ValueError(f"{output_dir} was trained with a custom env or policies; rebuild "
                             "the Trainer in Python and call train(resume=True)")
        from collabzoo import algorithms

        name = saved.get("algorithm", "magrpo")
        algorithm = algorithms.load(name)
        values = {**saved["config"], **overrides, "output_dir": str(output_dir)}
        return cls(env=saved["env"], env_kwargs=saved.get("env_kwargs") or {},
                   model=saved["model"], config=algorithm.config_class.from_dict(values),
                   algorithm=name)


# ---------------------------------------------------------------------- helpers
def _in_micro_batches(fn: Callable[[Samples], torch.Tensor], samples: Samples,
                      size: int) -> torch.Tensor:
    """``fn`` over trimmed row chunks of ``samples``, padded back to (N, T) with zeros."""
    width = samples.completion_ids.shape[1]
    parts = []
    for i in range(0, len(samples), size):
        part = fn(_trim(samples.select(range(i, min(i + size, len(samples))))))
        parts.append(torch.nn.functional.pad(part, (0, width - part.shape[1])))
    return torch.cat(parts) if parts else torch.zeros(0, width)


def _trim(samples: Samples) -> Samples:
    """Drop the all-padding columns of a micro-batch: prompt columns on the left, completion
    columns on the right (positions follow the mask, so log-probs do not change)."""
    p_keep = int(samples.prompt_mask.sum(dim=1).max()) if len(samples) else 0
    t_keep = int(samples.completion_mask.sum(dim=1).max()) if len(samples) else 0
    t_keep = max(t_keep, 1)
    P = samples.prompt_ids.shape[1]
    return dataclasses.replace(
        samples,
        prompt_ids=samples.prompt_ids[:, P - p_keep:], prompt_mask=samples.prompt_mask[:, P - p_keep:],
        completion_ids=samples.completion_ids[:, :t_keep],
        completion_mask=samples.completion_mask[:, :t_keep],
    )


def _load_policies(model: str | Sequence[str], agents: list[str],
                   config: TrainerConfig) -> list[Policy]:
    """One policy per agent: from one model id, homogeneous agents (one frozen base with one
    LoRA adapter each, or full copies, per ``config.agent_sharing``); from a list of ids,
    heterogeneous agents (a model each)."""
    from collabzoo.agents import LoraSettings, load_policies, load_policy

    lora = LoraSettings(r=config.lora_rank, alpha=config.lora_alpha) \
        if config.agent_sharing == "lora" else None
    chat_template = {"auto": None, "true": True, "false": False}[config.chat_template]
    options = dict(dtype=config.dtype, keep_reference=lora is None and config.beta > 0,
                   chat_template=chat_template, enable_thinking=config.enable_thinking)
    if isinstance(model, str):
        return load_policies(model, len(agents), lora=lora, names=agents, seed=config.seed,
                             **options)
    models = list(model)
    if len(models) != len(agents):
        raise ValueError(f"the env has {len(agents)} agents {agents} but {len(models)} models "
                         "were given: pass one model id for all, or one per agent")
    return [load_policy(m, lora=lora, seed=config.seed + i, adapter_name=a, **options)
            for i, (m, a) in enumerate(zip(models, agents, strict=True))]
