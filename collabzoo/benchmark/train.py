"""Training runs of a benchmark: each one an ordinary run folder, trained through the library's
one training entry point (:func:`collabzoo.trainers.entry.train_from_settings`, as
``collabzoo train`` is).

A run's settings go to ``<run>/benchmark.yaml`` (env, env kwargs, model, algorithm and config
fields, in the format ``collabzoo train --config`` reads; the spec's preset under
``preset``), and :func:`train_folder` trains the folder from it. A run whose
``metrics.jsonl`` reaches the budget and whose agents are saved is finished and skipped; one
with a checkpoint is resumed; any other starts over in its folder. Wall time per launch
accumulates in ``<run>/benchmark.json``.

Launchers: ``local`` with one worker trains in this process; ``--workers N`` runs N
subprocesses at once (``python -m collabzoo.benchmark.train <run>``, output in
``<run>/train.log``), each with
``cores // N`` torch threads (``num_threads``, ``OMP_NUM_THREADS``), so that N x threads <= cores.
``ray`` (the ``ray`` extra) runs the same subprocess as one Ray task per run, each asking for
that many CPUs: on the cluster of ``$RAY_ADDRESS`` (the run folders must then be on a file
system every node shares), else on a local Ray instance started for the purpose.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from collabzoo.benchmark.spec import SpecError, TrainRun

__all__ = ["check_algorithm", "run_finished", "run_stats", "threads_per_run", "train_folder",
           "train_runs", "write_settings"]

SETTINGS_FILE = "benchmark.yaml"
TIMING_FILE = "benchmark.json"


def check_algorithm(name: str) -> None:
    """Fail before any work when a spec's algorithm cannot be loaded.

    Raises:
        SpecError: No algorithm ``name`` (registered, or ``module:Class`` on ``sys.path``).
    """
    from collabzoo.algorithms import UnknownAlgorithmError, load

    try:
        load(name)
    except (UnknownAlgorithmError, ValueError) as error:  # PluginError is a ValueError
        raise SpecError(f"algorithm {name!r}: {error}") from None


def threads_per_run(workers: int, cores: int | None = None) -> int:
    """Torch threads of each of ``workers`` concurrent runs: ``cores // workers`` (at least 1)."""
    cores = cores or os.cpu_count() or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return max(1, cores // workers)


def write_settings(run: TrainRun, threads: int = 1) -> None:
    """Write ``<run>/benchmark.yaml``: what :func:`train_folder` trains."""
    import yaml

    config = {"progress_bar": False, "report_to": [], **run.config,
              "seed": run.seed, "num_threads": threads, "steps": run.steps}
    settings = {"env": run.env, "env_kwargs": run.env_kwargs, "model": run.model,
                "algorithm": run.algorithm, "preset": run.preset, **config}
    run.folder.mkdir(parents=True, exist_ok=True)
    (run.folder / SETTINGS_FILE).write_text(yaml.safe_dump(settings, sort_keys=False),
                                            encoding="utf-8")


def train_folder(folder: str | os.PathLike[str]) -> None:
    """Train the run folder from its ``benchmark.yaml`` (:func:`write_settings`): resume from
    its newest checkpoint if it has one, else start in it."""
    from pathlib import Path

    import yaml

    from collabzoo.trainers.entry import train_from_settings

    folder = Path(folder)
    settings = yaml.safe_load((folder / SETTINGS_FILE).read_text(encoding="utf-8"))
    checkpoints = folder / "checkpoints"
    if checkpoints.is_dir() and any(checkpoints.glob("step-*")):
        trainer = train_from_settings(resume=folder, steps=settings["steps"])
    else:
        preset = settings.pop("preset", None)
        trainer = train_from_settings(preset=preset, config=settings, output=folder)
    print(f"wrote {folder}/: metrics.jsonl, config.yaml, agents/ (step {trainer.step})")


def run_finished(run: TrainRun) -> bool:
    """``metrics.jsonl`` reaches the budget and the final agents are saved."""
    from collabzoo.trainers.metrics import read_metrics

    metrics = run.folder / "metrics.jsonl"
    agents = run.folder / "agents"
    if not metrics.is_file() or not agents.is_dir() or not any(agents.iterdir()):
        return False
    rows = read_metrics(metrics)
    return bool(rows) and rows[-1]["step"] >= run.steps


def run_stats(run: TrainRun) -> dict[str, Any]:
    """Budget actually spent: steps, tokens generated (all agents), seconds in training steps,
    and wall seconds of the launches (setup included)."""
    from collabzoo.trainers.metrics import read_metrics

    rows = read_metrics(run.folder / "metrics.jsonl") if (run.folder / "metrics.jsonl").is_file() else []
    tokens = sum(r.get("perf/tokens_per_s", 0.0) * r.get("perf/step_s", 0.0) for r in rows)
    timing = run.folder / TIMING_FILE
    record = json.loads(timing.read_text()) if timing.is_file() else {}
    return {"steps": rows[-1]["step"] if rows else 0, "tokens": round(tokens),
            "train_s": sum(r.get("perf/step_s", 0.0) for r in rows),
            "wall_s": record.get("wall_s"), "machines": record.get("machines", [])}


def machine() -> str:
    """This host in one line, for the record of where a run trained: the CPU's model name
    (``/proc/cpuinfo``, else ``platform.processor()``), its logical cores and how it computes
    bfloat16 (:func:`~collabzoo.agents.models.cpu_bf16_kind`)."""
    from collabzoo.agents.models import cpu_bf16_kind

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, bfloat16 {cpu_bf16_kind()}"


def _record_wall(run: TrainRun, seconds: float) -> None:
    """Add a launch's wall seconds and the machine it ran on to the run's timing record."""
    timing = run.folder / TIMING_FILE
    old: dict[str, Any] = (json.loads(timing.read_text()) if timing.is_file()
                           else {"wall_s": 0.0, "launches": 0})
    machines, here = list(old.get("machines", [])), machine()
    if here not in machines:
        machines.append(here)
    timing.write_text(json.dumps({"wall_s": old["wall_s"] + seconds,
                                  "launches": old["launches"] + 1,
                                  "machines": machines}) + "\n")


def _train_inline(run: TrainRun, threads: int) -> int:
    import traceback

    try:
        write_settings(run, threads)
        train_folder(run.folder)
        return 0
    except Exception:  # a run that fails (diverges, runs out of memory) fails alone
        traceback.print_exc()
        return 1


def _train_subprocess(run: TrainRun, threads: int) -> int:
    write_settings(run, threads)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with (run.folder / "train.log").open("a", encoding="utf-8") as log:
        return subprocess.call([sys.executable, "-m", "collabzoo.benchmark.train",
                                str(run.folder)], env=env, stdout=log, stderr=subprocess.STDOUT)


def _timed_subprocess(run: TrainRun, threads: int) -> tuple[int, float]:
    began = time.perf_counter()
    return _train_subprocess(run, threads), time.perf_counter() - began


def _train_ray(runs: Sequence[TrainRun], threads: int) -> list[tuple[int, float]]:
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"--launcher ray needs ray ({error}): pip install 'collabzoo[ray]'") \
            from error
    if not ray.is_initialized():  # $RAY_ADDRESS: that cluster; unset: a local instance
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False,
                 log_to_driver=False)
    task = ray.remote(num_cpus=threads)(_timed_subprocess)
    return ray.get([task.remote(run, threads) for run in runs])


