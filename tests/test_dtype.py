"""dtype="auto" (bfloat16 only where it is the faster dtype; each CPU kind forced, whatever the
host), and the one-line error of a model name that cannot be loaded."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from collabzoo.agents import load_policy, models  # noqa: E402
from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer  # noqa: E402

CPU = torch.device("cpu")

# the CPU flags torch's checks answer for each kind: an AMX CPU (Sapphire Rapids and later)
# also has AVX-512-BF16; the middle kind has AVX-512-BF16 without AMX (Cooper Lake, some cloud
# Xeons); an AVX2-only CPU (this project's AMD hosts) has neither
CPU_FLAGS = {"avx2": (False, False), "avx512_bf16": (True, False), "amx": (True, True)}


@pytest.fixture(params=list(CPU_FLAGS))
def cpu_kind(request, monkeypatch) -> str:
    """Make torch's CPU capability checks answer as the named CPU would."""
    monkeypatch.delenv("COLLABZOO_CPU_BF16", raising=False)  # the real detection
    avx512_bf16, amx = CPU_FLAGS[request.param]
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16,
                        raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    return request.param


def test_cpu_kind_is_detected_from_the_flags(cpu_kind):
    assert models.cpu_bf16_kind() == {"avx2": "emulated", "avx512_bf16": "avx512_bf16",
                                      "amx": "amx"}[cpu_kind]
    assert models.cpu_has_native_bf16() == (cpu_kind != "avx2")


def test_auto_is_bfloat16_only_where_it_is_faster(cpu_kind, capsys):
    # AVX-512-BF16 without AMX is native but slower than float32 for prefill and the loss
    # pass (issue 26: the demo 1.6x slower): float32 there too
    expected = torch.bfloat16 if cpu_kind == "amx" else torch.float32
    assert models.cpu_bf16_is_faster() == (cpu_kind == "amx")
    models._announce.cache_clear()
    assert models.resolve_dtype("auto", CPU) == expected
    said = capsys.readouterr().err
    assert f"dtype auto -> {str(expected).removeprefix('torch.')} on cpu" in said
    assert {"avx2": "emulated", "avx512_bf16": "without AMX", "amx": "AMX computes"}[cpu_kind] in said
    assert load_policy("tiny", device="cpu").dtype == expected
    # explicit choices are kept
    assert models.resolve_dtype("float32", CPU) == torch.float32
    assert models.resolve_dtype("bfloat16", CPU) == torch.bfloat16


def test_explicit_bfloat16_warns_only_where_emulated(cpu_kind):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert models.resolve_dtype("bfloat16", CPU) == torch.bfloat16
    slow = [w for w in caught if "many times slower" in str(w.message)]
    assert len(slow) == (1 if cpu_kind == "avx2" else 0)


def test_a_torch_without_the_checks_counts_as_no_native_bf16(monkeypatch):
    monkeypatch.delenv("COLLABZOO_CPU_BF16", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    assert models.resolve_dtype("auto", CPU) == torch.float32


def test_environment_override(cpu_kind, monkeypatch):
    monkeypatch.setenv("COLLABZOO_CPU_BF16", "1")
    assert models.resolve_dtype("auto", CPU) == torch.bfloat16
    monkeypatch.setenv("COLLABZOO_CPU_BF16", "0")
    assert models.resolve_dtype("auto", CPU) == torch.float32


def test_unknown_dtype_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown dtype 'float8'"):
        models.resolve_dtype("float8", CPU)
    with pytest.raises(ValueError, match="dtype must be 'auto'"):
        MAGRPOConfig(dtype="float8")


def test_trainer_records_what_auto_chose(cpu_kind, tmp_path):
    config = MAGRPOConfig(steps=1, batch_size=1, num_generations=2, max_new_tokens=4,
                          output_dir=str(tmp_path))
    assert config.dtype == "auto"
    trainer = MAGRPOTrainer(env="collabzoo/TLDR-v1", env_kwargs={"dataset": "bundled"},
                            model="tiny", config=config)
    chosen = "bfloat16" if cpu_kind == "amx" else "float32"
    assert set(trainer.resolved_config()["dtype"].values()) == {chosen}
    trainer.train()
    import yaml

    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["config"]["dtype"] == "auto" and set(saved["dtype"].values()) == {chosen}


def test_unknown_model_name_is_one_line_listing_the_embedded_names(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "collabzoo.cli", "train", "--env", "collabzoo/TLDR-v1",
         "--model", "nosuchmodel", "--env-kwargs", "dataset=bundled", "--steps", "1",
         "--output", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if "nosuchmodel" in line]
    assert len(error) == 1
    assert "neither an embedded model (smollm2-135m, tiny)" in error[0]
    assert "nor a local folder" in error[0]


@pytest.mark.parametrize(("capability", "native"), [((7, 0), False), ((7, 5), False),
                                                    ((8, 0), True), ((9, 0), True)])
def test_gpu_bf16_is_native_from_ampere_on(monkeypatch, capability, native):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_capability",
                        lambda device=None: asked.append(device) or capability)
    gpu = torch.device("cuda:1")
    assert models.native_bf16(gpu) is native
    assert asked == [gpu]  # the device asked about, not the current one
    assert models.resolve_dtype("auto", gpu) == (torch.bfloat16 if native else torch.float32)
