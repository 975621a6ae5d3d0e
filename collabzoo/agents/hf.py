"""HFPolicy: a transformers causal LM as a trainable agent, optionally through a LoRA adapter.

Build one with :func:`collabzoo.agents.load_policy` (or :func:`~collabzoo.agents.load_policies`
for N agents sharing one frozen base model); the constructor takes an already loaded model.

- **Sampling** (:meth:`HFPolicy.sample`, :meth:`HFPolicy.sample_together`): one pipeline,
  :mod:`collabzoo.agents.sampling` (encode -> shared prefill -> one ``generate`` -> EOS mask
  -> texts), for one policy or several LoRA adapters of one base model; all B prompts x n
  samples in ONE ``generate`` call (left padding, KV cache). Row ``i * n + j`` is sample j of
  prompt i. A completion ends at the first EOS token or stop string; the mask is 1 up to and
  including that token, 0 after it, and ids after it are the pad id. ``texts`` are cut at
  EOS and BEFORE the stop string (the stop string itself is not part of the text, as in
  OpenAI-compatible APIs). Only the completion's own text is searched for stop strings,
  never text straddling the prompt. Sampling is inverse-CDF
  (:class:`~collabzoo.agents.sampling.InverseCdfSampler`: one uniform per row, not one
  random number per vocabulary entry) in a greedy ``generate``.
- **Log-probabilities** (:meth:`HFPolicy.log_probs`): one forward over prompt + completion
  with ``logits_to_keep`` (no logits for prompt positions) and the same position ids as
  generation used; then the chosen token's logit minus ``logsumexp``, a few rows at a time
  (:func:`selective_log_softmax`), never a full (N, T, V) ``log_softmax``. They are the
  model's own distribution (temperature 1), not the tempered sampling distribution.
  **Prompt sharing**: rows with the same prompt (ids and mask; the n samples of one prompt,
  whole groups or not) share ONE forward of that prompt: its KV cache is indexed to the rows
  (under autograd, so gradients of every row reach the one prompt pass) and a second forward
  runs the completions on it; same values as one forward per row up to float rounding.
  ``share_prompts = False``, all-distinct prompts, or a model whose cache is not a plain
  per-layer key/value ``DynamicCache`` (sliding-window, recurrent) take the one-forward path.
- **Prompt format**: ``chat_template="auto"`` wraps each observation as one user message with
  the tokenizer's chat template when it has one (chat/instruct models), ``False`` feeds the
  raw text (what the MAGRPO paper's reference code does; use it to match its numbers).
  ``enable_thinking=False`` (the default) is passed to the template: hybrid reasoning models
  (Qwen3) then answer without a ``<think>`` section, which would otherwise fill the token
  budget and be scored as the answer; templates without the switch ignore it.
- **Eval mode always**: the model stays in ``eval()`` (dropout off), so ``log_probs`` and
  sampling see the same function; LoRA dropout should be 0 (the :class:`LoraSettings` default).
- **Shared base**: several policies may hold the same ``peft.PeftModel``, each with its own
  adapter name; each call first makes its adapter active. Switching keeps every adapter's
  ``requires_grad`` as it was (peft's ``set_adapter`` alone would freeze the others), so
  gradients of one agent's loss reach only that agent's adapter and optimizers stay valid.
- **Determinism**: ``SamplingConfig.seed`` set -> that call is reproducible on its own
  (the global torch RNG is forked and restored). ``seed=None`` (the default) -> samples come
  from the global torch RNG, which a trainer seeds once with ``torch.manual_seed``. Do not
  reuse one fixed seed every step of training: every step would then draw the same noise.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from collabzoo.agents import hf_internals
from collabzoo.agents.base import DEFAULT_SAMPLING, Samples, SamplingConfig
from collabzoo.agents.sampling import (
    AdapterBlocks,
    InverseCdfSampler,
    OneAdapter,
    completion_mask,
    last_positions,
    positions,
    sample_policies,
)

__all__ = ["HFPolicy", "InverseCdfSampler", "completion_mask", "selective_log_softmax"]

POLICY_FILE = "collabzoo_policy.json"
"""Metadata written by :meth:`HFPolicy.save` next to the weights."""


def selective_log_softmax(
    logits: torch.Tensor, index: torch.Tensor, max_elements: int = 1 << 24
) -> torch.Tensor:
    """Log-probability of the chosen tokens, without a full-vocabulary log-softmax at once.

    Naive equivalent::

        torch.log_softmax(logits.float(), -1).gather(-1, index.unsqueeze(-1)).squeeze(-1)

    computed as ``logit[chosen] - logsumexp(logits)`` over chunks of rows so that at most
    about ``max_elements`` float32 values are live at a time.

    Args:
        logits: (N, T, V) logits (any float dtype; computed in float32).
        index: (N, T) int64 chosen token ids.
        max_elements: soft bound on the float32 elements processed per chunk.

    Returns:
        (N, T) float32 log-probabilities (under gradient if ``logits`` are).
    """
    n, t, v = logits.shape
    rows = max(1, max_elements // max(1, t * v))
    out = []
    for start in range(0, n, rows):
        chunk = logits[start : start + rows].float()
        chosen = chunk.gather(-1, index[start : start + rows].unsqueeze(-1)).squeeze(-1)
        out.append(chosen - torch.logsumexp(chunk, dim=-1))
    if not out:
        return logits.new_zeros((0, t), dtype=torch.float32)
    return torch.cat(out, dim=0)


class HFPolicy:
    """A transformers causal LM (optionally one LoRA adapter of a shared PeftModel) as a Policy.

    Args:
        model: a ``transformers`` causal LM, or a ``peft.PeftModel`` wrapping one.
        tokenizer: its tokenizer (its padding side is set to "left").
        adapter_name: with a PeftModel, the adapter this policy samples with and trains.
            ``None``: the whole model is trained (full fine-tuning).
        chat_template: wrap each prompt as a user message with the tokenizer's chat template
            (``True``), feed the raw prompt text (``False``, what the MAGRPO paper's reference
            code does), or ``"auto"``/``None``: the template if the tokenizer has one (chat
            and instruct models ship one, and so do some base models, e.g. Qwen's: pass
            ``False`` to feed a base model raw text).
        enable_thinking: the chat-template variable of hybrid reasoning models (Qwen3 and
            others): ``False`` (the default) asks the template for an answer without a
            ``<think>`` section, which would otherwise fill the token budget and be scored as
            the answer. Passed to every template; templates without the switch ignore it.
        sampling: default :class:`SamplingConfig` of :meth:`act` and :meth:`sample`.
        reference_model: for full fine-tuning, a frozen copy used by
            ``log_probs(reference=True)``; LoRA policies use the base model (adapter disabled).
        max_prompt_tokens: keep only the last this-many prompt tokens (``None``: all).
        name: a label (e.g. the agent's role) for logs and ``repr``.
        spec: how the base model was loaded (recorded by :meth:`save`; set by ``load_policy``).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        adapter_name: str | None = None,
        chat_template: bool | str | None = None,
        enable_thinking: bool = False,
        sampling: SamplingConfig | None = None,
        reference_model: torch.nn.Module | None = None,
        max_prompt_tokens: int | None = None,
        name: str | None = None,
        spec: dict[str, Any] | None = None,
    ) -> None:
        if adapter_name is not None and adapter_name not in getattr(model, "peft_config", {}):
            raise ValueError(
                f"adapter {adapter_name!r} not found in the model; pass a peft.PeftModel that "
                "has it (load_policy(..., lora=LoraSettings()) creates one)"
            )
        if chat_template in (None, "auto"):
            chat_template = getattr(tokenizer, "chat_template", None) is not None
        elif not isinstance(chat_template, bool):
            raise ValueError(f"chat_template must be 'auto', True or False, got {chat_template!r}")
        elif chat_template and getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("chat_template=True but the tokenizer has no chat template")
        self.model = model
        self.tokenizer = tokenizer
        self.adapter_name = adapter_name
        self.chat_template = bool(chat_template)
        self.enable_thinking = bool(enable_thinking)
        self.sampling = sampling if sampling is not None else DEFAULT_SAMPLING
        self.reference_model = reference_model
        self.max_prompt_tokens = max_prompt_tokens
        self.name = name if name is not None else (adapter_name or "policy")
        self.spec = dict(spec or {})
        self.share_prompts = True
        """:meth:`sample` and :meth:`log_probs` compute each distinct prompt once (False: once
        per row)."""

        tokenizer.padding_side = "left"
        tokenizer.truncation_side = "left"
        eos = self._generation_eos_ids()
        if not eos:
            raise ValueError("the model has no EOS token (generation_config.eos_token_id)")
        self.eos_token_ids: tuple[int, ...] = eos
        pad = tokenizer.pad_token_id
        self.pad_token_id: int = int(pad if pad is not None else eos[0])
        self.model.eval()
        if reference_model is not None:
            reference_model.eval().requires_grad_(False)
        if adapter_name is not None:
            self._trainable = hf_internals.adapter_parameters(model, adapter_name)
            for p in self._trainable:
                p.requires_grad_(True)
            # every policy sharing this model re-enables its own adapter after a switch
            hf_internals.register_trainable(model, adapter_name, self._trainable)
        else:
            self._trainable = list(model.parameters())
            for p in self._trainable:
                p.requires_grad_(True)
            hf_internals.own_memory(self._trainable)

    # --- public API -------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the (base) model's weights."""
        return next(self.model.parameters()).dtype

    def __repr__(self) -> str:
        adapter = f", adapter={self.adapter_name!r}" if self.adapter_name else ""
        return f"HFPolicy({self.name!r}, spec={self.spec}{adapter})"

    def act(self, observations: list[str], n: int = 1) -> list[list[str]]:
        """``n`` sampled answers per observation, with this policy's default sampling."""
        texts = self.sample(observations, n, self.sampling).texts
        return [texts[i * n : (i + 1) * n] for i in range(len(observations))]

    def format_prompt(self, prompt: str) -> str:
        """The text the model sees for ``prompt`` (chat-template wrapped or raw)."""
        if not self.chat_template:
            return prompt
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            tokenize=False,
            add_generation_prompt=True,
            enable_thinking=self.enable_thinking,
        )

    def sample(
        self, prompts: list[str], n: int = 1, sampling: SamplingConfig | None = None
    ) -> Samples:
        """Sample ``n`` completions of every prompt in one batched ``generate`` call
        (:func:`~collabzoo.agents.sampling.sample_policies`).

        Returns:
            :class:`Samples` with N = len(prompts) * n rows (row ``i * n + j``), tensors on
            this policy's device; ``extra["adapter_name"]`` names the adapter that sampled.
        """
        sampling = sampling if sampling is not None else self.sampling
        return sample_policies([self], [prompts], n, sampling, OneAdapter(self))[0]

    @classmethod
    def sample_together(
        cls,
        policies: Sequence[HFPolicy],
        prompts: Sequence[list[str]],
        n: int = 1,
        sampling: SamplingConfig | None = None,
    ) -> list[Samples] | None:
        """``sample`` for several policies at once: one ``generate`` over all their rows.

        The policies must be LoRA adapters of one shared PeftModel (``load_policies(...,
        lora=...)``); each row runs its own policy's adapter (rows grouped by policy,
        :class:`~collabzoo.agents.sampling.AdapterBlocks`), so the base weights are read once
        per generated token for every agent instead of once per agent. Each policy formats
        and encodes its own prompts; the returned Samples of policy k are what
        ``policies[k].sample(prompts[k], n, sampling)`` returns (same shapes: its own prompt
        padding and completion length), drawn from the same distribution; with a seed, from
        one random stream for all rows (other numbers than per-policy calls).

        Returns:
            One Samples per policy, or None (nothing was generated) when the policies cannot
            share a call: fewer than two, not all LoRA adapters of one model, the same adapter
            twice, different padding/EOS ids, an empty prompt list, or a model that cannot
            run mixed-adapter batches (:func:`hf_internals.mixed_adapter_batches_supported`).
        """
        if not _can_sample_together(policies) or len(prompts) != len(policies) or \
                any(not p for p in prompts):
            return None
        first = policies[0]
        sampling = sampling if sampling is not None else first.sampling
        blocks = [(str(policy.adapter_name), len(texts))
                  for policy, texts in zip(policies, prompts, strict=True)]
        return sample_policies(policies, prompts, n, sampling, AdapterBlocks(first.model, blocks))

    def log_probs(self, samples: Samples, *, reference: bool = False) -> torch.Tensor:
        """(N, T) float32 log-probability of each completion token, under gradient.

        Positions where ``completion_mask`` is 0 hold values that must not be used.
        With ``reference=True``: under the initial policy (adapter disabled, or the frozen
        ``reference_model``), without gradient.
        """
        device = self.device
        prompt_ids = samples.prompt_ids.to(device)
        prompt_mask = samples.prompt_mask.to(device)
        completion_ids = samples.completion_ids.to(device)
        t = completion_ids.shape[1]
        if t == 0 or len(samples) == 0:
            return torch.zeros((len(samples), t), dtype=torch.float32, device=device)
        if not reference:
            with self._adapter_active():
                return _completion_log_probs(
                    self.model, prompt_ids, prompt_mask, completion_ids, self.share_prompts
                )
        with torch.no_grad():
            if self.adapter_name is not None:
                with hf_internals.adapters_disabled(self.model):
                    return _completion_log_probs(
                        self.model, prompt_ids, prompt_mask, completion_ids, self.share_prompts
                    )
            if self.reference_model is not None:
                return _completion_log_probs(
                    self.reference_model, prompt_ids, prompt_mask, completion_ids,
                    self.share_prompts,
                )
            raise RuntimeError(
                "log_probs(reference=True) on a full fine-tuned policy needs a frozen copy: "
                "load it with load_policy(..., keep_reference=True), or use LoRA "
                "(load_policy(..., lora=LoraSettings())), whose reference is the base model"
            )

    @torch.no_grad()
    def hidden_states(self, texts: list[str]) -> torch.Tensor:
        """(N, hidden) float32 on the CPU: the last layer's hidden state at the last token of
        each text, in this policy's prompt format, without gradient.

        A LoRA policy reads it from the frozen base model (adapters off), so the features do
        not drift as the adapter trains; a fully fine-tuned policy from its current model.
        One forward over the texts (what a value head on the policy reads, e.g. the actor-
        critics' ``critic_input="hidden"``).
        """
        if not texts:
            return torch.zeros((0, self.model.config.get_text_config().hidden_size))
        ids, mask = self._encode(texts)  # (N, P) left-padded: the last column is the last token
        _, position_ids = positions(mask, 0)
        device = self.device
        with hf_internals.adapters_disabled(self.model):
            out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                             position_ids=position_ids.to(device), output_hidden_states=True,
                             use_cache=False)
        return out.hidden_states[-1][:, -1].float().cpu()

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """This policy's adapter parameters (LoRA) or all model parameters (full)."""
        return list(self._trainable)

    def save(self, path: str) -> None:
        """Write the trained state to folder ``path``.

        LoRA: a standard peft adapter folder (``adapter_config.json``,
        ``adapter_model.safetensors``). Full: a ``from_pretrained``-loadable model folder
        (config, tokenizer, ``model.safetensors``). Both with ``collabzoo_policy.json``, so
        that ``load_policy(path)`` rebuilds the policy.
        """
        from safetensors.torch import save_file, save_model

        os.makedirs(path, exist_ok=True)
        if self.adapter_name is not None:
            from peft import get_peft_model_state_dict

            state = get_peft_model_state_dict(self.model, adapter_name=self.adapter_name)
            state = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
            save_file(state, os.path.join(path, "adapter_model.safetensors"))
            self.model.peft_config[self.adapter_name].save_pretrained(path)
        else:
            save_model(self.model, os.path.join(path, "model.safetensors"))
            self.model.config.save_pretrained(path)
            if getattr(self.model, "generation_config", None) is not None:
                self.model.generation_config.save_pretrained(path)
            self.tokenizer.save_pretrained(path)
        meta = {
            "format": "lora" if self.adapter_name is not None else "full",
            "adapter_name": self.adapter_name,
            "base": self.spec,
            "chat_template": self.chat_template,
            "enable_thinking": self.enable_thinking,
            "max_prompt_tokens": self.max_prompt_tokens,
            "name": self.name,
        }
        with open(os.path.join(path, POLICY_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)

    def load(self, path: str) -> None:
        """Restore, in place, the trained state that :meth:`save` wrote to ``path``."""
        from safetensors.torch import load_file, load_model

        if self.adapter_name is not None:
            from peft import set_peft_model_state_dict

            file = os.path.join(path, "adapter_model.safetensors")
            if not os.path.exists(file):
                raise FileNotFoundError(f"{file} not found: {path} is not a saved LoRA policy")
            state = load_file(file, device=str(self.device))
            result = set_peft_model_state_dict(self.model, state, adapter_name=self.adapter_name)
            unexpected = getattr(result, "unexpected_keys", [])
            if unexpected:
                raise ValueError(
                    f"adapter weights in {path} do not fit this model: {unexpected[:5]}"
                )
        else:
            file = os.path.join(path, "model.safetensors")
            if not os.path.exists(file):
                raise FileNotFoundError(f"{file} not found: {path} is not a saved full policy")
            missing, unexpected = load_model(
                self.model, file, strict=False, device=str(self.device)
            )
            if missing or unexpected:
                raise ValueError(
                    f"weights in {path} do not fit this model: missing {sorted(missing)[:5]}, "
                    f"unexpected {sorted(unexpected)[:5]}"
                )

    # --- internals --------------------------------------------------------------------

    def _extra(self) -> dict[str, Any]:
        return {"adapter_name": self.adapter_name, "policy": self.name}

    def _generation_eos_ids(self) -> tuple[int, ...]:
        ids: list[int] = []
        config = getattr(self.model, "generation_config", None)
        eos = getattr(config, "eos_token_id", None)
        for value in eos if isinstance(eos, (list, tuple)) else [eos]:
            if value is not None and int(value) not in ids:
                ids.append(int(value))
        tok_eos = self.tokenizer.eos_token_id
        if tok_eos is not None and int(tok_eos) not in ids:
            ids.append(int(tok_eos))
        return tuple(ids)

    def _encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, P) left-padded prompt ids and mask; an empty prompt becomes one EOS token."""
        texts = [self.format_prompt(p) for p in prompts]
        rows = self.tokenizer(texts, add_special_tokens=not self.chat_template)["input_ids"]
        rows = [list(r) or [self.eos_token_ids[0]] for r in rows]
        if self.max_prompt_tokens is not None:
            rows = [r[-self.max_prompt_tokens :] for r in rows]
        width = max((len(r) for r in rows), default=0)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            if r:
                ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
                mask[i, width - len(r) :] = 1
        return ids, mask

    @contextlib.contextmanager
    def _adapter_active(self) -> Iterator[None]:
        """Make this policy's adapter the active one of a shared PeftModel."""
        if self.adapter_name is not None:
            hf_internals.activate_adapter(self.model, self.adapter_name)
        yield


