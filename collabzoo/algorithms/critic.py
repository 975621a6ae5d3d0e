"""What the actor-critics (``iac``, ``maac``) share: a critic that reads text, and GAE credit
over the rollout tree.

**How the critic reads text.** :class:`TextCritic` is a small separate model, independent of
the policies (so it works with any :class:`~collabzoo.agents.Policy`, local or remote): the
text is lower-cased and split into words and punctuation; every word and every pair of
adjacent words is hashed (CRC-32) into one of ``critic_buckets`` buckets; the mean of those
buckets' learned embeddings (``critic_dim`` each) and ``log(1 + number of words)`` go through
a two-layer tanh MLP to one value. It sees which words and word pairs occur, not their order
beyond pairs, and nothing of the policy's internal state. **Cost:** parameters
``critic_buckets x critic_dim + (critic_dim + 1) x critic_dim + critic_dim + 1`` (4096 x 32:
about 0.13M floats per critic), one pass of Python tokenisation over each node's text and one
tiny forward/backward per step: no LLM forward at all, negligible next to generation.

With ``critic_input="hidden"``, :class:`HiddenStateCritic` reads the text as the policy does
instead: the text goes through the policy's prompt format and tokenizer and one forward pass
of its model without gradient (``output_hidden_states=True``; a LoRA policy's adapters are
switched off, so the features come from the frozen base model), and a small head (``critic_dim``
wide, tanh MLP) on the last layer's hidden state of the last token gives the value; only the
head trains. **Cost:** prompt-only LLM forwards of every node's text: one when the step's
credit is computed and one per optimisation pass of the critic (``1 + num_iterations`` per
step); the head is ``(hidden_size + 2) x critic_dim + 1`` parameters. It needs policies with
:meth:`HFPolicy.hidden_states <collabzoo.agents.HFPolicy.hidden_states>`; MAAC's joint text
goes through the first agent's policy.

**Credit.** For every view (IAC: each agent, on its own observation and its own reward; MAAC:
the team, on the joint observation and the team reward), the critic values every node where
the view acts, and :func:`~collabzoo.trainers.advantages.tree_gae` gives each joint action
its advantage ``A = r + discount * V(child) - V(node) + discount * lambda * mean(A of the
child's joint actions)``; a branch that ended (or an agent that left) has future value 0.
In an episode-group rollout (:mod:`~collabzoo.trainers.episodes`) the trees are chains, one
node per decision, so the same GAE runs along each episode (``scale="group"`` is refused
there: one sample per node). The critic regresses on the lambda-returns ``V(node) + mean(A)``; the advantages are divided
by the std of the batch's (``scale="batch"``, the default), and each agent's sample gets the
mean advantage of the joint actions it took part in. Metrics: ``critic/value_loss`` (before
the update), ``critic/explained_variance``, ``critic/value_mean``.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from collabzoo.algorithms.base import (
    Algorithm,
    Credit,
    ExtraModule,
    StepContext,
    advantage_metrics,
    per_turn_credit,
)
from collabzoo.algorithms.scaling import ScaledAdvantagesConfig, ScaleName
from collabzoo.trainers.advantages import marginal_advantages, tree_gae
from collabzoo.trainers.config import TrainerConfig
from collabzoo.trainers.rollout import Node, Rollout

__all__ = ["ActorCritic", "ActorCriticConfig", "HiddenStateCritic", "TextCritic",
           "hashed_ngrams"]

CriticInput = Literal["text", "hidden"]
_WORDS = re.compile(r"\w+|[^\w\s]")


def hashed_ngrams(text: str, num_buckets: int) -> list[int]:
    """The bucket of every word and every pair of adjacent words of ``text`` (lower-cased).

    Naive equivalent: ``[crc32(g) % num_buckets for g in words + [a + " " + b for a, b in
    pairs(words)]]``.
    """
    words = _WORDS.findall(text.lower())
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return [zlib.crc32(g.encode("utf-8")) % num_buckets for g in grams]


class TextCritic(torch.nn.Module):
    """A value function of a text: hashed word and word-pair embeddings, mean-pooled, with the
    log word count, through a tanh MLP (see the module docstring)."""

    def __init__(self, num_buckets: int = 4096, dim: int = 32) -> None:
        super().__init__()
        self.num_buckets = num_buckets
        self.embed = torch.nn.EmbeddingBag(num_buckets, dim, mode="mean")
        last = torch.nn.Linear(dim, 1)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim + 1, dim), torch.nn.Tanh(), last)
        torch.nn.init.normal_(self.embed.weight, std=0.1)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)  # every value starts at 0

    def forward(self, texts: list[str]) -> torch.Tensor:
        """(N,) the value of every text."""
        buckets = [hashed_ngrams(t, self.num_buckets) for t in texts]
        ids = torch.tensor([b for bs in buckets for b in bs], dtype=torch.long)
        offsets = torch.tensor([0] + [len(bs) for bs in buckets[:-1]], dtype=torch.long).cumsum(0)
        pooled = self.embed(ids, offsets)  # (N, dim); an empty text pools to 0
        length = torch.tensor([[math.log1p(len(bs))] for bs in buckets])
        return self.mlp(torch.cat([pooled, length], dim=1)).squeeze(1)


class HiddenStateCritic(torch.nn.Module):
    """A value head on a policy's last hidden state (see the module docstring); the policy's
    model is read without gradient and is not part of this module's parameters."""

    def __init__(self, policy: Any, dim: int = 32) -> None:
        super().__init__()
        if not callable(getattr(policy, "hidden_states", None)):
            raise TypeError(f"critic_input='hidden' needs policies with hidden_states(texts) "
                            f"(HFPolicy); {type(policy).__name__} has none: use "
                            "critic_input='text'")
        self._policy = [policy]  # a list: the policy's model must not become a submodule
        hidden = policy.hidden_states(["x"]).shape[1]
        last = torch.nn.Linear(dim, 1)
        self.head = torch.nn.Sequential(torch.nn.Linear(hidden, dim), torch.nn.Tanh(), last)
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)

    def features(self, texts: list[str]) -> torch.Tensor:
        """(N, hidden) the last layer's hidden state of each text's last token
        (:meth:`HFPolicy.hidden_states <collabzoo.agents.HFPolicy.hidden_states>`)."""
        return self._policy[0].hidden_states(texts)

    def forward(self, texts: list[str]) -> torch.Tensor:
        """(N,) the value of every text."""
        return self.head(self.features(texts)).squeeze(1)


