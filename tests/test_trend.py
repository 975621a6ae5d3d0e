"""reward_trend: the end-of-run summary, against hand-computed numbers."""

from __future__ import annotations

import json
import math

import pytest

from collabzoo.trainers.trend import reward_trend


def test_trend_numbers_by_hand():
    rewards = [1.0, 3.0, 2.0, 2.0, 4.0, 6.0, 5.0, 7.0]
    records = [{"step": i + 1, "reward/mean": r, "reward/len": float(i), "reward/std": 9.0}
               for i, r in enumerate(rewards)]
    trend = reward_trend(records)
    assert trend.steps == 8
    assert trend.first == pytest.approx(2.0) and trend.last == pytest.approx(6.0)
    # differences 2, -1, 0, 2, 2, -1, 2: mean 6/7, population std sqrt(110/49 - 36/49)
    diffs = [2, -1, 0, 2, 2, -1, 2]
    mean = sum(diffs) / 7
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 7)
    assert trend.noise == pytest.approx(std / math.sqrt(2))
    assert trend.rise == pytest.approx(4.0) and trend.rises
    assert trend.moved == {"reward/len": (0.5, 6.5)}  # reward/std is not a component
    assert "mean reward 2.000 (first 2 steps) -> 6.000 (last 2)" in trend.describe()


def test_flat_noisy_reward_does_not_rise():
    rewards = [1.0, 2.0] * 8
    trend = reward_trend([{"reward/mean": r} for r in rewards])
    assert trend.rise == pytest.approx(0.0) and not trend.rises


def test_reads_a_metrics_file_and_skips_missing_values(tmp_path):
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": 1, "reward/mean": 0.0}, {"step": 2, "eval/x": 1.0},
             {"step": 3, "reward/mean": 1.0}]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    trend = reward_trend(path)
    assert trend.steps == 2 and trend.first == 0.0 and trend.last == 1.0
    assert reward_trend([{"reward/mean": 1.0}]) is None


def test_train_prints_where_the_curve_is_and_what_moved(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "collabzoo.cli", "train", "--env", "collabzoo/TLDR-v1",
         "--model", "tiny", "--env-kwargs", "dataset=bundled", "--steps", "4", "--set",
         "batch_size=1", "num_generations=2", "max_new_tokens=8", "progress_bar=false",
         "--output", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"reward curve: {out}/reward_curve.png" in done.stdout
    assert (out / "reward_curve.png").stat().st_size > 0
    expected = reward_trend(out / "metrics.jsonl").describe()
    assert done.stdout.strip().splitlines()[-1] == expected


def test_no_noise_figure_without_noise():
    trend = reward_trend([{"reward/mean": 1.0}, {"reward/mean": 0.5}])
    assert trend.describe() == "mean reward 1.000 (first 1 steps) -> 0.500 (last 1): -0.500"