def _completion_log_probs(
    model: Any,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    share_prompts: bool = True,
) -> torch.Tensor:
    """(N, T) log-probabilities of the completion tokens (T >= 1, N >= 1) under ``model``.

    Rows with the same prompt (ids and mask) share one prompt pass when the model's KV cache
    can be indexed over rows (:func:`_shared_prompt_log_probs`); otherwise, and whenever the
    transformers internals that needs are missing, one forward over prompt + completion per
    row (:func:`_full_log_probs`).
    """
    if share_prompts and len(prompt_ids) > 1 and hf_internals.prompt_sharing_supported(model):
        p = prompt_ids.shape[1]
        key = torch.cat([prompt_ids, prompt_mask], dim=1)
        unique, inverse = torch.unique(key, dim=0, return_inverse=True)
        if len(unique) < len(key):
            out = _shared_prompt_log_probs(
                model, unique[:, :p], unique[:, p:], inverse, prompt_mask, completion_ids
            )
            if out is not None:
                return out
    return _full_log_probs(model, prompt_ids, prompt_mask, completion_ids)


def _can_sample_together(policies: Sequence[Any]) -> bool:
    """Whether ``HFPolicy.sample_together`` can run ``policies`` in one generate call."""
    if len(policies) < 2 or not all(isinstance(p, HFPolicy) for p in policies):
        return False
    first = policies[0]
    names = [p.adapter_name for p in policies]
    return (
        None not in names
        and len(set(names)) == len(names)
        and all(p.model is first.model for p in policies)
        and all(p.pad_token_id == first.pad_token_id for p in policies)
        and all(p.eos_token_ids == first.eos_token_ids for p in policies)
        and not first.model.training
        and hf_internals.mixed_adapter_batches_supported(first.model)
    )


