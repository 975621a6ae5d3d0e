"""collabzoo's MAGRPO trainer against CoMLRL 1.4.3 at equal settings: speed and peak memory.

Both trainers train 2 agents on the same model, the same 8 prompts, G=4 completions of at most
32 new tokens, one epoch (every prompt once), single turn, the same joint reward (how close
len(answer 2) / len(answer 1) is to 2). Each run is a fresh subprocess; the figure is the
seconds of the training call divided by the number of prompts ("seconds per prompt-step":
CoMLRL trains one prompt per step), and the process's peak RSS (model loading included).

CoMLRL is installed into its own venv (default ``$TMPDIR/collabzoo-venv-comlrl``) with
``pip install "torch==<our torch>" comlrl==1.4.3`` on first use: it declares no torch, and
the pin keeps pip on the CPU wheel that this machine already has.

collabzoo runs in three variants: ``full`` (two full models, as CoMLRL), ``lora`` (one frozen
base shared by two LoRA adapters, fp32) and ``lora-bf16`` (the same in bfloat16).

Each setting runs ``--repeats`` rounds (default 3) of every trainer in turn; printed and
stored: the median seconds per prompt-step of each, and the median (min-max) of the per-round
ratios CoMLRL / collabzoo.

Usage::

    python benchmarks/vs_comlrl.py            # tiny, tiny-1.3m-deep, smollm2-135m; all variants
    python benchmarks/vs_comlrl.py --models tiny --threads 1
    python benchmarks/vs_comlrl.py --models smollm2-135m --variants lora-bf16 --repeats 1

Models: ``tiny`` is the project's test model (0.62M parameters); ``tiny-1.3m-deep`` (5
layers, 1.36M) and ``tiny-1.3m-wide`` (hidden 192, 1.30M) have the size of the issue's
reference measurement (a 1.3M-parameter Qwen2). collabzoo's ``micro_batch_size`` is 32 (all
rows in one pass) on the tiny models and 8 on SmolLM2.

Writes ``benchmarks/results/vs_comlrl.json`` and prints a table; the figures are in that
file and in the README's benchmark section, with the commands that made them. A benchmark,
not a test: it asserts nothing about time.

Where the gains come from: all B x G completions of an agent in one ``generate`` call;
each distinct prompt run once and its KV cache shared by its G samples (generation prefill
and loss); inverse-CDF sampling instead of ``torch.multinomial``, which draws one random
number per vocabulary entry (``collabzoo/agents/hf.py``); micro-batched loss over completion
tokens only; one frozen base for all LoRA agents (memory).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMLRL_VERSION = "1.4.3"
PROMPTS = [
    "Describe a rainy afternoon in a small harbour town.",
    "Explain how a bicycle gear system works.",
    "Summarise the plot of a detective story you invent.",
    "Give advice to someone learning to cook.",
    "Describe the view from a mountain top at sunrise.",
    "Explain why the sky looks blue.",
    "Write about a robot that learns to paint.",
    "Describe a busy market on a Saturday morning.",
]


TINY_SHAPES = {
    # the project's test model (collabzoo.agents.models.build_tiny defaults), 0.62M parameters
    "tiny": {},
    # the size of the reference measurement (a 1.3M-parameter model): 1.30M, wider
    "tiny-1.3m-wide": {"hidden_size": 192, "intermediate_size": 768},
    # 1.36M, deeper
    "tiny-1.3m-deep": {"num_layers": 5},
}


def length_ratio_reward(first: str, second: str) -> float:
    """1 / (1 + |(len(second)+1) / (len(first)+1) - 2|): 1 when the second is twice as long."""
    return 1.0 / (1.0 + abs((len(second) + 1) / (len(first) + 1) - 2.0))


# ----------------------------------------------------------------------------- the runners
COMLRL_RUNNER = textwrap.dedent('''
    import json, os, resource, sys, time
    import torch
    torch.manual_seed(0)
    from datasets import Dataset
    from transformers import AutoTokenizer
    from comlrl.trainers.reinforce import MAGRPOConfig, MAGRPOTrainer

    spec = json.loads(sys.argv[1])
    ns = {}
    exec(spec["reward_source"], ns)
    reward = ns["length_ratio_reward"]

    def reward_func(c1, c2):
        return [reward(a, b) for a, b in zip(c1, c2)]

    tok = AutoTokenizer.from_pretrained(spec["model_dir"])
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    fmt = lambda item, **kw: item["prompt"]
    args = MAGRPOConfig(num_train_epochs=1, num_agents=2, num_generations=spec["G"],
                        max_new_tokens=spec["max_new_tokens"], temperature=1.0, top_p=1.0,
                        top_k=None, num_turns=1, eval_interval=0, eval_num_samples=0,
                        agent_learning_rate=1e-5, agent_devices="cpu")
    trainer = MAGRPOTrainer(agent_model=spec["model_dir"], num_agents=2, tokenizer=tok,
                            train_dataset=Dataset.from_list([{"prompt": p} for p in spec["prompts"]]),
                            reward_func=reward_func, formatters=[fmt, fmt], args=args)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    print("RESULT " + json.dumps({"train_s": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
''')

COLLABZOO_RUNNER = textwrap.dedent('''
    import json, resource, sys, time
    import torch
    from collabzoo.agents import LoraSettings, load_policies
    from collabzoo.envs.core import Score, TextCollabEnv
    from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer

    spec = json.loads(sys.argv[1])
    ns = {}
    exec(spec["reward_source"], ns)
    reward = ns["length_ratio_reward"]

    class PromptsEnv(TextCollabEnv):
        metadata = {"name": "bench_v0", "render_modes": ["ansi"], "is_parallelizable": True}
        roles = ("first", "second")

        def __init__(self):
            self.tasks = [{"prompt": p} for p in spec["prompts"]]
            super().__init__()

        def prompt(self, agent, task):
            return task["prompt"]

        def score(self, task, actions):
            return Score(reward=reward(actions["first"], actions["second"]))

    variant = spec["variant"]
    lora = LoraSettings() if variant.startswith("lora") else None
    policies = load_policies(spec["model_dir"], 2, lora=lora, names=["first", "second"],
                             dtype="bfloat16" if variant.endswith("bf16") else "float32",
                             chat_template=False)
    config = MAGRPOConfig(steps=1, batch_size=len(spec["prompts"]), num_generations=spec["G"],
                          max_new_tokens=spec["max_new_tokens"], learning_rate=1e-5,
                          progress_bar=False, report_to=(),
                          micro_batch_size=spec["micro_batch_size"])
    trainer = MAGRPOTrainer(PromptsEnv, policies=policies, config=config)
    start = time.perf_counter()
    history = trainer.train()
    seconds = time.perf_counter() - start
    m = history[-1]
    print("RESULT " + json.dumps({"train_s": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "generate_s": m["perf/generate_s"], "loss_s": m["perf/loss_s"]}))
''')


# ----------------------------------------------------------------------------- set-up
def comlrl_python(venv: Path) -> Path:
    """The python of the CoMLRL venv, created on first use."""
    python = venv / "bin" / "python"
    if python.exists():
        return python
    import torch

    torch_pin = torch.__version__.split("+")[0]
    print(f"creating {venv} with torch=={torch_pin} comlrl=={COMLRL_VERSION} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"torch=={torch_pin}",
                    f"comlrl=={COMLRL_VERSION}"], check=True)
    return python


def model_folder(name: str, cache: Path) -> Path:
    """A ``from_pretrained`` folder of ``name`` that both trainers load."""
    if name == "smollm2-135m":
        from collabzoo.agents.models import convert_gguf, smollm2_gguf_path

        return convert_gguf(smollm2_gguf_path(), "smollm2-135m-instruct")
    if name in TINY_SHAPES:
        folder = cache / f"{name}-seed0"
        if not (folder / "config.json").exists():
            from collabzoo.agents.models import build_tiny

            model, tokenizer = build_tiny(seed=0, **TINY_SHAPES[name])
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
        return folder
    return Path(name)


def run(python: Path, runner: str, spec: dict, threads: int | None) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "WANDB_MODE": "disabled"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    done = subprocess.run([str(python), "-c", runner, json.dumps(spec)], capture_output=True,
                          text=True, env=env, cwd=str(ROOT))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"runner failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["wall_s"] = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "tiny-1.3m-deep", "smollm2-135m"],
                        choices=[*TINY_SHAPES, "smollm2-135m"])
    parser.add_argument("--variants", nargs="+", default=["full", "lora", "lora-bf16"],
                        choices=["full", "lora", "lora-bf16"])
    parser.add_argument("--G", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of every trainer; medians and paired ratios reported")
    parser.add_argument("--micro-batch-size", type=int, default=None,
                        help="collabzoo's micro_batch_size (default: all 32 rows of a tiny "
                        "model in one pass, 8 for smollm2-135m)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of both trainers (default: torch's own)")
    parser.add_argument("--comlrl-venv", type=Path,
                        default=Path(tempfile.gettempdir()) / "collabzoo-venv-comlrl")
    parser.add_argument("--skip-comlrl", action="store_true", help="time collabzoo only")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "vs_comlrl.json")
    args = parser.parse_args(argv)

    import inspect

    from collabzoo.agents.models import cache_dir

    cache = cache_dir() / "models"
    reward_source = inspect.getsource(length_ratio_reward)
    rows = []
    for model in args.models:
        folder = model_folder(model, cache)
        spec = dict(model_dir=str(folder), prompts=PROMPTS, G=args.G,
                    max_new_tokens=args.max_new_tokens, reward_source=reward_source,
                    micro_batch_size=args.micro_batch_size or (32 if model in TINY_SHAPES else 8))
        row: dict = {"model": model, "prompts": len(PROMPTS), "G": args.G,
                     "max_new_tokens": args.max_new_tokens, "threads": args.threads,
                     "micro_batch_size": spec["micro_batch_size"], "repeats": args.repeats,
                     "load_average_before": os.getloadavg()[0]}
        trainers = ([] if args.skip_comlrl else ["comlrl"]) + [f"collabzoo-{v}" for v in args.variants]
        runs: dict[str, list[dict]] = {name: [] for name in trainers}
        # rounds of every trainer in turn: a slow patch of the shared machine hits one round
        # of all of them, and each round gives a paired ratio
        for _ in range(args.repeats):
            for name in trainers:
                if name == "comlrl":
                    result = run(comlrl_python(args.comlrl_venv), COMLRL_RUNNER, spec, args.threads)
                else:
                    variant = name.removeprefix("collabzoo-")
                    result = run(Path(sys.executable), COLLABZOO_RUNNER,
                                 {**spec, "variant": variant}, args.threads)
                result["s_per_prompt_step"] = result["train_s"] / len(PROMPTS)
                runs[name].append(result)
                print(f"{model:14s} {name:20s} {result['s_per_prompt_step']:8.3f} s/prompt-step"
                      f"  peak RSS {result['peak_rss_mb']:7.0f} MB", flush=True)
        for name in trainers:
            times = [r["s_per_prompt_step"] for r in runs[name]]
            entry = {"runs": runs[name], "s_per_prompt_step": statistics.median(times),
                     "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[name])}
            if name != "comlrl" and "comlrl" in runs:
                paired = [c["s_per_prompt_step"] / r["s_per_prompt_step"]
                          for c, r in zip(runs["comlrl"], runs[name], strict=True)]
                entry["speedup"] = statistics.median(paired)
                entry["speedup_min"], entry["speedup_max"] = min(paired), max(paired)
                entry["memory_ratio"] = entry["peak_rss_mb"] / max(
                    r["peak_rss_mb"] for r in runs["comlrl"])
            row[name] = entry
            extra = (f"  {entry['speedup']:4.1f}x faster ({entry['speedup_min']:.1f}-"
                     f"{entry['speedup_max']:.1f}), {entry['memory_ratio']:.2f}x memory"
                     if "speedup" in entry else "")
            print(f"== {model:14s} {name:20s} median {entry['s_per_prompt_step']:7.3f} s/prompt-step"
                  f"  peak RSS {entry['peak_rss_mb']:7.0f} MB{extra}", flush=True)
        rows.append(row)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