@dataclass
class ActorCriticConfig(ScaledAdvantagesConfig):
    """Hyper-parameters of the actor-critics: the loop's, plus the critic's."""

    min_generations: ClassVar[int] = 1

    # --- advantages ---
    scale: ScaleName = field(
        default="batch",
        metadata={"help": (
            "Divide the GAE advantages by the std (+ ``scale_eps``) of the whole "
            "``batch``'s, of each node's (``group``, needs G >= 2), or ``none``."
        )},
    )

    # --- critic ---
    critic_input: CriticInput = field(
        default="text",
        metadata={"help": (
            "What the critic reads: ``text`` (a separate hashed word/word-pair model) "
            "or ``hidden`` (a head on the policy's last hidden state; ``1 + "
            "num_iterations`` prompt-only LLM forwards of every node's text per "
            "step)."
        )},
    )
    gae_lambda: float = field(
        default=0.95,
        metadata={"help": (
            "GAE's lambda: 1 = Monte-Carlo returns minus the value, 0 = one-step TD "
            "errors."
        )},
    )
    critic_learning_rate: float = field(
        default=1e-3,
        metadata={"help": (
            "AdamW learning rate of the critic(s) (the policies use "
            "``learning_rate``)."
        )},
    )
    critic_buckets: int = field(
        default=4096,
        metadata={"help": "Hash buckets of the critic's word and word-pair embeddings."},
    )
    critic_dim: int = field(
        default=32,
        metadata={"help": "Width of the critic's embeddings and hidden layer."},
    )

    def _problems(self):
        yield from super()._problems()
        if not 0 <= self.gae_lambda <= 1:
            yield f"gae_lambda must be in [0, 1], got {self.gae_lambda}"
        for name in ("critic_learning_rate", "critic_buckets", "critic_dim"):
            if getattr(self, name) <= 0:
                yield f"{name} must be > 0, got {getattr(self, name)}"


