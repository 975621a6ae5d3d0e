"""Everything collabzoo uses of transformers' and peft's internals, in one module.

:mod:`collabzoo.agents.hf` (policy logic) and :mod:`collabzoo.agents.sampling` (its sampling
pipeline) call only the functions here when they need more than the documented
``from_pretrained`` / ``forward`` / ``generate`` API. Each function
checks that the internal it relies on exists (a feature check, which is a version guard that
also holds for backports) and has a fallback when it does not:

==============================  ==========================================  ===================
internal                        used for                                    when missing
==============================  ==========================================  ===================
the KV-cache argument's name    passing a prefilled cache to ``forward`` /  (always present)
(``cache`` since transformers    ``generate`` and reading it from outputs
5.2x, ``past_key_values``
before)
``DynamicCache.layers`` of      prompt sharing: one prompt forward, its     one forward per row
plain ``DynamicLayer``          cache repeated / indexed over the rows      (exact, slower)
``Cache.batch_repeat_...`` /
``batch_select_indices``
``DynamicLayer.update`` and     a prefilled cache that grows in place       concatenation at
its ``keys``/``values``         during generation (:func:`grow_in_place`)   every token
peft's parameter names          a policy's own adapter parameters           error at load
(``lora_A.<adapter>...``)
peft ``set_adapter`` freezing    keeping every agent's adapter trainable     (no-op)
other adapters
peft's ``adapter_names``        one ``generate`` for the rows of several    one ``generate``
(mixed-adapter batches of       agents' adapters                            per agent
LoRA layers)                    (``HFPolicy.sample_together``)
peft ``lora.Linear``'s          the same, rows grouped in one block per     peft's
``base_layer``, ``lora_A/B``,    adapter (:func:`adapter_row_blocks`): no    ``adapter_names``
``lora_dropout``, ``scaling``    per-layer row gathers                       path above
``from_pretrained`` memory-      trained weights copied out of the file      nothing copied
maps safetensors files           (:func:`own_memory`): no copy-on-write      (no
(copy-on-write pages)            fault per page at the first update          ``/proc/self/maps``)
==============================  ==========================================  ===================

State that collabzoo keeps about a third-party object (which adapters of a shared model are
trainable, whether a model's cache can be shared) lives in weak-keyed tables here, never as
attributes on the model.

The transformers versions the project is tested with are pinned in ``constraints.txt``;
``make test-latest`` runs the suite on the newest releases.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import warnings
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import torch

__all__ = [
    "activate_adapter",
    "adapter_parameters",
    "adapter_row_blocks",
    "mixed_adapter_batches_supported",
    "adapters_disabled",
    "cache_kwarg",
    "grow_in_place",
    "output_cache",
    "own_memory",
    "prompt_sharing_supported",
    "quiet_peft",
    "register_trainable",
    "repeat_cache_rows",
    "select_cache_rows",
    "shareable_cache",
]

# model -> {adapter name: its parameters}: every policy sharing one PeftModel registers here
_TRAINABLE: weakref.WeakKeyDictionary[Any, dict[str, list[torch.nn.Parameter]]] = (
    weakref.WeakKeyDictionary()
)
# models whose cache turned out not to be shareable over rows: do not try again
_NO_PROMPT_SHARING: weakref.WeakSet[Any] = weakref.WeakSet()


# --- the KV cache ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def cache_kwarg() -> str:
    """The name transformers gives the KV cache in ``forward``/``generate`` and in outputs.

    transformers 5.2x renamed ``past_key_values`` to ``cache`` (the old name still works with
    a FutureWarning until its removal); the output dataclasses carry the current name.
    """
    from transformers.modeling_outputs import CausalLMOutputWithPast

    fields = getattr(CausalLMOutputWithPast, "__dataclass_fields__", {})
    return "cache" if "cache" in fields else "past_key_values"


def output_cache(outputs: Any) -> Any:
    """The KV cache a ``forward(use_cache=True)`` returned, or None."""
    return outputs.get(cache_kwarg()) if hasattr(outputs, "get") else None


def prompt_sharing_supported(model: Any) -> bool:
    """False once a model's cache was found not to be shareable (see :func:`shareable_cache`)."""
    return model not in _NO_PROMPT_SHARING


