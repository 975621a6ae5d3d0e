"""``central``: one policy writes every agent's part, trained with GRPO (the "single agent"
baseline at equal training budget).

The env is wrapped (:class:`CentralEnv`) so that one agent, ``team``, plays every role: its
observation is one prompt holding every acting role's observation, built by the env family's
:class:`~collabzoo.protocols.single.SingleFormat` (the ``single`` protocol's prompt: writing
envs ask for one ``### ROLE`` section per role, coding envs for one code block with the helper
and the main function; any other env gets the section format), and its one completion is
split by the same format's parser into the joint action of the wrapped env. The team reward is
the mean of the roles' rewards. The credit is MAGRPO's (:mod:`~collabzoo.algorithms.magrpo`,
same config): with G completions per node, ``A_k = (R_k - mean_j R_j) / (std_j R_j + eps)``.

The run trains and saves one policy, ``agents/team/``; evaluate it with the ``single``
protocol (``collabzoo eval --protocol single --agents run:RUN/team``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium

from collabzoo.algorithms.magrpo import MAGRPO
from collabzoo.envs.aec import env_api
from collabzoo.envs.contract import TEAM_REWARDS, step_batch
from collabzoo.protocols.single import SingleFormat, format_for_roles
from collabzoo.trainers.config import TrainerConfig

__all__ = ["TEAM", "Central", "CentralEnv"]

#: The one agent of a :class:`CentralEnv`.
TEAM = "team"


class CentralEnv:
    """A PettingZoo ``ParallelEnv`` with one agent, :data:`TEAM`, that plays every role of
    ``env`` (see the module docstring). Keeps ``env``'s ``num_tasks``, ``num_turns`` and
    ``reward_max``, its ``infos`` (of the first acting role) and its batched scoring; its
    declared answer length (``metadata["answer_tokens"]``) is the sum of the roles'.

    Args:
        env: Any text ParallelEnv.
        single_format: How the prompt is built and the answer split (default: the format
            registered for ``env``'s roles).
        team_reward: How the roles' rewards make the team's one reward (a key of
            :data:`~collabzoo.envs.contract.TEAM_REWARDS`, the trainer's ``team_reward``).
    """

    possible_agents: ClassVar[list[str]] = [TEAM]

    def __init__(self, env: Any, single_format: SingleFormat | None = None,
                 team_reward: str = "mean") -> None:
        if team_reward not in TEAM_REWARDS:
            raise ValueError(f"team_reward must be one of {sorted(TEAM_REWARDS)}, "
                             f"got {team_reward!r}")
        self.env = env
        self.reduce = TEAM_REWARDS[team_reward]
        self.roles = list(env.possible_agents)
        self.format = single_format or format_for_roles(self.roles)
        self.agents: list[str] = []
        inner = env.observation_space(self.roles[0])
        self._space = gymnasium.spaces.Text(max_length=1 << 20, charset=inner.character_set)
        metadata = getattr(env, "metadata", None) or {}
        self.metadata = {**metadata, "name": f"central_{metadata.get('name', 'env')}"}
        if metadata.get("answer_tokens"):  # one answer holds every role's part
            self.metadata["answer_tokens"] = {TEAM: sum(metadata["answer_tokens"].values())}

    # the optional extras of the wrapped env, when it has them
    num_tasks = property(lambda self: getattr(self.env, "num_tasks", None))
    num_turns = property(lambda self: getattr(self.env, "num_turns", None))
    reward_max = property(lambda self: getattr(self.env, "reward_max", None))

    def observation_space(self, agent: str) -> gymnasium.spaces.Text:
        return self._space

    def action_space(self, agent: str) -> gymnasium.spaces.Text:
        return self._space

    def _observe(self, observations: Mapping[str, str]) -> dict[str, str]:
        live = [r for r in self.roles if r in self.env.agents]
        return {TEAM: self.format.prompt({r: observations[r] for r in live}, live)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        observations, infos = self.env.reset(seed=seed, options=options)
        self.agents = [TEAM]
        return self._observe(observations), {TEAM: infos.get(self.roles[0], {})}

    def _joint_action(self, actions: Mapping[str, str]) -> dict[str, str]:
        if set(actions) != {TEAM}:
            raise KeyError(f"CentralEnv takes one action, for {TEAM!r}; got {sorted(actions)}")
        live = [r for r in self.roles if r in self.env.agents]
        return self.format.parse(actions[TEAM], live)

    def _result(self, acted: Sequence[str], result: tuple) -> tuple:
        observations, rewards, terminations, truncations, infos = result
        reward = self.reduce([rewards[r] for r in acted])
        done = not self.env.agents
        self.agents = [] if done else [TEAM]
        info = infos.get(acted[0], {})
        obs = {TEAM: ""} if done else self._observe(observations)
        ended = {TEAM: done and all(terminations.get(r, False) for r in acted)}
        return obs, {TEAM: reward}, ended, {TEAM: done and not ended[TEAM]}, {TEAM: info}

    def step(self, actions: Mapping[str, str]) -> tuple:
        acted = list(self.env.agents)
        return self._result(acted, self.env.step(self._joint_action(actions)))

    @classmethod
    def step_many(cls, envs: Sequence[CentralEnv], actions: Sequence[Mapping[str, str]]) -> list:
        """Step many copies at once, through the wrapped envs' batched path when they have one."""
        acted = [list(e.env.agents) for e in envs]
        joint = [e._joint_action(a) for e, a in zip(envs, actions, strict=True)]
        results = step_batch([e.env for e in envs], joint)
        return [e._result(a, r) for e, a, r in zip(envs, acted, results, strict=True)]

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


class Central(MAGRPO):
    """MAGRPO on the one-policy view of the env (:class:`CentralEnv`)."""

    name: ClassVar[str] = "central"

    @classmethod
    def wrap_env(cls, env: Any, config: TrainerConfig) -> CentralEnv:
        if env_api(env) == "aec":
            raise ValueError(f"algorithm 'central' cannot train the turn-based env "
                             f"{type(env).__name__} (an AECEnv): one policy writing every "
                             "role's part of a joint action needs the roles to act together; "
                             "train one policy per role (e.g. magrpo) instead")
        return CentralEnv(env, team_reward=config.team_reward)
