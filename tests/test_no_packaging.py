"""Your own code from the CLI without packaging: three files outside the package on
PYTHONPATH (an env that registers on import, an algorithm, an agent class), run through
``collabzoo train --env mod:ns/Id-v0``, ``--algo mod:Class`` and ``collabzoo eval --agents
py:mod:Class``, each in a subprocess with nothing installed for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from collabzoo.agents.specs import AgentSpecError, build_agents, parse_agent_spec, register_agent
from collabzoo.algorithms import UnknownAlgorithmError
from collabzoo.algorithms import load as load_algorithm
from collabzoo.envs import UnknownEnvError, make
from collabzoo.plugins import PluginError

PLAIN_ENV = Path(__file__).with_name("plain_env.py").read_text(encoding="utf-8")

MY_ENV = PLAIN_ENV + textwrap.dedent('''
    import collabzoo
    collabzoo.register("mine/Brevity-v0", entry_point=BrevityEnv, agents=("writer", "editor"))
''')
MY_ALGO = textwrap.dedent('''
    from collabzoo.algorithms.magrpo import MAGRPO

    class HalfMAGRPO(MAGRPO):
        """MAGRPO with every advantage halved (a one-file algorithm)."""
        name = "half-magrpo"

        def credit(self, tree, ctx):
            credit = super().credit(tree, ctx)
            for rows in credit.advantages.values():
                for t, a in enumerate(rows):
                    if a is not None:
                        rows[t] = a / 2
            credit.metrics["half/applied"] = 1.0
            return credit

    NotAnAlgorithm = dict
''')
MY_AGENT = textwrap.dedent('''
    class EchoAgent:
        """Answers every observation with a prefix and its first word."""
        def __init__(self, prefix: str = "echo", times: int = 1):
            self.prefix, self.times = prefix, times

        def act(self, observations, n=1):
            return [[" ".join([self.prefix] * self.times) + " " + o.split()[0]] * n
                    for o in observations]

    def not_an_agent():
        return object()
''')


@pytest.fixture()
def user_dir(tmp_path, monkeypatch):
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "my_env.py").write_text(MY_ENV, encoding="utf-8")
    (folder / "my_algo.py").write_text(MY_ALGO, encoding="utf-8")
    (folder / "my_agent.py").write_text(MY_AGENT, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    return folder


def _cli(folder: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "collabzoo.cli", *argv], capture_output=True,
                          text=True, env=env, cwd=folder, timeout=600)


def test_env_module_path_imports_then_makes(user_dir):
    env = make("my_env:mine/Brevity-v0", writer_turns=1)
    assert env.possible_agents == ["writer", "editor"]
    with pytest.raises(UnknownEnvError, match="registered no env 'mine/Other-v0'"):
        make("my_env:mine/Other-v0")
    with pytest.raises(PluginError, match="cannot import the module 'no_such_mod'.*PYTHONPATH"):
        make("no_such_mod:mine/Brevity-v0")


def test_algorithm_module_path_loads_an_algorithm_subclass(user_dir):
    cls = load_algorithm("my_algo:HalfMAGRPO")
    assert cls.__name__ == "HalfMAGRPO"
    with pytest.raises(PluginError, match="not a subclass of collabzoo.algorithms.Algorithm"):
        load_algorithm("my_algo:NotAnAlgorithm")
    with pytest.raises(PluginError, match="has no attribute 'Missing'"):
        load_algorithm("my_algo:Missing")
    with pytest.raises(UnknownAlgorithmError):
        load_algorithm("halfmagrpo")


def test_py_agent_spec_builds_the_class_with_typed_options(user_dir):
    (agent,) = build_agents(["py:my_agent:EchoAgent?prefix=hi&times=2"])
    assert agent.act(["cats are nice", "dogs"], n=2) == [["hi hi cats"] * 2, ["hi hi dogs"] * 2]
    assert agent.label == "py:my_agent:EchoAgent?prefix=hi&times=2"
    with pytest.raises(AgentSpecError, match="takes no argument 'colour'"):
        build_agents(["py:my_agent:EchoAgent?colour=red"])
    with pytest.raises(AgentSpecError, match="bad value for 'times'"):
        build_agents(["py:my_agent:EchoAgent?times=many"])
    with pytest.raises(AgentSpecError, match="write py:MODULE:CLASS"):
        parse_agent_spec("py:my_agent")
    with pytest.raises(AgentSpecError, match="cannot import the module 'nope'"):
        build_agents(["py:nope:EchoAgent"])
    with pytest.raises(AgentSpecError, match="no act"):
        build_agents(["py:my_agent:not_an_agent"])


def test_registered_agent_name_with_options(user_dir):
    register_agent("test-echo", "my_agent:EchoAgent", description="echo for tests")
    (agent,) = build_agents(["test-echo?prefix=yo"])
    assert agent.act(["tea time"]) == [["yo tea"]]
    with pytest.raises(ValueError, match="already registered"):
        register_agent("test-echo", "my_agent:Other")


@pytest.mark.parametrize("argv", [
    ("--env", "collabzoo/TLDR-v1", "--algo", "my_algo:HalfMAGRPO",
     "--env-kwargs", "dataset=bundled", "split=train"),
    ("--env", "my_env:mine/Brevity-v0", "--env-kwargs", "writer_turns=1"),
], ids=["algo", "env"])
def test_cli_trains_with_module_paths(user_dir, argv):
    out = user_dir / "run"
    result = _cli(user_dir, "train", *argv, "--model", "tiny", "--steps", "1", "--output",
                  str(out), "--set", "batch_size=1", "num_generations=2", "max_new_tokens=4",
                  "progress_bar=false", "report_to=[]")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 1
    if "my_algo:HalfMAGRPO" in argv:
        assert rows[-1]["half/applied"] == 1.0
    resumed = _cli(user_dir, "train", "--resume", str(out), "--steps", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]


def test_cli_evaluates_a_py_agent(user_dir):
    out = user_dir / "eval"
    result = _cli(user_dir, "eval", "--env", "my_env:mine/Brevity-v0", "--agents",
                  "py:my_agent:EchoAgent?prefix=x", "tiny", "--episodes", "2", "--output",
                  str(out), "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 2
    assert "x " in json.dumps(episodes[0])
