"""How long an answer must be able to get: each env's declaration, and a check for a budget.

A generation budget (``max_new_tokens``) that is too short fails silently: no ArXiv text of
64 tokens reaches the 128 words of its structure gate, so every reward is 0 and training
learns nothing. Each collabzoo env therefore declares in ``metadata["answer_tokens"]`` how
many new tokens each agent's answer needs to be able to reach the maximum reward (with a
typical English/code BPE tokenizer: SmolLM2's gives ~1.2-1.35 tokens per English word), and
in ``metadata["answer_tokens_note"]`` why. :func:`tokens_needed` reads it (the most over the
agents, for one shared ``max_new_tokens``); :func:`check_max_new_tokens` says, and warns,
when a budget is below it. Envs that declare nothing (a third-party PettingZoo env) are
never warned about.

>>> from collabzoo.envs.writing.arxiv import ArxivExpansionEnv
>>> answer_tokens(ArxivExpansionEnv), tokens_needed(ArxivExpansionEnv)
({'background': 192, 'method': 256}, 256)
>>> check_max_new_tokens(ArxivExpansionEnv, 256, warn=False)
[]
>>> len(check_max_new_tokens(ArxivExpansionEnv, 64, warn=False))
2
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["GenerationLengthWarning", "answer_tokens", "check_max_new_tokens", "tokens_needed"]


class GenerationLengthWarning(UserWarning):
    """A generation budget is below what an env declares its answers need."""


def _metadata(env: Any) -> Mapping[str, Any]:
    metadata = getattr(env, "metadata", None)
    return metadata if isinstance(metadata, Mapping) else {}


def answer_tokens(env: Any) -> dict[str, int]:
    """``{agent: tokens}`` an env (instance or class) declares; ``{}`` when it declares none."""
    declared = _metadata(env).get("answer_tokens") or {}
    return {str(agent): int(tokens) for agent, tokens in dict(declared).items()}


def tokens_needed(env: Any) -> int | None:
    """The most new tokens any agent's answer needs, or ``None`` when nothing is declared.

    What a trainer or an evaluation should use as ``max_new_tokens`` when the user set none.
    """
    declared = answer_tokens(env)
    return max(declared.values()) if declared else None


def check_max_new_tokens(env: Any, max_new_tokens: int, *, warn: bool = True) -> list[str]:
    """One message per agent whose declared answer length exceeds ``max_new_tokens``.

    Args:
        env: An env instance or class (anything with a ``metadata`` mapping).
        max_new_tokens: The generation budget of every agent.
        warn: Also emit each message as a :class:`GenerationLengthWarning`.

    Returns:
        The messages (empty when the budget can reach the maximum reward).
    """
    metadata = _metadata(env)
    name = metadata.get("name", type(env).__name__)
    note = metadata.get("answer_tokens_note", "")
    messages = [
        f"max_new_tokens={max_new_tokens} is below the {need} tokens that {name} declares "
        f"the {agent!r} answer needs to be able to reach the maximum reward"
        + (f" ({note})" if note else "") + f"; set max_new_tokens >= {need}"
        for agent, need in answer_tokens(env).items()
        if max_new_tokens < need
    ]
    if warn:
        for message in messages:
            warnings.warn(message, GenerationLengthWarning, stacklevel=2)
    return messages
