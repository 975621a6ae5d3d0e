"""Generation speed and agent memory of HFPolicy (issue 5). A script, not a test.

Speed: tokens/s of B=4 prompts x n=4 samples x 64 new tokens, either
  (a) per prompt: one ``generate`` per prompt and sample (16 calls of batch 1, as CoMLRL does), or
  (b) batched: one ``generate`` for all 16 rows (``HFPolicy.sample``).
Tokens are completion tokens up to EOS (``completion_mask.sum()``); sampling is seeded
(temperature 1), so (a) and (b) draw different but equally distributed completions.

Memory: peak RSS of a process holding 2 agents of one model, each doing one sample + one
training step (log_probs, backward, AdamW step), as
  full:   2 separate full models, full fine-tuning, or
  shared: 1 frozen base model + 2 LoRA adapters (r=8 on q,k,v,o).
Each configuration runs in its own subprocess (peak RSS = ``ru_maxrss``).

Usage::

    python benchmarks/generation.py                       # tiny and smollm2-135m, all parts
    python benchmarks/generation.py --models tiny --skip-memory
    python benchmarks/generation.py --threads 2 --dtype bfloat16

Writes ``benchmarks/results/generation.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = [
    "Write a long story about a robot who lives in a library.",
    "Explain step by step how to bake bread at home.",
    "Describe your favourite city in detail: streets, food, people.",
    "def largest_even(numbers):\n    ",
]
N_SAMPLES = 4
MAX_NEW_TOKENS = 64
SEED = 0


def _rss_mb(peak: bool = True) -> float:
    """Peak (or current) RSS of this process, MiB."""
    if not peak:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def speed(model: str, dtype: str, device: str | None, repeats: int) -> dict:
    import torch

    from collabzoo.agents import SamplingConfig, load_policy

    policy = load_policy(model, dtype=dtype, device=device)
    sampling = SamplingConfig(max_new_tokens=MAX_NEW_TOKENS, temperature=1.0)

    def sync() -> None:
        if policy.device.type == "cuda":
            torch.cuda.synchronize()

    def per_prompt(seed: int) -> tuple[int, float]:
        tokens, start = 0, time.perf_counter()
        for i, prompt in enumerate(PROMPTS):
            for j in range(N_SAMPLES):
                config = SamplingConfig(**{**sampling.__dict__, "seed": seed + i * N_SAMPLES + j})
                tokens += int(policy.sample([prompt], 1, config).completion_mask.sum())
        sync()
        return tokens, time.perf_counter() - start

    def batched(seed: int) -> tuple[int, float]:
        start = time.perf_counter()
        config = SamplingConfig(**{**sampling.__dict__, "seed": seed})
        tokens = int(policy.sample(PROMPTS, N_SAMPLES, config).completion_mask.sum())
        sync()
        return tokens, time.perf_counter() - start

    policy.sample(PROMPTS[:1], 1, SamplingConfig(max_new_tokens=4, seed=SEED))  # warm-up
    result = {}
    for name, fn in (("per_prompt", per_prompt), ("batched", batched)):
        runs = [fn(SEED + 1000 * r) for r in range(repeats)]
        tokens = sum(t for t, _ in runs)
        seconds = sum(s for _, s in runs)
        result[name] = {
            "tokens": tokens,
            "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 1),
            "generate_calls_per_run": len(PROMPTS) * N_SAMPLES if name == "per_prompt" else 1,
        }
    result["speedup"] = round(
        result["batched"]["tokens_per_s"] / result["per_prompt"]["tokens_per_s"], 2
    )
    result["parameters"] = sum(p.numel() for p in policy.model.parameters())
    return result


def memory_worker(model: str, mode: str, dtype: str) -> dict:
    """Runs in its own process: 2 agents, one sample + training step each."""
    import torch
    from transformers import AutoModelForCausalLM  # noqa: F401  (count the import in the baseline)

    from collabzoo.agents import LoraSettings, SamplingConfig, load_policies

    baseline = _rss_mb(peak=False)
    start = time.perf_counter()
    lora = LoraSettings(r=8) if mode == "shared" else None
    policies = load_policies(model, 2, lora=lora, dtype=dtype, device="cpu")
    loaded = _rss_mb(peak=False)
    sampling = SamplingConfig(max_new_tokens=16, seed=SEED)
    for policy in policies:
        samples = policy.sample(PROMPTS[:2], 2, sampling)
        optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=1e-5)
        logp = policy.log_probs(samples)
        loss = -(logp * samples.completion_mask).sum() / samples.completion_mask.sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)  # keep the grads allocated, as a loop would
        policy.optimizer = optimizer  # both agents keep their optimizer state alive
    return {
        "rss_after_imports_mb": round(baseline, 1),
        "rss_after_load_mb": round(loaded, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
        "trainable_parameters": sum(
            p.numel() for policy in policies for p in policy.trainable_parameters()
        ),
        "seconds": round(time.perf_counter() - start, 1),
    }


def memory(model: str, dtype: str, threads: int) -> dict:
    result = {}
    for mode in ("full", "shared"):
        command = [sys.executable, __file__, "--memory-worker", mode, "--models", model,
                   "--dtype", dtype, "--threads", str(threads)]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"memory worker {mode} {model} failed:\n{out.stderr[-3000:]}")
        result[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    result["shared_over_full"] = round(
        result["shared"]["peak_rss_mb"] / result["full"]["peak_rss_mb"], 3
    )
    result["workload"] = (
        "2 agents; each: sample 2 prompts x 2 x 16 tokens, log_probs, backward, AdamW"
    )
    return result


def _targets(models: dict) -> dict:
    """The issue's targets, where this run measured them."""
    targets = {}
    speed = models.get("tiny", {}).get("speed")
    if speed:
        targets["tiny_batched_over_per_prompt>=3"] = {
            "value": speed["speedup"],
            "met": speed["speedup"] >= 3,
        }
    mem = models.get("smollm2-135m", {}).get("memory")
    if mem:
        targets["smollm2_shared_over_full_peak_rss<=0.6"] = {
            "value": mem["shared_over_full"],
            "met": mem["shared_over_full"] <= 0.6,
        }
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "smollm2-135m"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ...")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "generation.json"))
    parser.add_argument("--memory-worker", choices=["full", "shared"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if args.memory_worker:
        print(json.dumps(memory_worker(args.models[0], args.memory_worker, args.dtype)))
        return 0

    report: dict = {
        "benchmark": "generation",
        "setup": {
            "prompts": len(PROMPTS),
            "samples_per_prompt": N_SAMPLES,
            "max_new_tokens": MAX_NEW_TOKENS,
            "seed": SEED,
            "repeats": args.repeats,
            "dtype": args.dtype,
            "device": args.device,
            "threads": args.threads,
            "cpu_count": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "torch": torch.__version__,
            "platform": platform.platform(),
        },
        "models": {},
    }
    if torch.cuda.is_available() and args.device.startswith("cuda"):
        report["setup"]["gpu"] = torch.cuda.get_device_name()
    for model in args.models:
        entry: dict = {}
        if not args.skip_speed:
            entry["speed"] = speed(model, args.dtype, args.device, args.repeats)
            print(model, "speed", json.dumps(entry["speed"]), flush=True)
        if not args.skip_memory:
            entry["memory"] = memory(model, args.dtype, args.threads)
            print(model, "memory", json.dumps(entry["memory"]), flush=True)
        report["models"][model] = entry
    report["setup"]["load_average_at_end"] = os.getloadavg()
    report["targets"] = _targets(report["models"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
