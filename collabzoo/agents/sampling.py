"""The sampling pipeline of :class:`~collabzoo.agents.hf.HFPolicy`: encode -> prefill ->
generate -> mask -> texts, once for :meth:`~collabzoo.agents.hf.HFPolicy.sample` (one policy)
and :meth:`~collabzoo.agents.hf.HFPolicy.sample_together` (several LoRA adapters of one base
model in one ``generate``).

The two differ in one thing only, which adapter each row runs, and that is a
:class:`RowAdapters` strategy: :class:`OneAdapter` (the policy's adapter made active, or none
for a full model) or :class:`AdapterBlocks` (one block of rows per adapter,
:func:`~collabzoo.agents.hf_internals.adapter_row_blocks`, else peft's ``adapter_names``).
Everything else is :func:`sample_policies`:

1. **encode**: each policy formats and tokenizes its own prompts (left padding); the blocks
   are left-padded to one width and stacked: the B distinct prompts, (B, P).
2. **prefill** (n > 1 and ``share_prompts``): the B distinct prompts but their last column
   run once; the KV cache is repeated to the N = B * n rows (row ``i * n + j`` is sample j of
   prompt i) with room to grow in place (:func:`shared_prefill`).
3. **generate**: one greedy ``generate`` over the N rows under ``torch.inference_mode``; a
   sampled call draws its token in the :class:`InverseCdfSampler` processor, which leaves only
   that token finite (so the argmax is the draw). Stop strings end a row as soon as its
   completion text holds one (:class:`StopStrings`).
4. **mask**: 1 up to and including the first EOS, 0 after (:func:`completion_mask`).
5. **texts**: each policy's rows, trimmed to the longest of them (what its own ``generate``
   would have run to), decoded up to EOS and cut before the first stop string (text and mask:
   :func:`completion_texts`); ids after the end become the pad id.

Why inverse-CDF: transformers' ``do_sample=True`` draws with ``torch.multinomial(probs, 1)``,
one exponential random number per vocabulary entry and row at every step; inverse-CDF draws
one uniform per row, the same distribution up to float64 rounding of the running sum (the
timings: ``benchmarks/generation.py`` and the docs). Temperature, top-k and top-p are
transformers' own warpers, applied first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import torch

from collabzoo.agents import hf_internals
from collabzoo.agents.base import Samples, SamplingConfig

if TYPE_CHECKING:
    from collabzoo.agents.hf import HFPolicy

__all__ = [
    "AdapterBlocks",
    "InverseCdfSampler",
    "OneAdapter",
    "RowAdapters",
    "StopStrings",
    "check_sampling",
    "completion_mask",
    "completion_texts",
    "generation_config",
    "last_positions",
    "positions",
    "sample_policies",
    "shared_prefill",
]


def completion_mask(completion_ids: torch.Tensor, eos_token_ids: Sequence[int]) -> torch.Tensor:
    """(N, T) int64 mask: 1 up to and including the first EOS token of each row, 0 after it.

    >>> completion_mask(torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8]]), [2]).tolist()
    [[1, 1, 0, 0], [1, 1, 1, 1]]
    """
    eos = torch.tensor(
        list(eos_token_ids), dtype=completion_ids.dtype, device=completion_ids.device
    )
    is_eos = torch.isin(completion_ids, eos).long()
    eos_before = is_eos.cumsum(-1) - is_eos  # EOS tokens strictly before each position
    return (eos_before == 0).long()


def positions(prompt_mask: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, P+t) attention mask of prompt + ``t`` completion tokens and the position ids
    generate() uses with left padding (counted over real tokens; 1 on padding)."""
    attention = torch.cat([prompt_mask, prompt_mask.new_ones((prompt_mask.shape[0], t))], dim=1)
    return attention, (attention.cumsum(-1) - 1).masked_fill(attention == 0, 1)


def last_positions(t: int, device: torch.device) -> torch.Tensor:
    """``logits_to_keep`` for the last ``t`` positions, as an index tensor (the documented
    1-D form) rather than the int ``t``.

    With an int, transformers slices the hidden states, a strided (B, t, H) view when the
    sequence is longer than t, and outside autograd torch's ``matmul`` does not fold such a
    view into one (B*t, H) matrix: it expands the LM head's weight to (B, H, V) and copies it
    for a batched product (at every prefill; it set the peak memory of a LoRA training run).
    An index tensor gathers the t positions into a contiguous block first (B x t x H values),
    and the product is one matmul.
    """
    return torch.arange(-t, 0, device=device)


