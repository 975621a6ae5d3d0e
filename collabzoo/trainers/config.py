"""The configuration dataclasses of the training loop.

:class:`TrainerConfig` holds the fields of the shared loop only (run, data, generation,
rollout, loss, optimizer, agents, evaluation, logging); every algorithm's config is a subclass
in the algorithm's own file that adds its own fields (and may change defaults):
``MAGRPOConfig`` (:mod:`collabzoo.algorithms.magrpo`) adds ``advantage`` and the advantage
scaling, the actor-critics add the critic's. So ``--set scale=batch`` is an error for an
algorithm that does not scale advantages, not a silently ignored field.

Every field carries its help text in ``field(metadata={"help": ...})`` (as TRL's configs
do), read by :func:`field_docs`/:func:`config_help` for ``collabzoo train --help``,
``collabzoo algos NAME`` and the docs, for a config class defined anywhere; fields are
grouped under ``# --- group ---`` comments where the source is readable. Importing this
module does not import torch.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from collabzoo.envs.contract import MAX_TURNS
from collabzoo.envs.kwargs import convert_value

__all__ = ["TrainerConfig", "config_help", "field_docs", "parse_overrides"]


def __getattr__(name: str) -> Any:
    # MAGRPOConfig lives beside its algorithm (collabzoo.algorithms.magrpo, which imports
    # torch); this name stays importable from here for users of earlier releases.
    if name == "MAGRPOConfig":
        from collabzoo.algorithms.magrpo import MAGRPOConfig

        return MAGRPOConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

JointMode = Literal["aligned", "cross"]
ScaleName = Literal["group", "batch", "none"]
LossAggregation = Literal["token-mean", "seq-mean-token-mean", "seq-sum"]
SchedulerName = Literal["constant", "linear", "cosine"]
AgentSharing = Literal["lora", "copies"]
ChatTemplate = Literal["auto", "true", "false"]
TeamReward = Literal["mean", "min", "max"]
RolloutMode = Literal["auto", "tree", "episodes"]
EpisodeCredit = Literal["episode", "to_go"]


@dataclass
class TrainerConfig:
    """Hyper-parameters of the shared loop (:class:`~collabzoo.trainers.Trainer`); each
    algorithm's config extends it."""

    #: Smallest G the algorithm accepts (a group baseline needs two samples).
    min_generations: ClassVar[int] = 2

    # --- run ---
    steps: int = field(
        default=100,
        metadata={"help": (
            "Optimizer steps to train for (one step = ``batch_size`` tasks on every "
            "process)."
        )},
    )
    seed: int = field(
        default=0,
        metadata={"help": (
            "Seeds the task order, sampling and initialisation; a CPU run is "
            "bit-for-bit repeatable."
        )},
    )
    output_dir: str | None = field(
        default=None,
        metadata={"help": (
            "Run folder (metrics.jsonl, config.yaml, tensorboard/, checkpoints/, "
            "agents/); None: none."
        )},
    )
    num_threads: int | None = field(
        default=None,
        metadata={"help": (
            "CPU threads of torch (None: torch's default, one per core). On a CPU "
            "shared with other busy processes, 1 is often several times faster than "
            "the default."
        )},
    )

    # --- data ---
    batch_size: int = field(
        default=4,
        metadata={"help": (
            "B: tasks per step on each process, taken from a seeded shuffled order "
            "over the split."
        )},
    )

    # --- generation ---
    num_generations: int = field(
        default=4,
        metadata={"help": (
            "G: completions each agent samples for each observation (the group of a "
            "baseline)."
        )},
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={"help": (
            "Most tokens of one completion. None: the env's declared answer length "
            '(``metadata["answer_tokens"]``, :mod:`collabzoo.envs.answer_length`), '
            "else 64; a set value below it warns (it cannot reach the maximum "
            "reward)."
        )},
    )
    temperature: float = field(
        default=1.0,
        metadata={"help": "Sampling temperature during training (> 0)."},
    )
    top_p: float = field(
        default=1.0,
        metadata={"help": "Nucleus sampling mass during training (1.0 disables)."},
    )
    top_k: int = field(
        default=0,
        metadata={"help": "Keep only the k most likely tokens during training (0 disables)."},
    )
    generation_batch_size: int | None = field(
        default=None,
        metadata={"help": (
            "Most completions (rows) per ``generate`` call; a multiple of G. None: "
            "all rows at once."
        )},
    )
    generate_together: bool = field(
        default=True,
        metadata={"help": (
            "Agents whose policies share one base model (LoRA adapters of one "
            "PeftModel) sample a turn in one ``generate`` call, each row with its own "
            "adapter: the base weights are read once per token for all agents. False: "
            "one call per agent (each agent's random stream of its own)."
        )},
    )

    # --- rollout ---
    rollout_mode: RolloutMode = field(
        default="auto",
        metadata={"help": (
            "``tree``: G samples per agent at every turn, branching (short episodes); "
            "``episodes``: a group is G whole episodes from the same reset, one sample "
            "per acting agent and move (turn-based and long episodes); ``auto``: "
            "``episodes`` for turn-based (AEC) envs and envs declaring more than 4 "
            "turns, else ``tree``."
        )},
    )
    episode_credit: EpisodeCredit = field(
        default="episode",
        metadata={"help": (
            "``episodes`` mode: credit each decision from its episode's (discounted) "
            "return (``episode``) or from its own return-to-go from that move on "
            "(``to_go``), against the group's baseline and scale."
        )},
    )
    joint_mode: JointMode = field(
        default="aligned",
        metadata={"help": (
            "``aligned``: sample g of every agent forms joint action g (G per node); "
            "``cross``: every combination (G^N per node)."
        )},
    )
    discount: float = field(
        default=0.9,
        metadata={"help": "Multi-turn return: r_t + discount x mean of the children's returns."},
    )
    team_reward: TeamReward = field(
        default="mean",
        metadata={"help": (
            "The team reward of a joint action from the rewards of the agents that "
            "acted: ``mean``, ``min`` or ``max`` (equal rewards, as collabzoo's envs "
            "give: that value). Per-agent rewards are kept in the rollout tree."
        )},
    )
    max_turns: int = field(
        default=MAX_TURNS,
        metadata={"help": (
            "Most turns of an episode in a rollout for envs without ``num_turns`` "
            "(the episode otherwise lasts until every agent terminates or truncates)."
        )},
    )
    early_stop_threshold: float | None = field(
        default=None,
        metadata={"help": (
            "Multi-turn: stop branching a node whose ``return_normalized`` reaches "
            "this value (in (0, 1]; None: branch to the env's end). The env's own "
            "termination (e.g. all tests pass) always ends a branch. The fraction "
            "stopped is logged as ``rollout/frac_early_stop``. Envs without "
            "``reward_max`` have no ``return_normalized``: the threshold does not "
            "apply."
        )},
    )

    # --- loss ---
    loss_aggregation: LossAggregation = field(
        default="token-mean",
        metadata={"help": (
            "``token-mean``: mean over all completion tokens of an agent's batch; "
            "``seq-mean-token-mean``: mean over sequences of each one's token mean; "
            "``seq-sum``: mean over sequences of each one's token sum (CoMLRL's loss, "
            "without its padding tokens)."
        )},
    )
    num_iterations: int = field(
        default=1,
        metadata={"help": (
            "Optimizer steps on each batch of rollouts; > 1 uses the PPO-style "
            "clipped ratio."
        )},
    )
    epsilon: float = field(
        default=0.2,
        metadata={"help": "Clip range of the probability ratio (used when num_iterations > 1)."},
    )
    beta: float = field(
        default=0.0,
        metadata={"help": (
            "Weight of the KL penalty to the initial policy (k3 estimator); 0 "
            "disables it."
        )},
    )
    micro_batch_size: int = field(
        default=8,
        metadata={"help": (
            "Completions per forward/backward pass (gradients are accumulated): "
            "bounds memory."
        )},
    )
    max_bad_steps: int = field(
        default=3,
        metadata={"help": (
            "Training stops after this many steps in a row with a non-finite loss or "
            "gradient."
        )},
    )

    # --- optimizer ---
    learning_rate: float = field(
        default=1e-4,
        metadata={"help": "AdamW learning rate (after warmup)."},
    )
    weight_decay: float = field(
        default=0.0,
        metadata={"help": "AdamW weight decay."},
    )
    adam_betas: tuple[float, float] = field(
        default=(0.9, 0.999),
        metadata={"help": "AdamW betas."},
    )
    adam_eps: float = field(
        default=1e-8,
        metadata={"help": "AdamW epsilon."},
    )
    max_grad_norm: float | None = field(
        default=1.0,
        metadata={"help": "Clip each agent's gradient to this L2 norm; None disables clipping."},
    )
    warmup_steps: int = field(
        default=0,
        metadata={"help": "Linear warmup from 0 to ``learning_rate`` over this many steps."},
    )
    lr_scheduler: SchedulerName = field(
        default="constant",
        metadata={"help": (
            "Learning-rate schedule after warmup: ``constant``, ``linear`` (to 0), "
            "``cosine`` (to 0)."
        )},
    )

    # --- agents (used when the trainer loads the model itself) ---
    agent_sharing: AgentSharing = field(
        default="lora",
        metadata={"help": (
            "Homogeneous agents: ``lora`` (one frozen base, one LoRA adapter each) or "
            "``copies`` (one full trainable model each)."
        )},
    )
    lora_rank: int = field(
        default=8,
        metadata={"help": "LoRA rank r."},
    )
    lora_alpha: int = field(
        default=16,
        metadata={"help": "LoRA scaling alpha."},
    )
    dtype: str = field(
        default="auto",
        metadata={"help": (
            "Weights dtype of a loaded model: ``auto`` (bfloat16 where it is the faster "
            "dtype: a CUDA GPU with bf16, a CPU with AMX; float32 otherwise, AVX-512-BF16 "
            "without AMX included), ``float32`` or ``bfloat16``."
        )},
    )
    chat_template: ChatTemplate = field(
        default="auto",
        metadata={"help": (
            "Prompt format of a loaded model: ``auto`` (its tokenizer's chat template "
            "if it has one), ``true`` (required), ``false`` (the raw prompt text, as "
            "the paper's reference code)."
        )},
    )
    enable_thinking: bool = field(
        default=False,
        metadata={"help": (
            "The chat-template switch of hybrid reasoning models (Qwen3): False asks "
            "for answers without a ``<think>`` section (which would fill the token "
            "budget and be scored)."
        )},
    )

    # --- evaluation ---
    eval_every: int = field(
        default=0,
        metadata={"help": "Evaluate every this many steps (and after the last); 0 disables."},
    )
    eval_split: str | None = field(
        default=None,
        metadata={"help": (
            "Split of the eval env (passed as ``split=``); None: the training env's "
            "kwargs."
        )},
    )
    eval_tasks: int = field(
        default=16,
        metadata={"help": "Evaluate on the first this-many tasks of the eval split."},
    )
    eval_temperature: float = field(
        default=0.0,
        metadata={"help": (
            "0: greedy decoding; > 0: sampling with a fixed seed (``seed``), same "
            "every evaluation."
        )},
    )

    # --- logging and checkpoints ---
    save_every: int = field(
        default=50,
        metadata={"help": (
            "Write a checkpoint every this many steps (and after the last), so a run "
            "that dies can ``--resume``; 0: only the final agents."
        )},
    )
    keep_checkpoints: int | None = field(
        default=2,
        metadata={"help": "Keep only the newest this-many checkpoints; None keeps all."},
    )
    report_to: tuple[str, ...] = field(
        default=("tensorboard",),
        metadata={"help": "Metric sinks besides metrics.jsonl: any of ``tensorboard``, ``wandb``."},
    )
    progress_bar: bool = field(
        default=True,
        metadata={"help": "Show a tqdm bar with the reward and the step time."},
    )

    def __post_init__(self) -> None:
        self.adam_betas = tuple(self.adam_betas)  # type: ignore[assignment]  # yaml gives lists;
        # a wrong length is reported by the type check below, with the field's name
        self.report_to = tuple(self.report_to)
        problems = list(_type_problems(self)) or list(self._problems())
        if problems:
            raise ValueError(f"invalid {type(self).__name__}:\n  - " + "\n  - ".join(problems))

    def _problems(self):  # one generator of messages, each saying what to do
        positive = ("steps", "batch_size", "max_new_tokens", "num_iterations", "micro_batch_size",
                    "max_bad_steps", "eval_tasks", "max_turns")
        for name in positive:
            if getattr(self, name) is not None and getattr(self, name) < 1:
                yield f"{name} must be >= 1, got {getattr(self, name)}"
        for name in ("eval_every", "save_every", "warmup_steps", "top_k"):
            if getattr(self, name) < 0:
                yield f"{name} must be >= 0, got {getattr(self, name)}"
        if self.num_threads is not None and self.num_threads < 1:
            yield f"num_threads must be >= 1 or None, got {self.num_threads}"
        if self.num_generations < self.min_generations:
            yield (f"num_generations must be >= {self.min_generations} (a group baseline needs "
                   f"at least two samples), got {self.num_generations}")
        gbs = self.generation_batch_size
        if gbs is not None and (gbs < self.num_generations or gbs % self.num_generations):
            yield (f"generation_batch_size ({gbs}) must be a multiple of num_generations "
                   f"({self.num_generations}) so that a prompt's G samples share one generate "
                   f"call; use e.g. {max(1, gbs // self.num_generations) * self.num_generations}")
        if self.temperature <= 0:
            yield f"temperature must be > 0 for training (sampling), got {self.temperature}"
        if not 0 < self.top_p <= 1:
            yield f"top_p must be in (0, 1], got {self.top_p}"
        if not 0 <= self.discount <= 1:
            yield f"discount must be in [0, 1], got {self.discount}"
        t = self.early_stop_threshold
        if t is not None and not 0 < t <= 1:
            yield (f"early_stop_threshold must be in (0, 1] (a return_normalized value) or None; "
                   f"got {t}: a threshold <= 0 would stop every branch and switch multi-turn off")
        if self.epsilon <= 0:
            yield f"epsilon must be > 0, got {self.epsilon}"
        if self.beta < 0:
            yield f"beta must be >= 0, got {self.beta}"
        if self.learning_rate <= 0:
            yield f"learning_rate must be > 0, got {self.learning_rate}"
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            yield f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}"
        if self.warmup_steps >= self.steps and self.warmup_steps > 0:
            yield (f"warmup_steps ({self.warmup_steps}) must be smaller than steps ({self.steps})")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            yield f"dtype must be 'auto', 'float32' or 'bfloat16', got {self.dtype!r}"
        if self.eval_temperature < 0:
            yield f"eval_temperature must be >= 0, got {self.eval_temperature}"
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            yield f"keep_checkpoints must be >= 1 or None, got {self.keep_checkpoints}"
        unknown = [r for r in self.report_to if r not in ("tensorboard", "wandb")]
        if unknown:
            yield f"report_to accepts 'tensorboard' and 'wandb', got {unknown}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), fit for YAML."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainerConfig:
        """Build from a mapping; an unknown key is an error naming the closest field."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in values if k not in names]
        if unknown:
            raise ValueError(_unknown_message(unknown[0], names, f"{cls.__name__} field"))
        return cls(**values)


# --------------------------------------------------------------------- help text and parsing
def _config_classes(cls: type) -> list[type]:
    """The dataclasses of ``cls``'s ancestry, base first (each holds some of the fields)."""
    return [k for k in reversed(cls.__mro__) if dataclasses.is_dataclass(k)]


