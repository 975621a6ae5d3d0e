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

Usage::

    python benchmarks/vs_comlrl.py                       # tiny and smollm2-135m, all variants
    python benchmarks/vs_comlrl.py --models tiny --threads 1
    python benchmarks/vs_comlrl.py --models smollm2-135m --variants lora-bf16

Writes ``benchmarks/results/vs_comlrl.json`` and prints a table. A benchmark, not a test: it asserts
nothing about time.

Measured on the 2-core development machine (shared with other jobs, load average 3-4, so
``--threads 1``: two torch threads on a contended core pair run up to 50x slower, for both
trainers), ``python benchmarks/vs_comlrl.py --threads 1``:

================  ===============  ==========  =============
model             trainer          s/prompt    peak RSS
================  ===============  ==========  =============
tiny (1.4M)       CoMLRL 1.4.3     0.154-0.168   500 MB
tiny              collabzoo full   0.065-0.068   405 MB (2.3-2.6x faster)
tiny              collabzoo LoRA   0.061-0.070   405 MB (2.2-2.8x faster)
SmolLM2-135M      CoMLRL 1.4.3     19.9          5968 MB
SmolLM2-135M      collabzoo full   5.55          4291 MB (3.6x faster, 0.72x memory)
SmolLM2-135M      collabzoo LoRA   4.55          1781 MB (4.4x faster, 0.30x memory)
SmolLM2-135M      LoRA bf16        4.78          2416 MB (4.2x faster, 0.40x memory)
================  ===============  ==========  =============

On the tiny model both trainers are compute-bound on the same FLOPs (CoMLRL's batch-1 loops
cost little there); most of what is left is the prompt recomputed for each of the G samples
(in the loss pass and in the prefill), which only prompt-prefix sharing in the policy removes.
"""

from __future__ import annotations

import argparse
import json
import os
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
                          progress_bar=False, report_to=(), micro_batch_size=8)
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
    if name == "tiny":
        folder = cache / "tiny-seed0"
        if not (folder / "config.json").exists():
            from collabzoo.agents.models import build_tiny

            model, tokenizer = build_tiny(seed=0)
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
    parser.add_argument("--models", nargs="+", default=["tiny", "smollm2-135m"])
    parser.add_argument("--variants", nargs="+", default=["full", "lora", "lora-bf16"],
                        choices=["full", "lora", "lora-bf16"])
    parser.add_argument("--G", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
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
                    max_new_tokens=args.max_new_tokens, reward_source=reward_source)
        row: dict = {"model": model, "prompts": len(PROMPTS), "G": args.G,
                     "max_new_tokens": args.max_new_tokens, "threads": args.threads,
                     "load_average_before": os.getloadavg()[0]}
        if not args.skip_comlrl:
            result = run(comlrl_python(args.comlrl_venv), COMLRL_RUNNER, spec, args.threads)
            row["comlrl"] = {**result, "s_per_prompt_step": result["train_s"] / len(PROMPTS)}
            print(f"{model:14s} comlrl          {row['comlrl']['s_per_prompt_step']:8.3f} s/prompt-step"
                  f"  peak RSS {result['peak_rss_mb']:7.0f} MB", flush=True)
        for variant in args.variants:
            result = run(Path(sys.executable), COLLABZOO_RUNNER, {**spec, "variant": variant},
                         args.threads)
            entry = {**result, "s_per_prompt_step": result["train_s"] / len(PROMPTS)}
            if "comlrl" in row:
                entry["speedup"] = row["comlrl"]["s_per_prompt_step"] / entry["s_per_prompt_step"]
                entry["memory_ratio"] = result["peak_rss_mb"] / row["comlrl"]["peak_rss_mb"]
            row[f"collabzoo-{variant}"] = entry
            extra = (f"  {entry['speedup']:5.1f}x faster, {entry['memory_ratio']:.2f}x memory"
                     if "speedup" in entry else "")
            print(f"{model:14s} collabzoo-{variant:9s} {entry['s_per_prompt_step']:8.3f} s/prompt-step"
                  f"  peak RSS {result['peak_rss_mb']:7.0f} MB{extra}", flush=True)
        rows.append(row)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
