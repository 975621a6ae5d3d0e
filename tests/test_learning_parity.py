"""benchmarks/learning_parity.py's maths (quarter means, area under the curve, bootstrap CIs,
moving average), its non-length reward and the run settings it hands to each library."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "learning_parity.py"
_SPEC = importlib.util.spec_from_file_location("learning_parity", _PATH)
lp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lp)


def test_quarter_means_take_len_over_four_steps_at_each_end():
    assert lp.quarter_means([1, 2, 3, 4, 5, 6, 7, 8]) == (1.5, 7.5)
    # fewer than four steps: one step at each end
    assert lp.quarter_means([0.2, 0.9, 0.4]) == (0.2, 0.4)
    with pytest.raises(ValueError):
        lp.quarter_means([])


def test_area_under_curve_is_the_trapezoid_average_level():
    assert lp.area_under_curve([0, 1, 2]) == pytest.approx(1.0)
    # (0+0)/2 + (0+4)/2 = 2 over a span of 2 steps
    assert lp.area_under_curve([0, 0, 4]) == pytest.approx(1.0)
    assert lp.area_under_curve([1, 3]) == pytest.approx(2.0)
    assert lp.area_under_curve([0.7]) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        lp.area_under_curve([])


def test_bootstrap_ci_matches_the_exact_resampling_distribution():
    # two seeds 0 and 1: the resampled mean is 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles are 0 and 1
    assert lp.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)
    assert lp.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    # [0, 0, 0, 1]: the mean is k/4, k ~ Binomial(4, 1/4): P(0) = 0.316, P(<= 1/4) = 0.738,
    # P(<= 1/2) = 0.949; the 20% quantile is 0 and the 80% quantile 1/2
    assert lp.bootstrap_ci([0, 0, 0, 1], level=0.6) == (0.0, 0.5)
    # seeded: the same call gives the same interval
    values = [0.31, 0.42, 0.29, 0.55]
    assert lp.bootstrap_ci(values, seed=3) == lp.bootstrap_ci(values, seed=3)
    with pytest.raises(ValueError):
        lp.bootstrap_ci([])


def test_bootstrap_diff_ci_resamples_both_sides():
    assert lp.bootstrap_diff_ci([1.0, 1.0], [0.0, 0.0]) == (1.0, 1.0)
    # only a varies: the difference is 0, 0.5 or 1 as in the single-sample case
    assert lp.bootstrap_diff_ci([0.0, 1.0], [0.0, 0.0]) == (0.0, 1.0)
    # both vary: a - b ranges over {-1, -0.5, 0, 0.5, 1}, P(-1) = P(1) = 1/16 > 2.5%
    assert lp.bootstrap_diff_ci([0.0, 1.0], [0.0, 1.0]) == (-1.0, 1.0)
    with pytest.raises(ValueError):
        lp.bootstrap_diff_ci([1.0], [])


def test_moving_average_is_trailing_and_shortened_at_the_start():
    assert lp.moving_average([1, 2, 3, 4], 2) == [1.0, 1.5, 2.5, 3.5]
    assert lp.moving_average([1, 2, 3, 4], 1) == [1.0, 2.0, 3.0, 4.0]
    assert lp.moving_average([1, 2, 3, 4], 10) == [1.0, 1.5, 2.0, 2.5]
    with pytest.raises(ValueError):
        lp.moving_average([1.0], 0)


def test_summarise_gives_each_figure_per_seed_and_its_mean():
    s = lp.summarise([[0, 0, 1, 1], [1, 1, 1, 1]], reps=200)
    assert (s["seeds"], s["steps"]) == (2, 4)
    assert s["mean_curve"] == [0.5, 0.5, 1.0, 1.0]
    assert s["first_quarter"]["per_seed"] == [0.0, 1.0]
    assert s["delta"]["per_seed"] == [1.0, 0.0]
    assert s["delta"]["mean"] == pytest.approx(0.5)
    # [0, 0, 1, 1]: (0 + 0.5 + 1) / 3; [1, 1, 1, 1]: 1
    assert s["auc"]["per_seed"] == pytest.approx([0.5, 1.0])
    assert s["auc"]["ci95"] == (0.5, 1.0)


def test_vowel_density_counts_vowels_among_letters_of_both_answers():
    assert lp.vowel_density_reward("ab", "IO!") == pytest.approx(0.75)
    assert lp.vowel_density_reward("xyz", "") == 0.0
    assert lp.vowel_density_reward("", "1 2 ?") == 0.0
    # the source the runners execute defines the same function
    namespace: dict = {}
    exec(lp.REWARD_SOURCE, namespace)
    assert namespace["vowel_density_reward"]("ab", "IO!") == pytest.approx(0.75)
    assert namespace["length_ratio_reward"]("ab", "abcde") == pytest.approx(1.0)


def test_run_spec_gives_both_libraries_one_update_per_prompt_and_the_same_sampling():
    folder = Path("/nonexistent")
    library, spec = lp.run_spec("magrpo", "comlrl", "vowels", 3, folder, 64, 4, 32, 1e-3)
    assert library == "comlrl"
    # one optimizer step per prompt, 8 epochs of the 8 prompts; no top_k: CoMLRL's own 50
    assert spec["comlrl_args"] == {"num_train_epochs": 8, "agent_learning_rate": 1e-3,
                                   "rollout_buffer_size": 1}
    assert (spec["seed"], spec["reward_name"]) == (3, "vowel_density_reward")
    _, spec = lp.run_spec("iac", "comlrl", "length", 0, folder, 64, 4, 32, 1e-3)
    assert spec["comlrl_args"]["rollout_buffer_size"] == 4  # the G samples of one prompt
    library, spec = lp.run_spec("magrpo", "collabzoo-matched", "length", 1, folder, 64, 4, 32,
                                1e-3)
    assert library == "collabzoo"
    assert spec["config"]["top_k"] == 50
    assert (spec["config"]["steps"], spec["config"]["batch_size"]) == (64, 1)
    assert spec["config"]["weight_decay"] == 0.01 and spec["config"]["max_grad_norm"] is None
    _, spec = lp.run_spec("maremax", "collabzoo-matched", "length", 0, folder, 64, 4, 32, 1e-3)
    assert spec["algo"] == "magrpo" and spec["config"]["advantage"] == "max"
    with pytest.raises(ValueError, match="multiple"):
        lp.run_spec("magrpo", "comlrl", "length", 0, folder, 60, 4, 32, 1e-3)
