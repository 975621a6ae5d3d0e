"""Contracts checked where plug-ins enter: an env that cannot be copied, an algorithm's
``Credit`` of the wrong shape, the ``single`` protocol given a team, an API agent whose
server is down: each a clear error (or warning) that names the culprit."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import torch
from test_algorithms import _credit
from trainer_fakes import CountingPolicy, DigitSumEnv

from collabzoo.agents import ScriptedAgent
from collabzoo.algorithms.base import Credit
from collabzoo.algorithms.magrpo import MAGRPOConfig
from collabzoo.protocols import run_episodes
from collabzoo.trainers import Trainer


class LockedEnv(DigitSumEnv):
    """Holds a lock: ``copy.deepcopy`` fails with "cannot pickle '_thread.lock'"."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lock = threading.Lock()


def test_uncopyable_env_fails_at_construction_with_the_reason():
    policies = {"a": CountingPolicy(), "b": CountingPolicy()}
    with pytest.raises(TypeError, match=r"LockedEnv cannot be deep-copied .*_thread\.lock.*"
                                        r"branch a rollout"):
        Trainer(lambda: LockedEnv(num_tasks=2), policies=policies, config=MAGRPOConfig())
    with pytest.raises(TypeError, match="cannot be deep-copied .*side by side"):
        run_episodes(LockedEnv(num_tasks=2), [ScriptedAgent(lambda o: "1")], "parallel",
                     episodes=2, batch_size=2)
    # one episode at a time needs no copy
    assert len(run_episodes(LockedEnv(num_tasks=2), [ScriptedAgent(lambda o: "1")], "parallel",
                            episodes=2, batch_size=1)) == 2


def test_credit_check_accepts_a_right_credit_and_names_each_mismatch():
    tree, credit = _credit("magrpo")
    credit.check(tree, ["a", "b"], "magrpo")  # the built-in algorithm's credit is right
    a, b = credit.advantages["a"], credit.advantages["b"]
    with pytest.raises(ValueError, match=r"algorithm 'mine': credit\(\) returned advantages "
                                         r"for \['a'\]"):
        Credit({"a": a}).check(tree, ["a", "b"], "mine")
    with pytest.raises(ValueError, match="gave agent 'a' 1 turns of advantages; the rollout "
                                         "has 2"):
        Credit({"a": a[:1], "b": b}).check(tree, ["a", "b"], "mine")
    with pytest.raises(ValueError, match=r"agent 'b' at turn 1 advantages of shape \(3,\); "
                                         r"expected \(4,\)"):
        Credit({"a": a, "b": [b[0], torch.zeros(3)]}).check(tree, ["a", "b"], "mine")
    with pytest.raises(ValueError, match="shape list"):
        Credit({"a": a, "b": [b[0], [0.0] * 4]}).check(tree, ["a", "b"], "mine")


def test_single_protocol_with_a_team_warns_who_plays():
    first, second = ScriptedAgent(lambda o: "1"), ScriptedAgent(lambda o: "2")
    first.label = "first-agent"
    with pytest.warns(UserWarning, match=r"first agent \(first-agent\) plays alone"):
        run_episodes(DigitSumEnv(num_tasks=1), [first, second], "single", episodes=1)


def test_eval_with_the_server_down_is_one_line(tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": "x"}
    result = subprocess.run(
        [sys.executable, "-m", "collabzoo.cli", "eval", "--env", "collabzoo/TLDR-v1",
         "--env-kwargs", "dataset=bundled", "split=test", "--agents",
         "openai:http://127.0.0.1:9/v1#none", "--episodes", "1", "--no-progress",
         "--timeout", "1", "--output", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("collabzoo eval:")]
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0], result.stderr
