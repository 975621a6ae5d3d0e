"""A PettingZoo AECEnv written without collabzoo (nothing of it is imported here).

Two players count up together, taking turns: ``first`` says 1, ``second`` says 2, ``first``
says 3, ... Each move's reward, paid to both players, is 1 when the move's text is the next
number (surrounding whitespace ignored), else 0; the count goes on from the number that
should have been said either way. The episode terminates after ``moves`` moves (default 4).
The start comes from the seed (``start`` in 0..9), so episodes differ by seed. No
``num_tasks``, no ``num_turns``, no ``reward_max``; ``infos[agent]["legal_actions"]`` is not
given.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from pettingzoo import AECEnv


class CountTogether(AECEnv):
    metadata = {"name": "count_together_v0", "render_modes": [], "is_parallelizable": False}
    possible_agents = ["first", "second"]

    def __init__(self, moves: int = 4) -> None:
        super().__init__()
        self.total_moves = moves
        self.agents = []
        self._space = gymnasium.spaces.Text(4096)

    def observation_space(self, agent):
        return self._space

    def action_space(self, agent):
        return self._space

    def reset(self, seed=None, options=None):
        self.count = int(np.random.default_rng(seed).integers(10))
        self.moves = 0
        self.agents = list(self.possible_agents)
        self.agent_selection = self.agents[0]
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}

    def observe(self, agent):
        return f"You are {agent}. The count is {self.count}. Say the next number."

    def step(self, action):
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self.count += 1
        reward = 1.0 if action.strip() == str(self.count) else 0.0
        self.moves += 1
        self._cumulative_rewards[agent] = 0.0
        self.rewards = {a: reward for a in self.agents}
        self._accumulate_rewards()
        if self.moves >= self.total_moves:
            self.terminations = {a: True for a in self.agents}
        self.agent_selection = self.agents[self.moves % len(self.agents)]