class InverseCdfSampler:
    """Logits processor that samples the next token and leaves only it finite (score 0, all
    others ``-inf``), so that a greedy ``generate`` emits a sample of the tempered, top-k and
    top-p filtered distribution.

    Inverse-CDF: per row one uniform ``u`` in [0, 1), the token is the first whose cumulative
    probability exceeds ``u x total``; a zero-probability token (filtered by top-k/top-p) has
    an empty interval and can never be drawn. It draws from the global torch RNG (or the
    ``seeded`` fork around ``generate``), B numbers per step instead of B x V.
    """

    def __init__(self, sampling: SamplingConfig) -> None:
        from transformers import (
            LogitsProcessorList,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        warpers: list[Any] = []
        if sampling.temperature != 1.0:
            warpers.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k:
            warpers.append(TopKLogitsWarper(sampling.top_k))
        if sampling.top_p < 1.0:
            warpers.append(TopPLogitsWarper(sampling.top_p))
        self.warpers = LogitsProcessorList(warpers)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = self.warpers(cast(torch.LongTensor, input_ids), scores)
        # the running sum in float64: in float32 its steps near 1 are 6e-8 wide, so that
        # tokens rarer than that after the first half of the mass could never be drawn
        # (at 49k-150k tokens ~1e-4 of the mass); float64 leaves ~1e-16
        cdf = torch.softmax(scores.float(), dim=-1).double().cumsum_(dim=-1)  # (B, V)
        total = cdf[:, -1:].contiguous()  # (B, 1), 1 up to rounding
        u = torch.rand(total.shape, dtype=cdf.dtype, device=cdf.device) * total
        token = torch.searchsorted(cdf, u, right=True)  # (B, 1)
        # u x total can round up to total: never past the last token of positive probability
        last = torch.searchsorted(cdf, total, right=False)
        # (a NaN row, from a diverged model, would index past the vocabulary: clamp, so that
        # the NaN surfaces in the loss, where the trainer skips and counts it)
        token = torch.minimum(token, last).clamp_(max=cdf.shape[-1] - 1)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, token, 0.0)