def _full_log_probs(
    model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor
) -> torch.Tensor:
    """One forward over prompt + completion of every row, logits of completion positions only."""
    t = completion_ids.shape[1]
    # the last completion token predicts nothing we need
    input_ids = torch.cat([prompt_ids, completion_ids[:, :-1]], dim=1)  # (N, P+T-1)
    attention, position_ids = positions(prompt_mask, t - 1)
    logits = model(
        input_ids=input_ids,
        attention_mask=attention,
        position_ids=position_ids,
        logits_to_keep=last_positions(t, input_ids.device),
        use_cache=False,
    ).logits  # (N, T, V)
    return selective_log_softmax(logits, completion_ids)


def _shared_prompt_log_probs(
    model: Any,
    unique_ids: torch.Tensor,
    unique_mask: torch.Tensor,
    inverse: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
) -> torch.Tensor | None:
    """Log-probabilities with each distinct prompt computed once.

    A forward over the U distinct prompts (``unique_ids``; row r of the batch has prompt
    ``inverse[r]``) gives the logits of the first completion token and the KV cache; the
    cache is indexed to the N rows (differentiably: gradients of every row flow back into the
    one prompt pass) and a second forward runs the completion tokens on it, with the same
    attention mask and position ids as :func:`_full_log_probs`. Returns None (nothing done
    that matters) when the model's cache is not a plain per-layer key/value cache.
    """
    p, t = unique_ids.shape[1], completion_ids.shape[1]
    attention, position_ids = positions(prompt_mask, t - 1)  # (N, P+T-1)
    _, unique_positions = positions(unique_mask, 0)
    out = model(
        input_ids=unique_ids,
        attention_mask=unique_mask,
        position_ids=unique_positions,
        logits_to_keep=last_positions(1, unique_ids.device),
        use_cache=True,
    )
    cache = hf_internals.output_cache(out)
    if not hf_internals.shareable_cache(model, cache, len(unique_ids), p):
        return None
    first = selective_log_softmax(out.logits[:, -1:][inverse], completion_ids[:, :1])  # (N, 1)
    if t == 1:
        return first
    cache = hf_internals.select_cache_rows(cache, inverse)  # (U, ...) -> (N, ...)
    logits = model(
        input_ids=completion_ids[:, :-1],
        attention_mask=attention,
        position_ids=position_ids[:, p:],
        logits_to_keep=t - 1,
        use_cache=True,
        **{hf_internals.cache_kwarg(): cache},
    ).logits  # (N, T-1, V)
    return torch.cat([first, selective_log_softmax(logits, completion_ids[:, 1:])], dim=1)