def field_docs(cls: type | None = None) -> dict[str, str]:
    """``{field name: its help text}`` of a config class (default :class:`TrainerConfig`):
    each field's ``metadata["help"]``; a field without one falls back to its attribute
    docstring where the class's source can be read (CleanRL's ``Args`` style), else ``""``.
    Works for a class defined anywhere (a notebook, ``python -c``)."""
    cls = cls or TrainerConfig
    docs = {f.name: " ".join(str(f.metadata.get("help", "")).split())
            for f in dataclasses.fields(cls)}
    missing = {name for name, text in docs.items() if not text}
    for klass in _config_classes(cls) if missing else []:
        source = _source(klass)
        if source is None:
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:], strict=False):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and node.target.id in missing and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant)):
                docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def _source(klass: type) -> str | None:
    """The dedented source of a class, or None where Python cannot find it."""
    try:
        return textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):
        return None


def _groups(cls: type) -> dict[str, str]:
    """``{field name: group}`` from the ``# --- group ---`` comments above the fields (the
    first class of the ancestry to declare a field wins); empty without source."""
    groups: dict[str, str] = {}
    for klass in _config_classes(cls):
        source = _source(klass)
        group = ""
        for line in (source or "").splitlines():
            stripped = line.strip()
            if stripped.startswith("# ---"):
                group = stripped.strip("# -")
                continue
            name = stripped.split(":")[0]
            if group and name.isidentifier() and stripped.startswith(f"{name}:"):
                groups.setdefault(name, group)
    return groups