LAUNCHERS = ("local", "ray")


def train_runs(
    runs: Sequence[TrainRun],
    *,
    workers: int = 1,
    cores: int | None = None,
    launcher: str = "local",
    log: Callable[[str], None] = print,
) -> dict[str, list[TrainRun]]:
    """Train every unfinished run; returns ``{"skipped", "trained", "failed"}`` runs."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"unknown launcher {launcher!r}; choose one of {list(LAUNCHERS)}")
    todo = [r for r in runs if not run_finished(r)]
    result: dict[str, list[TrainRun]] = {"skipped": [r for r in runs if r not in todo],
                                         "trained": [], "failed": []}
    if result["skipped"]:
        log(f"{len(result['skipped'])} of {len(runs)} runs already finished: skipped")
    threads = threads_per_run(workers, cores)
    launch = _train_inline if workers == 1 else _train_subprocess

    def one(run: TrainRun) -> tuple[TrainRun, int]:
        log(f"train {run.folder} ({run.algorithm}, {run.model}, seed {run.seed}, "
            f"{run.steps} steps, {threads} threads)")
        began = time.perf_counter()
        code = launch(run, threads)
        _record_wall(run, time.perf_counter() - began)
        return run, code

    if launcher == "ray":
        for run in todo:
            log(f"train {run.folder} ({run.algorithm}, {run.model}, seed {run.seed}, "
                f"{run.steps} steps, {threads} threads, ray)")
        outcomes = []
        for run, (code, seconds) in zip(todo, _train_ray(todo, threads), strict=True):
            _record_wall(run, seconds)
            outcomes.append((run, code))
    elif workers == 1:
        outcomes = [one(r) for r in todo]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(one, todo))
    for run, code in outcomes:
        ok = code == 0 and run_finished(run)
        result["trained" if ok else "failed"].append(run)
        if not ok:
            log(f"FAILED {run.folder} (exit {code}; see its train.log or the output above)")
    return result


if __name__ == "__main__":  # a --workers/ray subprocess: python -m collabzoo.benchmark.train DIR
    train_folder(sys.argv[1])
