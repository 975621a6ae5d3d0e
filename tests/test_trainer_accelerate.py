"""Data parallel: `accelerate launch` with 2 CPU processes on a tiny run keeps the two
processes' agents identical (gradients averaged) and gathers the rollouts of both.

accelerate 1.x starts ONE process for `--cpu --num_processes 2` (several CPU processes need
its MPI setup); `--multi_gpu --num_processes 2` on a machine without GPUs starts two torchrun
processes, which the trainer joins with the gloo backend."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("accelerate") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "accelerate")), reason="needs accelerate")
def test_two_processes_stay_in_sync(tmp_path):
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    script = Path(__file__).with_name("trainer_dp_script.py")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--main_process_port", str(_free_port()),
         "--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["steps"] == 2 for r in ranks)
    assert ranks[0]["params"] == ranks[1]["params"]
    assert ranks[0]["checksum"] == ranks[1]["checksum"]
    # each step's metrics cover both processes' B=2 tasks
    assert ranks[0]["nodes"] == [4.0, 4.0]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # written once, by process 0
    ckpt = tmp_path / "checkpoints" / "step-2"
    assert (ckpt / "rng_state_0.pt").exists() and (ckpt / "rng_state_1.pt").exists()
