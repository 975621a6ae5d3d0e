"""Checkpoints: everything needed to continue a run exactly, written atomically.

Layout of ``<output>/checkpoints/step-N/``::

    agents/<agent name>/    each policy's ``save`` (LoRA adapter or full model)
    optimizer.pt            {agent: optimizer state}, {agent: scheduler state} (an
                            algorithm's extra module ``m`` under ``module:m``)
    algorithm.pt            the algorithm's state (e.g. critic parameters), when it has any
    rng_state_<rank>.pt     Python, NumPy, torch (and CUDA) RNG states of each process
    trainer_state.json      step, counters, and the config (written last)

A checkpoint is written to ``step-N.tmp/`` and renamed to ``step-N/`` when complete, so a run
killed while saving leaves no half-written ``step-N/``; :func:`latest_checkpoint` ignores
``*.tmp`` folders.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["latest_checkpoint", "load_checkpoint", "prune_checkpoints", "save_checkpoint"]

_STEP_DIR = re.compile(r"^step-(\d+)$")


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # sampling on a GPU draws from the CUDA generators (InverseCdfSampler's torch.rand)
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])


def save_checkpoint(
    checkpoints_dir: str | os.PathLike,
    step: int,
    *,
    policies: Mapping[str, Any],
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, Any],
    trainer_state: dict[str, Any],
    rank: int = 0,
    barrier: Callable[[], None] = lambda: None,
    algorithm_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``<checkpoints_dir>/step-<step>/`` (see the module docstring); every process calls
    it (each writes its RNG state), process 0 writes the rest and renames. Returns the folder."""
    root = Path(checkpoints_dir)
    final = root / f"step-{step}"
    tmp = root / f"step-{step}.tmp"
    if rank == 0:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for name, policy in policies.items():
            policy.save(str(tmp / "agents" / name))
        torch.save({"optimizers": {a: o.state_dict() for a, o in optimizers.items()},
                    "schedulers": {a: s.state_dict() for a, s in schedulers.items()}},
                   tmp / "optimizer.pt")
        if algorithm_state:
            torch.save(algorithm_state, tmp / "algorithm.pt")
    barrier()
    torch.save(_rng_state(), tmp / f"rng_state_{rank}.pt")
    barrier()
    if rank == 0:
        (tmp / "trainer_state.json").write_text(json.dumps({"step": step, **trainer_state}, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    barrier()
    return final


def latest_checkpoint(checkpoints_dir: str | os.PathLike) -> Path | None:
    """The complete ``step-N/`` folder with the largest N, or None."""
    root = Path(checkpoints_dir)
    if not root.is_dir():
        return None
    found = []
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / "trainer_state.json").exists():
            found.append((int(match.group(1)), child))
    return max(found)[1] if found else None


def load_checkpoint(
    path: str | os.PathLike,
    *,
    policies: Mapping[str, Any],
    optimizers: Mapping[str, torch.optim.Optimizer],
    schedulers: Mapping[str, Any],
    rank: int = 0,
) -> dict[str, Any]:
    """Restore policies, optimizers, schedulers and this process's RNG states in place;
    return the trainer state (``step`` and counters), with the algorithm's state under
    ``"algorithm_state"`` when the checkpoint has one."""
    path = Path(path)
    for name, policy in policies.items():
        policy.load(str(path / "agents" / name))
    states = torch.load(path / "optimizer.pt", weights_only=False)
    for name, optimizer in optimizers.items():
        # load_state_dict takes the saved param_groups whole, implementation flags included:
        # keep this run's choice (fused or not), which depends on the devices it runs on
        flags = [{k: g.get(k) for k in ("fused", "foreach")} for g in optimizer.param_groups]
        optimizer.load_state_dict(states["optimizers"][name])
        for group, kept in zip(optimizer.param_groups, flags, strict=True):
            group.update(kept)
    for name, scheduler in schedulers.items():
        scheduler.load_state_dict(states["schedulers"][name])
    rng_path = path / f"rng_state_{rank}.pt"
    if not rng_path.exists():
        raise FileNotFoundError(
            f"{rng_path} is missing: this checkpoint was written by fewer processes; resume "
            "with the same number of processes"
        )
    _set_rng_state(torch.load(rng_path, weights_only=False))
    state = json.loads((path / "trainer_state.json").read_text())
    if (path / "algorithm.pt").exists():
        state["algorithm_state"] = torch.load(path / "algorithm.pt", weights_only=False)
    return state


def prune_checkpoints(checkpoints_dir: str | os.PathLike, keep: int | None) -> None:
    """Delete all but the newest ``keep`` complete checkpoints (and stale ``*.tmp`` folders)."""
    root = Path(checkpoints_dir)
    if keep is None or not root.is_dir():
        return
    steps = sorted((int(m.group(1)), c) for c in root.iterdir()
                   if (m := _STEP_DIR.match(c.name)))
    for _, child in steps[:-keep]:
        shutil.rmtree(child, ignore_errors=True)
    for child in root.glob("step-*.tmp"):
        shutil.rmtree(child, ignore_errors=True)
