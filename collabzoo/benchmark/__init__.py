"""``collabzoo benchmark SPEC.yaml``: envs x algorithms x models x seeds at one budget, with
the untrained protocols of the same base models as baselines, and honest statistics.

:func:`run_benchmark` does three things, each resumable: train every run of the grid
(:mod:`collabzoo.benchmark.train`: ``collabzoo train`` into ordinary run folders; finished ones
are skipped), run every evaluation (:mod:`collabzoo.benchmark.evaluate`: trained teams,
untrained baselines, cross-play, leave-one-out; finished ones are skipped), and write the
report (:mod:`collabzoo.benchmark.report`: results.json, table.md, curves.png, crossplay.png).
:func:`render_report` re-renders the report from a benchmark folder alone. The folder::

    OUTPUT/spec.yaml                                    the spec, with --set overrides applied
    OUTPUT/runs/<env>/<algorithm>/<model>/seed-<s>/      run folders (collabzoo train)
    OUTPUT/evals/<env>/{team,baseline,crossplay,loo}/... results folders (collabzoo eval's format)
    OUTPUT/results.json  table.md  curves.png  crossplay.png

Statistics need the ``bench`` extra (rliable).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from collabzoo.benchmark.spec import BenchmarkSpec, SpecError, load_spec

__all__ = ["BenchmarkSpec", "SpecError", "load_spec", "render_report", "run_benchmark"]

SPEC_FILE = "spec.yaml"


def _roles_of(spec: BenchmarkSpec) -> Callable[[str], Sequence[str]]:
    import collabzoo

    cache: dict[str, list[str]] = {}

    def roles(env: str) -> list[str]:
        if env not in cache:
            made = collabzoo.make(env, **spec.eval_kwargs(env))
            cache[env] = list(made.possible_agents)
            made.close()
        return cache[env]

    return roles


def _plan(spec: BenchmarkSpec, root: Path) -> tuple[list[Any], list[Any]]:
    from collabzoo.benchmark.evaluate import eval_jobs

    runs = spec.runs(root)
    return runs, eval_jobs(spec, root, runs, _roles_of(spec))


def run_benchmark(
    spec: BenchmarkSpec,
    output: str | Path | None = None,
    *,
    workers: int = 1,
    cores: int | None = None,
    launcher: str = "local",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, evaluate and report; returns the results (what ``results.json`` holds).

    Args:
        spec: The benchmark.
        output: Its folder (default: the spec's ``output``, else ``runs/benchmark/<name>``).
        workers: Training runs at once; each gets ``cores // workers`` threads.
        cores: CPU cores to share (default: all of this machine's).
        launcher: ``local`` (this process, or a pool of subprocesses) or ``ray``.
        log: Where progress lines go.

    Raises:
        RuntimeError: Some runs failed (the others are trained and evaluated first).
    """
    import yaml

    from collabzoo.benchmark.evaluate import run_eval_jobs
    from collabzoo.benchmark.report import write_report
    from collabzoo.benchmark.train import check_algorithm, train_runs

    for algo in spec.algorithms:  # fail before any work when an algorithm cannot run
        check_algorithm(algo)
    root = Path(output or spec.output or f"runs/benchmark/{spec.name}")
    root.mkdir(parents=True, exist_ok=True)
    (root / SPEC_FILE).write_text(yaml.safe_dump(spec.raw, sort_keys=False), encoding="utf-8")
    runs, jobs = _plan(spec, root)
    outcome = train_runs(runs, workers=workers, cores=cores, launcher=launcher, log=log)
    failed = {r.folder for r in outcome["failed"]}

    def uses(job: Any, folders: set[Path]) -> bool:
        return any(a == f"run:{f}" or a.startswith(f"run:{f}/") for f in folders
                   for a in job.agents)

    retrained = {r.folder for r in outcome["trained"]}
    for job in jobs:  # evaluations of the agents that a run had before it was trained again
        if uses(job, retrained) and job.folder.is_dir():
            shutil.rmtree(job.folder)
    run_eval_jobs(spec, [j for j in jobs if not uses(j, failed)], log=log)
    results = write_report(root, spec, runs, jobs)
    log(f"wrote {root}/results.json, table.md, examples.md, curves.png, crossplay.png")
    if failed:
        raise RuntimeError(f"{len(failed)} runs failed: {sorted(map(str, failed))}")
    return results


def render_report(output: str | Path) -> dict[str, Any]:
    """Re-render results.json, table.md and the figures from a benchmark folder (runs nothing)."""
    from collabzoo.benchmark.report import write_report

    root = Path(output)
    if not (root / SPEC_FILE).is_file():
        raise FileNotFoundError(f"{root / SPEC_FILE} not found: {root} is not a benchmark folder")
    spec = load_spec(root / SPEC_FILE)
    runs, jobs = _plan(spec, root)
    return write_report(root, spec, runs, jobs)
