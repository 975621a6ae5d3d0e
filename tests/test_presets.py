"""Shipped presets: each loads, fits its env and MAGRPOConfig, reaches the reward, cites a
source; `collabzoo presets` lists them and `collabzoo train --preset` applies them."""

from __future__ import annotations

import inspect

import pytest
import yaml

from collabzoo.algorithms.magrpo import MAGRPOConfig
from collabzoo.cli import main
from collabzoo.envs.answer_length import check_max_new_tokens
from collabzoo.envs.kwargs import entry_point_callable
from collabzoo.presets import (
    PRESETS_DIR,
    UnknownPresetError,
    list_presets,
    load_preset,
    run_settings,
)

PAPER = ["paper-arxiv", "paper-coophumaneval", "paper-humaneval", "paper-tldr"]
CPU = ["cpu-arxiv", "cpu-coophumaneval", "cpu-humaneval", "cpu-reasoning", "cpu-tldr"]
#: presets of the authors' later task repositories (their own settings test below)
LATER = ["paper-bfcl"]
CPU_LATER = ["cpu-bfcl"]


def test_the_shipped_presets():
    assert list_presets() == sorted(CPU + PAPER + LATER + CPU_LATER)


@pytest.mark.parametrize("name", PAPER + CPU + LATER + CPU_LATER)
def test_preset_fits_its_env_and_the_config_and_reaches_the_reward(name):
    preset = load_preset(name)
    env_class = entry_point_callable(preset.env)
    inspect.signature(env_class).bind(**preset.env_kwargs)  # every env argument exists
    config = MAGRPOConfig.from_dict(preset.config)
    assert check_max_new_tokens(env_class, config.max_new_tokens, warn=False) == []
    text = (PRESETS_DIR / f"{name}.yaml").read_text()
    assert text.startswith("# ") and "Source" in text and preset.description


@pytest.mark.parametrize("name", PAPER)
def test_paper_presets_hold_the_authors_settings(name):
    preset = load_preset(name)
    c = preset.config
    writing = name in ("paper-tldr", "paper-arxiv")
    assert preset.model == ("Qwen/Qwen3-1.7B" if writing else "Qwen/Qwen2.5-Coder-3B")
    assert c["agent_sharing"] == "copies" and c["num_generations"] == 4
    assert c["max_new_tokens"] == 256
    assert c["chat_template"] == "false" and c["enable_thinking"] is False  # raw prompt text
    if writing:
        assert (c["learning_rate"], c["temperature"], c["top_p"]) == (5e-6, 0.7, 0.9)
        assert c["top_k"] == 20  # Qwen3-1.7B's generation_config.json, which CoMLRL leaves on
        assert preset.env_kwargs["max_items"] == 1000
        assert c["steps"] * c["batch_size"] == 1000  # one epoch
    else:
        assert (c["learning_rate"], c["temperature"], c["top_p"]) == (1e-5, 0.6, 0.6)
        assert c["top_k"] == 50  # transformers' fallback: the base model's file sets none
        assert preset.env_kwargs["num_turns"] == 2
        assert preset.env_kwargs["feedback"] == "first_assert"
    if name == "paper-humaneval":
        assert preset.env_kwargs["split"] == "paper_train" and c["eval_split"] == "eval"
        assert c["steps"] * c["batch_size"] == 10 * 130  # 10 epochs of problems 33-162
    if name == "paper-arxiv":
        assert preset.env_kwargs["length_band"] == "paper"


def test_paper_bfcl_holds_the_authors_settings():
    preset = load_preset("paper-bfcl")
    c = preset.config
    assert preset.model == "Qwen/Qwen3-8B" and c["agent_sharing"] == "copies"
    assert (c["learning_rate"], c["temperature"], c["top_p"]) == (2e-5, 0.7, 0.8)
    assert (c["num_generations"], c["max_new_tokens"], c["joint_mode"]) == (4, 256, "cross")
    assert preset.env_kwargs["role_split"] == "self_select"
    assert c["steps"] * c["batch_size"] == 2 * 300  # 2 epochs of the 300 train items


@pytest.mark.parametrize("name", CPU + CPU_LATER)
def test_cpu_presets_use_the_embedded_model_offline(name):
    preset = load_preset(name)
    assert preset.model == "smollm2-135m"
    # offline data: bundled, or generated (reasoning-gym's procedural datasets)
    assert preset.env_kwargs.get("dataset") == "bundled" or preset.env == "collabzoo/ReasoningGym-v1"
    assert preset.config["num_threads"] == 2
    # the full distribution, kept by measurement (the preset's comment cites topk_probe.json)
    assert (preset.config["top_k"], preset.config["top_p"]) == (0, 1.0)


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(UnknownPresetError, match="Did you mean 'paper-tldr'"):
        load_preset("paper_tldr")


def test_run_settings_reads_both_shapes():
    nested = {"env": "e", "model": "m", "env_kwargs": {"a": 1}, "config": {"steps": 3}}
    assert run_settings(nested) == ({"env": "e", "model": "m", "env_kwargs": {"a": 1}},
                                    {"steps": 3})
    assert run_settings({"env": "e", "steps": 3}) == ({"env": "e"}, {"steps": 3})


def test_presets_command_lists_them(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PAPER + CPU) and "collabzoo/HumanEval-v1" in out


def test_train_with_a_preset_then_overrides(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--preset", "cpu-tldr", "--model", "tiny", "--steps", "1",
                 "--set", "num_generations=3", "max_new_tokens=4", "num_threads=1",
                 "progress_bar=false", "report_to=", "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["env"] == "collabzoo/TLDR-v1" and saved["model"] == "tiny"
    assert saved["env_kwargs"] == {"dataset": "bundled", "split": "train"}
    assert saved["config"]["learning_rate"] == 1e-4 and saved["config"]["save_every"] == 1
    assert saved["config"]["num_generations"] == 3 and saved["config"]["steps"] == 1
    assert main(["train", "--preset", "nope", "--output", str(tmp_path / "x")]) == 2
    assert "no preset named 'nope'" in capsys.readouterr().err