class StopStrings:
    """Stopping criterion: a row is done once its COMPLETION text holds a stop string.

    Unlike transformers' ``stop_strings``, text that straddles the prompt never matches, so
    stopping agrees with the cut :func:`completion_texts` makes afterwards. Each step decodes
    only the last few tokens: a byte-level token holds at least one byte, so a stop string of
    L characters (at most 4L bytes) lies within the last 4L + 1 tokens.
    """

    def __init__(self, tokenizer: Any, stop_strings: Sequence[str], prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.stop_strings = [s for s in stop_strings if s]
        self.prompt_length = prompt_length
        self.window = 4 * max((len(s) for s in self.stop_strings), default=0) + 1

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        tail = input_ids[:, self.prompt_length :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tail, skip_special_tokens=True)
        done = [any(s in text for s in self.stop_strings) for text in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _first_stop(text: str, stop_strings: Sequence[str]) -> int | None:
    """Index of the earliest occurrence of any stop string in ``text``, or None."""
    found = [i for i in (text.find(s) for s in stop_strings if s) if i >= 0]
    return min(found) if found else None


def completion_texts(
    tokenizer: Any, completion_ids: torch.Tensor, mask: torch.Tensor, stop_strings: Sequence[str]
) -> list[str]:
    """Decode each row up to its EOS; cut at the first stop string (the text, and ``mask`` in
    place: it ends with the shortest prefix of tokens whose text holds the stop string)."""
    decode = tokenizer.decode
    texts = []
    for i in range(completion_ids.shape[0]):
        length = int(mask[i].sum())
        ids = completion_ids[i, :length].tolist()
        text = decode(ids, skip_special_tokens=True)
        if stop_strings:
            cut = _first_stop(text, stop_strings)
            if cut is not None:
                lo, hi = 1, length
                while lo < hi:
                    mid = (lo + hi) // 2
                    if _first_stop(decode(ids[:mid], skip_special_tokens=True),
                                   stop_strings) is None:
                        lo = mid + 1
                    else:
                        hi = mid
                mask[i, lo:] = 0
                text = text[:cut]
        texts.append(text)
    return texts


def check_sampling(n: int, sampling: SamplingConfig) -> None:
    """Raise a clear error for a number of samples or a length that cannot be generated."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if sampling.max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {sampling.max_new_tokens}")


def generation_config(sampling: SamplingConfig, eos_token_ids: Sequence[int],
                      pad_token_id: int) -> Any:
    """The ``GenerationConfig`` of one call: greedy (a sampled call draws in the
    :class:`InverseCdfSampler`), this policy's EOS and pad ids, none of a hub config's
    penalties (the policy gradient does not see them)."""
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=sampling.max_new_tokens,
        eos_token_id=list(eos_token_ids),
        pad_token_id=pad_token_id,
        use_cache=True,
        num_beams=1,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        min_length=0,
        do_sample=False,
        top_k=None,
        top_p=None,
        temperature=None,
    )


def _generate_kwargs(tokenizer: Any, sampling: SamplingConfig, prompt_width: int) -> dict[str, Any]:
    """``generate`` arguments of ``sampling``: the stop-string criterion (completion text
    only) and, unless greedy, the :class:`InverseCdfSampler` processor."""
    kwargs: dict[str, Any] = {}
    if sampling.stop_strings:
        from transformers import StoppingCriteriaList

        stop = StopStrings(tokenizer, sampling.stop_strings, prompt_width)
        kwargs["stopping_criteria"] = StoppingCriteriaList([stop])
    if not sampling.greedy:
        from transformers import LogitsProcessorList

        kwargs["logits_processor"] = LogitsProcessorList([InverseCdfSampler(sampling)])
    return kwargs


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run the block with the global torch RNG seeded to ``seed``, then restore it."""
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def shared_prefill(model: Any, unique_ids: torch.Tensor, unique_mask: torch.Tensor, n: int,
                   new_tokens: int, **forward_kwargs: Any) -> Any:
    """The KV cache of all but the last column of the B distinct prompts, repeated to the
    N = B * n rows, for ``generate`` (which then runs the last prompt column and samples),
    with room to grow in place by the ``new_tokens`` to generate; None when the model's
    cache cannot be repeated over rows. ``forward_kwargs`` go to the forward (peft's
    ``adapter_names``: one name per distinct prompt)."""
    p = unique_ids.shape[1]
    if p < 2 or not hf_internals.prompt_sharing_supported(model):
        return None
    _, position_ids = positions(unique_mask[:, :-1], 0)
    out = model(
        input_ids=unique_ids[:, :-1],
        attention_mask=unique_mask[:, :-1],
        position_ids=position_ids,
        logits_to_keep=last_positions(1, unique_ids.device),
        use_cache=True,
        **forward_kwargs,
    )
    cache = hf_internals.output_cache(out)
    if not hf_internals.shareable_cache(model, cache, len(unique_ids), p - 1):
        return None
    return hf_internals.grow_in_place(hf_internals.repeat_cache_rows(cache, n), new_tokens + 1)


# --- which adapter each row runs: the one difference between sample and sample_together ----


class RowAdapters(Protocol):
    """How a forward over the stacked rows runs each policy's adapter."""

    def rows(self, per_prompt: int) -> contextlib.AbstractContextManager[dict[str, Any]]:
        """Within the block, the model runs each policy's rows with its adapter, when every
        prompt has ``per_prompt`` rows (1 for the prefill, n for ``generate``); yields the
        forward/``generate`` keyword arguments that complete it."""
        ...


class OneAdapter:
    """One policy: its adapter made the active one of a shared PeftModel (no-op for a full
    model); every row runs it."""

    def __init__(self, policy: HFPolicy) -> None:
        self.policy = policy

    @contextlib.contextmanager
    def rows(self, per_prompt: int) -> Iterator[dict[str, Any]]:
        with self.policy._adapter_active():
            yield {}


class AdapterBlocks:
    """Several LoRA policies of one PeftModel, their rows in one block per policy (in the
    order of ``blocks``: (adapter name, prompts)). Each block runs its adapter through
    :func:`~collabzoo.agents.hf_internals.adapter_row_blocks`, or, for a model that cannot
    serve it that way, peft's ``adapter_names`` (one name per row)."""

    def __init__(self, model: Any, blocks: list[tuple[str, int]]) -> None:
        self.model = model
        self.blocks = blocks

    @contextlib.contextmanager
    def rows(self, per_prompt: int) -> Iterator[dict[str, Any]]:
        blocks = [(name, prompts * per_prompt) for name, prompts in self.blocks]
        with hf_internals.adapter_row_blocks(self.model, blocks) as blocked:
            yield {} if blocked else {"adapter_names": [name for name, rows in blocks
                                                        for _ in range(rows)]}


def _left_pad(rows: torch.Tensor, width: int, value: int) -> torch.Tensor:
    """(B, P) -> (B, width): ``value`` columns added on the left."""
    return torch.nn.functional.pad(rows, (width - rows.shape[1], 0), value=value)


def _generated(out: torch.Tensor, prompt_width: int) -> torch.Tensor:
    """The completion columns of ``generate``'s output, as a normal tensor.

    Prefill and ``generate`` run under ``torch.inference_mode`` rather than ``no_grad``: no
    version counters or autograd metadata on the tensors they create, which saves
    per-operator time where a decode step is many small operators. Its tensors cannot be
    saved for backward, and the loss pass embeds the completion ids under autograd: the copy
    made here, outside inference mode, is a normal tensor.
    """
    return out[:, prompt_width:].clone()


@torch.no_grad()
def sample_policies(
    policies: Sequence[HFPolicy],
    prompts: Sequence[list[str]],
    n: int,
    sampling: SamplingConfig,
    adapters: RowAdapters,
) -> list[Samples]:
    """Sample ``n`` completions of every prompt of every policy in ONE ``generate`` call.

    Args:
        policies: the policies, all of one model with the same pad and EOS ids (one policy,
            or LoRA adapters of one PeftModel: the caller checks).
        prompts: ``prompts[k]``: policy k's prompts.
        n: samples per prompt (>= 1).
        sampling: the sampling settings of every row.
        adapters: which adapter each row runs (:class:`OneAdapter`, :class:`AdapterBlocks`).

    Returns:
        One :class:`Samples` per policy, rows ``i * n + j``, tensors on the model's device,
        shapes as that policy's own call would give (its own prompt width and completion
        length).
    """
    check_sampling(n, sampling)
    first = policies[0]
    device = first.device
    encoded = [policy._encode(list(texts)) for policy, texts in zip(policies, prompts, strict=True)]
    width = max(ids.shape[1] for ids, _ in encoded)
    if len(encoded) == 1:
        unique_ids, unique_mask = encoded[0]
    else:
        unique_ids = torch.cat([_left_pad(ids, width, first.pad_token_id) for ids, _ in encoded])
        unique_mask = torch.cat([_left_pad(mask, width, 0) for _, mask in encoded])
    unique_ids, unique_mask = unique_ids.to(device), unique_mask.to(device)  # (B, P)
    prompt_ids = unique_ids.repeat_interleave(n, dim=0)  # (N, P)
    prompt_mask = unique_mask.repeat_interleave(n, dim=0)  # (N, P)
    if len(unique_ids) == 0:
        empty = torch.zeros((0, 0), dtype=torch.long, device=device)
        return [Samples([], prompt_ids, prompt_mask, empty, empty.clone(), policy._extra())
                for policy in policies]

    gen_kwargs: dict[str, Any] = {}
    with torch.inference_mode():  # see _generated
        if n > 1 and all(policy.share_prompts for policy in policies):
            with adapters.rows(1) as adapter_kwargs:
                cache = shared_prefill(first.model, unique_ids, unique_mask, n,
                                       sampling.max_new_tokens, **adapter_kwargs)
            if cache is not None:
                gen_kwargs[hf_internals.cache_kwarg()] = cache
        gen_kwargs.update(_generate_kwargs(first.tokenizer, sampling, width),
                          logits_to_keep=last_positions(1, device))
        with adapters.rows(n) as adapter_kwargs, seeded(sampling.seed, device):
            out = first.model.generate(
                input_ids=prompt_ids,
                attention_mask=prompt_mask,
                generation_config=generation_config(sampling, first.eos_token_ids,
                                                    first.pad_token_id),
                **adapter_kwargs,
                **gen_kwargs,
            )
    completion_ids = _generated(out, width)  # (N, T) over every policy's rows
    mask = completion_mask(completion_ids, first.eos_token_ids)  # (N, T)

    results, start = [], 0
    for policy, (ids, _) in zip(policies, encoded, strict=True):
        rows = slice(start, start + len(ids) * n)
        start = rows.stop
        # the length this policy's own generate would have run to: its longest row (for a
        # single policy, every column: generate stops when its last row ends)
        t = max(1, int(mask[rows].sum(dim=1).max()))
        own_ids, own_mask = completion_ids[rows, :t], mask[rows, :t]
        if own_ids.shape != completion_ids.shape:  # a part of the batch: tensors of its own
            own_ids, own_mask = own_ids.clone(), own_mask.clone()
        p = ids.shape[1]
        texts = completion_texts(policy.tokenizer, own_ids, own_mask,
                                 sampling.stop_strings)  # cuts own_mask in place
        own_ids[own_mask == 0] = policy.pad_token_id
        results.append(Samples(texts, prompt_ids[rows, width - p:], prompt_mask[rows, width - p:],
                               own_ids, own_mask, policy._extra()))
    return results
