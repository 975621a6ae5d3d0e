"""`collabzoo train` smoke runs in a subprocess with tiny budgets, and its argument errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from collabzoo.cli import main

TINY_RUN = ["--env", "collabzoo/TLDR-v1", "--model", "tiny", "--env-kwargs", "dataset=bundled",
            "--set", "batch_size=1", "num_generations=2", "max_new_tokens=8", "save_every=1",
            "progress_bar=false"]


def _collabzoo(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "collabzoo.cli", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def test_train_then_resume_writes_the_run_folder(tmp_path):
    out = tmp_path / "run"
    done = _collabzoo("train", *TINY_RUN, "--steps", "2", "--output", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("metrics.jsonl", "config.yaml", "reward_curve.png", "tensorboard",
                 "checkpoints/step-2", "agents/concise", "agents/detailed"):
        assert (out / name).exists(), name
    resumed = _collabzoo("train", "--resume", str(out), "--steps", "3")
    assert resumed.returncode == 0, resumed.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert (out / "checkpoints" / "step-3").is_dir()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "num_generation=4"], "Did you mean 'num_generations'"),
        (["--set", "num_generations=four"], "expected an integer"),
        (["--set", "num_generations=1"], "at least two samples"),
        (["--env-kwargs", "datset=bundled"], "has no argument 'datset'"),
    ],
)
def test_bad_arguments_are_clear_errors(args, message, capsys, tmp_path):
    base = ["train", "--env", "collabzoo/TLDR-v1", "--model", "tiny", "--output", str(tmp_path)]
    assert main(base + args) == 2
    assert message in capsys.readouterr().err


def test_unknown_env_and_missing_arguments(capsys):
    assert main(["train", "--env", "collabzoo/TLDR-v9", "--model", "tiny", "--output", "x"]) == 2
    assert "Did you mean" in capsys.readouterr().err
    assert main(["train", "--env", "collabzoo/TLDR-v1"]) == 2
    assert "give --env, --model and --output" in capsys.readouterr().err


def test_help_lists_every_config_field(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    from collabzoo.trainers.config import field_docs

    assert all(name in text for name in field_docs())


def test_config_file_then_set_overrides(tmp_path):
    import yaml

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "env": "collabzoo/TLDR-v1", "model": "tiny", "env_kwargs": {"dataset": "bundled"},
        "batch_size": 1, "num_generations": 4, "max_new_tokens": 4, "steps": 1,
        "progress_bar": False, "report_to": [],
    }))
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--set", "num_generations=2",
                 "--output", str(out)]) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["env_kwargs"] == {"dataset": "bundled"}
    assert saved["config"]["num_generations"] == 2 and saved["config"]["max_new_tokens"] == 4
