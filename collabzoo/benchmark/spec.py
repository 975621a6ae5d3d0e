"""The benchmark spec: a YAML file that names envs x algorithms x models x seeds at one budget.

.. code-block:: yaml

    name: tiny-tldr
    envs:                                  # env id -> constructor kwargs (training split)
      collabzoo/TLDR-v1: {dataset: bundled, split: train}
    algorithms:                            # algorithm name -> config overrides
      magrpo: {learning_rate: 1.0e-3}
    models: [tiny]                         # one base model per team (all roles)
    seeds: [0, 1, 2]
    budget: {steps: 80}                    # the same for every run
    train: {batch_size: 4, num_generations: 8}   # config fields shared by every algorithm
    evaluation: {split: test, episodes: 8}

Keys (defaults in :class:`BenchmarkSpec` and :class:`EvaluationSpec`): ``preset`` (a shipped
preset name, or ``{env id: preset}``: its config fields are the starting point of every run of
that env), ``output`` (the benchmark folder), ``evaluation`` with ``split``, ``episodes``,
``sampling`` (a list of ``greedy`` and/or ``{temperature: T, samples: n}``, optionally with
``top_p`` and ``top_k``: fixed-seed sampling, n samples per episode), ``protocols`` (the
untrained baselines), ``team_protocols`` (how trained teams are evaluated), ``crossplay``,
``leave_one_out``, ``partners`` (agent specs of scripted partners for ad-hoc play),
``max_new_tokens``,
``batch_size`` and ``bootstrap_reps``. :func:`apply_overrides` applies ``--set a.b=VALUE``
(VALUE read as YAML).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BenchmarkSpec",
    "EvaluationSpec",
    "Sampling",
    "SpecError",
    "TrainRun",
    "apply_overrides",
    "load_spec",
    "slug",
]

PROTOCOLS = ("single", "parallel", "sequential", "discussion")


class SpecError(ValueError):
    """A benchmark spec is malformed; the message says which key and what to write."""


def slug(text: str) -> str:
    """A folder name for ``text``: ``collabzoo/TLDR-v1`` -> ``TLDR-v1``, ``a b/c`` -> ``a-b-c``."""
    text = text.split("/")[-1] if text.startswith("collabzoo/") else text
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


@dataclass(frozen=True)
class Sampling:
    """How answers are decoded in evaluation: greedy (temperature 0), or fixed-seed sampling.

    Attributes:
        temperature: 0 is greedy.
        samples: Evaluations with seeds ``seed, seed + 1, ...`` (sampling only); an episode's
            score is the mean over them.
        top_p: Nucleus mass of sampling.
        top_k: Keep only the k most likely tokens (0: all).
    """

    temperature: float = 0.0
    samples: int = 1
    top_p: float = 1.0
    top_k: int = 0

    @property
    def name(self) -> str:
        if self.temperature == 0:
            return "greedy"
        return (f"t{self.temperature:g}-n{self.samples}"
                + ("" if self.top_p == 1 else f"-p{self.top_p:g}")
                + ("" if self.top_k == 0 else f"-k{self.top_k}"))

    @classmethod
    def parse(cls, value: Any) -> Sampling:
        if value == "greedy":
            return cls()
        if isinstance(value, Mapping):
            unknown = set(value) - {"temperature", "samples", "top_p", "top_k"}
            if unknown:
                raise SpecError(f"evaluation.sampling: unknown keys {sorted(unknown)}; "
                                "write greedy or {temperature: T, samples: n, top_p: p, top_k: k}")
            sampling = cls(**{k: type(getattr(cls(), k))(v) for k, v in value.items()})
            if sampling.temperature < 0 or sampling.samples < 1 or sampling.top_k < 0:
                raise SpecError(f"evaluation.sampling: need temperature >= 0, samples >= 1 and "
                                f"top_k >= 0, got {dict(value)}")
            return sampling
        raise SpecError(f"evaluation.sampling: {value!r}; write greedy or "
                        "{temperature: 0.7, samples: 4}")


@dataclass
class EvaluationSpec:
    """How every trained team and untrained baseline is evaluated (the same for all)."""

    split: str | dict[str, str] | None = None
    """The eval split (passed as ``split=``), or ``{env id: split}``; None: the training
    kwargs as they are."""
    episodes: int | None = None
    """Episodes (split items 0..k-1); None: every item of the split."""
    sampling: list[Sampling] = field(default_factory=lambda: [Sampling()])
    """Decoding modes; the first one is the benchmark's score, the others are reported too."""
    protocols: list[str] = field(default_factory=lambda: list(PROTOCOLS))
    """Protocols under which the untrained base model is a baseline."""
    team_protocols: list[str] = field(default_factory=lambda: ["parallel"])
    """Protocols under which each trained team is evaluated (``parallel``: decentralised)."""
    crossplay: bool = True
    """Agent A of seed i with the other agents of seed j, for every i, j (diagonal: self-play)."""
    leave_one_out: bool = True
    """Each trained agent in turn replaced by the untrained base model."""
    partners: list[str] = field(default_factory=list)
    """Agent specs of partners the trained agents never trained with (e.g. ``hanabi-rule``,
    ``random``). Each trained run's agent of one role plays with the partner in every other
    role, for every role in turn (ad-hoc teamwork)."""
    max_new_tokens: int | None = None
    """Most tokens per answer; None: the training config's ``max_new_tokens``, else the env's
    declared answer length."""
    batch_size: int = 8
    """Episodes generated together."""
    bootstrap_reps: int = 2000
    """Bootstrap replications of every confidence interval (learning-curve bands: a quarter)."""


