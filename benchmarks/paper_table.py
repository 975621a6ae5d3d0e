"""The MAGRPO paper's comparison as one table: four protocols of the untrained model and the
MAGRPO-trained team, on each of the four envs. A script, not a test.

For each env: the untrained model under ``single``, ``parallel``, ``sequential`` and
``discussion`` (inference-time baselines), then a team trained with MAGRPO (``--train-steps``
steps here, or a run you trained, ``--trained ENV=runs/NAME``) under ``parallel``, its
decentralised execution. Every row runs on the same split items in the same order (episode
k = item k), greedy decoding.

CPU defaults (finish on a 2-core machine): SmolLM2-135M-Instruct for every env, bundled
held-out splits, 4 episodes, 192 new tokens, 2 MAGRPO steps (B=2 tasks, G=2 samples).
They show that every protocol and the train -> eval path run end to end; with so few
episodes and steps the numbers are NOT the paper's results.

The paper's setting (GPU; models from the hub or local folders)::

    python benchmarks/paper_table.py --paper --trained \\
        collabzoo/TLDR-v1=runs/tldr collabzoo/ArxivExpansion-v1=runs/arxiv \\
        collabzoo/HumanEval-v1=runs/he collabzoo/CoopHumanEval-v1=runs/coop

``--paper`` = ``--writing-model Qwen/Qwen3-1.7B --coding-model Qwen/Qwen2.5-Coder-3B
--episodes 0 (every item of the eval split) --max-new-tokens 256 --dtype bfloat16`` and the
hub datasets (``--data hub``).

Writes ``paper_table.md`` (the table), ``paper_table.json`` (every summary) and
``paper_table.png`` (normalised return per env, one bar per row) to ``--output``
(default ``benchmarks/results/``); each row's full results folder (summary.json,
episodes.jsonl) goes to ``--work`` (default ``results/paper_table/``, not committed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collabzoo.evaluation.results import comparison_table, write_results  # noqa: E402

ENVS = (
    "collabzoo/TLDR-v1",
    "collabzoo/ArxivExpansion-v1",
    "collabzoo/HumanEval-v1",
    "collabzoo/CoopHumanEval-v1",
)
PROTOCOLS = ("single", "parallel", "sequential", "discussion")
CODING = {"collabzoo/HumanEval-v1", "collabzoo/CoopHumanEval-v1"}
#: (train split, eval split) of each env: bundled data, and the hub datasets of the paper
SPLITS = {
    "bundled": {
        "collabzoo/TLDR-v1": ("train", "test"),
        "collabzoo/ArxivExpansion-v1": ("train", "val"),
        "collabzoo/HumanEval-v1": ("train", "eval"),
        "collabzoo/CoopHumanEval-v1": ("train", "eval"),
    },
    "hub": {
        "collabzoo/TLDR-v1": ("train", "test"),
        "collabzoo/ArxivExpansion-v1": ("train", "val"),
        "collabzoo/HumanEval-v1": ("train", "eval"),
        "collabzoo/CoopHumanEval-v1": ("train", "eval"),
    },
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=list(ENVS), help="env ids")
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    p.add_argument("--writing-model", default="smollm2-135m", help="model of the writing envs")
    p.add_argument("--coding-model", default="smollm2-135m", help="model of the coding envs")
    p.add_argument(
        "--data",
        choices=("bundled", "hub"),
        default="bundled",
        help="bundled offline splits, or the envs' hub datasets",
    )
    p.add_argument("--episodes", type=int, default=4, help="episodes per row (0: the whole split)")
    p.add_argument("--max-new-tokens", type=int, default=192)
    p.add_argument("--batch-size", type=int, default=8, help="episodes generated together")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--device", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--trained",
        nargs="*",
        default=[],
        metavar="ENV=RUN",
        help="use these MAGRPO runs instead of training here",
    )
    p.add_argument(
        "--train-steps",
        type=int,
        default=2,
        help="MAGRPO steps per env when no --trained run is given (0: no MAGRPO row)",
    )
    p.add_argument("--train-batch-size", type=int, default=2)
    p.add_argument("--num-generations", type=int, default=2)
    p.add_argument("--paper", action="store_true", help="the paper's models and setting (GPU)")
    p.add_argument("--output", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--work", default=str(ROOT / "results" / "paper_table"))
    p.add_argument(
        "--from-json",
        default=None,
        metavar="PATH",
        help="run nothing: redraw the table and chart from a paper_table.json",
    )
    args = p.parse_args(argv)
    if args.paper:
        args.writing_model = "Qwen/Qwen3-1.7B"
        args.coding_model = "Qwen/Qwen2.5-Coder-3B"
        args.episodes = 0
        args.max_new_tokens = 256
        args.dtype = "bfloat16"
        args.data = "hub"
    return args


def env_kwargs(env_id: str, data: str, which: int) -> dict:
    kwargs = {"split": SPLITS[data][env_id][which]}
    if data == "bundled":
        kwargs["dataset"] = "bundled"
    return kwargs


def train_team(env_id: str, model: str, args: argparse.Namespace) -> Path:
    """A few MAGRPO steps on the train split; returns the run folder."""
    from collabzoo.trainers.config import MAGRPOConfig
    from collabzoo.trainers.magrpo import MAGRPOTrainer

    out = Path(args.work) / "runs" / env_id.split("/")[-1]
    config = MAGRPOConfig(
        steps=args.train_steps,
        seed=args.seed,
        output_dir=str(out),
        batch_size=args.train_batch_size,
        num_generations=args.num_generations,
        max_new_tokens=args.max_new_tokens,
        dtype=args.dtype,
        report_to=(),
        progress_bar=False,
    )
    trainer = MAGRPOTrainer(
        env=env_id, env_kwargs=env_kwargs(env_id, args.data, 0), model=model, config=config
    )
    trainer.train()
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        write_outputs(
            Path(args.output), saved["summaries"], saved["setting"], saved.get("title", "")
        )
        return 0
    import torch

    import collabzoo
    from collabzoo.agents.base import SamplingConfig
    from collabzoo.agents.specs import build_agents
    from collabzoo.protocols import run_episodes, summarize

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=0.0)
    trained = dict(pair.split("=", 1) for pair in args.trained)
    started = time.time()
    summaries: list[dict] = []
    loaded: dict[str, object] = {}
    for env_id in args.envs:
        model = args.coding_model if env_id in CODING else args.writing_model
        kwargs = env_kwargs(env_id, args.data, 1)
        env = collabzoo.make(env_id, **kwargs)
        episodes = args.episodes or env.num_tasks
        rows: list[tuple[str, list, str, list[str]]] = []
        if model not in loaded:
            loaded[model] = build_agents(
                [model], sampling=sampling, dtype=args.dtype, device=args.device, seed=args.seed
            )[0]
        for protocol in args.protocols:
            rows.append((f"{protocol} (untrained)", [loaded[model]], protocol, [model]))
        run = trained.get(env_id)
        if run is None and args.train_steps > 0:
            print(f"[{env_id}] MAGRPO: {args.train_steps} steps of {model}", flush=True)
            run = str(train_team(env_id, model, args))
        if run is not None:
            team = build_agents(
                [f"run:{run}"],
                roles=list(env.possible_agents),
                sampling=sampling,
                dtype=args.dtype,
                device=args.device,
            )
            rows.append(("MAGRPO team (parallel)", team, "parallel", [f"run:{run}"]))
        for label, agents, protocol, specs in rows:
            began = time.time()
            torch.manual_seed(args.seed)
            records = run_episodes(
                env, agents, protocol, episodes=episodes, seed=args.seed, batch_size=args.batch_size
            )
            summary = summarize(
                records,
                env=env_id,
                env_kwargs=kwargs,
                protocol=protocol,
                agents=specs,
                row=label,
                model=model,
                seed=args.seed,
                max_new_tokens=args.max_new_tokens,
            )
            folder = Path(args.work) / env_id.split("/")[-1] / label.split()[0].lower()
            write_results(folder, summary, records)
            summaries.append(summary)
            print(
                f"[{env_id}] {label}: return {summary['return_normalized']['mean']:.3f} "
                f"({time.time() - began:.0f} s)",
                flush=True,
            )
        env.close()

    setting = (
        f"Models: writing `{args.writing_model}`, coding `{args.coding_model}` ({args.dtype}); "
        f"data: {args.data}; {args.episodes or 'all'} episodes per row (eval split items "
        f"0..k-1); greedy, {args.max_new_tokens} new tokens; MAGRPO team: "
        + "; ".join(
            [f"`{e.split('/')[-1]}` from `{r}`" for e, r in trained.items()]
            + (
                [
                    f"trained here for {args.train_steps} steps (B={args.train_batch_size}, "
                    f"G={args.num_generations}, LoRA) on the train split"
                ]
                if args.train_steps > 0 and len(trained) < len(args.envs)
                else []
            )
        )
        + f"; seed {args.seed}; {platform.machine()}, {os.cpu_count()} cores, "
        f"{(time.time() - started) / 60:.1f} min in all."
    )
    title = f"writing: {args.writing_model}, coding: {args.coding_model}"
    write_outputs(Path(args.output), summaries, setting, title)
    return 0


def write_outputs(out: Path, summaries: list[dict], setting: str, title: str) -> None:
    """``paper_table.md``, ``paper_table.json`` and ``paper_table.png`` in ``out``."""
    from collabzoo.evaluation.plots import bar_chart

    out.mkdir(parents=True, exist_ok=True)
    table = comparison_table(
        summaries, label=lambda s: f"{s['env'].split('/')[-1]} · {s['row']}", components=False
    )
    (out / "paper_table.md").write_text(
        "# Protocols vs. MAGRPO (benchmarks/paper_table.py)\n\n"
        + setting
        + "\n\n"
        + table
        + "\n\nReturn = final joint reward / reward_max, mean ± std over episodes; pass rate = "
        "share of a problem's tests passed; pass all = every test passed; cooperation = main "
        "calls aux and a test passes.\n",
        encoding="utf-8",
    )
    (out / "paper_table.json").write_text(
        json.dumps(
            {"setting": setting, "title": title, "summaries": summaries}, indent=2, default=repr
        )
        + "\n",
        encoding="utf-8",
    )
    groups: dict[str, dict[str, tuple[float, float]]] = {}
    for s in summaries:
        stat = s["return_normalized"]
        groups.setdefault(s["env"].split("/")[-1], {})[s["row"]] = (stat["mean"], stat["std"])
    bar_chart(groups, out / "paper_table.png", title=title)
    print(table)
    print(f"wrote {out / 'paper_table.md'}, paper_table.json, paper_table.png")


if __name__ == "__main__":
    sys.exit(main())