def shareable_cache(model: Any, cache: Any, rows: int, length: int) -> bool:
    """Whether ``cache`` can be repeated or indexed over rows exactly.

    True for a plain per-layer key/value ``DynamicCache`` of (rows, ..., length, .) (not
    sliding-window, recurrent or quantized). False also when this transformers has no such
    classes or no row operations; the model is then remembered, so that the caller's fallback
    (one forward per row) is taken at once next time.
    """
    try:
        from transformers import cache_utils
    except ImportError:  # pragma: no cover - transformers is a requirement of this module
        cache_utils = None  # type: ignore[assignment]
    # Any: a transformers without these classes gives None (then no row operations)
    DynamicCache: Any = getattr(cache_utils, "DynamicCache", None)  # noqa: N806
    DynamicLayer: Any = getattr(cache_utils, "DynamicLayer", None)  # noqa: N806
    ok = (
        DynamicCache is not None
        and isinstance(cache, DynamicCache)
        and hasattr(cache, "batch_repeat_interleave")
        and hasattr(cache, "batch_select_indices")
        and len(getattr(cache, "layers", ())) > 0
        and all(
            type(layer) is DynamicLayer
            and getattr(layer, "is_initialized", False)
            and layer.keys.shape[0] == rows
            and layer.keys.shape[-2] == length
            for layer in cache.layers
        )
    )
    if not ok:
        _NO_PROMPT_SHARING.add(model)
    return ok


def repeat_cache_rows(cache: Any, n: int) -> Any:
    """Repeat every row of a :func:`shareable_cache` ``n`` times, in place (row i -> i*n..)."""
    cache.batch_repeat_interleave(n)
    return cache


def grow_in_place(cache: Any, reserve: int) -> Any:
    """Let a :func:`shareable_cache` grow without copying itself at every generated token.

    transformers' ``DynamicLayer.update`` concatenates each new key/value onto the whole
    cache: a copy of every layer's cache per token (a large part of a decode step once the
    prompt is a few hundred tokens long). Each layer becomes a :func:`_growing_layer` instead,
    whose keys/values are views of buffers with room for ``reserve`` more tokens (the
    generation budget), written in place; the values are the same. A transformers without
    ``DynamicLayer`` leaves the cache as it is.
    """
    growing = _growing_layer()
    if growing is None:
        return cache
    from transformers.cache_utils import DynamicLayer

    for layer in cache.layers:
        if type(layer) is DynamicLayer:
            layer.__class__ = growing
            layer.collabzoo_reserve = int(reserve)  # type: ignore[attr-defined]
    return cache


@functools.lru_cache(maxsize=1)
def _growing_layer() -> type | None:
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:
        return None
    if not callable(getattr(DynamicLayer, "update", None)):
        return None

    class GrowingLayer(DynamicLayer):
        """A ``DynamicLayer`` appending into preallocated room (see :func:`grow_in_place`).

        ``keys``/``values`` are views ``buffer[..., :length, :]``. When they were replaced
        from outside (row repeat/select, crop, reset) or the room is used up, the current
        keys/values are copied into new buffers with room for ``collabzoo_reserve`` more
        tokens (at least doubling when the room ran out). Under autograd it concatenates, as
        ``DynamicLayer`` does: in-place writes would invalidate the views a backward pass
        saved.
        """

        collabzoo_reserve = 0
        collabzoo_room: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
                   **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
            if torch.is_grad_enabled():
                self.collabzoo_room = None
                return super().update(key_states, value_states, *args, **kwargs)
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            old_keys, old_values = self.keys, self.values
            assert old_keys is not None and old_values is not None  # initialised above
            length = old_keys.shape[-2] if old_keys.numel() else 0
            new = length + key_states.shape[-2]
            room = self.collabzoo_room
            adopted = room is not None and room[2] is old_keys
            if room is None or not adopted or new > room[0].shape[-2]:
                shape = list(key_states.shape)
                # room for the reserve; at least doubling once a reserve ran out
                shape[-2] = new + self.collabzoo_reserve if not adopted else \
                    max(new + self.collabzoo_reserve, 2 * new)
                keys, values = key_states.new_empty(shape), value_states.new_empty(shape)
                if length:
                    keys[..., :length, :] = old_keys
                    values[..., :length, :] = old_values
            else:
                keys, values = room[0], room[1]
            keys[..., length:new, :] = key_states
            values[..., length:new, :] = value_states
            self.keys, self.values = keys[..., :new, :], values[..., :new, :]
            self.collabzoo_room = (keys, values, self.keys)
            return self.keys, self.values

    return GrowingLayer