@dataclass(frozen=True)
class TrainRun:
    """One training run of the grid: ``collabzoo train`` with these settings, in ``folder``."""

    env: str
    env_kwargs: dict[str, Any]
    algorithm: str
    model: str
    seed: int
    steps: int
    config: dict[str, Any]
    """Config overrides: the shared ``train`` fields, then the algorithm's, then the seed."""
    preset: str | None
    folder: Path

    @property
    def method(self) -> str:
        return self.algorithm


@dataclass
class BenchmarkSpec:
    """A parsed spec (see the module docstring)."""

    name: str
    envs: dict[str, dict[str, Any]]
    algorithms: dict[str, dict[str, Any]]
    models: list[str]
    seeds: list[int]
    steps: int
    train: dict[str, Any] = field(default_factory=dict)
    preset: dict[str, str] = field(default_factory=dict)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    output: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchmarkSpec:
        data = dict(data)
        known = {"name", "envs", "algorithms", "models", "seeds", "budget", "train", "preset",
                 "evaluation", "output"}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"unknown spec keys {sorted(unknown)}; the keys are {sorted(known)}")
        for key in ("envs", "algorithms", "models", "seeds", "budget"):
            if not data.get(key):
                raise SpecError(f"the spec needs {key!r} (see collabzoo.benchmark.spec)")
        envs = data["envs"]
        if isinstance(envs, str | list):
            envs = {e: {} for e in ([envs] if isinstance(envs, str) else envs)}
        algorithms = data["algorithms"]
        if isinstance(algorithms, str | list):
            algorithms = {a: {} for a in ([algorithms] if isinstance(algorithms, str) else algorithms)}
        models = data["models"]
        models = [models] if isinstance(models, str) else [str(m) for m in models]
        seeds = data["seeds"]
        seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
        budget = data["budget"]
        if not isinstance(budget, Mapping) or set(budget) - {"steps"} or "steps" not in budget:
            raise SpecError(f"budget: write {{steps: N}} (one budget for every run), got {budget!r}")
        preset = data.get("preset") or {}
        if isinstance(preset, str):
            preset = {e: preset for e in envs}
        evaluation = dict(data.get("evaluation") or {})
        fields = {f.name for f in dataclasses.fields(EvaluationSpec)}
        if set(evaluation) - fields:
            raise SpecError(f"evaluation: unknown keys {sorted(set(evaluation) - fields)}; "
                            f"the keys are {sorted(fields)}")
        if "sampling" in evaluation:
            modes = evaluation["sampling"]
            modes = modes if isinstance(modes, list) else [modes]
            evaluation["sampling"] = [Sampling.parse(m) for m in modes]
        for key in ("protocols", "team_protocols"):
            bad = [p for p in evaluation.get(key, []) if p not in PROTOCOLS]
            if bad:
                raise SpecError(f"evaluation.{key}: unknown protocols {bad}; choose from "
                                f"{list(PROTOCOLS)}")
        spec = cls(
            name=str(data.get("name") or "benchmark"),
            envs={str(k): dict(v or {}) for k, v in envs.items()},
            algorithms={str(k): dict(v or {}) for k, v in algorithms.items()},
            models=models,
            seeds=seeds,
            steps=int(budget["steps"]),
            train=dict(data.get("train") or {}),
            preset={str(k): str(v) for k, v in preset.items()},
            evaluation=EvaluationSpec(**evaluation),
            output=data.get("output"),
            raw=copy.deepcopy(dict(data)),
        )
        for key in ("steps", "seed", "output_dir"):
            if key in spec.train or any(key in a for a in spec.algorithms.values()):
                raise SpecError(f"{key!r} is set by the benchmark (budget.steps, seeds, the run "
                                "folder): remove it from train / algorithms")
        return spec

    def runs(self, root: str | Path) -> list[TrainRun]:
        """Every training run, in a fixed order: env, algorithm, model, seed."""
        root = Path(root)
        return [
            TrainRun(env=env, env_kwargs=kwargs, algorithm=algo, model=model, seed=seed,
                     steps=self.steps, config={**self.train, **overrides},
                     preset=self.preset.get(env),
                     folder=root / "runs" / slug(env) / slug(algo) / slug(model) / f"seed-{seed}")
            for env, kwargs in self.envs.items()
            for algo, overrides in self.algorithms.items()
            for model in self.models
            for seed in self.seeds
        ]

    def eval_kwargs(self, env: str) -> dict[str, Any]:
        """The env kwargs of evaluation: the training ones with the eval split (for envs whose
        constructor takes ``split``; others evaluate with their training kwargs)."""
        kwargs = dict(self.envs[env])
        split = self.evaluation.split
        split = split.get(env) if isinstance(split, dict) else split
        if split is not None and _accepts_split(env):
            kwargs["split"] = split
        return kwargs


def _accepts_split(env_id: str) -> bool:
    import inspect

    from collabzoo.envs.kwargs import entry_point_callable

    try:
        params = inspect.signature(entry_point_callable(env_id)).parameters
    except (TypeError, ValueError):
        return True
    return "split" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``data`` with ``KEY.SUB=VALUE`` overrides applied (VALUE parsed as YAML).

    >>> apply_overrides({"budget": {"steps": 80}}, ["budget.steps=2", "seeds=[0, 1]"])
    {'budget': {'steps': 2}, 'seeds': [0, 1]}
    """
    import yaml

    out = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--set {item!r}: write KEY=VALUE, e.g. budget.steps=2")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SpecError(f"--set {item!r}: {part!r} is not a mapping")
        node[parts[-1]] = yaml.safe_load(text)
    return out


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> BenchmarkSpec:
    """Read a spec file and apply ``--set`` overrides."""
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SpecError(f"{path} must hold a mapping (see collabzoo.benchmark.spec)")
    return BenchmarkSpec.from_dict(apply_overrides(data, overrides))
