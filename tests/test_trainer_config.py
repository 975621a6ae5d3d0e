"""MAGRPOConfig: defaults are valid, impossible settings are refused with a message that says
what to do, and key=value overrides are type-checked."""

from __future__ import annotations

import typing

import pytest

from collabzoo.trainers.config import MAGRPOConfig, field_docs, parse_overrides


def test_defaults_are_valid_and_every_field_is_documented():
    config = MAGRPOConfig()
    docs = field_docs()
    assert set(docs) == set(config.to_dict())
    assert all(docs.values())
    assert MAGRPOConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_generations=1), "at least two samples"),
        (dict(generation_batch_size=6), "multiple of num_generations"),
        (dict(batch_size=0), "batch_size must be >= 1"),
        (dict(joint_mode="all"), "one of \\['aligned', 'cross'\\]"),
        (dict(early_stop_threshold=0.0), "switch multi-turn off"),
        (dict(discount=1.5), "discount must be in"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(steps="10"), "steps must be of type int"),
        (dict(report_to=("mlflow",)), "report_to"),
    ],
)
def test_impossible_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MAGRPOConfig(**kwargs)


def test_from_dict_names_the_closest_field():
    with pytest.raises(ValueError, match="Did you mean 'num_generations'"):
        MAGRPOConfig.from_dict({"num_generation": 4})


def test_parse_overrides_types():
    hints = typing.get_type_hints(MAGRPOConfig)
    got = parse_overrides(
        ["num_generations=8", "joint_mode=cross", "generation_batch_size=none",
         "adam_betas=0.9,0.99", "progress_bar=false", "beta=0.01"],
        hints, "config field",
    )
    assert got == dict(num_generations=8, joint_mode="cross", generation_batch_size=None,
                       adam_betas=(0.9, 0.99), progress_bar=False, beta=0.01)
    with pytest.raises(ValueError, match="bad value for config field 'num_generations': expected an integer"):
        parse_overrides(["num_generations=many"], hints, "config field")
    with pytest.raises(ValueError, match="unknown config field 'lr'"):
        parse_overrides(["lr=1"], hints, "config field")
