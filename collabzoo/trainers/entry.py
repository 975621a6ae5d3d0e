"""The one training entry point: settings merged in one order, then a :class:`Trainer` run.

``collabzoo train`` and ``collabzoo benchmark`` both call :func:`train_from_settings`; neither
builds the other's command line. The merge order (later wins):

1. a shipped preset (``preset=``: env, env kwargs, model and config fields);
2. a settings file or mapping (``config=``: a YAML file path or a dict, flat or a run's
   ``config.yaml``; it may name ``env``, ``env_kwargs``, ``model`` and ``algorithm``);
3. explicit arguments: ``env``, ``model``, ``algorithm``, ``env_kwargs`` (merged key by key),
   ``overrides`` (config fields), ``steps`` and ``output``.

``resume=DIR`` instead continues the run in ``DIR`` from its ``config.yaml`` and newest
checkpoint; only ``steps`` and ``overrides`` may change it.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunSettings", "TrainSetupError", "prepare_trainer", "resolve_settings",
           "train_from_settings"]


class TrainSetupError(ValueError):
    """The settings of a run are incomplete or contradict each other (the message says what
    to give)."""


@dataclass
class RunSettings:
    """A run, fully merged: what :class:`~collabzoo.trainers.Trainer` is built from.

    Attributes:
        env: The env id (or ``module:id``).
        env_kwargs: The env constructor's keyword arguments.
        model: One model for every agent, or one per agent.
        algorithm: The algorithm as named (a registered name or ``module:Class``).
        config: An instance of the algorithm's config class.
    """

    env: str
    env_kwargs: dict[str, Any]
    model: str | list[str]
    algorithm: str
    config: Any


def _as_pairs(values: Sequence[str] | Mapping[str, Any] | None) -> tuple[list[str], dict]:
    """``KEY=VALUE`` strings (parsed against types later) and already-typed values."""
    if values is None:
        return [], {}
    if isinstance(values, Mapping):
        return [], dict(values)
    return list(values), {}


def resolve_settings(
    *,
    env: str | None = None,
    model: str | Sequence[str] | None = None,
    algorithm: str | None = None,
    preset: str | None = None,
    config: str | Path | Mapping[str, Any] | None = None,
    env_kwargs: Sequence[str] | Mapping[str, Any] | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    steps: int | None = None,
    output: str | Path | None = None,
) -> RunSettings:
    """Merge preset -> config -> arguments (see the module docstring).

    Raises:
        TrainSetupError: No env, model or output folder in any source, or a file that is not
            a mapping.
        UnknownEnvError, UnknownAlgorithmError, ValueError: from the registries and the
            config class (an unknown field names the closest one).
    """
    import yaml

    from collabzoo.algorithms import load as load_algorithm
    from collabzoo.envs.kwargs import parse_env_kwargs
    from collabzoo.envs.registration import spec
    from collabzoo.presets import load_preset, run_settings
    from collabzoo.trainers.config import parse_overrides

    run: dict[str, Any] = {}  # env, env_kwargs, model: the preset's, then the file's
    values: dict[str, Any] = {}
    if preset:
        loaded_preset = load_preset(preset)
        run = {"env": loaded_preset.env, "model": loaded_preset.model,
               "env_kwargs": loaded_preset.env_kwargs}
        values = dict(loaded_preset.config)
    algo_name = algorithm
    if config is not None:
        if isinstance(config, Mapping):
            loaded: Any = dict(config)
        else:
            loaded = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise TrainSetupError(f"{config} must hold a mapping of config fields")
        file_run, file_values = run_settings(loaded)  # a run's config.yaml works too
        run, values = {**run, **file_run}, {**values, **file_values}
        algo_name = algo_name or loaded.get("algorithm")  # a run's config.yaml names it
    env_id = env or run.get("env")
    chosen_model = model or run.get("model")
    values.pop("algorithm", None)  # a flat file may name it beside the fields
    algo_name = algo_name or "magrpo"
    algorithm_class = load_algorithm(algo_name)
    texts, typed = _as_pairs(overrides)
    fields = {**parse_overrides(texts, typing.get_type_hints(algorithm_class.config_class),
                                "config field"), **typed}
    if steps is not None:
        fields["steps"] = steps
    if output is not None:
        values["output_dir"] = str(output)
    if not env_id or not chosen_model or not values.get("output_dir"):
        missing = [name for name, value in (("env", env_id), ("model", chosen_model),
                                            ("output", values.get("output_dir"))) if not value]
        raise TrainSetupError(f"give --env, --model and --output (or --resume DIR); missing: "
                              f"{', '.join(missing)}")
    spec(env_id)
    kw_texts, kw_typed = _as_pairs(env_kwargs)
    merged_kwargs = {**(run.get("env_kwargs") or {}), **parse_env_kwargs(env_id, kw_texts),
                     **kw_typed}
    models: str | list[str] = (str(chosen_model) if isinstance(chosen_model, str)
                               else [str(m) for m in chosen_model])
    if isinstance(models, list) and len(models) == 1:
        models = models[0]
    return RunSettings(env_id, merged_kwargs, models, algo_name,
                       algorithm_class.config_class.from_dict({**values, **fields}))


def train_from_settings(
    *,
    resume: str | Path | None = None,
    steps: int | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    **settings: Any,
) -> Any:
    """:func:`prepare_trainer`, then train (resuming where asked); returns the trainer."""
    trainer = prepare_trainer(resume=resume, steps=steps, overrides=overrides, **settings)
    trainer.train(resume=resume is not None)
    return trainer


def prepare_trainer(
    *,
    resume: str | Path | None = None,
    steps: int | None = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    **settings: Any,
) -> Any:
    """The :class:`~collabzoo.trainers.Trainer` of the run (:func:`resolve_settings` of
    ``settings``), not trained yet; or, with ``resume``, the trainer of the run folder
    ``resume`` (``steps`` and ``overrides`` may change it; nothing else may), to be trained
    with ``train(resume=True)``.

    Raises:
        TrainSetupError: Settings given with ``resume``, or missing ones.
    """
    from collabzoo.trainers.loop import Trainer

    if resume is not None:
        given = [k for k, v in settings.items() if v not in (None, [], {}, ())]
        if given:
            raise TrainSetupError(f"a resumed run continues as its config.yaml says: give only "
                                  f"steps and overrides with it, not {', '.join(given)}")
        import yaml

        from collabzoo.algorithms import load as load_algorithm
        from collabzoo.trainers.config import parse_overrides

        saved = yaml.safe_load((Path(resume) / "config.yaml").read_text(encoding="utf-8"))
        algorithm_class = load_algorithm((saved or {}).get("algorithm", "magrpo"))
        texts, typed = _as_pairs(overrides)
        fields = {**parse_overrides(texts, typing.get_type_hints(algorithm_class.config_class),
                                    "config field"), **typed}
        if steps is not None:
            fields["steps"] = steps
        return Trainer.from_run(resume, **fields)
    run = resolve_settings(steps=steps, overrides=overrides, **settings)
    return Trainer(run.env, env_kwargs=run.env_kwargs, model=run.model, config=run.config,
                   algorithm=run.algorithm)
