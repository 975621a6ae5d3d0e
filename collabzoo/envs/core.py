"""The shared engine of every collabzoo environment.

A task subclasses :class:`TextCollabEnv` and supplies four things: its data (``self.tasks``,
a sequence of records), each agent's first prompt (:meth:`~TextCollabEnv.prompt`), the joint
scoring (:meth:`~TextCollabEnv.score`, returning a :class:`Score`) and the feedback an agent
reads before the next turn (:meth:`~TextCollabEnv.feedback`). The engine owns the rest: the
PettingZoo ``ParallelEnv`` API, spaces, seeding, turn bookkeeping, each agent's own history,
infos, validation of actions, rendering and cheap branching with :func:`copy.deepcopy`.

Spaces:
    Observations and actions are :class:`gymnasium.spaces.Text` (one object per agent,
    returned identically on every call). The charset is printable ASCII plus whitespace,
    Latin-1 and the General Punctuation block (curly quotes, dashes, ellipsis), which covers
    the text real LLMs write in English tasks; ``sample()`` draws from it. ``contains`` follows
    gymnasium and says no to characters outside that set (emoji, CJK) or to over-long text,
    but ``step`` accepts **any** ``str`` as an action: an LLM's output is never refused for
    its content, only scored.

Turns and episode end:
    ``num_turns`` (default 1) bounds the episode. After turn ``t`` each agent's next
    observation is its own first prompt, then for every earlier turn its own answer and the
    feedback the task wrote for it (it never sees the other agents' answers unless the task's
    feedback says so). The episode terminates (``terminations`` all ``True``) after the last
    turn, or earlier when the task's score says ``solved`` (e.g. every test passes): a solved
    task has nothing left to improve. The turn budget is part of the task definition, so
    ``truncations`` are always ``False``. Finished agents leave ``env.agents`` (PettingZoo's
    convention); stepping a finished episode raises ``RuntimeError``.

Rewards:
    The task's :meth:`~TextCollabEnv.score` rates the joint action of a turn. The reward of
    turn t is the **improvement** of that score over turn t-1 (turn 1: the score itself), so
    an episode's undiscounted return is its final score and, with a discount < 1, solving
    earlier is worth strictly more. (The ``-v0`` ids pay the full score every turn, which made
    a late solution worth more than an early one: ``turn_reward = "score"``, deprecated.)
    Every agent receives the same reward.

Infos:
    ``infos[agent]`` holds ``score`` (this turn's joint score: the episode's result so far),
    ``reward_components`` (the named parts of the score), ``return_normalized`` (``score /
    reward_max``), ``turn``, ``task_index`` and whatever ``Score.details`` the task adds (raw
    measures, test results).

Branching:
    ``copy.deepcopy(env)`` copies the episode state (histories, turn, RNG) and shares the
    heavy read-only things named in ``_shared_attrs`` (the task records, the spaces, a
    sandbox pool). The
    MAGRPO trainer branches multi-turn rollouts this way.

Batched scoring:
    :meth:`TextCollabEnv.step_many` (the batched fast path of
    :func:`~collabzoo.envs.contract.step_batch`) steps many envs (e.g. the G branches of one
    node) and scores all their joint actions with one call of the task's
    :meth:`~TextCollabEnv.score_batch`, which coding tasks override to run candidates in
    parallel in the sandbox pool.
"""

from __future__ import annotations

import copy
import string
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import gymnasium
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from collabzoo.envs.contract import step_batch

__all__ = ["TEXT_CHARSET", "Score", "TextCollabEnv", "step_batch"]

#: Characters :meth:`gymnasium.spaces.Text.sample` draws from and ``contains`` accepts.
TEXT_CHARSET: str = (
    string.printable
    + "".join(chr(c) for c in range(0xA0, 0x100))
    + "".join(chr(c) for c in range(0x2010, 0x2050))
)
#: Longest action ``contains`` accepts (characters); longer actions are still legal in ``step``.
MAX_ACTION_CHARS: int = 32_768
#: Longest observation (characters): a multi-turn history holds several prompts and answers.
MAX_OBSERVATION_CHARS: int = 262_144


