"""Wall time of one training step on a Hanabi variant in episode groups (``rollout_mode``
``episodes``): B tasks x G whole games, one LoRA adapter per player on one base model.

Each game is played to its end by the untrained policies (an unparsable or illegal move costs
a life, so with ``max_life_tokens`` lives a game lasts at least that many moves); the step's
figures are ``perf/step_s`` split into ``perf/generate_s`` and ``perf/loss_s``, with the moves
and generated tokens. A group whose G games all score the same has zero advantages: the loss
then skips every row (no forward), so ``perf/loss_s`` is the floor. Asserts nothing.

Usage::

    nice -n 19 python benchmarks/hanabi_train_step.py                     # SmolLM2, Small
    python benchmarks/hanabi_train_step.py --model tiny --env collabzoo/Hanabi-Very-Small-v1

Writes ``benchmarks/results/hanabi_train_step.json`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--env", default="collabzoo/Hanabi-Small-v1")
    parser.add_argument("--lives", type=int, default=3, help="max_life_tokens of the env")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/hanabi_train_step.json"))
    args = parser.parse_args()

    import torch

    from collabzoo.algorithms.magrpo import MAGRPOConfig
    from collabzoo.trainers import Trainer

    torch.set_num_threads(1)
    config = MAGRPOConfig(batch_size=args.batch_size, num_generations=args.generations, steps=1,
                          eval_every=0, save_every=0, progress_bar=False, report_to=(),
                          num_threads=1, seed=0)
    t0 = time.perf_counter()
    trainer = Trainer(args.env, env_kwargs={"max_life_tokens": args.lives}, model=args.model,
                      config=config)
    load_s = time.perf_counter() - t0
    m = trainer.training_step()
    tokens = m["perf/tokens_per_s"] * m["perf/step_s"]
    result = {
        "env": args.env, "env_kwargs": {"max_life_tokens": args.lives}, "model": args.model,
        "agent_sharing": trainer.config.agent_sharing, "rollout_mode": trainer.rollout_mode,
        "B": args.batch_size, "G": args.generations, "episodes": args.batch_size * args.generations,
        "max_new_tokens": trainer.config.max_new_tokens, "torch_threads": 1,
        "moves_per_episode": m["rollout/moves"], "decisions": m["rollout/nodes"],
        "tokens_generated": round(tokens), "step_s": m["perf/step_s"],
        "generate_s": m["perf/generate_s"], "loss_s": m["perf/loss_s"],
        "advantage_abs_mean": m["advantage/abs_mean"], "load_s": load_s,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                    "python": platform.python_version()},
    }
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