def select_cache_rows(cache: Any, index: torch.Tensor) -> Any:
    """Index the rows of a :func:`shareable_cache` in place: (U, ...) -> (len(index), ...).

    An indexing op, so under autograd every selected row's gradient reaches its source row.
    """
    cache.batch_select_indices(index)
    return cache


# --- the weights' memory ---------------------------------------------------------------


def own_memory(tensors: Iterable[torch.Tensor]) -> int:
    """Give every CPU tensor that lives in a file mapping a copy in the process's own memory,
    in place (``tensor.data``: the same ``Parameter`` objects, optimizers and tied weights keep
    them); returns how many were copied.

    transformers loads safetensors checkpoints through a private (copy-on-write) memory map,
    so the parameters of a freshly loaded model are pages of the file. The first in-place write
    to each page (the optimizer's first step of a fully trained policy, which is why
    :class:`~collabzoo.agents.hf.HFPolicy` calls this on the parameters it trains) takes a
    copy-on-write fault per 4 KiB page, which makes the first optimizer step many times
    slower than copying the weights once up front (the figures: the docs). Frozen weights (a LoRA policy's shared base) are only read and stay mapped. Linux only (the
    mappings are read from ``/proc/self/maps``); elsewhere nothing is copied."""
    ranges = _file_mappings()
    if not ranges:
        return 0
    starts = [start for start, _ in ranges]
    copied = 0
    with torch.no_grad():
        for tensor in tensors:
            if tensor.device.type != "cpu" or tensor.numel() == 0:
                continue
            address = tensor.data_ptr()
            i = bisect.bisect_right(starts, address) - 1
            if i >= 0 and address < ranges[i][1]:
                tensor.data = tensor.data.clone()
                copied += 1
    return copied


def _file_mappings() -> list[tuple[int, int]]:
    """Sorted (start, end) addresses of this process's memory mappings of files."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    ranges = []
    for line in lines:
        fields = line.split(maxsplit=5)
        # address perms offset device inode [path]; a file's path is absolute, anonymous
        # memory has none and [heap] / [stack] / [vvar] are bracketed
        if len(fields) == 6 and fields[5].startswith("/"):
            start, end = fields[0].split("-")
            ranges.append((int(start, 16), int(end, 16)))
    return sorted(ranges)


# --- peft adapters --------------------------------------------------------------------------


def adapter_parameters(model: torch.nn.Module, adapter_name: str) -> list[torch.nn.Parameter]:
    """The parameters of one peft adapter: ``...lora_A.<adapter_name>.weight`` and the like."""
    params = []
    for name, p in model.named_parameters():
        parts = name.split(".")
        if any(
            part == adapter_name and (owner.startswith("lora_") or owner == "modules_to_save")
            for owner, part in zip(parts, parts[1:], strict=False)
        ):
            params.append(p)
    if not params:
        raise ValueError(
            f"found no parameters of adapter {adapter_name!r}: this peft names adapter "
            "parameters differently than collabzoo expects (see constraints.txt for the "
            "tested version)"
        )
    return params


def register_trainable(model: Any, adapter_name: str, params: list[torch.nn.Parameter]) -> None:
    """Record that ``adapter_name``'s parameters of the shared ``model`` are trained."""
    _TRAINABLE.setdefault(model, {})[adapter_name] = params


def activate_adapter(model: Any, adapter_name: str) -> None:
    """Make ``adapter_name`` the active adapter of a shared PeftModel.

    peft's ``set_adapter`` also freezes every other adapter; every registered adapter is
    made trainable again, so that one agent's switch never stops another agent's training.
    """
    if model.active_adapter == adapter_name:
        return
    model.set_adapter(adapter_name)
    for params in _TRAINABLE.get(model, {}).values():
        for p in params:
            p.requires_grad_(True)


def mixed_adapter_batches_supported(model: Any) -> bool:
    """Whether ``model`` runs a batch whose rows use different LoRA adapters of it.

    peft's ``forward``/``generate`` take ``adapter_names`` (one adapter name per row) since
    peft 0.10; every adapted layer must be a LoRA layer that implements it (no merged
    weights, no other tuner types). False, and the caller generates per adapter, otherwise.
    """
    try:
        from peft import PeftModel
        from peft.tuners.lora.layer import LoraLayer
    except ImportError:
        return False
    if not isinstance(model, PeftModel) or not hasattr(LoraLayer, "_mixed_batch_forward"):
        return False
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            if not isinstance(module, LoraLayer) or getattr(module, "merged", False):
                return False
    return True


