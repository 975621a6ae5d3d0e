"""Generation, loss pass and training step against this machine's own roofline. A script.

The machine's limits are measured in the same run (the machine is shared and noisy; a
ratio of two figures measured minutes apart means little):

- **peak FLOP/s**: the best of float32 matmuls at the model's own shapes with many rows
  (prefill-like, compute-bound); bfloat16 too where it is native (``native_bf16``).
- **bandwidth**: the faster of a large tensor copy (bytes read + written per second) and a
  read stream (a matrix-vector product over 256 MiB): decoding mostly reads.
- **matmul streaming** (reported beside it, per dtype): bytes of weight per second that
  ``F.linear`` reads at the run's row count when its weights come from memory (a 512 MiB
  cycle of model-shaped matrices), what a decode step's matmuls can reach with the kernels
  at hand. Each result's ``*_fraction_streaming`` is its roofline with this bandwidth, and
  ``*_ceiling`` (roofline / streaming roofline) the highest fraction of the roofline that a
  generation reaches whose matmuls run at that rate and whose other work takes no time: the
  ceiling that torch's CPU kernels put on it at this row count.

The roofline time of a workload is the sum of its phases, each at its bound:

- prefill of P prompt tokens: ``2 x params_matmul x P`` FLOPs at the peak (attention's
  ``4 x layers x P^2 x hidden`` FLOPs added);
- each decode step of R rows: ``max(weight bytes + KV-cache bytes read, 2 x params_matmul x R
  FLOPs at the peak)``, where weight bytes are every matmul weight (the LM head included)
  read once for all rows, and KV-cache bytes are ``2 x layers x kv_dim x t x R x bytes``
  at cache length t;
- the loss pass: forward + backward over each distinct prompt once (its pass serves all G
  samples) and every completion token, ``6 x params_matmul`` FLOPs per token with full
  fine-tuning, ``4 x`` with LoRA (no weight gradients for the frozen base), at the peak;
- a MAGRPO step: the samples its policies returned (recorded), generated in one decode loop
  for both agents (the shared base read once per token), plus the loss passes over the rows
  the trainer scored (recorded: it skips rows whose advantage is zero, which have no
  gradient, so a step's work varies with its rewards).

Measured: ``HFPolicy.sample`` of B prompts x G samples for one agent (full model and, for a
shared base, one LoRA adapter), ``log_probs`` + backward over those samples, two LoRA agents
of one base generating one after the other and together (``HFPolicy.sample_together``, one
decode loop for both: its roofline reads the weights once per token), and one MAGRPO
training step on TLDR with 2 agents (the best of steps 2-3). Printed as measured / roofline
time (the fraction of the roofline reached = roofline / measured).

``--before DIR`` first runs the same script on the collabzoo of another checkout (``git
worktree add DIR COMMIT``; a library from before ``sample_together`` skips that part) in a
subprocess, then on this one, and stores both with the after / before ratio of every time.

Usage::

    python benchmarks/roofline.py                          # smollm2-135m, fp32 (+bf16 if native)
    python benchmarks/roofline.py --model tiny --dtypes float32
    python benchmarks/roofline.py --threads 2 --rows 8 --new-tokens 80
    git worktree add /tmp/rf-before f35dce2 && python benchmarks/roofline.py --before /tmp/rf-before

Writes ``benchmarks/results/roofline.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPTS = [
    "Summarise this post for a busy reader. My flatmate keeps leaving dishes in the sink for "
    "days and when I mention it she says she will do them tomorrow, but tomorrow never comes. "
    "We split rent evenly and I do most of the cleaning. How do I bring it up without a fight?",
    "Summarise this post for a busy reader. I got a job offer in another city with a 20% raise, "
    "but my partner just started a degree here and my parents are getting older. We have "
    "talked about it for weeks and still go round in circles. How did you decide?",
]


def _best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine_limits(torch, shapes: list[tuple[int, int]], dtypes: list[str],
                   repeats: int) -> dict:
    """Peak matmul FLOP/s per dtype over ``shapes`` (in, out) at 512 rows, and the copy
    bandwidth, both measured now."""
    limits: dict = {"peak_flops": {}, "matmul": {}}
    for name in dtypes:
        dtype = getattr(torch, name)
        best = 0.0
        for k, n in shapes:
            x = torch.randn(512, k, dtype=dtype)
            w = torch.randn(n, k, dtype=dtype)
            torch.nn.functional.linear(x, w)  # warm-up
            t = _best_time(lambda x=x, w=w: torch.nn.functional.linear(x, w), repeats)
            flops = 2 * 512 * k * n / t
            limits["matmul"][f"{name} 512x{k}x{n}"] = round(flops / 1e9, 1)
            best = max(best, flops)
        limits["peak_flops"][name] = best
    src = torch.empty(256 * 2**20 // 4, dtype=torch.float32).fill_(1.0)  # 256 MiB
    dst = torch.empty_like(src)
    dst.copy_(src)
    t = _best_time(lambda: dst.copy_(src), repeats)
    limits["copy_bandwidth"] = 2 * src.numel() * 4 / t
    # reading alone (a matrix-vector product over the same 256 MiB): decoding reads weights
    # and writes little, and a read stream can run faster than a copy's read + write
    matrix, vector = src.view(-1, 4096), torch.ones(4096)
    torch.mv(matrix, vector)
    t = _best_time(lambda: torch.mv(matrix, vector), repeats)
    limits["read_bandwidth"] = src.numel() * 4 / t
    limits["bandwidth"] = max(limits["copy_bandwidth"], limits["read_bandwidth"])
    return limits


def matmul_streaming(torch, shapes: list[tuple[int, int]], dtypes: list[str], rows: int,
                     repeats: int) -> dict[str, float]:
    """Weight bytes per second ``F.linear`` reads at ``rows`` rows from a 512 MiB cycle of
    matrices of ``shapes`` (in, out), per dtype: the decode matmuls' practical bandwidth."""
    out = {}
    for name in dtypes:
        dtype = getattr(torch, name)
        size = torch.tensor([], dtype=dtype).element_size()
        per_cycle = sum(k * n for k, n in shapes) * size
        weights = [torch.randn(n, k, dtype=dtype) for _ in range(max(1, 2**29 // per_cycle))
                   for k, n in shapes]
        inputs = {k: torch.randn(rows, k, dtype=dtype) for k, _ in shapes}

        def sweep(weights=weights, inputs=inputs):
            for w in weights:
                torch.nn.functional.linear(inputs[w.shape[1]], w)

        sweep()
        t = _best_time(sweep, repeats)
        out[name] = sum(w.numel() for w in weights) * size / t
        del weights
    return out


def model_shape(model) -> dict:
    """Matmul parameters (every Linear, LM head included), layers, hidden and KV widths."""
    import torch

    config = model.config
    matmul = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", heads) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return {"matmul_params": matmul, "layers": config.num_hidden_layers,
            "hidden": config.hidden_size, "intermediate": config.intermediate_size,
            "vocab": config.vocab_size, "kv_dim": kv_heads * head_dim}


def generation_roofline(shape: dict, limits: dict, dtype: str, prompt_tokens: list[int],
                        rows: int, steps: int, prompt_len: int, streaming: bool = False) -> float:
    """Seconds for prefilling ``prompt_tokens`` and decoding ``steps`` tokens of ``rows``
    (``streaming``: at the matmul-streaming bandwidth instead of the copy bandwidth)."""
    peak = limits["peak_flops"][dtype]
    bw = limits["streaming"][dtype] if streaming else limits["bandwidth"]
    size = 2 if dtype == "bfloat16" else 4
    p = shape["matmul_params"]
    prefill = sum(2 * p * n + 4 * shape["layers"] * n * n * shape["hidden"]
                  for n in prompt_tokens) / peak
    decode = 0.0
    for t in range(steps):
        cache = 2 * shape["layers"] * shape["kv_dim"] * (prompt_len + t) * rows * size
        decode += max((p * size + cache) / bw, 2 * p * rows / peak)
    return prefill + decode


def loss_roofline(shape: dict, limits: dict, dtype: str, tokens: int, lora: bool) -> float:
    return (4 if lora else 6) * shape["matmul_params"] * tokens / limits["peak_flops"][dtype]


def _loss_tokens(samples) -> int:
    """Tokens a loss pass over ``samples`` must process: every distinct prompt once (its
    forward and backward serve all its rows) and every completion token."""
    import torch

    prompts = torch.cat([samples.prompt_ids, samples.prompt_mask], dim=1)
    unique = torch.unique(prompts, dim=0)
    return int(unique[:, samples.prompt_ids.shape[1]:].sum() + samples.completion_mask.sum())


def step_roofline(shape: dict, limits: dict, dtype: str, generated: list, scored: list,
                  n: int) -> float:
    """A MAGRPO step's roofline from its own work: the Samples its policies generated (each
    distinct prompt over ``n`` rows), in one decode loop for every agent's rows (the base's
    weights read once per token for all, as with LoRA agents of one base), and the Samples
    its loss passes scored (the trainer skips rows whose advantage is zero: no gradient)."""
    prompt_tokens = [t for s in generated for t in s.prompt_mask[::n].sum(dim=1).tolist()]
    rows = sum(len(s) for s in generated)
    steps = max(s.completion_ids.shape[1] for s in generated)
    width = max(s.prompt_ids.shape[1] for s in generated)
    generation = generation_roofline(shape, limits, dtype, prompt_tokens, rows, steps, width)
    loss = sum(loss_roofline(shape, limits, dtype, _loss_tokens(s), lora=True) for s in scored)
    return generation + loss


def measure(args, torch, dtype: str, limits: dict) -> dict:
    from collabzoo.agents import LoraSettings, SamplingConfig, load_policies, load_policy

    b = len(PROMPTS)
    g = args.rows // b
    sampling = SamplingConfig(max_new_tokens=args.new_tokens, temperature=1.0, seed=0)
    out: dict = {}
    variants = {
        "full": lambda: [load_policy(args.model, dtype=dtype, device="cpu")],
        "lora": lambda: load_policies(args.model, 2, lora=LoraSettings(), dtype=dtype,
                                      device="cpu"),
    }
    for variant, load in variants.items():
        policy = load()[0]
        shape = model_shape(policy.model.get_base_model() if variant == "lora" else policy.model)
        policy.sample(PROMPTS, g, SamplingConfig(max_new_tokens=4, seed=0))  # warm-up
        drawn = []
        gen_s = _best_time(lambda p=policy, d=drawn: d.append(p.sample(PROMPTS, g, sampling)),
                           args.repeats)
        samples = drawn[-1]
        steps = samples.completion_ids.shape[1]
        prompt_tokens = samples.prompt_mask[::g].sum(dim=1).tolist()  # (B,) real tokens
        gen_roof = generation_roofline(shape, limits, dtype, prompt_tokens, b * g, steps,
                                       samples.prompt_ids.shape[1])
        gen_stream = generation_roofline(shape, limits, dtype, prompt_tokens, b * g, steps,
                                         samples.prompt_ids.shape[1], streaming=True)

        def loss(policy=policy, samples=samples):
            lp = policy.log_probs(samples)
            (lp * samples.completion_mask).sum().backward()

        loss_s = _best_time(loss, args.repeats)
        tokens = _loss_tokens(samples)
        loss_roof = loss_roofline(shape, limits, dtype, tokens, variant == "lora")
        out[variant] = {
            "rows": b * g, "decode_steps": steps, "generated_tokens":
            int(samples.completion_mask.sum()),
            "generation_s": round(gen_s, 3), "generation_roofline_s": round(gen_roof, 3),
            "generation_fraction": round(gen_roof / gen_s, 3),
            "generation_streaming_roofline_s": round(gen_stream, 3),
            "generation_fraction_streaming": round(gen_stream / gen_s, 3),
            "generation_ceiling": round(gen_roof / gen_stream, 3),
            "loss_s": round(loss_s, 3), "loss_roofline_s": round(loss_roof, 3),
            "loss_fraction": round(loss_roof / loss_s, 3),
        }
        print(f"  {dtype} {variant:4s} generation {gen_s:7.2f} s vs roofline {gen_roof:6.2f} s "
              f"({gen_roof / gen_s:5.1%}; at matmul streaming {gen_stream / gen_s:5.1%}, "
              f"ceiling {gen_roof / gen_stream:5.1%}); loss pass {loss_s:6.2f} s vs {loss_roof:5.2f} s "
              f"({loss_roof / loss_s:5.1%})")

    # two LoRA agents of one base: one generate per agent, or one for both
    # (HFPolicy.sample_together: every row with its own adapter, the base read once per token)
    from collabzoo.agents.hf import HFPolicy

    policies = load_policies(args.model, 2, lora=LoraSettings(), dtype=dtype, device="cpu")
    shape = model_shape(policies[0].model.get_base_model())
    if getattr(HFPolicy, "sample_together", None) is None:  # a library from before it
        out["step"] = measure_step(args, torch, dtype, limits, shape, b, g)
        return out
    HFPolicy.sample_together(policies, [PROMPTS, PROMPTS], g, SamplingConfig(max_new_tokens=4))
    per_agent: list = []
    per_agent_s = _best_time(
        lambda: per_agent.append([p.sample(PROMPTS, g, sampling) for p in policies]), args.repeats)
    together: list = []
    together_s = _best_time(
        lambda: together.append(HFPolicy.sample_together(policies, [PROMPTS, PROMPTS], g,
                                                         sampling)), args.repeats)
    prompt_tokens = together[-1][0].prompt_mask[::g].sum(dim=1).tolist() * 2
    width = together[-1][0].prompt_ids.shape[1]
    roof_per_agent = sum(
        generation_roofline(shape, limits, dtype, prompt_tokens[:b], b * g,
                            s.completion_ids.shape[1], width) for s in per_agent[-1])
    steps = max(s.completion_ids.shape[1] for s in together[-1])
    roof_together = generation_roofline(shape, limits, dtype, prompt_tokens, 2 * b * g, steps,
                                        width)
    stream_together = generation_roofline(shape, limits, dtype, prompt_tokens, 2 * b * g, steps,
                                          width, streaming=True)
    out["two_agents"] = {
        "rows_per_agent": b * g,
        "per_agent_s": round(per_agent_s, 3), "per_agent_roofline_s": round(roof_per_agent, 3),
        "per_agent_fraction": round(roof_per_agent / per_agent_s, 3),
        "together_s": round(together_s, 3), "together_roofline_s": round(roof_together, 3),
        "together_fraction": round(roof_together / together_s, 3),
        "together_fraction_streaming": round(stream_together / together_s, 3),
        "together_ceiling": round(roof_together / stream_together, 3),
        "speedup": round(per_agent_s / together_s, 2),
    }
    print(f"  {dtype} 2 LoRA agents: per agent {per_agent_s:.2f} s "
          f"({roof_per_agent / per_agent_s:.1%} of its roofline), together {together_s:.2f} s "
          f"({roof_together / together_s:.1%}; at matmul streaming "
          f"{stream_together / together_s:.1%}, ceiling {roof_together / stream_together:.1%}): "
          f"{per_agent_s / together_s:.2f}x")

    out["step"] = measure_step(args, torch, dtype, limits, shape, b, g)
    return out


def measure_step(args, torch, dtype: str, limits: dict, shape: dict, b: int, g: int) -> dict:
    """MAGRPO steps on TLDR, 2 LoRA agents on one base, B prompts x G samples, each against
    the roofline of its own work (the samples generated and scored, recorded as the policies
    see them); the step with the best fraction is reported."""
    from collabzoo.agents.hf import HFPolicy
    from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer

    work: list[tuple[list, list]] = []  # per step: (Samples generated, Samples scored)
    sample, together = HFPolicy.sample, getattr(HFPolicy, "sample_together", None)
    log_probs = HFPolicy.log_probs

    def recording_sample(self, prompts, n=1, sampling=None):
        result = sample(self, prompts, n, sampling)
        work[-1][0].append(result)
        return result

    def recording_together(cls, policies, prompts, n=1, sampling=None):
        result = together.__func__(cls, policies, prompts, n, sampling)
        work[-1][0].extend(result or ())
        return result

    def recording_log_probs(self, samples, **kwargs):
        work[-1][1].append(samples)
        return log_probs(self, samples, **kwargs)

    steps = 3
    config = MAGRPOConfig(steps=steps, batch_size=b, num_generations=g,
                          max_new_tokens=args.new_tokens, dtype=dtype,
                          micro_batch_size=args.rows, progress_bar=False,
                          num_threads=args.threads)
    trainer = MAGRPOTrainer(env="collabzoo/TLDR-v1", env_kwargs={"dataset": "bundled"},
                            model=args.model, config=config)
    step = trainer.training_step

    def recording_step():
        work.append(([], []))
        return step()

    trainer.training_step = recording_step
    HFPolicy.sample, HFPolicy.log_probs = recording_sample, recording_log_probs
    if together is not None:
        HFPolicy.sample_together = classmethod(recording_together)
    try:
        history = trainer.train()
    finally:
        HFPolicy.sample, HFPolicy.log_probs = sample, log_probs
        if together is not None:
            HFPolicy.sample_together = together
    rows = []
    for h, (generated, scored) in zip(history, work, strict=True):
        roof = step_roofline(shape, limits, dtype, generated, scored, g)
        rows.append({"step_s": round(h["perf/step_s"], 3), "generate_s":
                     round(h["perf/generate_s"], 3), "loss_s": round(h["perf/loss_s"], 3),
                     "roofline_s": round(roof, 3), "fraction": round(roof / h["perf/step_s"], 3)})
    best = max(rows[1:] or rows, key=lambda r: r["fraction"])  # the first step warms up
    print(f"  {dtype} MAGRPO step (2 LoRA agents) {best['step_s']:.2f} s (generation "
          f"{best['generate_s']:.2f} s, loss {best['loss_s']:.2f} s) vs roofline "
          f"{best['roofline_s']:.2f} s ({best['fraction']:.1%})")
    return {**best, "steps": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtypes", nargs="+", default=None,
                        help="default: float32, plus bfloat16 where native")
    parser.add_argument("--rows", type=int, default=8, help="B x G rows (B = 2 prompts)")
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "roofline.json"))
    parser.add_argument("--before", metavar="DIR", default=None,
                        help="first run this script on the collabzoo of another checkout "
                             "(a git worktree) and store its results and the after/before "
                             "time ratios beside this checkout's")
    args = parser.parse_args()
    before = run_before(args) if args.before else None

    import torch

    from collabzoo.agents.models import cpu_has_native_bf16

    torch.set_num_threads(args.threads)
    native = cpu_has_native_bf16()
    dtypes = args.dtypes or (["float32", "bfloat16"] if native else ["float32"])
    from collabzoo.agents import load_policy

    shape = model_shape(load_policy(args.model, dtype="float32", device="cpu").model)
    hidden, inter = shape["hidden"], shape["intermediate"]
    shapes = [(hidden, hidden), (hidden, inter), (inter, hidden), (hidden, shape["vocab"])]
    limits = machine_limits(torch, shapes, dtypes, args.repeats + 2)
    kv = shape["kv_dim"]
    layer_shapes = [(hidden, hidden), (hidden, kv), (hidden, kv), (hidden, hidden),
                    (hidden, inter), (hidden, inter), (inter, hidden)]
    limits["streaming"] = matmul_streaming(torch, layer_shapes, dtypes, args.rows,
                                           args.repeats + 1)
    print(f"machine: {_cpu_name() or platform.machine()}, {args.threads} threads, "
          f"native bf16: {native}; bandwidth {limits['bandwidth'] / 1e9:.1f} GB/s (matmul "
          f"streaming at {args.rows} rows: "
          + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in limits["streaming"].items())
          + " GB/s); peak "
          + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in limits["peak_flops"].items()))
    results = {"model": args.model, "rows": args.rows, "new_tokens": args.new_tokens,
               "threads": args.threads, "native_bf16": native, "cpu": _cpu_name(),
               "bandwidth_gb_s": round(limits["bandwidth"] / 1e9, 2),
               "matmul_streaming_gb_s": {k: round(v / 1e9, 2)
                                         for k, v in limits["streaming"].items()},
               "peak_gflops": {k: round(v / 1e9, 1) for k, v in limits["peak_flops"].items()},
               "matmul_gflops": limits["matmul"], "runs": {}}
    results["library"] = _library()
    for dtype in dtypes:
        results["runs"][dtype] = measure(args, torch, dtype, limits)
    if before is not None:
        results["before"] = before
        results["after_over_before"] = _time_ratios(results, before)
        print("after / before (time):", json.dumps(results["after_over_before"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


def run_before(args) -> dict:
    """This script's results on the collabzoo of ``args.before`` (a subprocess with that
    checkout first on ``PYTHONPATH``)."""
    import subprocess
    import sys
    import tempfile

    argv, skip = [], False  # this command's arguments without --before DIR / --before=DIR
    for arg in sys.argv[1:]:
        if skip or arg.startswith("--before"):
            skip = arg == "--before"
            continue
        argv.append(arg)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "before.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(args.before).resolve()), os.environ.get("PYTHONPATH", "")])}
        print(f"== before: the collabzoo of {args.before}", flush=True)
        subprocess.run([sys.executable, __file__, *argv, "--out", str(out)], env=env, check=True)
        before = json.loads(out.read_text())
    if not before["library"]["path"].startswith(str(Path(args.before).resolve())):
        raise SystemExit(f"the before run imported {before['library']['path']}, not {args.before}")
    print("== after: this checkout", flush=True)
    return before


def _time_ratios(after: dict, before: dict) -> dict:
    """after / before of every measured time (< 1: this checkout is faster)."""
    ratios: dict = {}
    for dtype, runs in after["runs"].items():
        old_runs = before["runs"].get(dtype, {})
        for part, figures in runs.items():
            for key, value in figures.items():
                old = old_runs.get(part, {}).get(key)
                if key.endswith("_s") and "roofline" not in key and isinstance(old, float) \
                        and old > 0:
                    ratios.setdefault(dtype, {})[f"{part}.{key}"] = round(value / old, 3)
    return ratios


def _library() -> dict:
    """Where the collabzoo this run measures comes from, and its git commit."""
    import subprocess

    import collabzoo

    path = str(Path(collabzoo.__file__).resolve().parent.parent)
    commit = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"path": path, "commit": commit}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