class ActorCritic(Algorithm):
    """GAE credit from one :class:`TextCritic` per view. Subclasses say what the views are
    (:meth:`views`), which nodes a view values, what text it reads and which reward it
    gets (:meth:`view_text`, :meth:`view_reward`)."""

    config_class: ClassVar[type[TrainerConfig]] = ActorCriticConfig
    config: ActorCriticConfig

    def __init__(self, config: ActorCriticConfig, agents: list[str],
                 policies: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, agents, policies)
        if config.critic_input == "hidden" and not policies:
            raise ValueError("critic_input='hidden' needs the policies")
        self.critics = {
            view: TextCritic(config.critic_buckets, config.critic_dim)
            if config.critic_input == "text"
            else HiddenStateCritic(policies[self.view_agents(view)[0]],  # type: ignore[index]
                                   config.critic_dim)  # (checked above: policies given)
            for view in self.views()}
        self._fit: dict[str, tuple[list[str], torch.Tensor]] = {}

    # --- what a subclass decides
    def views(self) -> list[str]:
        """The critics' names (one critic each)."""
        raise NotImplementedError

    def view_agents(self, view: str) -> list[str]:
        """The agents whose samples take this view's advantages."""
        raise NotImplementedError

    def view_text(self, view: str, node: Node) -> str | None:
        """What the view's critic reads at ``node``; None: the view does not act there."""
        raise NotImplementedError

    def view_reward(self, view: str, edge) -> float:
        """The view's reward for a joint action."""
        raise NotImplementedError

    # --- the shared machinery
    def modules(self) -> dict[str, ExtraModule]:
        return {self._module_name(view): ExtraModule(critic, self.config.critic_learning_rate)
                for view, critic in self.critics.items()}

    def _module_name(self, view: str) -> str:
        return f"critic/{view}" if len(self.critics) > 1 else "critic"

    def state_dict(self):
        return {view: critic.state_dict() for view, critic in self.critics.items()}

    def load_state_dict(self, state):
        for view, critic in self.critics.items():
            critic.load_state_dict(state[view])

    def credit(self, tree: Rollout, ctx: StepContext) -> Credit:
        c = self.config
        nodes = [node for level in tree.levels for node in level]
        index = {id(node): i for i, node in enumerate(nodes)}
        per_node = tree.samples_per_node  # G in a tree, 1 in an episode group
        credit = torch.zeros(len(self.agents), len(nodes), per_node, dtype=torch.float64)
        stats: dict[str, list[torch.Tensor]] = {"values": [], "targets": [], "adv": []}
        self._fit = {}
        for view in self.views():
            texts = [self.view_text(view, node) for node in nodes]
            where = [i for i, t in enumerate(texts) if t is not None]
            values = torch.zeros(len(nodes), dtype=torch.float64)
            if where:
                with torch.no_grad():
                    values[where] = self.critics[view]([texts[i] for i in where]).double()
            rewards = torch.tensor([[self.view_reward(view, e) for e in node.edges]
                                    for node in nodes], dtype=torch.float64)  # (M, K)
            children = torch.tensor(
                [[index[id(e.child)] if e.child is not None
                  and texts[index[id(e.child)]] is not None else -1 for e in node.edges]
                 for node in nodes], dtype=torch.long)  # (M, K)
            adv, targets = tree_gae(values, rewards, children, c.discount, c.gae_lambda)
            adv = self._scale(adv, where, ctx)
            per_sample = marginal_advantages(adv, tree.choices, per_node)  # (N, M, G)
            for n, agent in enumerate(self.agents):
                if agent in self.view_agents(view):
                    credit[n] = per_sample[n]
            self._fit[view] = ([str(texts[i]) for i in where], targets[where].float())
            stats["values"].append(values[where])
            stats["targets"].append(targets[where])
            stats["adv"].append(adv[where])
        return Credit(per_turn_credit(tree, credit, self.agents), self._metrics(stats, ctx))

    def _scale(self, adv: torch.Tensor, where: list[int], ctx: StepContext) -> torch.Tensor:
        c = self.config
        if c.scale == "none" or not where:
            return adv
        if c.scale == "group":
            if adv.shape[1] < 2:
                raise ValueError(f"{self.name}: scale='group' needs G >= 2 samples per node; "
                                 "an episode-group rollout has one per decision: use "
                                 "scale='batch' or 'none'")
            return adv / (adv.std(dim=1, keepdim=True) + c.scale_eps)
        every = torch.cat([a.reshape(-1) for a in ctx.gather(adv[where])])
        return adv / (every.std() + c.scale_eps) if every.numel() > 1 else adv

    def _metrics(self, stats: dict[str, list[torch.Tensor]], ctx: StepContext) -> dict[str, float]:
        gathered = ctx.gather({k: torch.cat(v) for k, v in stats.items()})
        values, targets, adv = (torch.cat([g[k] for g in gathered])
                                for k in ("values", "targets", "adv"))
        var = targets.var() if targets.numel() > 1 else torch.tensor(0.0)
        residual = (targets - values).var() if targets.numel() > 1 else torch.tensor(0.0)
        return {**advantage_metrics(adv),
                "critic/value_loss": float(((values - targets) ** 2).mean()),
                "critic/explained_variance": float(1 - residual / var) if var > 0 else 0.0,
                "critic/value_mean": float(values.mean())}

    def module_losses(self, tree: Rollout) -> dict[str, torch.Tensor]:
        return {self._module_name(view): ((self.critics[view](texts) - targets) ** 2).mean()
                for view, (texts, targets) in self._fit.items() if texts}
