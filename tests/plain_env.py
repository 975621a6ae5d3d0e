"""A PettingZoo ParallelEnv written without collabzoo (nothing of it is imported here).

Two agents answer a topic as briefly as they can; each agent's own reward is
``weight * 10 / (10 + len(text))`` (characters), with weight 1.0 for ``writer`` and 0.5 for
``editor``, so the rewards differ. ``editor`` leaves (terminates) after ``editor_turns``
turns, ``writer`` after ``writer_turns``. No ``num_tasks`` (the topic comes from the seed), no
``num_turns``, no ``reward_max``.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

TOPICS = ["cats", "rain", "tea", "maps", "bees", "salt", "snow", "jazz"]
WEIGHTS = {"writer": 1.0, "editor": 0.5}


class BrevityEnv(ParallelEnv):
    metadata = {"name": "brevity_v0", "render_modes": []}
    possible_agents = ["writer", "editor"]

    def __init__(self, writer_turns: int = 2, editor_turns: int = 1) -> None:
        self.turns = {"writer": writer_turns, "editor": editor_turns}
        self.agents = []
        self._space = gymnasium.spaces.Text(4096)

    def observation_space(self, agent):
        return self._space

    def action_space(self, agent):
        return self._space

    def reset(self, seed=None, options=None):
        self.topic = TOPICS[int(np.random.default_rng(seed).integers(len(TOPICS)))]
        self.agents = list(self.possible_agents)
        self.turn = 0
        return {a: self._observation(a) for a in self.agents}, {a: {} for a in self.agents}

    def _observation(self, agent):
        return f"{agent}, turn {self.turn + 1}: name {self.topic} in few words."

    def step(self, actions):
        assert sorted(actions) == sorted(self.agents), (actions, self.agents)
        self.turn += 1
        rewards = {a: WEIGHTS[a] * 10 / (10 + len(actions[a])) for a in self.agents}
        terminations = {a: self.turn >= self.turns[a] for a in self.agents}
        truncations = {a: False for a in self.agents}
        infos = {a: {"reward_components": {f"length_{a}": float(len(actions[a]))}}
                 for a in self.agents}
        observations = {a: self._observation(a) for a in self.agents}
        self.agents = [a for a in self.agents if not terminations[a]]
        return observations, rewards, terminations, truncations, infos
