"""One evaluation path: :func:`evaluate` runs agents on an env under a protocol, and
:func:`eval_sampling` decides how they sample. ``collabzoo eval``, ``collabzoo benchmark`` and
``Trainer.evaluate`` all call them, so their defaults cannot drift apart:

- answers may be as long as the env declares they need (``metadata["answer_tokens"]``,
  :func:`~collabzoo.envs.answer_length.tokens_needed`), else :data:`DEFAULT_MAX_NEW_TOKENS`;
- decoding is greedy unless a temperature is given;
- ``samples`` > 1 (with a temperature) repeats the episodes with seeds ``seed + k`` and scores
  each episode by its mean over the repeats.

The sampling reaches every agent that has a ``sampling`` attribute (collabzoo's
:class:`~collabzoo.agents.HFPolicy`) for the duration of the call and is restored afterwards;
agents without one (an HTTP agent, a rule) keep their own settings (``build_agents`` gives an
``openai:`` agent the same sampling when it builds it).

>>> from collabzoo.agents import RandomTextAgent
>>> import collabzoo
>>> env = collabzoo.make("collabzoo/TLDR-v1", dataset="bundled", split="test")
>>> result = evaluate(env, [RandomTextAgent(seed=0)], episodes=2)
>>> len(result.records), len(result.episode_scores)
(2, 2)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from collabzoo.agents.base import DEFAULT_SAMPLING, Agent, SamplingConfig
from collabzoo.envs.answer_length import check_max_new_tokens, tokens_needed
from collabzoo.envs.contract import MAX_TURNS
from collabzoo.protocols.base import CollaborationProtocol, EpisodeRecord
from collabzoo.protocols.runner import run_episodes

__all__ = ["DEFAULT_MAX_NEW_TOKENS", "Evaluation", "eval_sampling", "evaluate"]

DEFAULT_MAX_NEW_TOKENS = DEFAULT_SAMPLING.max_new_tokens
"""Answer length of an evaluation on an env that declares none (an agent's default too)."""


def eval_sampling(
    env: Any,
    *,
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    seed: int | None = None,
    warn: bool = True,
) -> SamplingConfig:
    """The sampling of an evaluation of ``env``: greedy and as long as the env's answers need,
    unless told otherwise.

    Args:
        env: The env (its declared answer length decides ``max_new_tokens`` when None).
        max_new_tokens: Most tokens per answer; a value below the declared length warns
            (``warn``) since answers then cannot reach the maximum reward.
        temperature: 0: greedy; > 0: sampling.
        top_p: Nucleus sampling mass.
        top_k: Keep the k most likely tokens (0: all).
        seed: Seed of the sampling (ignored when greedy).
        warn: Warn about a ``max_new_tokens`` below the declared length.
    """
    if max_new_tokens is None:
        max_new_tokens = tokens_needed(env) or DEFAULT_MAX_NEW_TOKENS
    else:
        check_max_new_tokens(env, max_new_tokens, warn=warn)
    return SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                          top_k=top_k, seed=None if temperature == 0 else seed)


@dataclass
class Evaluation:
    """What :func:`evaluate` returns.

    Attributes:
        records: Every episode of every repeat, repeat by repeat.
        episode_scores: One score per episode, its mean over the repeats: the final
            ``return_normalized`` where the env has ``reward_max``, else the return.
        sampling: The sampling the agents used (None: their own).
    """

    records: list[EpisodeRecord]
    episode_scores: list[float]
    sampling: SamplingConfig | None


@contextlib.contextmanager
def _sampling_of(agents: Sequence[Agent], sampling: SamplingConfig | None) -> Iterator[None]:
    """Give every agent with a ``sampling`` attribute ``sampling`` for the block."""
    saved = []
    if sampling is not None:
        for agent in {id(a): a for a in agents}.values():
            if isinstance(getattr(agent, "sampling", None), SamplingConfig):
                saved.append((agent, agent.sampling))  # type: ignore[attr-defined]
                agent.sampling = sampling  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for agent, old in saved:
            agent.sampling = old  # type: ignore[attr-defined]


def evaluate(
    env: Any,
    agents: Sequence[Agent],
    *,
    protocol: str | CollaborationProtocol = "parallel",
    episodes: int | None = None,
    seed: int = 0,
    sampling: SamplingConfig | None = None,
    samples: int = 1,
    batch_size: int = 8,
    team_reward: str = "mean",
    max_turns: int = MAX_TURNS,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> Evaluation:
    """Run ``agents`` on ``env`` under ``protocol`` (see the module docstring).

    Args:
        env: A PettingZoo ``ParallelEnv`` with text spaces.
        agents: One agent for every role, or one per role in ``env.possible_agents`` order.
        protocol: ``single``, ``parallel``, ``sequential``, ``discussion`` or an instance.
        episodes: Episodes per repeat (default: one per item of the split, ``env.num_tasks``;
            envs without it: :data:`~collabzoo.envs.contract.SEEDED_EPISODES` seeded ones).
        seed: Episode ``k`` of repeat ``r`` is reset with ``seed + r + k``; repeat ``r``
            samples with seed ``seed + r``.
        sampling: How agents with a ``sampling`` attribute sample; None:
            :func:`eval_sampling` of ``env`` (greedy, the env's declared length).
        samples: Repeats of the episodes (> 1 only makes sense with a temperature > 0).
        batch_size: Episodes run together (one call per agent and round for the batch).
        team_reward: How the roles' rewards make the team reward (``mean``, ``min``, ``max``).
        max_turns: Most turns of an episode of an env without ``num_turns``.
        on_episode: Called with every finished episode (a progress bar, a JSONL writer).

    Returns:
        An :class:`Evaluation`.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if sampling is None:
        sampling = eval_sampling(env)
    records: list[EpisodeRecord] = []
    totals: list[float] | None = None
    for repeat in range(samples):
        config = (sampling if sampling.temperature == 0
                  else dataclasses.replace(sampling, seed=seed + repeat))
        _seed_torch(agents, seed + repeat)
        with _sampling_of(agents, config):
            run = run_episodes(env, agents, protocol, episodes=episodes, seed=seed + repeat,
                               batch_size=batch_size, team_reward=team_reward,
                               max_turns=max_turns, on_episode=on_episode)
        scores = [r.return_normalized if r.return_normalized is not None else r.return_
                  for r in run]
        totals = scores if totals is None else [a + b for a, b in zip(totals, scores, strict=True)]
        records.extend(run)
    return Evaluation(records, [t / samples for t in totals or []], sampling)


def _seed_torch(agents: Sequence[Agent], seed: int) -> None:
    """Seed torch's global RNG where a model-backed agent samples from it."""
    if any(type(a).__name__ == "HFPolicy" for a in agents):
        import torch

        torch.manual_seed(seed)
