"""MAGRPOConfig: defaults are valid, impossible settings are refused with a message that says
what to do, and key=value overrides are type-checked."""

from __future__ import annotations

import dataclasses
import textwrap
import typing

import pytest

from collabzoo.algorithms.magrpo import MAGRPOConfig
from collabzoo.trainers.config import field_docs, parse_overrides


def test_defaults_are_valid_and_every_field_is_documented():
    config = MAGRPOConfig()
    docs = field_docs(MAGRPOConfig)
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


def test_loop_config_has_no_algorithm_fields():
    from collabzoo.trainers.config import TrainerConfig

    names = {f.name for f in dataclasses.fields(TrainerConfig)}
    assert not names & {"scale", "scale_eps", "advantage", "critic_dim"}
    with pytest.raises(ValueError, match="unknown TrainerConfig field 'scale'"):
        TrainerConfig.from_dict({"scale": "batch"})
    # MAGRPO's own fields live beside it
    assert {"scale", "scale_eps", "advantage"} <= {f.name for f in dataclasses.fields(MAGRPOConfig)}
    with pytest.raises(ValueError, match="scale='group' needs num_generations >= 2"):
        MAGRPOConfig(num_generations=1, scale="group")


def test_help_of_a_config_class_without_source():
    """A config class made where Python has no source (a notebook, exec) still gets its help,
    and a field without help text is listed, not dropped."""
    from collabzoo.trainers.config import config_help

    namespace: dict = {}
    exec(textwrap.dedent('''
        from dataclasses import dataclass, field
        from collabzoo.trainers.config import TrainerConfig

        @dataclass
        class NotebookConfig(TrainerConfig):
            temperature_decay: float = field(default=0.5, metadata={"help": "Decay per step."})
            undocumented: int = 3
    '''), namespace)
    cls = namespace["NotebookConfig"]
    docs = field_docs(cls)
    assert docs["temperature_decay"] == "Decay per step."
    assert docs["undocumented"] == ""
    assert docs["steps"].startswith("Optimizer steps to train for")
    text = config_help(cls)
    assert "temperature_decay (float, default 0.5)" in text and "Decay per step." in text
    assert "undocumented (int, default 3)" in text and "(no help text)" in text
    assert "  run:" in text  # the loop's groups come from its readable source


def test_attribute_docstring_still_read_where_the_source_is_readable():
    docs = field_docs(CleanRLStyle)
    assert docs["gamma"] == "Discount of the toy algorithm."


@dataclasses.dataclass
class CleanRLStyle(MAGRPOConfig):
    gamma: float = 0.9
    """Discount of the toy algorithm."""
