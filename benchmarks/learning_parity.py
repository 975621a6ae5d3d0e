"""Does a step of collabzoo learn as much as a step of CoMLRL 1.4.3? Reward curves side by side.

``vs_comlrl.py`` times both libraries; this script trains both at equal *effective* settings
for many steps and compares their per-step reward curves. It reuses ``vs_comlrl.py``'s
runners (each run a fresh subprocess; CoMLRL from its own venv, created on first use) and
its prompts and model folders.

**The settings, equal in both libraries unless a configuration says otherwise:**

- model: ``tiny`` (``build_tiny(seed=0)``, 0.62M parameters, random weights), saved once to a
  ``from_pretrained`` folder that both load; two agents, full fine-tuning (one trainable copy
  each), float32, one torch thread.
- prompts: ``vs_comlrl.PROMPTS`` (8), raw text (no chat template); one prompt per step,
  8 epochs = 64 steps (CoMLRL: ``num_train_epochs=8``, prompts in file order; collabzoo:
  ``steps=64, batch_size=1``, a seeded shuffled order per epoch).
- rewards (joint, in [0, 1]): ``length`` = ``vs_comlrl.length_ratio_reward`` (how close
  len(answer 2) / len(answer 1) is to 2); ``vowels`` = :func:`vowel_density_reward` (the
  share of vowels among the letters of both answers: about word choice, not length).
- G = 4 completions per agent and prompt, at most 32 new tokens, single turn, aligned joint
  actions.
- updates per prompt: one optimizer step per agent per prompt (CoMLRL's MAGRPO family:
  ``rollout_buffer_size=1``, its default 2 would average two prompts per update; its
  actor-critics: ``rollout_buffer_size=G``).
- optimizer: AdamW, lr 1e-3, betas (0.9, 0.999), eps 1e-8. CoMLRL builds
  ``torch.optim.AdamW(params, lr)``: weight decay 0.01 (torch's default), no gradient
  clipping. collabzoo's ``matched`` configurations set ``weight_decay=0.01,
  max_grad_norm=None`` too; its ``default`` ones keep collabzoo's defaults (0, clip at 1.0).
- sampling: temperature 1, top-p 1, and top-k as each configuration says. **CoMLRL samples
  top-k 50 unless told otherwise**: ``MAGRPOConfig.top_k`` defaults to 50, and where it is
  None (IAC's and MAAC's default, and ``vs_comlrl.py``'s runner before this script) it is
  not passed to ``generate``, whose fallback (transformers
  ``GenerationConfig._get_default_generation_params``) is ``top_k=50``. ``top_k=0`` turns
  the filter off in both libraries.
- loss: CoMLRL's MAGRPO family weights each sequence's summed log-probability
  (collabzoo ``loss_aggregation="seq-sum"``, set in the ``matched`` configurations; the
  ``default`` ones keep MAGRPO's ``token-mean``); its sum includes the padding tokens after a
  completion's end and leaves out the last position (``docs/algorithms.md``, "Comparing
  with CoMLRL"): not reproducible in collabzoo, and left different.

**Configurations** (``CONFIGS``): for MAGRPO, CoMLRL at its sampling (top-k 50) and with
``top_k=0``; collabzoo at its defaults (full distribution), at its defaults with top-k 50,
and matched (top-k 50 and the optimizer and loss above). For the other algorithms that
CoMLRL 1.4.3 ships under the same name, CoMLRL's trainer against collabzoo's matched:

- ``mareinforce``, ``marloo``: CoMLRL with ``advantage_normalization=False``. At its default
  (True) every trainer of its MAGRPO family divides the group's centred advantages by their
  std, which makes MAREINFORCE's raw returns, MARLOO's leave-one-out and MAReMax's max
  baseline all equal to MAGRPO's advantage: the names would differ, the runs would not.
  collabzoo's ``mareinforce`` and ``marloo`` do not scale by default (``scale="none"``).
- ``maremax``: CoMLRL's MAReMax is the group's *max* as baseline (``R - max R``), not ReMax's
  greedy rollout (collabzoo's ``maremax``); its match is collabzoo's MAGRPO with
  ``advantage="max", scale="none"``.
- ``iac``, ``maac``: as ``vs_comlrl.py`` sets them up (value head of width 32 on the last
  prompt token, critic lr 1e-3; its docstring lists what still differs), one update per
  prompt. Not equal in effect: CoMLRL centres and scales ``return - V`` over its buffer,
  here one prompt's G samples, which share one V: the critic cancels and the update is
  MAGRPO's; collabzoo's only scale, so their baseline is the critic's V
  (``docs/algorithms.md``, "Comparing with CoMLRL").

**Figures** per configuration and reward, over seeds: the mean per-step reward curve; the
mean of the first and of the last quarter of the steps and their difference; the area under
the curve (trapezoid rule over the steps, divided by their span: the curve's average level);
each with a percentile bootstrap 95% CI over seeds, and for every collabzoo configuration
the CI of its AUC minus CoMLRL's. The plot shows each curve smoothed by a moving average of
8 steps, with a band of +- one standard error over seeds.

Every finished run is stored at once in ``benchmarks/results/learning_parity_runs.json``
(keyed by algorithm, configuration, reward and seed); a run already there is skipped, so an
interrupted invocation resumes, and invocations with disjoint ``--algos``/``--configs``/
``--rewards`` may run at once (each merges into the file). Summaries: ``benchmarks/results/learning_parity.json`` and
``learning_parity.png``. A benchmark, not a test: it asserts nothing.

Usage::

    nice -n 19 python benchmarks/learning_parity.py                    # all of it
    nice -n 19 python benchmarks/learning_parity.py --algos magrpo --seeds 0 1 2 3
    python benchmarks/learning_parity.py --summarise-only              # table, JSON, plot
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vs_comlrl import (  # noqa: E402  (beside this script, not a package)
    COLLABZOO_RUNNER,
    COMLRL_RUNNER,
    PROMPTS,
    ROOT,
    comlrl_python,
    length_ratio_reward,
    model_folder,
    run,
)

__all__ = ["CONFIGS", "area_under_curve", "bootstrap_ci", "bootstrap_diff_ci",
           "moving_average", "quarter_means", "summarise", "vowel_density_reward"]

RESULTS = ROOT / "benchmarks" / "results"
VOWELS = frozenset("aeiouAEIOU")


def vowel_density_reward(first: str, second: str) -> float:
    """The share of vowels (a e i o u) among the letters of both answers; 0 without letters."""
    letters = [c for c in first + second if c.isalpha()]
    return sum(c in VOWELS for c in letters) / len(letters) if letters else 0.0


REWARDS = {"length": "length_ratio_reward", "vowels": "vowel_density_reward"}
REWARD_SOURCE = inspect.getsource(length_ratio_reward) + "\n\nVOWELS = frozenset('aeiouAEIOU')\n\n\n" \
    + inspect.getsource(vowel_density_reward)

# ----------------------------------------------------------------------------- configurations
#: collabzoo's optimizer and loss made equal to CoMLRL's (see the module docstring)
MATCHED = {"weight_decay": 0.01, "max_grad_norm": None, "loss_aggregation": "seq-sum"}
#: CoMLRL's MAGRPO family without its std normalisation (which makes them all MAGRPO)
UNNORMALISED = {"advantage_normalization": False}

#: (algorithm, configuration) -> how it runs: ``library``, the runner's ``algo``, and the
#: overrides of that library's config (``comlrl_args`` / ``config``).
CONFIGS: dict[tuple[str, str], dict[str, Any]] = {
    ("magrpo", "comlrl"): {"library": "comlrl", "algo": "magrpo", "args": {}},
    ("magrpo", "comlrl-top_k=0"): {"library": "comlrl", "algo": "magrpo", "args": {"top_k": 0}},
    ("magrpo", "collabzoo-default"): {"library": "collabzoo", "algo": "magrpo", "args": {}},
    ("magrpo", "collabzoo-top_k=50"): {"library": "collabzoo", "algo": "magrpo",
                                       "args": {"top_k": 50}},
    ("magrpo", "collabzoo-matched"): {"library": "collabzoo", "algo": "magrpo",
                                      "args": {"top_k": 50, **MATCHED}},
    ("mareinforce", "comlrl"): {"library": "comlrl", "algo": "mareinforce", "args": UNNORMALISED},
    ("mareinforce", "collabzoo-matched"): {"library": "collabzoo", "algo": "mareinforce",
                                           "args": {"top_k": 50, **MATCHED}},
    ("marloo", "comlrl"): {"library": "comlrl", "algo": "marloo", "args": UNNORMALISED},
    ("marloo", "collabzoo-matched"): {"library": "collabzoo", "algo": "marloo",
                                      "args": {"top_k": 50, **MATCHED}},
    ("maremax", "comlrl"): {"library": "comlrl", "algo": "maremax", "args": UNNORMALISED},
    ("maremax", "collabzoo-matched"): {"library": "collabzoo", "algo": "magrpo",
                                       "args": {"top_k": 50, "advantage": "max",
                                                "scale": "none", **MATCHED}},
    ("iac", "comlrl"): {"library": "comlrl", "algo": "iac", "args": {}},
    ("iac", "collabzoo-matched"): {"library": "collabzoo", "algo": "iac",
                                   "args": {"top_k": 50, **MATCHED}},
    ("maac", "comlrl"): {"library": "comlrl", "algo": "maac", "args": {}},
    ("maac", "collabzoo-matched"): {"library": "collabzoo", "algo": "maac",
                                    "args": {"top_k": 50, **MATCHED}},
}
ALGOS = tuple(dict.fromkeys(algo for algo, _ in CONFIGS))


# ----------------------------------------------------------------------------- the maths
def quarter_means(curve: Sequence[float]) -> tuple[float, float]:
    """Mean of the first and of the last quarter (``len // 4`` steps, at least one) of a curve.

    Naive equivalent: ``q = max(1, len(c) // 4); (mean(c[:q]), mean(c[-q:]))``.
    """
    if not curve:
        raise ValueError("quarter_means needs at least one step")
    q = max(1, len(curve) // 4)
    return float(np.mean(curve[:q])), float(np.mean(curve[-q:]))


def area_under_curve(curve: Sequence[float]) -> float:
    """Trapezoid-rule area under the curve over steps 0..n-1, divided by the span n-1: the
    curve's average level, in reward units (one step: its value).

    Naive equivalent: ``sum((c[i] + c[i+1]) / 2 for i in range(n - 1)) / (n - 1)``.
    """
    if not curve:
        raise ValueError("area_under_curve needs at least one step")
    if len(curve) == 1:
        return float(curve[0])
    c = np.asarray(curve, dtype=float)
    return float(((c[:-1] + c[1:]) / 2).sum() / (len(c) - 1))


def bootstrap_ci(values: Sequence[float], reps: int = 10_000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (one per seed).

    Naive equivalent: ``reps`` times, draw len(values) values with replacement and take their
    mean; return the (1 - level) / 2 and (1 + level) / 2 quantiles of those means (numpy's
    ``inverted_cdf``: always one of the resampled means).
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(reps, v.size))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return float(low), float(high)


def bootstrap_diff_ci(a: Sequence[float], b: Sequence[float], reps: int = 10_000,
                      level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ``mean(a) - mean(b)``, a and b resampled independently
    (their seeds are not paired: the two libraries draw different random numbers).

    Naive equivalent: ``reps`` times, resample a and b with replacement, store
    mean(a*) - mean(b*); return the quantiles as :func:`bootstrap_ci`.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        raise ValueError("bootstrap_diff_ci needs at least one value on each side")
    rng = np.random.default_rng(seed)
    diffs = (x[rng.integers(0, x.size, size=(reps, x.size))].mean(axis=1)
             - y[rng.integers(0, y.size, size=(reps, y.size))].mean(axis=1))
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return float(low), float(high)


def moving_average(curve: Sequence[float], window: int) -> list[float]:
    """Trailing moving average: point i is the mean of steps max(0, i - window + 1)..i.

    Naive equivalent: ``[mean(c[max(0, i - w + 1):i + 1]) for i in range(len(c))]``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    c = np.asarray(curve, dtype=float)
    sums = np.concatenate([[0.0], np.cumsum(c)])
    starts = np.maximum(0, np.arange(len(c)) - window + 1)
    return [float(v) for v in (sums[1:] - sums[starts]) / (np.arange(len(c)) + 1 - starts)]


def summarise(curves: Sequence[Sequence[float]], reps: int = 10_000) -> dict[str, Any]:
    """The figures of one configuration from its per-seed curves (equal lengths)."""
    firsts, lasts = zip(*(quarter_means(c) for c in curves), strict=True)
    deltas = [b - a for a, b in zip(firsts, lasts, strict=True)]
    aucs = [area_under_curve(c) for c in curves]
    out: dict[str, Any] = {"seeds": len(curves), "steps": len(curves[0]),
                           "mean_curve": [float(v) for v in np.mean(curves, axis=0)]}
    for name, values in (("first_quarter", firsts), ("last_quarter", lasts),
                         ("delta", deltas), ("auc", aucs)):
        out[name] = {"mean": float(np.mean(values)), "ci95": bootstrap_ci(values, reps),
                     "per_seed": [float(v) for v in values]}
    return out


# ----------------------------------------------------------------------------- running
def run_key(algo: str, config: str, reward: str, seed: int) -> str:
    return f"{algo}/{config}/{reward}/seed{seed}"


def run_spec(algo: str, config: str, reward: str, seed: int, folder: Path, steps: int,
             G: int, max_new_tokens: int, learning_rate: float) -> tuple[str, dict]:
    """The runner (``comlrl`` or ``collabzoo``) and its spec for one run."""
    c = CONFIGS[(algo, config)]
    epochs, rest = divmod(steps, len(PROMPTS))
    if rest:
        raise ValueError(f"steps ({steps}) must be a multiple of the {len(PROMPTS)} prompts")
    spec = {"model_dir": str(folder), "prompts": PROMPTS, "G": G, "algo": c["algo"],
            "max_new_tokens": max_new_tokens, "reward_source": REWARD_SOURCE,
            "reward_name": REWARDS[reward], "critic_dim": 32, "critic_learning_rate": 1e-3,
            "micro_batch_size": 32, "seed": seed, "variant": "full"}
    if c["library"] == "comlrl":
        buffer = G if c["algo"] in ("iac", "maac") else 1  # one update per prompt
        spec["comlrl_args"] = {"num_train_epochs": epochs, "agent_learning_rate": learning_rate,
                               "rollout_buffer_size": buffer, **c["args"]}
    else:
        spec["config"] = {"steps": steps, "batch_size": 1, "learning_rate": learning_rate,
                          "seed": seed, "num_threads": 1, "save_every": 0, **c["args"]}
    return c["library"], spec


def load_runs(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def train_all(args: argparse.Namespace, runs_path: Path) -> None:
    """Every (algorithm, configuration, reward, seed) not yet in ``runs_path``, stored as it
    finishes."""
    from collabzoo.agents.models import cache_dir

    folder = model_folder("tiny", cache_dir() / "models")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or None
    runs = load_runs(runs_path)
    # MAGRPO first, then the others; seed-major, so that a cut-short invocation leaves every
    # configuration with about as many seeds
    todo = [(algo, config, reward, seed)
            for group in (["magrpo"], [a for a in args.algos if a != "magrpo"])
            for seed in (args.seeds if group == ["magrpo"] else args.seeds[:args.other_seeds])
            for algo in group if algo in args.algos
            for reward in (args.rewards if algo == "magrpo" else args.other_rewards)
            for (a, config) in CONFIGS if a == algo and (not args.configs or config in args.configs)]
    for n, (algo, config, reward, seed) in enumerate(todo, 1):
        key = run_key(algo, config, reward, seed)
        if key in runs:
            continue
        library, spec = run_spec(algo, config, reward, seed, folder, args.steps, args.G,
                                 args.max_new_tokens, args.learning_rate)
        python = comlrl_python(args.comlrl_venv) if library == "comlrl" else Path(sys.executable)
        runner = COMLRL_RUNNER if library == "comlrl" else COLLABZOO_RUNNER
        load = os.getloadavg()[0]
        try:
            result = run(python, runner, spec, threads=1)
        except RuntimeError as error:
            print(f"[{n}/{len(todo)}] {key} FAILED: {error}", flush=True)
            continue
        if len(result["rewards"]) != args.steps:
            print(f"[{n}/{len(todo)}] {key}: {len(result['rewards'])} steps, not {args.steps}",
                  flush=True)
            continue
        first, last = quarter_means(result["rewards"])
        runs = load_runs(runs_path)  # other invocations may have stored runs meanwhile
        runs[key] = {"rewards": result["rewards"], "train_s": result["train_s"],
                     "wall_s": result["wall_s"], "load_average_before": load, "commit": commit,
                     "settings": {k: v for k, v in spec.items()
                                  if k not in ("reward_source", "prompts", "model_dir")}}
        partial = runs_path.with_name(f"{runs_path.name}.{os.getpid()}")
        partial.write_text(json.dumps(runs, indent=1))
        partial.replace(runs_path)  # atomic: a reader never sees half a file
        print(f"[{n}/{len(todo)}] {key:44s} {first:.3f} -> {last:.3f}  "
              f"({result['wall_s']:.0f} s)", flush=True)


# ----------------------------------------------------------------------------- reporting
def report(runs: dict[str, dict], reps: int) -> dict[str, Any]:
    """Figures of every (algorithm, configuration, reward) with runs, and the CI of each
    collabzoo configuration's AUC and delta minus CoMLRL's (top-k 50) of the same algorithm."""
    groups: dict[tuple[str, str, str], list[list[float]]] = {}
    for key, r in sorted(runs.items()):
        algo, config, reward, _ = key.split("/")
        groups.setdefault((algo, config, reward), []).append(r["rewards"])
    rows = []
    for (algo, config, reward), curves in groups.items():
        row = {"algo": algo, "config": config, "reward": reward, **summarise(curves, reps)}
        reference = groups.get((algo, "comlrl", reward))
        if config != "comlrl" and reference:
            ref = summarise(reference, reps)
            for name in ("auc", "delta"):
                mine = row[name]["per_seed"]
                row[f"{name}_minus_comlrl"] = {
                    "mean": float(np.mean(mine) - np.mean(ref[name]["per_seed"])),
                    "ci95": bootstrap_diff_ci(mine, ref[name]["per_seed"], reps)}
        rows.append(row)
    return {"rows": rows}


def print_table(summary: dict[str, Any]) -> None:
    def ci(f: dict) -> str:
        return f"{f['mean']:.3f} [{f['ci95'][0]:.3f}, {f['ci95'][1]:.3f}]"

    print(f"{'algo':12s} {'configuration':20s} {'reward':7s} seeds  first q -> last q     "
          f"delta [95% CI]          AUC [95% CI]            AUC - CoMLRL [95% CI]")
    for r in summary["rows"]:
        diff = ci(r["auc_minus_comlrl"]) if "auc_minus_comlrl" in r else ""
        print(f"{r['algo']:12s} {r['config']:20s} {r['reward']:7s} {r['seeds']:5d}  "
              f"{r['first_quarter']['mean']:.3f} -> {r['last_quarter']['mean']:.3f}  "
              f"{ci(r['delta']):24s}{ci(r['auc']):24s}{diff}")


def plot(runs: dict[str, dict], path: Path, window: int = 8) -> None:
    """One panel per (algorithm, reward): each configuration's mean smoothed curve, +- one
    standard error over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"comlrl": "C3", "comlrl-top_k=0": "C2", "collabzoo-default": "C0",
              "collabzoo-top_k=50": "C1", "collabzoo-matched": "C4"}
    groups: dict[tuple[str, str], dict[str, list[list[float]]]] = {}
    for key, r in sorted(runs.items()):
        algo, config, reward, _ = key.split("/")
        groups.setdefault((algo, reward), {}).setdefault(config, []).append(
            moving_average(r["rewards"], window))
    panels = sorted(groups, key=lambda k: (ALGOS.index(k[0]) if k[0] in ALGOS else 99, k[1]))
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.2 * rows), squeeze=False)
    for ax, (algo, reward) in zip(axes.flat, panels, strict=False):
        for config, curves in groups[(algo, reward)].items():
            c = np.asarray(curves)
            mean = c.mean(axis=0)
            se = c.std(axis=0, ddof=1) / np.sqrt(len(c)) if len(c) > 1 else np.zeros_like(mean)
            steps = np.arange(1, len(mean) + 1)
            style = "--" if config.startswith("comlrl") else "-"
            color = colors.get(config)
            ax.plot(steps, mean, style, color=color, label=f"{config} ({len(c)} seeds)")
            ax.fill_between(steps, mean - se, mean + se, color=color, alpha=0.2)
        ax.set_title(f"{algo}, reward {reward}")
        ax.set_xlabel("step (one prompt)")
        ax.set_ylabel(f"joint reward, mean of {window} steps")
        ax.legend(fontsize=7)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--rewards", nargs="+", default=list(REWARDS), choices=list(REWARDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3],
                        help="seeds of MAGRPO's configurations")
    parser.add_argument("--other-seeds", type=int, default=3,
                        help="the other algorithms run the first this-many of --seeds")
    parser.add_argument("--configs", nargs="+", default=None,
                        choices=sorted({c for _, c in CONFIGS}),
                        help="run only these configurations (default: all)")
    parser.add_argument("--other-rewards", nargs="+", default=list(REWARDS),
                        choices=list(REWARDS), help="the rewards of the other algorithms")
    parser.add_argument("--steps", type=int, default=64, help="a multiple of the 8 prompts")
    parser.add_argument("--G", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--bootstrap-reps", type=int, default=10_000)
    parser.add_argument("--comlrl-venv", type=Path, default=ROOT / "benchmarks" / ".venv-comlrl")
    parser.add_argument("--runs", type=Path, default=RESULTS / "learning_parity_runs.json",
                        help="per-run results, written after each run (an interrupted "
                        "invocation resumes from it)")
    parser.add_argument("--output", type=Path, default=RESULTS / "learning_parity.json")
    parser.add_argument("--summarise-only", action="store_true",
                        help="no training: the table, JSON and plot of the stored runs")
    args = parser.parse_args(argv)
    args.runs.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    if not args.summarise_only:
        train_all(args, args.runs)
    runs = load_runs(args.runs)
    if not runs:
        print("no runs stored yet")
        return 1
    summary = report(runs, args.bootstrap_reps)
    summary["settings"] = {"model": "tiny", "prompts": len(PROMPTS), "G": args.G,
                           "max_new_tokens": args.max_new_tokens, "steps": args.steps,
                           "learning_rate": args.learning_rate, "temperature": 1.0,
                           "top_p": 1.0, "configs": {f"{a}/{c}": v for (a, c), v in CONFIGS.items()},
                           "bootstrap_reps": args.bootstrap_reps,
                           "wall_s_of_runs": statistics.fsum(r["wall_s"] for r in runs.values())}
    args.output.write_text(json.dumps(summary, indent=1))
    plot(runs, args.output.with_suffix(".png"))
    print_table(summary)
    print(f"wrote {args.output} and {args.output.with_suffix('.png')} "
          f"({time.time() - started:.0f} s this invocation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