@contextlib.contextmanager
def adapter_row_blocks(model: Any, blocks: list[tuple[str, int]]) -> Iterator[bool]:
    """Within the block, ``model``'s forward runs each contiguous block of rows with its own
    LoRA adapter: ``blocks`` lists (adapter name, rows) in row order. Yields True when it
    did; False (nothing changed: pass peft's ``adapter_names`` instead) for a model it
    cannot serve that way.

    peft's mixed-adapter batch (``adapter_names``, one name per row) serves any row order:
    every LoRA layer, at every call, builds each adapter's row index list in Python, gathers
    those rows of its input (a copy) and adds the adapter's output back by indexed
    assignment. Rows grouped by agent need none of that: here each ``lora.Linear`` runs the
    base layer once for all rows, then each adapter on a slice of rows (a view), added in
    place into the slice of the output. Same arithmetic, same dtypes (the input cast to the
    adapter's dtype, the sum to the output's), and a decode step closer to the base model's
    own time than through ``adapter_names`` (the figures: the docs).

    Inference only (the output is written in place: under autograd it raises). Declines
    unless every tuner layer is a plain, unmerged, enabled ``peft.tuners.lora.layer.Linear``
    without variants (DoRA, aLoRA) for these adapters. A forward whose batch is not the
    blocks' total raises a ValueError.
    """
    layers = _plain_lora_linears(model, [name for name, _ in blocks])
    if layers is None:
        yield False
        return
    total = sum(rows for _, rows in blocks)
    bounds, start = [], 0
    for name, rows in blocks:
        bounds.append((name, start, start + rows))
        start += rows

    def blocked_forward(layer: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if x.shape[0] != total:
            raise ValueError(f"adapter_row_blocks: a batch of {x.shape[0]} rows, the blocks "
                             f"cover {total}")
        if torch.is_grad_enabled():
            raise RuntimeError("adapter_row_blocks is for inference (torch.no_grad())")
        result = layer.base_layer(x, *args, **kwargs)
        for name, lo, hi in bounds:
            if name not in layer.lora_A or lo == hi:
                continue
            lora_a = layer.lora_A[name]
            sub = layer.lora_dropout[name](x[lo:hi].to(lora_a.weight.dtype))
            delta = layer.lora_B[name](lora_a(sub)) * layer.scaling[name]
            result[lo:hi] += delta.to(result.dtype)
        return result

    patched = []
    try:
        for layer in layers:
            previous = layer.__dict__.get("forward")
            layer.forward = functools.partial(blocked_forward, layer)
            patched.append((layer, previous))
        yield True
    finally:
        for layer, previous in patched:
            if previous is None:
                del layer.forward
            else:
                layer.forward = previous


def _plain_lora_linears(model: Any, names: list[str]) -> list[Any] | None:
    """Every tuner layer of ``model``, when each is a plain LoRA Linear that
    :func:`adapter_row_blocks` can run for adapters ``names``; else None."""
    try:
        from peft import PeftModel
        from peft.tuners.lora.layer import Linear as LoraLinear
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return None
    if not isinstance(model, PeftModel):
        return None
    layers: list[Any] = []
    for module in model.modules():
        if not isinstance(module, BaseTunerLayer):
            continue
        if type(module) is not LoraLinear or getattr(module, "merged", True) or \
                getattr(module, "disable_adapters", True):
            return None
        if not all(hasattr(module, attr) for attr in
                   ("base_layer", "lora_A", "lora_B", "lora_dropout", "scaling")):
            return None
        variants = getattr(module, "lora_variant", {})
        dora = getattr(module, "use_dora", {})
        if any(name in variants or dora.get(name, False) for name in names):
            return None
        layers.append(module)
    return layers or None


@contextlib.contextmanager
def adapters_disabled(model: Any) -> Iterator[None]:
    """The block runs the base model alone (every LoRA adapter of ``model`` off).

    peft's ``disable_adapter()`` ends by calling ``set_adapter`` on the active adapter, which
    freezes every other one: afterwards every registered adapter is made trainable again.
    A model without adapters runs as it is.
    """
    if not hasattr(model, "disable_adapter"):
        yield
        return
    try:
        with model.disable_adapter():
            yield
    finally:
        for params in _TRAINABLE.get(model, {}).values():
            for p in params:
                p.requires_grad_(True)


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """Silence the FutureWarning peft triggers by calling a transformers method deprecated in
    v5 (``is_gradient_checkpointing``): it is not the user's business."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        yield
