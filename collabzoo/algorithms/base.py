"""The ``Algorithm`` interface: what an algorithm brings to the shared loop.

The loop (:class:`~collabzoo.trainers.Trainer`) owns setup, the rollout tree, micro-batched
backward passes, one optimizer per trainable module, gradient averaging across processes,
logging, evaluation, checkpoints and resume. An algorithm owns:

- ``config_class``: its config dataclass (a :class:`~collabzoo.trainers.config.TrainerConfig`
  subclass with its own fields and defaults);
- :meth:`Algorithm.credit`: the advantage of every sample, from the rollout tree (every
  node's observations, team and per-agent rewards, returns), as a :class:`Credit`;
- :meth:`Algorithm.policy_loss`: the per-token loss of a micro-batch (default: the clipped
  policy gradient plus ``beta`` x KL to the initial policy);
- :meth:`Algorithm.modules` and :meth:`Algorithm.module_losses`: extra trainable modules (a
  critic), each with its own learning rate; the loop gives each an optimizer, backwards the
  losses, averages, clips, steps and checkpoints them (:meth:`Algorithm.state_dict`);
- :meth:`Algorithm.wrap_env`: an env adapter (the centralised baseline's one-policy view).

One step, as the loop runs it: ``rollout -> credit -> (policy_loss per micro-batch ->
backward) per agent -> module_losses -> backward -> update -> log``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from collabzoo.trainers.config import TrainerConfig
from collabzoo.trainers.losses import kl_per_token, policy_loss_per_token

if TYPE_CHECKING:
    from collabzoo.agents.base import Policy, SamplingConfig
    from collabzoo.trainers.rollout import Node, Rollout

__all__ = [
    "Algorithm",
    "Credit",
    "ExtraModule",
    "StepContext",
    "advantage_metrics",
    "joint_to_sample_credit",
    "per_turn_credit",
]


@dataclass
class StepContext:
    """What the loop lends an algorithm during one step.

    Attributes:
        policies: One policy per agent, in the env's agent order.
        sampling: The training sampling settings.
        gather: ``gather(x)`` = every process's ``x``, in rank order (``[x]`` on one process).
        rank: This process's rank.
        rollout_from: ``rollout_from(nodes, G, sampling)`` grows new rollout trees from copies
            of the given nodes (their envs and observations), e.g. a greedy continuation, and
            returns their roots in the order of ``nodes`` (each root's edges carry their
            returns); the training RNG is left untouched.
    """

    policies: Mapping[str, Policy]
    sampling: SamplingConfig
    gather: Callable[[Any], list[Any]]
    rank: int
    rollout_from: Callable[[list[Node], int, SamplingConfig], list[Node]]


@dataclass
class Credit:
    """The credit of one step's samples.

    Attributes:
        advantages: ``advantages[agent][t]``: (rows,) float32, the advantage of each of the
            agent's samples at turn t, in the row order of ``tree.samples[agent][t]``; None
            where it did not act.
        metrics: Named metrics (``advantage/*``, ``frac_reward_zero_std``, ``critic/*`` ...).
    """

    advantages: dict[str, list[torch.Tensor | None]]
    metrics: dict[str, float] = field(default_factory=dict)

    def check(self, tree: Rollout, agents: list[str], algorithm: str) -> None:
        """Check the shapes against the rollout: one list per agent, one entry per turn, None
        exactly where the agent did not act, else a (rows,) tensor of finite or non-finite
        floats with one value per sample row.

        Raises:
            ValueError: The first mismatch, naming the algorithm, the agent and the turn.
        """
        where = f"algorithm {algorithm!r}: credit()"
        if sorted(self.advantages) != sorted(agents):
            raise ValueError(f"{where} returned advantages for {sorted(self.advantages)}; it must "
                             f"give one list for every agent {agents}")
        turns = len(tree.levels)
        for agent in agents:
            rows = self.advantages[agent]
            if len(rows) != turns:
                raise ValueError(f"{where} gave agent {agent!r} {len(rows)} turns of advantages; "
                                 f"the rollout has {turns} (one entry per turn, None where the "
                                 "agent did not act)")
            for t, (values, samples) in enumerate(zip(rows, tree.samples[agent], strict=True)):
                if samples is None:
                    if values is not None:
                        raise ValueError(f"{where} gave agent {agent!r} advantages at turn {t}, "
                                         "where it did not act: give None there")
                    continue
                expected = samples.completion_mask.shape[0]
                if not isinstance(values, torch.Tensor) or values.shape != (expected,):
                    got = (tuple(values.shape) if isinstance(values, torch.Tensor)
                           else type(values).__name__)
                    raise ValueError(f"{where} gave agent {agent!r} at turn {t} advantages of "
                                     f"shape {got}; expected ({expected},), one per sample row "
                                     "in the order of tree.samples[agent][t]")


@dataclass
class ExtraModule:
    """A trainable module an algorithm adds (e.g. a critic), with its learning rate."""

    module: torch.nn.Module
    learning_rate: float


def per_turn_credit(tree: Rollout, credit: torch.Tensor, agents: list[str]) -> dict[
        str, list[torch.Tensor | None]]:
    """Cut an (N, nodes, G) credit (agent n, node in turn order, sample g) into each agent's
    per-turn rows (the nodes where it acted), the shape of :attr:`Credit.advantages`."""
    out: dict[str, list[torch.Tensor | None]] = {a: [] for a in agents}
    start = 0
    for t, level in enumerate(tree.levels):
        for n, agent in enumerate(agents):
            if tree.samples[agent][t] is None:
                out[agent].append(None)
                continue
            nodes = [start + m for m in tree.active[agent][t]]
            out[agent].append(credit[n, nodes].reshape(-1).float())  # (M*G,)
        start += len(level)
    return out


def joint_to_sample_credit(tree: Rollout, advantages: torch.Tensor, agents: list[str],
                           num_generations: int, baseline: torch.Tensor | None = None,
                           factor: torch.Tensor | None = None,
                           ) -> dict[str, list[torch.Tensor | None]]:
    """Each agent's per-turn credit from the (groups, K) advantages of the tree's
    :meth:`~collabzoo.trainers.rollout.Rollout.group_returns` (a tree: the mean over the joint
    actions that used the sample; an episode group: the decision's episode advantage, or with
    per-decision returns its return-to-go against ``baseline`` scaled by ``factor``, which
    default to a zero baseline and no scaling)."""
    baseline = torch.zeros_like(advantages) if baseline is None else baseline
    factor = torch.ones_like(advantages) if factor is None else factor
    credit = tree.node_credit(advantages, baseline, factor, len(agents))  # (N, nodes, G')
    return per_turn_credit(tree, credit, agents)


def advantage_metrics(values: torch.Tensor) -> dict[str, float]:
    """``advantage/mean``, ``advantage/std`` and ``advantage/abs_mean`` of a tensor."""
    values = values.double()
    return {"advantage/mean": float(values.mean()),
            "advantage/std": float(values.std()) if values.numel() > 1 else 0.0,
            "advantage/abs_mean": float(values.abs().mean())}


class Algorithm:
    """Base class of the algorithms; subclasses set ``name``, ``config_class`` and implement
    :meth:`credit`.

    Args:
        config: An instance of ``config_class``.
        agents: The env's agent names, in order.
        policies: The agents' policies (for an algorithm whose modules read them).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[TrainerConfig]] = TrainerConfig

    def __init__(self, config: TrainerConfig, agents: list[str],
                 policies: Mapping[str, Policy] | None = None) -> None:
        self.config = config
        self.agents = list(agents)
        self.policies = policies

    @classmethod
    def wrap_env(cls, env: Any, config: TrainerConfig) -> Any:
        """The env the loop trains on, made from the user's env (default: ``env`` itself)."""
        return env

    def modules(self) -> dict[str, ExtraModule]:
        """Extra trainable modules by name (default: none)."""
        return {}

    def credit(self, tree: Rollout, ctx: StepContext) -> Credit:
        """The advantage of every sample of the step's rollout tree."""
        raise NotImplementedError

    def policy_loss(
        self,
        log_probs: torch.Tensor,
        advantages: torch.Tensor,
        old_log_probs: torch.Tensor | None,
        ref_log_probs: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mb, T) per-token loss of a micro-batch and its (mb, T) KL (None without a
        reference): ``-min(ratio * A, clip(ratio) * A) + beta * KL``."""
        per_token = policy_loss_per_token(log_probs, old_log_probs, advantages,
                                          self.config.epsilon)
        if ref_log_probs is None:
            return per_token, None
        kl = kl_per_token(log_probs, ref_log_probs)
        return per_token + self.config.beta * kl, kl

    def module_losses(self, tree: Rollout) -> dict[str, torch.Tensor]:
        """Scalar losses of the extra modules (by module name) for this step's tree; called
        after :meth:`credit`, once per ``num_iterations``."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything to checkpoint (default: the extra modules' parameters)."""
        return {name: extra.module.state_dict() for name, extra in self.modules().items()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        for name, extra in self.modules().items():
            extra.module.load_state_dict(state[name])
