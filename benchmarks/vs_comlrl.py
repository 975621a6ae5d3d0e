"""collabzoo's trainers against CoMLRL 1.4.3's at equal settings: speed and peak memory.

Both libraries train 2 agents on the same model, the same 8 prompts, G=4 completions of at most
32 new tokens, one epoch (every prompt once), single turn, the same joint reward (how close
len(answer 2) / len(answer 1) is to 2), sampling at temperature 1, top-p 1 and top-k 50 in both
(``--top-k``, passed to both). Top-k 50 is what CoMLRL samples when told nothing: its
``MAGRPOConfig.top_k`` defaults to 50, and a ``top_k`` of None is not passed to ``generate``,
whose fallback is transformers' 50 (a model folder's ``generation_config.json`` may set its
own); collabzoo's default is the full distribution (``top_k=0``). Rows measured before
``--top-k`` existed ran CoMLRL at top-k 50 and collabzoo at the full distribution. Each run
is a fresh subprocess; the figure is the seconds of the training call divided by the number of
prompts ("seconds per prompt-step": CoMLRL's MAGRPO trains one prompt per step), and the
process's peak RSS (model loading included).

CoMLRL is installed into its own venv (default ``$TMPDIR/collabzoo-venv-comlrl``) with
``pip install "torch==<our torch>" comlrl==1.4.3`` on first use: it declares no torch, and
the pin keeps pip on the CPU wheel that this machine already has.

``--algos`` picks the algorithms (default ``magrpo``); each is compared with CoMLRL's trainer
of the same name:

- ``magrpo``: collabzoo's ``MAGRPOTrainer`` against CoMLRL's ``MAGRPOTrainer``.
- ``iac``: collabzoo's ``--algo iac`` against CoMLRL's ``IACTrainer``.
- ``maac``: collabzoo's ``--algo maac`` against CoMLRL's ``MAACTrainer``.

collabzoo runs in up to three variants: ``full`` (two full models, as CoMLRL), ``lora`` (one
frozen base shared by two LoRA adapters, fp32) and ``lora-bf16`` (the same in bfloat16; MAGRPO
only). Its ``micro_batch_size`` is 32 (all rows in one pass) on the tiny models and 8 on
SmolLM2.

**The actor-critics at equal settings, and what still differs.** Both libraries put a value
head of the same shape (hidden -> ``--critic-dim`` tanh -> 1) on a transformer's last hidden
state of the prompt's last token (V of the observation, CoMLRL's ``critic_type="v"``), take
the advantage ``reward - V`` (single turn: GAE is the one-step TD error) normalised over all
prompts x G samples of an agent, weight each sample's summed completion log-probability by it
(collabzoo: ``loss_aggregation="seq-sum"``), and make one optimizer step per agent over those
samples (CoMLRL: ``rollout_buffer_size`` = prompts x G). What remains different:

- IAC's critic. CoMLRL runs with ``use_separate_critic=False``: the head sits on the agent's
  own model, the value loss (coefficient 0.6, clipped at 0.2) is added to the policy loss and
  its gradient trains the whole model through the actor's optimizer and learning rate.
  collabzoo's ``critic_input="hidden"`` reads the frozen base's features without gradient
  (a LoRA policy's adapters off) and trains only the head, with its own AdamW at
  ``--critic-learning-rate``. CoMLRL's default ``use_separate_critic=True`` (a full trained
  copy of the model per agent as critic) is not timed: collabzoo has no full-model critic.
- MAAC's critic. CoMLRL's centralised critic is always a full copy of the model with the
  head, all of it trained (AdamW at ``--critic-learning-rate``): three models in memory.
  collabzoo's is a head on the first agent's frozen features of the joint observation: two
  models. The joint texts differ in format (CoMLRL ``[Agent i] prompt`` blocks, collabzoo
  ``[agent]`` headers).
- The policy loss: CoMLRL's ``-logprob * advantage``; collabzoo's clipped surrogate with one
  iteration, which has the same gradient; collabzoo clips the gradient norm at 1.0, CoMLRL's
  actor-critics do not clip.
- Rewards: CoMLRL's IAC gives each agent the joint reward; collabzoo's ``iac`` gives each
  agent its own, which this env makes the joint reward for both.

**Before and after.** ``--before DIR`` also runs the MAGRPO variants of another checkout of
collabzoo (``git worktree add DIR COMMIT``) in the same rounds, each right after the current
checkout's run of the same variant, with the same venv (the checkout leads ``PYTHONPATH`` and
is the working directory; the runner checks which ``collabzoo`` it imported). Stored: the
per-round ratios after / before (> 1: the current checkout is slower).

Each setting runs ``--repeats`` rounds (default 3) of every trainer in turn; printed and
stored: the median seconds per prompt-step of each, the median (min-max) of the per-round
ratios CoMLRL / collabzoo, and the load average (1 min) before each run. Rows are merged into
``benchmarks/results/vs_comlrl.json`` by (model, algorithm, threads, variants). The figures are in
that file and in the README's benchmark table, with the commands that made them. A
benchmark, not a test: it asserts nothing about time.

Usage::

    python benchmarks/vs_comlrl.py            # tiny, tiny-1.3m-deep, smollm2-135m; MAGRPO
    python benchmarks/vs_comlrl.py --models tiny --threads 1
    python benchmarks/vs_comlrl.py --models tiny tiny-1.3m-deep --algos iac maac --threads 1
    git worktree add /tmp/vs-before a353aee
    python benchmarks/vs_comlrl.py --models tiny --variants full lora --threads 1 \
        --repeats 5 --before /tmp/vs-before
    python benchmarks/vs_comlrl.py --models tiny tiny-1.3m-deep --model-time

``--model-time`` also records, per collabzoo run, the seconds spent inside the model's own
forward and backward calls (``model_s``: transformers' code and torch's kernels, which any
trainer runs at least once per decode step and once per loss pass) and reports CoMLRL's
training time over it (``ceiling``): the speed-up collabzoo would reach if everything else in
its step (sampling, ``generate``'s loop, batching, rewards, the optimizer) took no time. The
timers add a Python call per model call, so these runs are a profile, not the headline ratio.

Models: ``tiny`` is the project's test model (0.62M parameters); ``tiny-1.3m-deep`` (5
layers, 1.36M) and ``tiny-1.3m-wide`` (hidden 192, 1.30M) have the size of the issue's
reference measurement (a 1.3M-parameter Qwen2); ``smollm2-135m`` is the embedded
SmolLM2-135M-Instruct.

On a shared machine, ``--threads 1`` keeps the comparison fair: with torch's default threads
on cores that other processes also use, both trainers' thread pools wait on each other.

Where collabzoo's gains come from: all B x G completions of an agent in one ``generate``
call; each distinct prompt run once and its KV cache shared by its G samples (generation
prefill and loss); inverse-CDF sampling instead of ``torch.multinomial``, which draws one
random number per vocabulary entry (``collabzoo/agents/hf.py``); micro-batched loss over
completion tokens only; one frozen base for all LoRA agents (memory). CoMLRL adds padding,
per-sample prompt recomputation and batch-1 passes; both do about the same FLOPs per token.
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
    import json, os, random, resource, sys, time
    import numpy, torch
    spec = json.loads(sys.argv[1])
    seed = spec.get("seed", 0)
    random.seed(seed)
    numpy.random.seed(seed)
    torch.manual_seed(seed)
    from datasets import Dataset
    from transformers import AutoTokenizer
    import comlrl.trainers.reinforce as reinforce

    ns = {}
    exec(spec["reward_source"], ns)
    reward = ns[spec.get("reward_name", "length_ratio_reward")]
    joint_rewards = []  # every joint action's reward, in the order scored

    def reward_func(c1, c2):
        values = [reward(a, b) for a, b in zip(c1, c2)]
        joint_rewards.extend(values)
        return values

    tok = AutoTokenizer.from_pretrained(spec["model_dir"])
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    fmt = lambda item, **kw: item["prompt"]
    dataset = Dataset.from_list([{"prompt": p} for p in spec["prompts"]])
    common = dict(num_train_epochs=1, num_agents=2, num_generations=spec["G"],
                  max_new_tokens=spec["max_new_tokens"], temperature=1.0, top_p=1.0,
                  top_k=None, num_turns=1, eval_interval=0, eval_num_samples=0,
                  agent_learning_rate=1e-5, agent_devices="cpu")
    common.update(spec.get("comlrl_args", {}))  # e.g. epochs, learning rate, top_k
    family = {"magrpo": "MAGRPO", "mareinforce": "MAREINFORCE", "marloo": "MARLOO",
              "maremax": "MAReMax"}
    if spec["algo"] in family:
        name = family[spec["algo"]]
        config = getattr(reinforce, name + "Config")(**common)
        trainer = getattr(reinforce, name + "Trainer")(
            agent_model=spec["model_dir"], num_agents=2, tokenizer=tok, train_dataset=dataset,
            reward_func=reward_func, formatters=[fmt, fmt], args=config)
    else:
        # one update per agent over all prompts x G samples, as collabzoo's one step (unless
        # comlrl_args set rollout_buffer_size)
        buffer = dict(rollout_buffer_size=common.pop("rollout_buffer_size",
                                                     len(spec["prompts"]) * spec["G"]))
        if spec["algo"] == "iac":
            from comlrl.trainers.actor_critic import IACConfig, IACTrainer
            args = IACConfig(**common, **buffer, use_separate_critic=False,
                             value_head_hidden_dim=spec["critic_dim"])
            trainer = IACTrainer(agent_model=spec["model_dir"], tokenizer=tok,
                                 train_dataset=dataset, reward_func=reward_func,
                                 formatters=[fmt, fmt], args=args)
        else:
            from comlrl.trainers.actor_critic import MAACConfig, MAACTrainer
            args = MAACConfig(**common, **buffer, critic_devices="cpu",
                              critic_learning_rate=spec["critic_learning_rate"])
            trainer = MAACTrainer(agent_model=spec["model_dir"], critic_model=spec["model_dir"],
                                  tokenizer=tok, train_dataset=dataset, reward_func=reward_func,
                                  formatters=[fmt, fmt], args=args,
                                  model_config={"critic_value_head_hidden_dim": spec["critic_dim"]})
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    print("RESULT " + json.dumps({"train_s": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # per prompt-step: the mean of its G joint actions (MAGRPO scores them one call
        # each, the actor-critics all G in one call)
        "rewards": [sum(joint_rewards[i:i + spec["G"]]) / spec["G"]
                    for i in range(0, len(joint_rewards), spec["G"])]}))
''')

MODEL_TIMER = textwrap.dedent('''
    def time_models(totals):
        """From now on, add to ``totals["model_s"]`` the seconds spent inside the outermost
        call of a transformers or peft model (every forward pass: the decode steps of
        ``generate``, the loss pass, a critic's features) and inside ``Tensor.backward``.
        Returns a function that takes the timers out again."""
        import time
        import torch
        from transformers import PreTrainedModel
        try:
            from peft import PeftModel
            kinds = [PreTrainedModel, PeftModel]
        except ImportError:
            kinds = [PreTrainedModel]
        inside = [False]

        def timed(original):
            def wrapper(*args, **kwargs):
                if inside[0]:
                    return original(*args, **kwargs)
                inside[0] = True
                start = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    inside[0] = False
                    totals["model_s"] += time.perf_counter() - start
            return wrapper

        totals.setdefault("model_s", 0.0)
        patched = [(kind, "__call__") for kind in kinds] + [(torch.Tensor, "backward")]
        # a class's own attribute (None: inherited), put back by undo()
        saved = [(cls, name, cls.__dict__.get(name)) for cls, name in patched]
        for cls, name in patched:
            setattr(cls, name, timed(getattr(cls, name)))

        def undo():
            for cls, name, own in saved:
                if own is None:
                    delattr(cls, name)
                else:
                    setattr(cls, name, own)
        return undo
''')
"""Source of ``time_models``, run inside a collabzoo runner under ``--model-time``: the
time any trainer must spend running the model itself (forward and backward through
transformers' code and torch's kernels); the rest of a step is the trainer's own (sampling,
``generate``'s loop, batching, rewards, the optimizer)."""

COLLABZOO_RUNNER = textwrap.dedent('''
    import json, resource, sys, time
    import torch
    from collabzoo.agents import LoraSettings, load_policies
    from collabzoo.envs.core import Score, TextCollabEnv
    from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer

    spec = json.loads(sys.argv[1])
    ns = {}
    exec(spec["reward_source"], ns)
    reward = ns[spec.get("reward_name", "length_ratio_reward")]

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
    fields = dict(steps=1, batch_size=len(spec["prompts"]), num_generations=spec["G"],
                  max_new_tokens=spec["max_new_tokens"], learning_rate=1e-5,
                  progress_bar=False, report_to=(),
                  micro_batch_size=spec["micro_batch_size"])
    fields.update(spec.get("config", {}))  # e.g. steps, seed, learning rate, top_k
    if spec["algo"] == "magrpo":  # the path that also runs on a checkout from before the algorithms
        trainer = MAGRPOTrainer(PromptsEnv, policies=policies, config=MAGRPOConfig(**fields))
    else:
        from collabzoo import algorithms
        from collabzoo.trainers import Trainer

        config_class = algorithms.load(spec["algo"]).config_class
        # CoMLRL's actor-critics weight the sequence's summed log-probability
        critic = dict(critic_input="hidden", critic_dim=spec["critic_dim"],
                      critic_learning_rate=spec["critic_learning_rate"],
                      loss_aggregation="seq-sum") if spec["algo"] in ("iac", "maac") else {}
        config = config_class(**{**critic, **fields})
        trainer = Trainer(PromptsEnv, policies=policies, config=config, algorithm=spec["algo"])
    totals = {}
    if spec.get("model_timer"):
        exec(spec["model_timer"], ns)
        ns["time_models"](totals)
    start = time.perf_counter()
    history = trainer.train()
    seconds = time.perf_counter() - start
    m = history[-1]
    print("RESULT " + json.dumps({"train_s": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "generate_s": m["perf/generate_s"], "loss_s": m["perf/loss_s"], **totals,
        "rewards": [h["reward/mean"] for h in history],
        "collabzoo_file": __import__("collabzoo").__file__}))
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


def run(python: Path, runner: str, spec: dict, threads: int | None,
        source: Path = ROOT) -> dict:
    """One trainer in a fresh subprocess; ``source``: the collabzoo checkout it imports (its
    root is the working directory and leads ``PYTHONPATH``)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "WANDB_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join([str(source), *filter(None, [os.environ.get("PYTHONPATH")])])}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    done = subprocess.run([str(python), "-c", runner, json.dumps(spec)], capture_output=True,
                          text=True, env=env, cwd=str(source))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"runner failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["wall_s"] = time.perf_counter() - start
    if "collabzoo_file" in result and not Path(result["collabzoo_file"]).is_relative_to(source):
        raise RuntimeError(f"imported {result['collabzoo_file']}, not the checkout {source}")
    return result


def trainer_names(algo: str, variants: list[str], comlrl: bool, before: bool) -> list[str]:
    """The trainers of one (model, algorithm) row, in the order each round runs them.

    MAGRPO keeps its historical names (``comlrl``, ``collabzoo-<variant>``); the actor-critics
    are ``comlrl-<algo>`` and ``collabzoo-<algo>-<variant>``; ``@before``: the ``--before``
    checkout.
    """
    if algo == "magrpo":
        ours = [f"collabzoo-{v}" for v in variants]
        # each variant right beside its @before run: the pair sees the same patch of load
        return (["comlrl"] if comlrl else []) + [
            n for name in ours for n in ([name, f"{name}@before"] if before else [name])]
    ours = [f"collabzoo-{algo}-{v}" for v in variants if v != "lora-bf16"]
    return ([f"comlrl-{algo}"] if comlrl else []) + ours


def paired(numerators: list[dict], denominators: list[dict]) -> dict:
    """Median and range of the per-round ratios of seconds per prompt-step."""
    ratios = [n["s_per_prompt_step"] / d["s_per_prompt_step"]
              for n, d in zip(numerators, denominators, strict=True)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios),
            "rounds": ratios}


def model_ceiling(reference: list[dict], runs: list[dict]) -> dict:
    """From ``--model-time`` runs: the median share of collabzoo's training time spent in
    the model's forward and backward calls, and the median per-round ratio of the reference's
    training time to that model time: the speed-up a trainer would reach if nothing but the
    model ran (a ceiling for every change outside transformers' and torch's code)."""
    return {"model_s": statistics.median(r["model_s"] for r in runs),
            "model_share": statistics.median(r["model_s"] / r["train_s"] for r in runs),
            "ceiling": statistics.median(ref["train_s"] / r["model_s"]
                                         for ref, r in zip(reference, runs, strict=True))}


def merge_rows(path: Path, rows: list[dict]) -> list[dict]:
    """The stored rows with those of the same (model, algorithm, threads, collabzoo variants
    timed) replaced by ``rows``; rows without ``algo`` are MAGRPO's."""
    def key(row):
        variants = tuple(sorted(k for k in row if k.startswith("collabzoo-") and "@" not in k))
        return row["model"], row.get("algo", "magrpo"), row["threads"], variants

    old = json.loads(path.read_text()) if path.exists() else []
    fresh = {key(r) for r in rows}
    return [r for r in old if key(r) not in fresh] + rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "tiny-1.3m-deep", "smollm2-135m"],
                        choices=[*TINY_SHAPES, "smollm2-135m"])
    parser.add_argument("--algos", nargs="+", default=["magrpo"], choices=["magrpo", "iac", "maac"],
                        help="the algorithms compared with CoMLRL's trainer of the same name")
    parser.add_argument("--variants", nargs="+", default=["full", "lora", "lora-bf16"],
                        choices=["full", "lora", "lora-bf16"],
                        help="collabzoo's variants (the actor-critics skip lora-bf16)")
    parser.add_argument("--G", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--top-k", type=int, default=50,
                        help="top-k of both libraries' sampling (CoMLRL's own default: 50; "
                        "0: the full distribution)")
    parser.add_argument("--critic-dim", type=int, default=32,
                        help="hidden width of both libraries' value heads (iac, maac)")
    parser.add_argument("--critic-learning-rate", type=float, default=1e-3,
                        help="critic learning rate (collabzoo's critics, CoMLRL's MAAC critic)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of every trainer; medians and paired ratios reported")
    parser.add_argument("--micro-batch-size", type=int, default=None,
                        help="collabzoo's micro_batch_size (default: all 32 rows of a tiny "
                        "model in one pass, 8 for smollm2-135m)")
    parser.add_argument("--threads", type=int, default=None,
                        help="OMP_NUM_THREADS of both trainers (default: torch's own)")
    parser.add_argument("--before", type=Path, default=None,
                        help="a checkout of an earlier collabzoo commit (git worktree add DIR "
                        "COMMIT): its MAGRPO variants run in the same rounds, same venv")
    parser.add_argument("--comlrl-venv", type=Path,
                        default=Path(tempfile.gettempdir()) / "collabzoo-venv-comlrl")
    parser.add_argument("--skip-comlrl", action="store_true", help="time collabzoo only")
    parser.add_argument("--model-time", action="store_true",
                        help="also record the seconds collabzoo spends inside the model's "
                        "forward and backward calls (model_s) and CoMLRL's time over them: "
                        "the most any trainer-side change could reach")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "vs_comlrl.json")
    args = parser.parse_args(argv)

    import inspect

    from collabzoo.agents.models import cache_dir

    cache = cache_dir() / "models"
    reward_source = inspect.getsource(length_ratio_reward)
    before_commit = None
    if args.before is not None:
        args.before = args.before.resolve()
        before_commit = subprocess.run(["git", "-C", str(args.before), "rev-parse", "HEAD"],
                                       capture_output=True, text=True, check=True).stdout.strip()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or None
    rows = []
    for model in args.models:
        folder = model_folder(model, cache)
        for algo in args.algos:
            spec = dict(model_dir=str(folder), prompts=PROMPTS, G=args.G, algo=algo,
                        max_new_tokens=args.max_new_tokens, reward_source=reward_source,
                        critic_dim=args.critic_dim,
                        critic_learning_rate=args.critic_learning_rate,
                        micro_batch_size=args.micro_batch_size or (32 if model in TINY_SHAPES else 8),
                        model_timer=MODEL_TIMER if args.model_time else None,
                        comlrl_args={"top_k": args.top_k}, config={"top_k": args.top_k})
            row: dict = {"model": model, "algo": algo, "prompts": len(PROMPTS), "G": args.G,
                         "max_new_tokens": args.max_new_tokens, "top_k": args.top_k, "threads": args.threads,
                         "micro_batch_size": spec["micro_batch_size"], "repeats": args.repeats,
                         "commit": commit, "load_average_before": os.getloadavg()[0]}
            if algo != "magrpo":
                row.update(critic_dim=args.critic_dim, critic_learning_rate=args.critic_learning_rate)
            trainers = trainer_names(algo, args.variants, not args.skip_comlrl,
                                     algo == "magrpo" and args.before is not None)
            if algo == "magrpo" and args.before is not None:
                row["before_commit"] = before_commit
            runs: dict[str, list[dict]] = {name: [] for name in trainers}
            loads = []
            # rounds of every trainer in turn: a slow patch of the shared machine hits one round
            # of all of them, and each round gives a paired ratio
            for _ in range(args.repeats):
                for name in trainers:
                    loads.append(os.getloadavg()[0])
                    if name.startswith("comlrl"):
                        result = run(comlrl_python(args.comlrl_venv), COMLRL_RUNNER, spec,
                                     args.threads)
                    else:
                        base, _, tag = name.partition("@")
                        variant = base.removeprefix("collabzoo-").removeprefix(f"{algo}-")
                        result = run(Path(sys.executable), COLLABZOO_RUNNER,
                                     {**spec, "variant": variant}, args.threads,
                                     source=args.before if tag == "before" else ROOT)
                    result["s_per_prompt_step"] = result["train_s"] / len(PROMPTS)
                    runs[name].append(result)
                    print(f"{model:14s} {algo:6s} {name:28s} {result['s_per_prompt_step']:8.3f} "
                          f"s/prompt-step  peak RSS {result['peak_rss_mb']:7.0f} MB", flush=True)
            row["load_average"] = {"median": statistics.median(loads), "min": min(loads),
                                   "max": max(loads)}
            reference = "comlrl" if algo == "magrpo" else f"comlrl-{algo}"
            for name in trainers:
                times = [r["s_per_prompt_step"] for r in runs[name]]
                entry = {"runs": runs[name], "s_per_prompt_step": statistics.median(times),
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in runs[name])}
                extra = ""
                if name != reference and reference in runs:
                    ratio = paired(runs[reference], runs[name])
                    entry["speedup"] = ratio["median"]
                    entry["speedup_min"], entry["speedup_max"] = ratio["min"], ratio["max"]
                    entry["memory_ratio"] = entry["peak_rss_mb"] / max(
                        r["peak_rss_mb"] for r in runs[reference])
                    extra += (f"  {entry['speedup']:4.1f}x faster ({entry['speedup_min']:.1f}-"
                              f"{entry['speedup_max']:.1f}), {entry['memory_ratio']:.2f}x memory")
                    if all("model_s" in r for r in runs[name]):
                        ceiling = model_ceiling(runs[reference], runs[name])
                        entry.update(ceiling)
                        extra += (f"; model {ceiling['model_share']:.0%} of the step, ceiling "
                                  f"{ceiling['ceiling']:.1f}x")
                if name.endswith("@before"):
                    # after / before: > 1 means the current commit is slower
                    ratio = paired(runs[name.removesuffix("@before")], runs[name])
                    row[name.removesuffix("@before")]["after_over_before"] = ratio
                    extra += (f"  after/before of {name.removesuffix('@before')}: "
                              f"{ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f})")
                row[name] = entry
                print(f"== {model:14s} {algo:6s} {name:28s} median {entry['s_per_prompt_step']:7.3f} "
                      f"s/prompt-step  peak RSS {entry['peak_rss_mb']:7.0f} MB{extra}", flush=True)
            rows.append(row)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps(merge_rows(args.output, [row]), indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
