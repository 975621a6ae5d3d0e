"""Run by tests/test_trainer_accelerate.py under `accelerate launch` with 2 processes:
train 2 steps of tiny on LengthRatioEnv and write each process's parameter checksum (the
algorithm from $ALGO, default magrpo; a critic's parameters count too)."""

from __future__ import annotations

import json
import os
import sys


def main(out: str) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch
    from trainer_fakes import LengthRatioEnv

    from collabzoo import algorithms
    from collabzoo.trainers import Trainer

    if os.environ.get("EARLY_PARTIAL_STATE"):
        # user code that set up accelerate first, with its defaults (cpu=False): on a machine
        # without GPUs that state says "not distributed", the trainer must not believe it
        from accelerate import PartialState

        PartialState()

    name = os.environ.get("ALGO", "magrpo")
    config = algorithms.load(name).config_class(steps=2, batch_size=2, num_generations=2, max_new_tokens=6,
                          learning_rate=1e-3, progress_bar=False, report_to=(), save_every=2,
                          output_dir=out, scale="batch")
    trainer = Trainer(LengthRatioEnv, model="tiny", config=config, algorithm=name)
    history = trainer.train()
    params = torch.cat([p.detach().reshape(-1) for pol in trainer.policies.values()
                        for p in pol.trainable_parameters()]
                       + [p.detach().reshape(-1) for m in trainer.modules.values()
                          for p in m.module.parameters()])
    with open(os.path.join(out, f"rank{trainer.dist.rank}.json"), "w") as f:
        json.dump({"world": trainer.dist.world, "checksum": params.double().sum().item(),
                   "params": params[:50].tolist() + params[-50:].tolist(),
                   "steps": len(history),
                   "nodes": [r["rollout/nodes"] for r in history]}, f)


if __name__ == "__main__":
    main(sys.argv[1])
