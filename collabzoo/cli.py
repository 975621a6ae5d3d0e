"""The ``collabzoo`` command: ``collabzoo envs | algos | presets | train | eval | plot | benchmark``.

Each subcommand is a pair of functions, ``_add_<name>(subparsers)`` and ``_run_<name>(args)``;
heavy imports (torch, transformers) happen inside ``_run_*`` so that ``collabzoo envs``
stays fast and works without the ``train`` extra.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _add_envs(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("envs", help="list the registered environments")
    p.set_defaults(run=_run_envs)


def _run_envs(args: argparse.Namespace) -> int:
    from collabzoo.envs import list_envs

    infos = list_envs()
    width = max(len(i.id) for i in infos)
    agents = [", ".join(i.agents) or "?" for i in infos]
    awidth = max(len(a) for a in agents)
    print(f"{'id':<{width}}  {'agents':<{awidth}}  description")
    for info, names in zip(infos, agents, strict=True):
        print(f"{info.id:<{width}}  {names:<{awidth}}  {info.description}")
    return 0


def _add_presets(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("presets", help="list the shipped run settings (train --preset)")
    p.set_defaults(run=_run_presets)


def _run_presets(args: argparse.Namespace) -> int:
    from collabzoo.presets import list_presets, load_preset

    presets = [load_preset(name) for name in list_presets()]
    width = max(len(p.name) for p in presets)
    for preset in presets:
        print(f"{preset.name:<{width}}  {preset.env:<28}  {preset.description}")
    return 0


def _add_algos(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "algos", help="list the training algorithms (train --algo NAME)",
        description="List the registered algorithms, one line each; with a NAME, print that "
                    "algorithm's config fields (what train --set accepts with --algo NAME).")
    p.add_argument("name", nargs="?", help="an algorithm: show its config fields")
    p.set_defaults(run=_run_algos)


def _run_algos(args: argparse.Namespace) -> int:
    from collabzoo.algorithms import UnknownAlgorithmError, list_algorithms, load

    if args.name:
        from collabzoo.trainers.config import config_help

        try:
            algorithm = load(args.name)
        except UnknownAlgorithmError as error:
            print(f"collabzoo algos: {error}", file=sys.stderr)
            return 2
        print(f"{algorithm.name}: {algorithm.config_class.__name__}\n")
        print(config_help(algorithm.config_class))
        return 0
    infos = list_algorithms()
    width = max(len(i.name) for i in infos)
    for info in infos:
        print(f"{info.name:<{width}}  {info.description}")
    return 0


def _add_eval(subparsers: argparse._SubParsersAction) -> None:
    from collabzoo.envs.contract import MAX_TURNS, SEEDED_EPISODES
    from collabzoo.protocols.runner import PROTOCOLS  # light: no torch

    p = subparsers.add_parser(
        "eval",
        help="evaluate agents on an env under a collaboration protocol",
        description=(
            "Run agents on an env's split under a protocol; write summary.json, episodes.jsonl "
            "(every prompt, answer and reward component) and table.md to --output, and print "
            "the table. Agent specs: tiny, smollm2-135m, hf:HUB_ID_OR_PATH, run:runs/NAME[/AGENT], "
            "openai:BASE_URL#MODEL (key from $OPENAI_API_KEY or --api-key-env), random[:SEED], "
            "py:MODULE:CLASS[?key=value&...] (your class with act(observations, n), imported "
            "from PYTHONPATH), or a name a package registered (entry-point group "
            "collabzoo.agents). "
            "One spec plays every role; otherwise give one per role, in the env's role order."
        ),
    )
    p.add_argument("--env", required=True,
                   help="env id, e.g. collabzoo/TLDR-v1, or MODULE:ID to import MODULE (which "
                        "registers ID) from PYTHONPATH first")
    p.add_argument("--agents", nargs="+", required=True, metavar="SPEC", help="agent specs")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="parallel",
                   help="collaboration protocol (default: parallel)")
    p.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY=VALUE",
                   help="env constructor arguments, e.g. dataset=bundled split=eval")
    p.add_argument("--episodes", type=int, default=None,
                   help="episodes (default: one per item of the split; envs without num_tasks: "
                        f"{SEEDED_EPISODES} seeded episodes)")
    p.add_argument("--seed", type=int, default=0, help="episode k is reset with seed + k")
    p.add_argument("--max-turns", type=int, default=MAX_TURNS,
                   help="most turns of an episode of an env without num_turns")
    p.add_argument("--output", default=None,
                   help="results folder (default: results/<env name>-<protocol>)")
    p.add_argument("--batch-size", type=int, default=8,
                   help="episodes run together (one generate call per agent and round)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="most tokens per answer (default: the length the env declares its "
                        "answers need, else 128; a smaller value warns)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="sampling temperature (default 0: greedy)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass")
    p.add_argument("--top-k", type=int, default=0,
                   help="sample from the k likeliest tokens only (default 0: all)")
    p.add_argument("--dtype", default="auto",
                   help="weights dtype of local models: auto (bfloat16 where it is faster: a "
                        "GPU with bf16, a CPU with AMX), float32, bfloat16")
    p.add_argument("--device", default=None, help="device of local models (default: cuda if any)")
    p.add_argument("--num-threads", type=int, default=None,
                   help="CPU threads of torch (default: torch's, one per core); on a CPU "
                        "shared with other busy processes 1 is often several times faster")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the key of openai: agents")
    p.add_argument("--max-concurrency", type=int, default=8,
                   help="openai: agents: most requests in flight")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="openai: agents: seconds per request")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_eval)


def _run_eval(args: argparse.Namespace) -> int:
    import collabzoo
    from collabzoo.agents.openai_compat import OpenAICompatibleError
    from collabzoo.agents.specs import AgentSpecError, build_agents
    from collabzoo.envs.contract import env_features
    from collabzoo.envs.data import DatasetUnavailableError
    from collabzoo.envs.kwargs import EnvKwargsError, parse_env_kwargs
    from collabzoo.envs.registration import UnknownEnvError
    from collabzoo.evaluation.evaluate import eval_sampling, evaluate
    from collabzoo.evaluation.results import EpisodeWriter, summary_table, write_results
    from collabzoo.protocols import summarize
    from collabzoo.protocols.runner import check_protocol

    def fail(message: str) -> int:
        print(f"collabzoo eval: {message}", file=sys.stderr)
        return 2

    try:
        env_kwargs = parse_env_kwargs(args.env, args.env_kwargs)
        env = collabzoo.make(args.env, **env_kwargs)
    except (UnknownEnvError, EnvKwargsError) as error:
        return fail(str(error))
    except (DatasetUnavailableError, ValueError, TypeError) as error:  # the env's own checks
        return fail(f"cannot make {args.env}: {error}")
    try:
        check_protocol(env, args.protocol)
    except ValueError as error:
        return fail(str(error))
    if args.top_k < 0 or (args.num_threads is not None and args.num_threads < 1):
        return fail("--top-k must be >= 0 and --num-threads >= 1")
    if args.num_threads is not None:
        import torch

        torch.set_num_threads(args.num_threads)
    roles = list(env.possible_agents)
    sampling = eval_sampling(env, max_new_tokens=args.max_new_tokens,
                             temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                             seed=args.seed)
    try:
        agents = build_agents(
            args.agents, roles=roles, sampling=sampling, dtype=args.dtype, device=args.device,
            seed=args.seed,
            openai_options={"api_key_env": args.api_key_env,
                            "max_concurrency": args.max_concurrency, "timeout": args.timeout},
        )
    except AgentSpecError as error:
        return fail(str(error))
    except (OSError, RuntimeError) as error:  # a model that cannot be found or loaded
        return fail(f"cannot load the agents {args.agents}: {error}")
    if args.protocol != "single" and len(agents) not in (1, len(roles)):
        return fail(f"{len(agents)} agents for the roles {roles}: give one agent for every "
                    "role, in this order, or one agent that plays them all")
    try:
        features = env_features(env)
    except TypeError as error:
        return fail(str(error))
    episodes = args.episodes if args.episodes is not None else features.default_episodes
    output = args.output or f"results/{args.env.split('/')[-1]}-{args.protocol}"
    bar = None
    if not args.no_progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=episodes, desc=f"eval {args.protocol}", unit="episode")
        except ImportError:
            bar = None
    returns: list[float] = []

    with EpisodeWriter(output) as writer:

        def on_episode(record) -> None:
            writer(record)
            if record.return_normalized is not None:
                returns.append(record.return_normalized)
            if bar is not None:
                bar.update(1)
                if returns:
                    bar.set_postfix(return_normalized=f"{sum(returns) / len(returns):.3f}")

        try:
            result = evaluate(env, agents, protocol=args.protocol, episodes=episodes,
                              seed=args.seed, sampling=sampling, batch_size=args.batch_size,
                              max_turns=args.max_turns, on_episode=on_episode)
        except OpenAICompatibleError as error:  # a server down or refusing: one line
            return fail(str(error))
        finally:
            if bar is not None:
                bar.close()
            env.close()
    summary = summarize(
        result.records, env=args.env, env_kwargs=env_kwargs, protocol=args.protocol,
        agents=list(args.agents), seed=args.seed, batch_size=args.batch_size,
        sampling={"max_new_tokens": sampling.max_new_tokens, "temperature": args.temperature,
                  "top_p": args.top_p, "top_k": args.top_k},
        collabzoo_version=collabzoo.__version__,
    )
    write_results(output, summary)
    print(summary_table(summary))
    print(f"\nwrote {output}/summary.json, episodes.jsonl, table.md")
    return 0


def _add_plot(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plot",
        help="plot the training curves of runs on shared axes",
        description=(
            "One panel per metric (reward/mean, each reward component, eval/return_normalized), "
            "one line per run, read from each run's metrics.jsonl."
        ),
    )
    p.add_argument("runs", nargs="+", help="run folders written by `collabzoo train`")
    p.add_argument("--output", default="curves.png", help="the PNG to write")
    p.add_argument("--metrics", nargs="+", default=None,
                   help="metrics to draw (default: reward/mean, components, eval return)")
    p.add_argument("--labels", nargs="+", default=None, help="legend names of the runs")
    p.set_defaults(run=_run_plot)


def _run_plot(args: argparse.Namespace) -> int:
    from collabzoo.evaluation.plots import plot_runs

    try:
        fig = plot_runs(args.runs, args.output, metrics=args.metrics, labels=args.labels)
    except (FileNotFoundError, ValueError) as error:
        print(f"collabzoo plot: {error}", file=sys.stderr)
        return 2
    panels = [ax for ax in fig.axes if ax.get_visible()]
    lines = sum(len(ax.get_lines()) for ax in panels)
    print(f"wrote {args.output}: {len(panels)} panels, {lines} lines")
    return 0


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    from collabzoo.trainers.config import config_help  # light: no torch

    p = subparsers.add_parser(
        "train",
        help="train one LLM agent per env role (MAGRPO or another --algo)",
        description=(
            "Train agents with an algorithm (--algo, default magrpo; `collabzoo algos` lists "
            "them) on a registered env and write the run folder: "
            "metrics.jsonl, config.yaml, tensorboard/, reward_curve.png, checkpoints/step-N/ "
            "and the final agents under agents/<role>/. Resume a run with --resume. The "
            "fields below are the training loop's, which every algorithm has; `collabzoo "
            "algos NAME` prints an algorithm's own fields too (e.g. magrpo: advantage, scale)."
        ),
        epilog=config_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--env", help="env id, e.g. collabzoo/TLDR-v1, or MODULE:ID to import MODULE "
                                 "(which registers ID) from PYTHONPATH first")
    p.add_argument("--model", nargs="+", metavar="MODEL",
                   help="tiny, smollm2-135m, a hub id or a folder; one for every role "
                        "(homogeneous) or one per role in the env's order (heterogeneous)")
    p.add_argument("--algo", metavar="NAME",
                   help="the algorithm (default magrpo; `collabzoo algos` lists them), or "
                        "MODULE:CLASS for an Algorithm subclass imported from PYTHONPATH")
    p.add_argument("--steps", type=int, help="training steps (config field steps)")
    p.add_argument("--env-kwargs", nargs="*", default=[], metavar="KEY=VALUE",
                   help="env constructor arguments, e.g. dataset=bundled split=train num_turns=2")
    p.add_argument("--preset", metavar="NAME",
                   help="start from a shipped preset (`collabzoo presets` lists them); "
                        "--config and the other options override it")
    p.add_argument("--config", metavar="FILE.yaml",
                   help="config fields as a YAML mapping (may also hold env, model, env_kwargs)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", dest="overrides",
                   help="override config fields (listed below), e.g. num_generations=8")
    p.add_argument("--output", metavar="DIR", help="the run folder, e.g. runs/demo")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR from its newest checkpoint")
    p.set_defaults(run=_run_train)


def _run_train(args: argparse.Namespace) -> int:
    from collabzoo.agents.models import ModelUnavailableError
    from collabzoo.algorithms import UnknownAlgorithmError
    from collabzoo.envs.data import DatasetUnavailableError
    from collabzoo.envs.kwargs import EnvKwargsError
    from collabzoo.envs.registration import UnknownEnvError
    from collabzoo.trainers.entry import prepare_trainer

    def fail(message: str) -> int:
        print(f"collabzoo train: {message}", file=sys.stderr)
        return 2

    settings = {"env": args.env, "model": args.model, "algorithm": args.algo,
                "preset": args.preset, "config": args.config, "env_kwargs": args.env_kwargs,
                "output": args.output}
    try:
        if args.resume:
            settings = {k: v for k, v in settings.items() if k != "output" or v is not None}
        trainer = prepare_trainer(resume=args.resume, steps=args.steps,
                                  overrides=args.overrides, **settings)
    except (UnknownEnvError, UnknownAlgorithmError, EnvKwargsError, DatasetUnavailableError,
            ModelUnavailableError, ValueError, TypeError, OSError) as error:
        # PluginError and TrainSetupError are ValueErrors
        return fail(str(error))
    trainer.train(resume=bool(args.resume))
    if args.resume:
        print(f"resumed {args.resume} to step {trainer.step}")
        return 0
    if trainer.dist.main:  # one line, not one per process of a data-parallel run
        from collabzoo.trainers.trend import reward_trend

        out = trainer.config.output_dir
        print(f"wrote {out}/: metrics.jsonl, config.yaml, tensorboard/, agents/; "
              f"reward curve: {out}/reward_curve.png")
        trend = reward_trend(f"{out}/metrics.jsonl")
        if trend is not None:
            print(trend.describe())
    return 0


def _add_benchmark(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "benchmark",
        help="train and evaluate envs x algorithms x models x seeds; IQM with 95%% CIs",
        description=(
            "Run a benchmark spec (collabzoo.benchmark.spec documents its keys): train every "
            "run (collabzoo train, resumable; finished runs are skipped), evaluate every "
            "trained team and the untrained protocols of the same base models, cross-play "
            "and leave-one-out, and write results.json, table.md, curves.png and "
            "crossplay.png to the output folder. Statistics need the bench extra (rliable)."
        ),
    )
    p.add_argument("spec", nargs="?", help="the spec, e.g. benchmarks/specs/tiny-tldr.yaml")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override spec keys (VALUE is YAML), e.g. budget.steps=2 seeds=[0,1]")
    p.add_argument("--output", metavar="DIR",
                   help="the benchmark folder (default: the spec's output, else "
                        "runs/benchmark/<name>)")
    p.add_argument("--workers", type=int, default=1,
                   help="training runs at once (subprocesses), each with cores // N threads")
    p.add_argument("--launcher", choices=("local", "ray"), default="local",
                   help="local: this process or --workers subprocesses; ray: one Ray task per "
                        "run ($RAY_ADDRESS's cluster, else a local instance; the ray extra)")
    p.add_argument("--report", metavar="DIR",
                   help="run nothing: re-render the outputs of the benchmark folder DIR")
    p.set_defaults(run=_run_benchmark)


def _run_benchmark(args: argparse.Namespace) -> int:
    from collabzoo.benchmark import SpecError, load_spec, render_report, run_benchmark

    def fail(message: str) -> int:
        print(f"collabzoo benchmark: {message}", file=sys.stderr)
        return 2

    try:
        if args.report:
            if args.spec or args.overrides:
                return fail("--report re-renders a finished folder: give no spec or --set")
            render_report(args.report)
            print(f"wrote {args.report}/results.json, table.md, examples.md, curves.png, crossplay.png")
            return 0
        if not args.spec:
            return fail("give a spec file (or --report DIR)")
        spec = load_spec(args.spec, args.overrides)
        run_benchmark(spec, args.output, workers=args.workers, launcher=args.launcher)
    except (SpecError, FileNotFoundError, ImportError) as error:
        return fail(str(error))
    except RuntimeError as error:
        return fail(str(error))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="collabzoo",
        description="LLM collaboration environments and their trainers (MAGRPO and family).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_envs(subparsers)
    _add_presets(subparsers)
    _add_algos(subparsers)
    _add_train(subparsers)
    _add_eval(subparsers)
    _add_plot(subparsers)
    _add_benchmark(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
