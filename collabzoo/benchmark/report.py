"""A benchmark's outputs, computed from its saved run and evaluation folders only.

- ``results.json``: the spec, package versions, every run's budget (steps, tokens, seconds),
  every evaluation's per-episode scores, and the statistics below;
- ``examples.md``: the first eval items of each env as every method answered them
  (:func:`examples_markdown`);
- ``table.md``: methods x envs, ``IQM [95% CI]`` of normalised return over seeds, the
  probability of improvement of each trained method over every other method, the budget,
  cross-play and leave-one-out;
- ``curves.png``: training curves (``return_normalized`` of each step, else ``reward/mean``),
  IQM over seeds with a 95% CI band, one panel per env; untrained baselines as dashed lines;
- ``crossplay.png``: one heatmap per env and trained method (rows: seed of the first role's
  agent, columns: seed of the others').

A method's score on an env for one seed is the mean normalised return over the eval
episodes (the first sampling mode; each mode gets its own table section in results.json).
Statistics are in :mod:`collabzoo.evaluation.stats` (rliable).
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from collabzoo.benchmark.evaluate import EvalJob, read_scores
from collabzoo.benchmark.spec import BenchmarkSpec, TrainRun
from collabzoo.benchmark.train import run_stats

__all__ = ["compute_results", "examples_markdown", "write_report"]

ALL_ENVS = "all envs"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("collabzoo", "torch", "transformers", "peft", "rliable", "numpy", "pettingzoo"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _seed_scores(jobs: Sequence[EvalJob], seeds: Sequence[int]) -> dict[int, float]:
    """{seed: mean episode score} of finished jobs (a greedy baseline: one entry)."""
    out = {}
    for job in jobs:
        scores = read_scores(job)
        if scores:
            out[job.seed] = float(np.mean(scores))
    return out


def _curve(run: TrainRun) -> list[float]:
    from collabzoo.trainers.metrics import read_metrics

    path = run.folder / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = read_metrics(path)
    key = "return_normalized" if rows and "return_normalized" in rows[0] else "reward/mean"
    return [float(r.get(key, math.nan)) for r in rows]


def compute_results(spec: BenchmarkSpec, runs: Sequence[TrainRun],
                    jobs: Sequence[EvalJob]) -> dict[str, Any]:
    """Every number of the benchmark (what ``results.json`` holds)."""
    from collabzoo.evaluation.stats import curve_ci, iqm_ci, probability_of_improvement

    first = spec.evaluation.sampling[0]
    reps = spec.evaluation.bootstrap_reps
    envs = list(spec.envs)
    results: dict[str, Any] = {
        "spec": spec.raw, "name": spec.name, "versions": _versions(),
        "runs": [{"env": r.env, "algorithm": r.algorithm, "model": r.model, "seed": r.seed,
                  "folder": str(r.folder), **run_stats(r)} for r in runs],
        "evaluations": [],
    }
    for job in jobs:
        scores = read_scores(job)
        results["evaluations"].append({
            "env": job.env, "kind": job.kind, "method": job.method, "model": job.model,
            "protocol": job.protocol, "agents": list(job.agents), "seed": job.seed,
            "sampling": job.sampling.name, "folder": str(job.folder), **job.info,
            "mean": None if not scores else float(np.mean(scores)), "episode_scores": scores})
    multi_model = len(spec.models) > 1

    def label(job: EvalJob) -> str:
        return f"{job.method} · {job.model}" if multi_model else job.method

    statistics: dict[str, Any] = {}
    per_method: dict[str, dict[str, dict[int, float]]] = {}  # first sampling: method -> env -> seed
    for sampling in spec.evaluation.sampling:
        table: dict[str, Any] = {}
        for env in envs:
            rows: dict[str, list[EvalJob]] = {}
            for job in jobs:
                if job.env == env and job.sampling == sampling and (
                        job.kind == "baseline" or (job.kind == "team" and job.protocol
                                                    == spec.evaluation.team_protocols[0])):
                    rows.setdefault(label(job), []).append(job)
            table[env] = {}
            for name, group in rows.items():
                seeds = _seed_scores(group, spec.seeds)
                if not seeds:
                    continue
                point, low, high = iqm_ci(list(seeds.values()), reps=reps)
                kind = group[0].kind
                table[env][name] = {"iqm": point, "low": low, "high": high, "kind": kind,
                                    "seeds": seeds}
                if sampling == first:
                    per_method.setdefault(name, {})[env] = seeds
        statistics[sampling.name] = table
    results["statistics"] = statistics
    # all envs together: (seeds, envs) matrices, bootstrap stratified by env
    if len(envs) > 1:
        aggregate = {}
        for name, by_env in per_method.items():
            if set(by_env) != set(envs):
                continue
            columns = [list(by_env[e].values()) for e in envs]
            if len({len(c) for c in columns}) != 1:  # different seeds per env: no aggregate
                continue
            matrix = np.array(columns).T  # (runs, envs)
            point, low, high = iqm_ci(matrix, reps=reps)
            aggregate[name] = {"iqm": point, "low": low, "high": high}
        results["statistics"][first.name][ALL_ENVS] = aggregate
    # probability of improvement of each trained method over every other method
    improvement: dict[str, dict[str, dict[str, float]]] = {}
    table = statistics[first.name]
    for env in envs:
        improvement[env] = {}
        trained = {n: s for n, s in table[env].items() if s["kind"] == "team"}
        for t_name, t in trained.items():
            improvement[env][t_name] = {
                other: probability_of_improvement(list(t["seeds"].values()),
                                                  list(o["seeds"].values()))
                for other, o in table[env].items() if other != t_name}
    results["probability_of_improvement"] = improvement
    # cross-play and leave-one-out
    crossplay: dict[str, Any] = {}
    loo: dict[str, Any] = {}
    partners: dict[str, Any] = {}
    for env in envs:
        for job in jobs:
            if job.env != env or job.kind not in ("crossplay", "loo", "partner"):
                continue
            scores = read_scores(job)
            if scores is None:
                continue
            if job.kind == "partner":
                partners.setdefault(env, {}).setdefault(label(job), {}).setdefault(
                    job.info["partner"], {}).setdefault(job.info["role"], []).append(
                    float(np.mean(scores)))
            elif job.kind == "crossplay":
                cell = crossplay.setdefault(env, {}).setdefault(label(job), {})
                cell[(job.info["i"], job.info["j"])] = float(np.mean(scores))
            else:
                loo.setdefault(env, {}).setdefault(label(job), {}).setdefault(
                    job.info["role"], {})[job.seed] = float(np.mean(scores))
    results["crossplay"] = {}
    for env, methods in crossplay.items():
        results["crossplay"][env] = {}
        for name, cells in methods.items():
            seed_ids = sorted({i for i, _ in cells})
            grid = [[cells.get((i, j), math.nan) for j in seed_ids] for i in seed_ids]
            diag = [grid[k][k] for k in range(len(seed_ids))]
            off = [grid[a][b] for a in range(len(seed_ids)) for b in range(len(seed_ids))
                   if a != b]
            results["crossplay"][env][name] = {
                "seeds": seed_ids, "matrix": grid, "self_play": float(np.mean(diag)),
                "cross_play": float(np.mean(off)) if off else None}
    # ad-hoc play: {env: {method: {partner: {role: mean over seeds}}}}
    results["partners"] = {
        env: {name: {partner: {role: float(np.mean(v)) for role, v in by_role.items()}
                     for partner, by_role in by_partner.items()}
              for name, by_partner in methods.items()}
        for env, methods in partners.items()}
    results["leave_one_out"] = {}
    for env, methods in loo.items():
        results["leave_one_out"][env] = {}
        team = statistics[first.name].get(env, {})
        for name, by_role in methods.items():
            team_seeds = team.get(name, {}).get("seeds", {})
            entry = {}
            for role, seeds in by_role.items():
                drops = [team_seeds[s] - v for s, v in seeds.items() if s in team_seeds]
                entry[role] = {"without": float(np.mean(list(seeds.values()))),
                               "contribution": float(np.mean(drops)) if drops else None,
                               "seeds": seeds}
            results["leave_one_out"][env][name] = entry
    # learning curves
    curves: dict[str, Any] = {}
    for env in envs:
        curves[env] = {}
        by_method: dict[str, list[list[float]]] = {}
        for run in runs:
            if run.env == env:
                name = f"{run.algorithm} · {run.model}" if multi_model else run.algorithm
                curve = _curve(run)
                if curve:
                    by_method.setdefault(name, []).append(curve)
        for name, run_curves in by_method.items():
            length = min(len(c) for c in run_curves)
            array = np.array([c[:length] for c in run_curves])
            band = curve_ci(array, reps=max(1, reps // 4))
            curves[env][name] = {"steps": list(range(1, length + 1)),
                                 "iqm": band["iqm"].tolist(), "low": band["low"].tolist(),
                                 "high": band["high"].tolist(), "runs": len(run_curves)}
    results["curves"] = curves
    return results


def _cell(stat: dict[str, Any] | None) -> str:
    if not stat:
        return "–"
    return f"{stat['iqm']:.3f} [{stat['low']:.3f}, {stat['high']:.3f}]"


def table_markdown(results: dict[str, Any], spec: BenchmarkSpec) -> str:
    """``table.md``: methods x envs (IQM [95% CI]) and the team evaluations."""
    first = spec.evaluation.sampling[0].name
    stats = results["statistics"][first]
    envs = [e for e in spec.envs]
    columns = envs + ([ALL_ENVS] if ALL_ENVS in stats else [])
    methods: list[str] = []
    for env in envs:
        methods.extend(m for m in stats.get(env, {}) if m not in methods)
    trained = [m for m in methods if any(stats[e].get(m, {}).get("kind") == "team" for e in envs)]
    baselines = [m for m in methods if m not in trained]
    lines = [f"# Benchmark `{spec.name}`", "",
             f"{len(spec.seeds)} seeds ({', '.join(map(str, spec.seeds))}), "
             f"{spec.steps} training steps per run, models: {', '.join(spec.models)}; "
             f"evaluation: split `{spec.evaluation.split or 'as trained'}`, "
             f"{spec.evaluation.episodes or 'all'} episodes, {first}. "
             "Cells: IQM of normalised return over seeds [stratified bootstrap 95% CI] "
             "(rliable); an untrained baseline decoded greedily is one run (no seed variance).",
             "", "| method | " + " | ".join(c.split("/")[-1] for c in columns) + " |",
             "| --- |" + " ---: |" * len(columns)]
    for m in trained + baselines:
        cells = [_cell(stats.get(c, {}).get(m)) for c in columns]
        lines.append(f"| {m}{' (trained)' if m in trained else ''} | " + " | ".join(cells) + " |")
    improvement = results["probability_of_improvement"]
    if trained and len(methods) > 1:
        lines += ["", "Probability of improvement P(row > column) between seeds "
                  "(ties count 1/2; 0.5: no difference):", "",
                  "| env | trained | " + " | ".join(methods) + " |",
                  "| --- | --- |" + " ---: |" * len(methods)]
        for env in envs:
            for m in trained:
                row = improvement.get(env, {}).get(m, {})
                cells = [f"{row[b]:.2f}" if b in row else "–" for b in methods]
                lines.append(f"| {env.split('/')[-1]} | {m} | " + " | ".join(cells) + " |")
    budget: dict[str, list[dict[str, Any]]] = {}
    for run in results["runs"]:
        budget.setdefault(run["algorithm"], []).append(run)
    if budget:
        lines += ["", "Budget per run (mean over runs): steps, tokens generated, seconds.", "",
                  "| algorithm | runs | steps | tokens | train s | wall s |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for algo, rows in budget.items():
            walls = [r["wall_s"] for r in rows if r["wall_s"] is not None]
            lines.append(
                f"| {algo} | {len(rows)} | {np.mean([r['steps'] for r in rows]):.0f} | "
                f"{np.mean([r['tokens'] for r in rows]):.0f} | "
                f"{np.mean([r['train_s'] for r in rows]):.1f} | "
                f"{np.mean(walls) if walls else math.nan:.1f} |")
        machines = sorted({m for r in results["runs"] for m in r.get("machines", [])})
        if machines:
            lines += ["", "Trained on: " + "; ".join(machines) + "."]
    if results["crossplay"]:
        lines += ["", "Cross-play (first role's agent of seed i with the others of seed j): "
                  "self-play = mean of the diagonal, cross-play = mean off it.", "",
                  "| env | method | self-play | cross-play |", "| --- | --- | ---: | ---: |"]
        for env, methods_ in results["crossplay"].items():
            for m, c in methods_.items():
                cross = "–" if c["cross_play"] is None else f"{c['cross_play']:.3f}"
                lines.append(f"| {env.split('/')[-1]} | {m} | {c['self_play']:.3f} | {cross} |")
    if results.get("partners"):
        lines += ["", "Ad-hoc play (the role's trained agent with a partner it never trained "
                  "with in every other role), mean over seeds.", "",
                  "| env | method | partner | role | score |", "| --- | --- | --- | --- | ---: |"]
        for env, methods_ in results["partners"].items():
            for m, by_partner in methods_.items():
                for partner, by_role in by_partner.items():
                    for role, score in by_role.items():
                        lines.append(f"| {env.split('/')[-1]} | {m} | {partner} | {role} | "
                                     f"{score:.3f} |")
    if results["leave_one_out"]:
        lines += ["", "Leave-one-agent-out (the role's trained agent replaced by the untrained "
                  "base model): team score without it, and its contribution (team - without), "
                  "mean over seeds.", "", "| env | method | role | without | contribution |",
                  "| --- | --- | --- | ---: | ---: |"]
        for env, methods_ in results["leave_one_out"].items():
            for m, roles in methods_.items():
                for role, entry in roles.items():
                    contribution = ("–" if entry["contribution"] is None
                                    else f"{entry['contribution']:+.3f}")
                    lines.append(f"| {env.split('/')[-1]} | {m} | {role} | "
                                 f"{entry['without']:.3f} | {contribution} |")
    return "\n".join(lines) + "\n"


def _plot_curves(results: dict[str, Any], spec: BenchmarkSpec, path: Path) -> None:
    from collabzoo.evaluation.plots import _pyplot

    plt = _pyplot()
    envs = list(spec.envs)
    fig, axes = plt.subplots(1, len(envs), figsize=(5.5 * len(envs), 3.8), squeeze=False)
    stats = results["statistics"][spec.evaluation.sampling[0].name]
    for ax, env in zip(axes[0], envs, strict=True):
        for name, c in results["curves"].get(env, {}).items():
            line, = ax.plot(c["steps"], c["iqm"], label=f"{name} (train, {c['runs']} seeds)")
            ax.fill_between(c["steps"], c["low"], c["high"], alpha=0.25, color=line.get_color())
            final = stats.get(env, {}).get(name)
            if final:
                ax.errorbar([c["steps"][-1]], [final["iqm"]],
                            yerr=[[final["iqm"] - final["low"]], [final["high"] - final["iqm"]]],
                            fmt="o", color=line.get_color(), capsize=3,
                            label=f"{name} (eval, IQM + CI)")
        baselines = [(n, s) for n, s in stats.get(env, {}).items() if s["kind"] == "baseline"]
        for k, (name, s) in enumerate(baselines):
            ax.axhline(s["iqm"], linestyle="--", linewidth=1, alpha=0.8, color=f"C{k + 3}",
                       label=f"{name}: {s['iqm']:.2f}")
        ax.set_title(env.split("/")[-1], fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel("normalised return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_crossplay(results: dict[str, Any], path: Path) -> None:
    from collabzoo.evaluation.plots import _pyplot

    plt = _pyplot()
    panels = [(env, m, c) for env, ms in results["crossplay"].items() for m, c in ms.items()]
    if not panels:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no cross-play (one role, or disabled)", ha="center", va="center")
        ax.axis("off")
    else:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
        for ax, (env, name, c) in zip(axes[0], panels, strict=True):
            matrix = np.array(c["matrix"], dtype=float)
            image = ax.imshow(matrix, cmap="viridis")
            for i in range(matrix.shape[0]):
                for j in range(matrix.shape[1]):
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8,
                            color="w")
            ax.set_xticks(range(len(c["seeds"])), [str(s) for s in c["seeds"]])
            ax.set_yticks(range(len(c["seeds"])), [str(s) for s in c["seeds"]])
            ax.set_xlabel("seed of the other agents (j)")
            ax.set_ylabel("seed of the first agent (i)")
            ax.set_title(f"{env.split('/')[-1]} · {name}", fontsize=9)
            fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _json_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_keys(v) for v in value]
    return value


def _episodes(job: EvalJob, count: int) -> list[dict[str, Any]]:
    path = job.folder / "episodes.jsonl"
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for _, line in zip(range(count), lines, strict=False)]


def _quote(text: str, limit: int) -> str:
    text = text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more chars]"
    return "\n".join("> " + line for line in (text.strip() or "(empty)").splitlines())


def examples_markdown(spec: BenchmarkSpec, jobs: Sequence[EvalJob], *, items: int = 3,
                      chars: int = 400) -> str:
    """``examples.md``: the first ``items`` eval items of every env, each with what every
    untrained protocol and every trained method answered (the first seed's team, the first
    sampling mode): the prompt each agent saw first, each call's answer and the episode's
    score. Read to tell what training changed: the format, the content, or the use of a
    partner's answer."""
    first = spec.evaluation.sampling[0]
    seed = spec.seeds[0]
    lines = [f"# Examples of `{spec.name}`", "",
             f"The first {items} eval items of each env, answered by each untrained protocol and "
             f"by each trained method's seed-{seed} team ({first.name}); every call in order "
             f"(role, protocol round), answers cut at {chars} characters.", ""]
    for env in spec.envs:
        chosen = [j for j in jobs if j.env == env and j.sampling == first and (
            j.kind == "baseline" or (j.kind == "team" and j.seed == seed
                                     and j.protocol == spec.evaluation.team_protocols[0]))]
        rows = [(j, _episodes(j, items)) for j in chosen]
        rows = [(j, eps) for j, eps in rows if eps]
        if not rows:
            continue
        lines += [f"## {env}", ""]
        # the env's own observation: from a decentralised evaluation if there is one (the
        # single protocol shows one agent a prompt of its own)
        rows.sort(key=lambda row: row[0].protocol != "parallel")
        for index in range(max(len(eps) for _, eps in rows)):
            lines += [f"### Item {index}", ""]
            first_calls = [c for _, eps in rows if index < len(eps)
                           for t in eps[index].get("turns", []) for c in t.get("calls", [])]
            if first_calls:
                lines += [f"What `{first_calls[0].get('role')}` saw first:", "",
                          _quote(str(first_calls[0].get("prompt", "")), 4 * chars), ""]
            for job, eps in sorted(rows, key=lambda row: row[0].kind != "team"):
                if index >= len(eps):
                    continue
                episode = eps[index]
                label = job.method + (" (trained)" if job.kind == "team" else "")
                lines += [f"**{label}**: score {episode.get('score', math.nan):.3f}", ""]
                for turn in episode.get("turns", []):
                    for call in turn.get("calls", []):
                        lines += [f"`{call.get('role')}`, turn {turn.get('turn')}, round "
                                  f"{call.get('round')}:", "",
                                  _quote(str(call.get("answer", "")), chars), ""]
    return "\n".join(lines) + "\n"


def write_report(root: str | Path, spec: BenchmarkSpec, runs: Sequence[TrainRun],
                 jobs: Sequence[EvalJob]) -> dict[str, Any]:
    """Compute the results and write results.json, table.md, examples.md, curves.png,
    crossplay.png."""
    root = Path(root)
    results = compute_results(spec, runs, jobs)
    (root / "results.json").write_text(json.dumps(_json_keys(results), indent=1) + "\n",
                                       encoding="utf-8")
    (root / "table.md").write_text(table_markdown(results, spec), encoding="utf-8")
    (root / "examples.md").write_text(examples_markdown(spec, jobs), encoding="utf-8")
    _plot_curves(results, spec, root / "curves.png")
    _plot_crossplay(results, root / "crossplay.png")
    return results
