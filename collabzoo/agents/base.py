"""The agent contract: who acts. Knows nothing of envs or trainers.

- :class:`Agent`: anything that answers text, ``act(observations, n) -> n answers each``.
  Evaluation protocols only need this.
- :class:`Policy`: a trainable agent. It also returns the token ids of its samples
  (:class:`Samples`), computes per-token log-probabilities of given completions under
  gradient, exposes its trainable parameters and saves/loads itself. Trainers need this.

Row order everywhere: for B prompts and n samples each, row ``i * n + j`` is sample ``j`` of
prompt ``i``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # torch is an optional dependency (extra `train`)
    import torch

__all__ = ["DEFAULT_SAMPLING", "Agent", "Policy", "SamplingConfig", "Samples"]


@runtime_checkable
class Agent(Protocol):
    """Anything that answers text: a local model, an HTTP API, a rule."""

    def act(self, observations: list[str], n: int = 1) -> list[list[str]]:
        """Return ``n`` answers for each observation: ``result[i][j]`` answers observation i."""
        ...


@dataclass(frozen=True)
class SamplingConfig:
    """How a policy samples completions."""

    max_new_tokens: int = 64
    """Most tokens generated per completion."""
    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0 disables)."""
    top_k: int = 0
    """Keep only the k most likely tokens (0 disables)."""
    stop_strings: tuple[str, ...] = ()
    """Generation of a row stops once it has produced one of these strings."""
    seed: int | None = None
    """Seed of this call alone (same seed, same samples); None: the global torch RNG, which a
    trainer seeds once. Do not pass one fixed seed at every training step."""

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


DEFAULT_SAMPLING = SamplingConfig(max_new_tokens=128, temperature=0.0)
"""How a policy acts when nobody says otherwise: greedy, at most 128 tokens, the same defaults
as an evaluation (:func:`collabzoo.evaluation.eval_sampling` on an env that declares no
answer length), so that ``policy.act`` and ``collabzoo eval`` agree. Training always passes
its own sampling."""


@dataclass
class Samples:
    """Completions sampled by a :class:`Policy`, with the token ids a loss needs.

    Shapes use N = B * n rows (B prompts, n samples each, row ``i * n + j``), P prompt
    tokens (left-padded) and T completion tokens (right-padded).

    Attributes:
        texts: (N,) decoded completions, cut at EOS / stop string.
        prompt_ids: (N, P) int64, left-padded prompt token ids.
        prompt_mask: (N, P) int64, 1 on real prompt tokens, 0 on padding.
        completion_ids: (N, T) int64, generated token ids, padded after EOS.
        completion_mask: (N, T) int64, 1 on tokens up to and including the first EOS
            (or stop string), 0 after it. Masked tokens never enter a loss.
        extra: policy-specific data (e.g. the adapter that sampled them).
    """

    texts: list[str]
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)

    def select(self, rows: list[int] | range | slice) -> Samples:
        """The sub-batch of the given rows (for micro-batched loss passes)."""
        if isinstance(rows, slice):
            rows = range(*rows.indices(len(self)))
        index = list(rows)
        return Samples(
            texts=[self.texts[i] for i in index],
            prompt_ids=self.prompt_ids[index],
            prompt_mask=self.prompt_mask[index],
            completion_ids=self.completion_ids[index],
            completion_mask=self.completion_mask[index],
            extra=dict(self.extra),
        )


@runtime_checkable
class Policy(Agent, Protocol):
    """A trainable agent.

    Optional: a policy class may offer a classmethod ``sample_together(policies, prompts, n,
    sampling) -> list[Samples] | None`` that samples several of its policies (``prompts[k]``
    for ``policies[k]``) in one call, returning what each one's ``sample`` would, or None
    when it cannot; the trainer's rollout then uses it for the agents of a turn
    (:func:`collabzoo.trainers.rollout.generate_turn`;
    :meth:`collabzoo.agents.hf.HFPolicy.sample_together` for LoRA agents of one base).
    """

    def sample(self, prompts: list[str], n: int, sampling: SamplingConfig) -> Samples:
        """Sample ``n`` completions of every prompt in one batched generation call."""
        ...

    def log_probs(self, samples: Samples, *, reference: bool = False) -> torch.Tensor:
        """(N, T) log-probability of each completion token, under gradient.

        With ``reference=True``: under the initial policy (adapter disabled, or a frozen copy),
        without gradient; used for a KL penalty.
        """
        ...

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """The parameters an optimizer should update (LoRA adapter or full model)."""
        ...

    def save(self, path: str) -> None:
        """Write everything needed to restore this policy's trained state to folder ``path``."""
        ...

    def load(self, path: str) -> None:
        """Restore the trained state written by :meth:`save` (in place)."""
        ...
