"""A tiny env for the engine's own tests: two agents guess a target word together.

Joint reward (max 2.0): +1 for each agent whose answer contains the task's target word
(whole word, case-insensitive). Solved (early end) when both do.
"""

from __future__ import annotations

import re

from collabzoo.envs.core import Score, TextCollabEnv

TASKS = [
    {"topic": "a fruit that is yellow", "target": "banana"},
    {"topic": "the colour of the sky", "target": "blue"},
    {"topic": "a large grey animal", "target": "elephant"},
    {"topic": "the opposite of cold", "target": "hot"},
]


class GuessEnv(TextCollabEnv):
    metadata = {"name": "guess_v0", "render_modes": ["ansi"], "is_parallelizable": True}
    roles = ("alpha", "beta")
    reward_max = 2.0

    def __init__(self, num_turns: int = 1, render_mode: str | None = None) -> None:
        self.tasks = TASKS
        super().__init__(num_turns=num_turns, render_mode=render_mode)

    def prompt(self, agent, task):
        return f"[{agent}] Name {task['topic']} in one word."

    def score(self, task, actions):
        hits = {
            a: bool(re.search(rf"\b{task['target']}\b", text, re.IGNORECASE))
            for a, text in actions.items()
        }
        return Score(
            reward=float(sum(hits.values())),
            components={f"hit_{a}": float(h) for a, h in hits.items()},
            details={"target_length": len(task["target"])},
            solved=all(hits.values()),
        )

    def feedback(self, agent, task, actions, score):
        return "Correct." if score.components[f"hit_{agent}"] else "Not the word we want."