def config_help(cls: type | None = None) -> str:
    """Every field of a config class (default :class:`TrainerConfig`, the loop's), grouped as
    in the classes (base first), each with its type, default and help text: the CLI's
    ``--set`` help. A field without help text is listed all the same."""
    cls = cls or TrainerConfig
    docs = field_docs(cls)
    groups = _groups(cls)
    hints = typing.get_type_hints(cls)
    lines = ["config fields (--set FIELD=VALUE, or --config FILE.yaml):"]
    current = None
    for f in dataclasses.fields(cls):
        group = groups.get(f.name, "other")
        if group != current:
            current = group
            lines += ["", f"  {group}:"]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        lines.append(f"    {f.name} ({_type_name(hints[f.name])}, default {default!r})")
        lines += ["        " + w for w in textwrap.wrap(docs[f.name] or "(no help text)", 84)]
    return "\n".join(lines)


def _unknown_message(key: str, known: set[str] | list[str], what: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {what} {key!r}.{hint} Known: {', '.join(sorted(known))}"


def parse_overrides(
    pairs: list[str], annotations: dict[str, Any], what: str
) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` against ``{key: type annotation}``.

    Raises:
        ValueError: a pair without ``=``, an unknown key (with a "did you mean"), or a value that
            does not parse as the key's type.
    """
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise ValueError(f"expected key=value for the {what}, got {pair!r}")
        key = key.strip().replace("-", "_")
        if key not in annotations:
            raise ValueError(_unknown_message(key, list(annotations), what))
        try:
            values[key] = convert_value(text.strip(), annotations[key])
        except ValueError as error:
            raise ValueError(f"bad value for {what} {key!r}: {error}") from None
    return values


def _type_problems(config: TrainerConfig):
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        hint = hints[f.name]
        if not _matches(value, hint):
            if typing.get_origin(hint) is Literal:
                yield f"{f.name} must be one of {list(typing.get_args(hint))}, got {value!r}"
            else:
                yield f"{f.name} must be of type {_type_name(hint)}, got {value!r}"


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        return any(_matches(value, a) for a in args)
    if annotation is type(None):
        return value is None
    if origin is Literal:
        return value in args
    if origin is tuple:
        return isinstance(value, tuple)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True

