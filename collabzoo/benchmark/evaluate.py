"""Evaluations of a benchmark: trained teams, untrained baselines, cross-play, leave-one-out.

Every evaluation is a ``collabzoo eval`` results folder (``summary.json``, ``episodes.jsonl``,
``table.md``; :mod:`collabzoo.evaluation.results`) run by :func:`collabzoo.protocols.run_episodes`
on the eval split, items ``0..episodes-1`` in order, so every row sees the same items. A
folder that holds ``summary.json`` is done and is not run again. ``summary.json`` also holds
``episode_scores``: each episode's normalised return (the mean over the samples of a sampling
mode), which the statistics read.

- ``team``: each trained run's agents together, under each of ``team_protocols``;
- ``baseline``: the untrained base model under each protocol (greedy decoding gives the same
  numbers for every seed, so it runs once; sampling runs once per seed, seeded with it);
- ``crossplay``: the first role's agent of seed i with the other roles' agents of seed j,
  ``parallel``, the first sampling mode (diagonal: self-play, the ``team`` evaluation again);
- ``loo``: each role's trained agent in turn replaced by the untrained base model;
- ``partner``: each role's trained agent with a partner of ``evaluation.partners`` (an agent
  spec, e.g. the scripted ``hanabi-rule``) in every other role: ad-hoc play with a partner it
  never trained with.

On a turn-based (AEC) env the baselines run only under the protocols that can play it
(:data:`~collabzoo.protocols.runner.TURN_BASED_PROTOCOLS`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collabzoo.benchmark.spec import BenchmarkSpec, Sampling, TrainRun, slug

__all__ = ["EvalJob", "eval_jobs", "read_scores", "run_eval_jobs"]


@dataclass(frozen=True)
class EvalJob:
    """One evaluation: ``agents`` (specs, in role order, or one for every role) on ``env``."""

    env: str
    kind: str
    """``team``, ``baseline``, ``crossplay``, ``loo`` or ``partner``."""
    method: str
    """The row it belongs to: an algorithm name, or ``<protocol> (untrained)``."""
    model: str
    protocol: str
    agents: tuple[str, ...]
    seed: int
    sampling: Sampling
    folder: Path
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    """crossplay: ``{"i": seed, "j": seed}``; loo: ``{"role": name}``; partner:
    ``{"role": the trained agent's role, "partner": spec}``."""


def eval_jobs(spec: BenchmarkSpec, root: str | Path, runs: Sequence[TrainRun],
              roles: Callable[[str], Sequence[str]]) -> list[EvalJob]:
    """Every evaluation of the benchmark, in a fixed order (see the module docstring)."""
    from collabzoo.envs.registration import spec as env_info
    from collabzoo.protocols.runner import TURN_BASED_PROTOCOLS

    root = Path(root) / "evals"
    ev = spec.evaluation
    jobs: list[EvalJob] = []
    first = ev.sampling[0]
    for env in spec.envs:
        base = root / slug(env)
        protocols = ev.protocols
        if env_info(env).api == "aec":
            protocols = [p for p in protocols if p in TURN_BASED_PROTOCOLS]
        for model in spec.models:
            for protocol in protocols:
                for sampling in ev.sampling:
                    seeds = spec.seeds[:1] if sampling.temperature == 0 else spec.seeds
                    for seed in seeds:
                        jobs.append(EvalJob(
                            env, "baseline", f"{protocol} (untrained)", model, protocol,
                            (model,), seed, sampling,
                            base / "baseline" / protocol / slug(model) / f"seed-{seed}" / sampling.name))
        env_runs = [r for r in runs if r.env == env]
        for run in env_runs:
            for protocol in ev.team_protocols:
                for sampling in ev.sampling:
                    jobs.append(EvalJob(
                        env, "team", run.algorithm, run.model, protocol, (f"run:{run.folder}",),
                        run.seed, sampling,
                        base / "team" / slug(run.algorithm) / slug(run.model) / f"seed-{run.seed}"
                        / protocol / sampling.name))
        env_roles = list(roles(env))
        for algo in spec.algorithms:
            for model in spec.models:
                group = {r.seed: r for r in env_runs if r.algorithm == algo and r.model == model}
                where = base / "{kind}" / slug(algo) / slug(model)
                if ev.crossplay and len(env_roles) > 1:
                    for i, run_i in group.items():
                        for j, run_j in group.items():
                            agents = (f"run:{run_i.folder}/{env_roles[0]}",
                                      *(f"run:{run_j.folder}/{r}" for r in env_roles[1:]))
                            jobs.append(EvalJob(
                                env, "crossplay", algo, model, "parallel", agents, i, first,
                                Path(str(where).format(kind="crossplay")) / first.name
                                / f"{i}-{j}",
                                {"i": i, "j": j}))
                if ev.leave_one_out and len(env_roles) > 1:
                    for seed, run in group.items():
                        for role in env_roles:
                            agents = tuple(model if r == role else f"run:{run.folder}/{r}"
                                           for r in env_roles)
                            jobs.append(EvalJob(
                                env, "loo", algo, model, "parallel", agents, seed, first,
                                Path(str(where).format(kind="loo")) / first.name
                                / f"seed-{seed}" / role,
                                {"role": role}))
                for partner in ev.partners if len(env_roles) > 1 else ():
                    for seed, run in group.items():
                        for role in env_roles:
                            agents = tuple(f"run:{run.folder}/{r}" if r == role else partner
                                           for r in env_roles)
                            jobs.append(EvalJob(
                                env, "partner", algo, model, "parallel", agents, seed, first,
                                Path(str(where).format(kind="partner")) / first.name
                                / f"seed-{seed}" / slug(partner) / role,
                                {"role": role, "partner": partner}))
    return jobs


def _max_new_tokens(spec: BenchmarkSpec, env_id: str) -> int | None:
    """The spec's answer length (evaluation, then train settings, then the env's preset);
    None: the one default of :func:`~collabzoo.evaluation.evaluate.eval_sampling`."""
    if spec.evaluation.max_new_tokens is not None:
        return spec.evaluation.max_new_tokens
    if spec.train.get("max_new_tokens") is not None:
        return int(spec.train["max_new_tokens"])
    if env_id in spec.preset:
        from collabzoo.presets import load_preset

        preset_tokens = load_preset(spec.preset[env_id]).config.get("max_new_tokens")
        if preset_tokens is not None:
            return int(preset_tokens)
    return None


class _Agents:
    """Agents by (spec, sampling), loaded once: a base model serves every evaluation."""

    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self._cache: dict[tuple[str, Any], Any] = {}

    def get(self, specs: Sequence[str], roles: Sequence[str], sampling: Any) -> list[Any]:
        from collabzoo.agents.specs import build_agents

        agents = []
        for text in specs:
            key = (text, sampling)
            if key not in self._cache:
                self._cache[key] = build_agents([text], roles=roles, sampling=sampling,
                                                dtype=self.dtype)
            agents.extend(self._cache[key])
        return agents

    def clear(self) -> None:
        self._cache.clear()


def run_eval_jobs(
    spec: BenchmarkSpec, jobs: Sequence[EvalJob], *, log: Callable[[str], None] = print
) -> int:
    """Run every job whose folder has no ``summary.json``; returns how many ran."""
    import collabzoo
    from collabzoo.evaluation.evaluate import eval_sampling, evaluate
    from collabzoo.evaluation.results import write_results
    from collabzoo.protocols import summarize

    todo = [j for j in jobs if not (j.folder / "summary.json").is_file()]
    if len(todo) < len(jobs):
        log(f"{len(jobs) - len(todo)} of {len(jobs)} evaluations already done: skipped")
    cache = _Agents(str(spec.train.get("dtype", "auto")))
    envs: dict[str, Any] = {}
    group = None
    for job in todo:
        # bound memory: one group's agents at a time (the baselines share the base model)
        key = (job.env, "" if job.kind == "baseline" else job.method, job.model)
        if key != group:
            group = key
            cache.clear()
        if job.env not in envs:
            envs[job.env] = collabzoo.make(job.env, **spec.eval_kwargs(job.env))
        env = envs[job.env]
        roles = list(env.possible_agents)
        sampling = eval_sampling(env, max_new_tokens=_max_new_tokens(spec, job.env),
                                 temperature=job.sampling.temperature, top_p=job.sampling.top_p,
                                 top_k=job.sampling.top_k, seed=job.seed)
        samples = job.sampling.samples if job.sampling.temperature > 0 else 1
        result = evaluate(env, cache.get(job.agents, roles, sampling), protocol=job.protocol,
                          episodes=spec.evaluation.episodes, seed=job.seed, sampling=sampling,
                          samples=samples, batch_size=spec.evaluation.batch_size)
        records, tokens = result.records, sampling.max_new_tokens
        summary = summarize(
            records, env=job.env, env_kwargs=spec.eval_kwargs(job.env), protocol=job.protocol,
            agents=list(job.agents), seed=job.seed, batch_size=spec.evaluation.batch_size,
            sampling={**dataclasses.asdict(job.sampling), "max_new_tokens": tokens},
            benchmark={"kind": job.kind, "method": job.method, "model": job.model, **job.info},
            episode_scores=result.episode_scores,
            collabzoo_version=collabzoo.__version__,
        )
        write_results(job.folder, summary, records)
        mean = sum(summary["episode_scores"]) / max(1, len(summary["episode_scores"]))
        log(f"eval {job.kind} {job.method} {' '.join(job.agents)} [{job.env}, seed {job.seed}, "
            f"{job.sampling.name}]: {mean:.3f}")
    for env in envs.values():
        env.close()
    return len(todo)


def read_scores(job: EvalJob) -> list[float] | None:
    """Each episode's normalised return of a finished job (None: not run yet)."""
    path = job.folder / "summary.json"
    if not path.is_file():
        return None
    return [float(x) for x in json.loads(path.read_text(encoding="utf-8"))["episode_scores"]]
