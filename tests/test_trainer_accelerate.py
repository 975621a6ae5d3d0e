"""Data parallel: `accelerate launch` with 2 CPU processes on a tiny run keeps the two
processes' agents identical (gradients averaged) and gathers the rollouts of both.

Two launch routes, both tested:
- `accelerate launch --cpu --num_processes 2 --mpirun_hostfile F`: accelerate's own CPU
  route, through `mpirun` (the `mpich` wheel of the dev extra puts one in the venv).
  accelerate 1.x starts ONE process for `--cpu --num_processes 2` without a hostfile.
- `accelerate launch --multi_gpu --num_processes 2` on a machine without GPUs: two torchrun
  processes.
The trainer joins either with accelerate's PartialState (gloo backend)."""

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


LAUNCHER = os.path.join(os.path.dirname(sys.executable), "accelerate")
SCRIPT = Path(__file__).with_name("trainer_dp_script.py")
needs_accelerate = pytest.mark.skipif(
    shutil.which("accelerate") is None and not os.path.exists(LAUNCHER),
    reason="needs accelerate")


def _launch(options: list[str], out: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [LAUNCHER, "launch", *options, "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT), str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def _check_two_ranks_in_sync(out: Path) -> None:
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["steps"] == 2 for r in ranks)
    assert ranks[0]["params"] == ranks[1]["params"]
    assert ranks[0]["checksum"] == ranks[1]["checksum"]
    # each step's metrics cover both processes' B=2 tasks
    assert ranks[0]["nodes"] == [4.0, 4.0]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2  # written once, by process 0
    ckpt = out / "checkpoints" / "step-2"
    assert (ckpt / "rng_state_0.pt").exists() and (ckpt / "rng_state_1.pt").exists()


@needs_accelerate
@pytest.mark.parametrize(("early_state", "algo"), [(False, "magrpo"), (True, "magrpo"),
                                                   (False, "maac")],
                         ids=["trainer-first", "user-state-first", "maac-critic"])
def test_two_processes_stay_in_sync(tmp_path, early_state, algo):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "ALGO": algo}
    if early_state:
        env["EARLY_PARTIAL_STATE"] = "1"
    _launch(["--multi_gpu", "--main_process_port", str(_free_port())], tmp_path, env)
    _check_two_ranks_in_sync(tmp_path)


@needs_accelerate
def test_accelerate_cpu_two_processes_through_mpirun(tmp_path):
    # the venv's bin first: accelerate looks for mpirun on PATH
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    mpirun = shutil.which("mpirun", path=path)
    if mpirun is None:
        if os.environ.get("CI"):
            pytest.fail("no mpirun: `pip install -e .[train,dev]` installs the mpich wheel")
        pytest.skip("needs mpirun (pip install mpich)")
    flavour = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    hosts = tmp_path / "hostfile"
    hosts.write_text("localhost slots=2\n" if "Open MPI" in flavour else "localhost:2\n")
    out = tmp_path / "run"
    env = {**os.environ, "PATH": path, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    _launch(["--cpu", "--mpirun_hostfile", str(hosts), "--main_process_port",
             str(_free_port())], out, env)
    _check_two_ranks_in_sync(out)
