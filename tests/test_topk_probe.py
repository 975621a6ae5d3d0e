"""benchmarks/topk_probe.py ``compare``: two benchmark results that differ only in the
training top-k, read from their folders and summarised per seed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

_DIR = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(_DIR))  # topk_probe imports learning_parity from beside it
_SPEC = importlib.util.spec_from_file_location("topk_probe", _DIR / "topk_probe.py")
tp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tp)

SPEC = {"name": "x", "output": "x", "preset": "cpu-tldr",
        "envs": {"collabzoo/TLDR-v1": {"dataset": "bundled", "split": "train"}},
        "algorithms": {"magrpo": {}}, "models": ["smollm2-135m"], "seeds": [0, 1],
        "budget": {"steps": 4}, "train": {"learning_rate": 1e-3},
        "evaluation": {"split": "test", "sampling": ["greedy"], "leave_one_out": False}}


def write_result(root: Path, spec: dict, curves: dict[int, list[float]],
                 evals: dict[int, list[float]]) -> Path:
    root.mkdir(parents=True)
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    for seed, curve in curves.items():
        run = root / "runs/TLDR-v1/magrpo/smollm2-135m" / f"seed-{seed}"
        run.mkdir(parents=True)
        (run / "metrics.jsonl").write_text("".join(
            json.dumps({"step": i + 1, "reward/mean": r}) + "\n" for i, r in enumerate(curve)))
    for seed, scores in evals.items():
        team = root / "evals/TLDR-v1/team/magrpo/smollm2-135m" / f"seed-{seed}/parallel/greedy"
        team.mkdir(parents=True)
        (team / "summary.json").write_text(json.dumps({"episode_scores": scores}))
    return root


def test_compare_gives_each_arm_its_curves_and_evals_and_the_differences(tmp_path):
    full = write_result(tmp_path / "full", SPEC, {0: [0, 0, 1, 1], 1: [1, 1, 1, 1]},
                        {0: [0.2, 0.4], 1: [0.1, 0.1]})
    k50 = {**SPEC, "name": "y", "seeds": [0, 1, 2], "algorithms": {"magrpo": {}, "maac": {}},
           "train": {"learning_rate": 1e-3, "top_k": 50},
           "evaluation": {**SPEC["evaluation"], "leave_one_out": True}}  # extra evals only
    truncated = write_result(tmp_path / "k50", k50, {0: [0, 1, 2, 3], 1: [1, 1, 3, 3],
                                                     2: [9, 9, 9, 9]},
                             {0: [0.5, 0.7], 1: [0.6, 0.6], 2: [1.0, 1.0]})
    out = tp.compare("t", {0: full, 50: truncated}, "magrpo", [0, 1], reps=200)
    # quarters are one step each: seed 0 of the full arm 0 -> 1, seed 1 1 -> 1
    assert out["top_k=0"]["delta"]["per_seed"] == [1.0, 0.0]
    assert out["top_k=50"]["delta"]["per_seed"] == [3.0, 2.0]
    assert out["top_k=0"]["eval"]["per_seed"] == pytest.approx([0.3, 0.1])
    assert out["top_k=50"]["eval"]["per_seed"] == pytest.approx([0.6, 0.6])
    diff = out["eval_top_k=50_minus_top_k=0"]
    assert diff["mean"] == pytest.approx(0.4)
    assert diff["paired_per_seed"] == pytest.approx([0.3, 0.5])
    assert out["delta_top_k=50_minus_top_k=0"]["paired_per_seed"] == [2.0, 2.0]
    # seed 2 was not asked for: it does not count
    assert out["top_k=50"]["seeds"] == 2


def test_compare_refuses_benchmarks_that_differ_in_more_than_top_k(tmp_path):
    full = write_result(tmp_path / "full", SPEC, {0: [0, 0, 1, 1]}, {0: [0.2]})
    other = {**SPEC, "train": {"learning_rate": 1e-4, "top_k": 50}}
    truncated = write_result(tmp_path / "k50", other, {0: [0, 1, 2, 3]}, {0: [0.5]})
    with pytest.raises(ValueError, match="more than the training top_k"):
        tp.compare("t", {0: full, 50: truncated}, "magrpo", [0], reps=10)


def test_compare_names_a_run_that_has_not_finished(tmp_path):
    full = write_result(tmp_path / "full", SPEC, {0: [0, 0, 1, 1]}, {0: [0.2]})
    short = write_result(tmp_path / "k50", {**SPEC, "train": {"learning_rate": 1e-3,
                                                              "top_k": 50}},
                         {0: [0, 1]}, {0: [0.5]})
    with pytest.raises(FileNotFoundError, match="2 of 4 steps"):
        tp.compare("t", {0: full, 50: short}, "magrpo", [0], reps=10)
