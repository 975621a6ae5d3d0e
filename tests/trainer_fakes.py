"""Test doubles for the trainer tests: a scripted policy and small envs with known rewards."""

from __future__ import annotations

import torch

from collabzoo.agents.base import Samples
from collabzoo.envs.core import Score, TextCollabEnv


class CountingPolicy:
    """Sample j of prompt p is the text ``text(j, p)`` (default ``str(j)``; one token);
    records every call."""

    def __init__(self, text=lambda j, prompt: str(j)) -> None:
        self.calls: list[tuple[int, int]] = []  # (prompts, n)
        self.text = text

    def sample(self, prompts, n, sampling):
        self.calls.append((len(prompts), n))
        rows = len(prompts) * n
        return Samples(
            texts=[self.text(j, p) for p in prompts for j in range(n)],
            prompt_ids=torch.ones(rows, 2, dtype=torch.long),
            prompt_mask=torch.ones(rows, 2, dtype=torch.long),
            completion_ids=torch.tensor([[j] for _ in prompts for j in range(n)]),
            completion_mask=torch.ones(rows, 1, dtype=torch.long),
        )

    def act(self, observations, n=1):
        return [[str(j) for j in range(n)] for _ in observations]


class DigitSumEnv(TextCollabEnv):
    """Two agents answer digits; the reward of turn t is ``(int(a) + int(b)) * 10**(t-1)``
    (unparsable: 0), the score itself, not its improvement (``turn_reward = "score"``), so that
    the rollout tests see known per-turn rewards. ``solve_at``: the episode ends early when a
    reward reaches it."""

    metadata = {"name": "digit_sum_v0", "render_modes": ["ansi"], "is_parallelizable": True}
    roles = ("a", "b")
    reward_max = 100.0
    turn_reward = "score"

    def __init__(self, num_turns: int = 1, num_tasks: int = 4, solve_at: float | None = None,
                 reward_scale: float = 1.0, render_mode: str | None = None) -> None:
        self.tasks = [{"id": i} for i in range(num_tasks)]
        self.solve_at = solve_at
        self.reward_scale = reward_scale
        super().__init__(num_turns=num_turns, render_mode=render_mode)

    def prompt(self, agent, task):
        return f"task {task['id']}: say a digit, {agent}"

    def score(self, task, actions):
        def digit(text):
            return int(text) if text.strip().isdigit() else 0

        reward = (digit(actions["a"]) + digit(actions["b"])) * 10 ** self.turn * self.reward_scale
        solved = self.solve_at is not None and reward >= self.solve_at
        return Score(reward=float(reward), components={"digit_a": float(digit(actions["a"]))},
                     solved=solved)


class LengthRatioEnv(TextCollabEnv):
    """A learnable joint reward: ``1 / (1 + |len(long) / len(short) - 2|)`` on character lengths
    (+1 each to keep empty answers finite): the team scores 1 when long writes twice as much as short."""

    metadata = {"name": "length_ratio_v0", "render_modes": ["ansi"], "is_parallelizable": True}
    roles = ("short", "long")
    reward_max = 1.0

    def __init__(self, num_turns: int = 1, num_tasks: int = 8, split: str = "train",
                 render_mode: str | None = None) -> None:
        self.tasks = [{"topic": f"{split} topic {i}"} for i in range(num_tasks)]
        super().__init__(num_turns=num_turns, render_mode=render_mode)

    def prompt(self, agent, task):
        return f"Write about {task['topic']}."

    def score(self, task, actions):
        ratio = (len(actions["long"]) + 1) / (len(actions["short"]) + 1)
        return Score(reward=1.0 / (1.0 + abs(ratio - 2.0)), components={"ratio": ratio})