@dataclass
class Score:
    """The joint score of one joint action, as a task's :meth:`TextCollabEnv.score` returns it.

    Attributes:
        reward: The joint score (the env pays every agent its improvement over the previous
            turn's score).
        components: Named parts of the score (they need not sum to it: some are gates).
        details: Anything else worth showing a user: raw measures, test results, failures.
            Copied into every agent's ``infos``.
        solved: True when the task is fully solved; ends a multi-turn episode early.
    """

    reward: float
    components: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    solved: bool = False


class TextCollabEnv(ParallelEnv):
    """Base class of the collabzoo tasks: text observations, text actions, one joint reward.

    Subclasses set the class attributes ``roles`` (agent names in order), ``reward_max`` and
    ``metadata["name"]``, assign ``self.tasks`` (a sequence of records, shared by branches)
    and call ``super().__init__(num_turns=..., render_mode=...)``, then implement
    :meth:`prompt`, :meth:`score` and :meth:`feedback`.

    Args:
        num_turns: Turns per episode (>= 1).
        render_mode: ``"ansi"`` (``render()`` returns the transcript) or ``None``.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "text_collab_v0",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
    }
    roles: ClassVar[tuple[str, ...]] = ()
    reward_max: ClassVar[float] = 1.0
    #: The reward of a turn: ``"improvement"`` of the joint score over the previous turn, or
    #: ``"score"`` (the deprecated ``-v0`` meaning: the full score every turn).
    turn_reward: ClassVar[Literal["improvement", "score"]] = "improvement"
    #: Attributes shared (not copied) by ``copy.deepcopy``: read-only data, pools, and the
    #: spaces (copying a Text space's charset was ~7% of a tiny-model training step; branches
    #: therefore share the action spaces' sampling RNG).
    _shared_attrs: ClassVar[tuple[str, ...]] = ("tasks", "_observation_spaces", "_action_spaces")

    tasks: Sequence[Mapping[str, Any]]

    def __init__(self, *, num_turns: int = 1, render_mode: str | None = None) -> None:
        if not self.roles:
            raise TypeError(f"{type(self).__name__} must set the class attribute `roles`")
        if not isinstance(num_turns, int) or isinstance(num_turns, bool) or num_turns < 1:
            raise ValueError(f"num_turns must be an integer >= 1, got {num_turns!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        if not hasattr(self, "tasks") or len(self.tasks) == 0:
            raise ValueError(f"{type(self).__name__} has no tasks: assign self.tasks first")
        self.num_turns = num_turns
        self.render_mode = render_mode
        self.possible_agents = list(self.roles)
        self.agents: list[str] = []
        self._observation_spaces = {
            a: gymnasium.spaces.Text(
                MAX_OBSERVATION_CHARS, min_length=0, charset=TEXT_CHARSET
            )
            for a in self.possible_agents
        }
        self._action_spaces = {
            a: gymnasium.spaces.Text(MAX_ACTION_CHARS, min_length=0, charset=TEXT_CHARSET)
            for a in self.possible_agents
        }
        self._np_random: Any = None
        self._np_random_seed: int | None = None
        self._was_reset = False
        self.task_index: int | None = None
        self.turn = 0
        self.last_score = 0.0  # the joint score of the previous turn (0 before the first)
        # history[agent] = list of (observation, action, feedback) for every finished turn
        self.history: dict[str, list[tuple[str, str, str]]] = {}
        self._observations: dict[str, str] = {}
        self._transcript: list[str] = []

    # ------------------------------------------------------------------ task hooks
    def prompt(self, agent: str, task: Mapping[str, Any]) -> str:
        """The first observation of ``agent`` for ``task``."""
        raise NotImplementedError

    def score(self, task: Mapping[str, Any], actions: Mapping[str, str]) -> Score:
        """Score one joint action. Must accept any strings and never raise on their content."""
        raise NotImplementedError

    def feedback(
        self, agent: str, task: Mapping[str, Any], actions: Mapping[str, str], score: Score
    ) -> str:
        """What ``agent`` reads about its last answer before the next turn."""
        return f"The team's joint reward was {score.reward:.3f} of {self.reward_max:g}."

    def score_batch(
        self, items: Sequence[tuple[Mapping[str, Any], Mapping[str, str]]]
    ) -> list[Score]:
        """Score many ``(task, actions)`` pairs; override to run them in parallel."""
        return [self.score(task, actions) for task, actions in items]

    # ------------------------------------------------------------------ spaces, seeding
    def observation_space(self, agent: str) -> gymnasium.spaces.Text:
        return self._observation_spaces[self._check_agent_name(agent)]

    def action_space(self, agent: str) -> gymnasium.spaces.Text:
        return self._action_spaces[self._check_agent_name(agent)]

    @property
    def np_random(self) -> Any:
        """The env's :class:`numpy.random.Generator` (seeded by ``reset(seed=...)``)."""
        if self._np_random is None:
            self._np_random, self._np_random_seed = seeding.np_random()
        return self._np_random

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def task(self) -> Mapping[str, Any]:
        """The record of the current episode."""
        if self.task_index is None:
            raise RuntimeError("no task yet: call reset() first")
        return self.tasks[self.task_index]

    # ------------------------------------------------------------------ API
    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """Start an episode.

        Args:
            seed: Seeds ``self.np_random`` (and the action spaces) when given.
            options: ``{"task_index": i}`` selects record ``i`` of the split exactly;
                without it the record is drawn from ``self.np_random``.
        """
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
            for i, agent in enumerate(self.possible_agents):
                self._action_spaces[agent].seed(seed + i)
        options = dict(options or {})
        if "task_index" in options:
            index = options.pop("task_index")
            if isinstance(index, bool) or not isinstance(index, int):
                try:
                    index = int(index)  # numpy integers
                except (TypeError, ValueError):
                    raise ValueError(f"task_index must be an integer, got {index!r}") from None
            if not 0 <= index < self.num_tasks:
                raise ValueError(
                    f"task_index {index} is out of range: this split has {self.num_tasks} tasks"
                )
        else:
            index = int(self.np_random.integers(self.num_tasks))
        if options:
            warnings.warn(
                f"{type(self).__name__}.reset ignores unknown options {sorted(options)}; "
                "the one option is 'task_index'",
                stacklevel=2,
            )
        self.task_index = index
        self.turn = 0
        self.last_score = 0.0
        self.agents = list(self.possible_agents)
        self.history = {a: [] for a in self.agents}
        task = self.task
        self._observations = {a: self.prompt(a, task) for a in self.agents}
        self._transcript = []
        if self.render_mode == "ansi":  # built only when someone can render it
            self._transcript.append(f"=== {self.metadata['name']} task {index} ===")
            for a in self.agents:
                self._transcript.append(f"--- {a} observation ---\n{self._observations[a]}")
        self._was_reset = True
        infos = {a: {"turn": 0, "task_index": index} for a in self.agents}
        return dict(self._observations), infos

    def step(self, actions: Mapping[str, str]) -> tuple[dict, dict, dict, dict, dict]:
        """Apply one joint action: every live agent's text. Returns PettingZoo's 5-tuple."""
        self._check_actions(actions)
        score = self.score(self.task, {a: actions[a] for a in self.agents})
        return self._apply_score(actions, score)

    def render(self) -> str | None:
        """The transcript so far (observations, actions, rewards) when ``render_mode="ansi"``."""
        if self.render_mode is None:
            gymnasium.logger.warn(
                "render() called without a render_mode; make the env with render_mode='ansi'"
            )
            return None
        return "\n".join(self._transcript)

    def close(self) -> None:
        """Release resources (nothing for text tasks; coding tasks may hold a pool)."""

    def state(self) -> str:
        raise NotImplementedError(
            "collabzoo envs are Dec-POMDPs without a global state; use the observations"
        )

    # ------------------------------------------------------------------ engine internals
    def _check_agent_name(self, agent: str) -> str:
        if agent not in self._action_spaces:
            raise ValueError(f"unknown agent {agent!r}; this env's agents are {self.roles}")
        return agent

    def _check_actions(self, actions: Mapping[str, str]) -> None:
        if not self._was_reset:
            raise RuntimeError("step() called before reset(): call env.reset() first")
        if not self.agents:
            raise RuntimeError("step() called after the episode ended: call env.reset()")
        if not isinstance(actions, Mapping):
            raise ValueError(
                f"actions must be a dict mapping agent name to text, got {type(actions).__name__}"
            )
        missing = [a for a in self.agents if a not in actions]
        unknown = [a for a in actions if a not in self.agents]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing actions for {missing}")
            if unknown:
                parts.append(f"unknown agents {unknown}")
            raise ValueError(f"{'; '.join(parts)}; expected exactly {self.agents}")
        for agent in self.agents:
            if not isinstance(actions[agent], str):
                raise ValueError(
                    f"the action of {agent!r} must be a str, got {type(actions[agent]).__name__}"
                )

    def _apply_score(self, actions: Mapping[str, str], score: Score) -> tuple:
        task = self.task
        self.turn += 1
        value = float(score.reward)
        reward = value - self.last_score if self.turn_reward == "improvement" else value
        self.last_score = value
        finished = score.solved or self.turn >= self.num_turns
        agents = list(self.agents)
        infos: dict[str, dict[str, Any]] = {}
        for a in agents:
            fb = self.feedback(a, task, actions, score)
            self.history[a].append((self._observations[a], actions[a], fb))
            infos[a] = {
                **score.details,
                "score": value,
                "reward_components": dict(score.components),
                "return_normalized": value / self.reward_max,
                "turn": self.turn,
                "task_index": self.task_index,
            }
        for a in agents:
            self._observations[a] = self._history_observation(a)
        if self.render_mode == "ansi":
            self._transcript.append(f"=== turn {self.turn} ===")
            for a in agents:
                self._transcript.append(f"--- {a} action ---\n{actions[a]}")
            self._transcript.append(
                f"--- joint reward {reward:.4f}, score {value:.4f} / {self.reward_max:g} "
                f"{ {k: round(v, 4) for k, v in score.components.items()} } ---"
            )
        observations = {a: self._observations[a] for a in agents}
        rewards = {a: reward for a in agents}
        terminations = {a: finished for a in agents}
        truncations = {a: False for a in agents}
        if finished:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _history_observation(self, agent: str) -> str:
        """The agent's first prompt, then its own earlier answers, each with its feedback."""
        parts = [self.history[agent][0][0]] if self.history[agent] else []
        for t, (_, action, fb) in enumerate(self.history[agent], start=1):
            parts.append(f"\n\n[Turn {t}] Your answer:\n{action}\n\n[Turn {t}] Feedback:\n{fb}")
        parts.append("\n\nWrite an improved answer to the original request.")
        return "".join(parts)

    @staticmethod
    def step_many(
        envs: Sequence[TextCollabEnv], actions: Sequence[Mapping[str, str]]
    ) -> list[tuple[dict, dict, dict, dict, dict]]:
        """Step many envs of one type at once, scoring all joint actions in one
        :meth:`score_batch` call: ``[env.step(a) for env, a in zip(envs, actions)]``, but a
        task may score the whole batch in parallel (the coding envs' sandbox pool). The
        batched fast path of :func:`~collabzoo.envs.contract.step_batch`."""
        for env, joint in zip(envs, actions, strict=True):
            env._check_actions(joint)
        if not envs:
            return []
        items = [(env.task, {a: joint[a] for a in env.agents})
                 for env, joint in zip(envs, actions, strict=True)]
        scores = envs[0].score_batch(items)
        return [env._apply_score(joint, s) for env, joint, s in zip(envs, actions, scores, strict=True)]

    def __deepcopy__(self, memo: dict[int, Any]) -> TextCollabEnv:
        for name in self._shared_attrs:
            if name in self.__dict__:
                value = self.__dict__[name]
                memo[id(value)] = value
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__dict__.items():
            setattr(clone, key, copy.deepcopy(value, memo))
        return clone

