"""Where the trainer's metrics go: ``metrics.jsonl`` (always), TensorBoard, wandb, a PNG curve.

Metrics are flat ``{"namespace/name": float}`` dicts, one per step; the names are listed in
:data:`METRICS`. ``metrics.jsonl`` holds one JSON object per line: ``{"step": n, ...}``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["METRICS", "MetricsLogger", "plot_reward_curve", "read_metrics"]

#: Every metric the trainer logs (``<x>`` stands for an agent or reward-component name).
METRICS: dict[str, str] = {
    "reward/mean": "mean team reward over every joint action of the step (all turns); episodes "
                   "mode: mean undiscounted team return of an episode",
    "reward/std": "std of those rewards",
    "reward/<component>": "mean of each named reward component",
    "reward/turn_<t>": "mean joint reward at turn t (multi-turn envs only)",
    "return/mean": "mean return (reward + discount x children's mean) of the first-turn joint "
                   "actions; episodes mode: mean discounted return of an episode",
    "return_normalized": "mean episode result so far / reward_max over every joint action "
                         "(envs with reward_max only)",
    "advantage/mean": "mean advantage of the joint actions",
    "advantage/std": "std of the advantages",
    "advantage/abs_mean": "mean absolute advantage",
    "frac_reward_zero_std": "fraction of groups whose returns are all equal (no signal; the "
                            "group algorithms)",
    "maremax/greedy_return": "maremax: mean return of the nodes' greedy joint actions (the baseline)",
    "critic/value_loss": "iac, maac: mean squared error of the critic's values against the "
                         "lambda-returns, before this step's update",
    "critic/explained_variance": "iac, maac: 1 - Var(target - value) / Var(target)",
    "critic/value_mean": "iac, maac: mean value of the nodes",
    "loss/<module>": "an algorithm's extra module's loss (loss/critic, loss/critic/<x>)",
    "grad_norm/<module>": "its gradient L2 norm before clipping",
    "loss/policy": "policy loss, mean over agents (one value per agent: loss/policy/<x>)",
    "loss/kl": "KL to the initial policy, mean over agents (beta > 0 only)",
    "grad_norm": "gradient L2 norm before clipping, mean over agents (grad_norm/<x> each)",
    "completion/mean_length": "mean completion length in tokens, all agents (completion/<x>/mean_length)",
    "completion/clipped_frac": "fraction of completions that reached max_new_tokens tokens",
    "rollout/nodes": "decision nodes in the step's rollout trees",
    "rollout/frac_early_stop": "fraction of joint actions whose branch stopped at early_stop_threshold",
    "rollout/moves": "episodes mode: mean moves per episode",
    "rollout/frac_truncated": "episodes mode: fraction of episodes cut by the turn limit",
    "lr": "learning rate of this step",
    "train/skipped_steps": "steps skipped so far because the loss or gradient was not finite",
    "perf/step_s": "seconds for the whole step",
    "perf/generate_s": "seconds spent generating",
    "perf/score_s": "seconds spent in the env (scoring and branching)",
    "perf/loss_s": "seconds in the loss passes and optimizer updates",
    "perf/tokens_per_s": "generated tokens (all agents) per second of step time",
    "eval/reward/mean": "evaluation: mean undiscounted team return of an episode (collabzoo envs: "
                        "the final score; final-turn components: eval/reward/<component>)",
    "eval/return_normalized": "evaluation: mean final result / reward_max (envs with reward_max)",
    "eval/completion/mean_length": "evaluation: mean completion length",
}


class MetricsLogger:
    """Writes each step's metrics to ``<output>/metrics.jsonl`` and the chosen sinks.

    Args:
        output_dir: The run folder (None: nothing is written, metrics are only kept in memory).
        report_to: Any of ``"tensorboard"`` (``<output>/tensorboard/``) and ``"wandb"``.
        config: The resolved configuration, handed to wandb.
        resume_step: When resuming, lines of ``metrics.jsonl`` after this step (written after
            the checkpoint) are dropped so that the file has each step once.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike | None,
        report_to: tuple[str, ...] = ("tensorboard",),
        config: dict[str, Any] | None = None,
        resume_step: int | None = None,
    ) -> None:
        self.history: list[dict[str, Any]] = []
        self._file = None
        self._tensorboard = None
        self._wandb = None
        if output_dir is None:
            return
        output = Path(output_dir)
        output.mkdir(parents=True, exist_ok=True)
        path = output / "metrics.jsonl"
        if resume_step is not None and path.exists():
            kept = [r for r in read_metrics(path) if r["step"] <= resume_step]
            path.write_text("".join(json.dumps(r) + "\n" for r in kept))
            self.history = kept
        elif path.exists():
            path.unlink()
        self._file = path.open("a", encoding="utf-8")
        if "tensorboard" in report_to:
            from torch.utils.tensorboard import SummaryWriter

            self._tensorboard = SummaryWriter(str(output / "tensorboard"), purge_step=(
                None if resume_step is None else resume_step + 1))
        if "wandb" in report_to:
            try:
                import wandb
            except ImportError as error:
                raise ImportError(
                    "report_to includes 'wandb' but wandb is not installed: `pip install wandb` "
                    "or drop it from report_to"
                ) from error
            self._wandb = wandb.init(config=config, dir=str(output), resume="allow")

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Record the metrics of one step (non-finite values are written as null in JSONL)."""
        record = {"step": step, **{k: _finite_or_none(v) for k, v in metrics.items()}}
        self.history.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        if self._tensorboard is not None:
            for key, value in metrics.items():
                self._tensorboard.add_scalar(key, value, step)
            self._tensorboard.flush()
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (a torn last line, from a killed run, is skipped)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def plot_reward_curve(metrics_path: str | os.PathLike, png_path: str | os.PathLike) -> Path:
    """Plot ``reward/mean`` (and ``eval/reward/mean`` when present) against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    for key, label, style in (("reward/mean", "train", "-o"), ("eval/reward/mean", "eval", "-s")):
        points = [(r["step"], r[key]) for r in records if r.get(key) is not None]
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, style, label=label, markersize=3)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("step")
    ax.set_ylabel("joint reward")
    ax.set_title(Path(metrics_path).parent.name or "reward")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return Path(png_path)
