"""`collabzoo eval` and `collabzoo plot`: outputs complete and reloadable; agent specs;
the shared --env-kwargs parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from envtools import TOY_ID

import collabzoo
from collabzoo.agents.specs import (
    AgentSpec,
    AgentSpecError,
    build_agents,
    parse_agent_spec,
    run_agent_folders,
)
from collabzoo.cli import main
from collabzoo.envs.kwargs import EnvKwargsError, convert_value, parse_env_kwargs
from collabzoo.evaluation import comparison_table, load_results, summary_table
from collabzoo.evaluation.plots import bar_chart, curve_metrics, plot_runs

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- env kwargs
def kwargs_env(
    dataset: str = "bundled",
    split: str = "train",
    num_turns: int = 1,
    temperature: float = 0.5,
    max_items: int | None = None,
    strict: bool = False,
    mode: Literal["a", "b"] = "a",
    untyped=3,
):
    raise AssertionError("never built")


KWARGS_ID = "tests/Kwargs-v0"
if KWARGS_ID not in {e.id for e in collabzoo.list_envs()}:
    collabzoo.register(KWARGS_ID, kwargs_env, agents=("p", "q"))


def test_parse_env_kwargs_converts_to_the_declared_types():
    pairs = [
        "dataset=bundled",
        "split=eval",
        "num_turns=2",
        "temperature=1e-3",
        "max_items=none",
        "strict=Yes",
        "mode=b",
        "untyped=7",
    ]
    assert parse_env_kwargs(KWARGS_ID, pairs) == {
        "dataset": "bundled",
        "split": "eval",
        "num_turns": 2,
        "temperature": 0.001,
        "max_items": None,
        "strict": True,
        "mode": "b",
        "untyped": 7,
    }
    assert parse_env_kwargs(KWARGS_ID, ["max_items=5"]) == {"max_items": 5}
    assert parse_env_kwargs(KWARGS_ID, []) == {}
    assert parse_env_kwargs(KWARGS_ID, None) == {}
    assert parse_env_kwargs(TOY_ID, ["num_turns=3"]) == {"num_turns": 3}


@pytest.mark.parametrize(
    "pairs, message",
    [
        (["datset=bundled"], "has no argument 'datset'; it accepts: dataset, split, num_turns"),
        (["num_turns=two"], "argument 'num_turns': expected an integer, got 'two'"),
        (["strict=maybe"], "expected a boolean"),
        (["mode=c"], "expected one of ['a', 'b']"),
        (["max_items=lots"], "expected an integer"),
        (["dataset"], "not of the form key=value"),
        (["split=a", "split=b"], "given twice"),
    ],
)
def test_parse_env_kwargs_errors(pairs, message):
    with pytest.raises(EnvKwargsError) as info:
        parse_env_kwargs(KWARGS_ID, pairs)
    assert message in str(info.value)


def test_convert_value_without_annotation_uses_default_or_literal():
    import inspect

    empty = inspect.Parameter.empty
    assert convert_value("2.5", empty, 1.0) == 2.5
    assert convert_value("[1, 2]", empty) == [1, 2]
    assert convert_value("hello", empty) == "hello"
    assert convert_value("null", empty) is None


def test_convert_value_sequences_and_unsupported_classes():
    assert convert_value("tensorboard,wandb", tuple[str, ...]) == ("tensorboard", "wandb")
    assert convert_value("tensorboard", tuple[str, ...]) == ("tensorboard",)
    assert convert_value("", tuple[str, ...]) == ()
    assert convert_value("0.9,0.999", tuple[float, float]) == (0.9, 0.999)
    assert convert_value("[0.9, 0.99]", tuple[float, float]) == (0.9, 0.99)
    assert convert_value("[1, 2]", list[int]) == [1, 2]
    assert convert_value("{'a': 1}", dict[str, int]) == {"a": 1}
    with pytest.raises(ValueError, match="expected 2 comma-separated values"):
        convert_value("1,2,3", tuple[float, float])
    with pytest.raises(ValueError, match="expected an integer"):
        convert_value("1,x", tuple[int, ...])

    class Limits:
        pass

    with pytest.raises(
        ValueError, match="expects a Limits, which cannot be given as command-line text"
    ):
        convert_value("3", Limits)


# ----------------------------------------------------------------------------- agent specs
def test_parse_agent_spec():
    assert parse_agent_spec("tiny") == AgentSpec("model", "tiny")
    assert parse_agent_spec("smollm2-135m") == AgentSpec("model", "smollm2-135m")
    assert parse_agent_spec("hf:./models/x") == AgentSpec("model", "./models/x")
    assert parse_agent_spec("run:runs/a/helper") == AgentSpec("run", "runs/a/helper")
    assert parse_agent_spec("random:4") == AgentSpec("random", "4")
    assert parse_agent_spec("openai:https://api.example.com/v1#org/model#x") == AgentSpec(
        "openai", "https://api.example.com/v1#org/model", "x"
    )
    for bad, message in [
        ("openai:http://127.0.0.1:8000/v1", "openai:BASE_URL#MODEL"),
        ("openai:127.0.0.1:8000#m", "http://"),
        ("run:", "names nothing"),
        ("random:x", "integer seed"),
        ("  ", "empty"),
    ]:
        with pytest.raises(AgentSpecError, match=message):
            parse_agent_spec(bad)


def test_build_agents_without_models():
    random_agent, api = build_agents(
        ["random:1", "openai:http://127.0.0.1:9/v1#m"], openai_options={"timeout": 5}
    )
    assert random_agent.label == "random:1" and api.label == "openai:http://127.0.0.1:9/v1#m"
    assert api.timeout == 5 and api.model == "m"


def test_run_specs_load_saved_agents_in_role_order(tmp_path):
    from collabzoo.agents import load_policy

    for name in ("beta", "alpha"):
        load_policy("tiny", seed=0).save(str(tmp_path / "runs" / "r" / "agents" / name))
    run = tmp_path / "runs" / "r"
    assert [p.name for p in run_agent_folders(run, roles=["beta", "alpha"])] == ["beta", "alpha"]
    assert [p.name for p in run_agent_folders(run)] == ["alpha", "beta"]
    assert run_agent_folders(run / "beta") == [run / "agents" / "beta"]
    assert run_agent_folders(run / "agents" / "beta") == [run / "agents" / "beta"]
    with pytest.raises(AgentSpecError, match="no saved agent there"):
        run_agent_folders(tmp_path / "runs")
    agents = build_agents([f"run:{run}"], roles=["alpha", "beta"])
    assert len(agents) == 2 and agents[0] is not agents[1]
    assert agents[0].label.endswith("agents/alpha")
    same = build_agents(["tiny", "tiny"])
    assert same[0] is same[1]  # equal model specs share one model


# ----------------------------------------------------------------------------- eval
def run_eval(tmp_path, *extra, agents=("random:3",), protocol="discussion", capsys=None):
    out = tmp_path / "results" / "x"
    argv = [
        "eval",
        "--env",
        TOY_ID,
        "--agents",
        *agents,
        "--protocol",
        protocol,
        "--output",
        str(out),
        "--no-progress",
        *extra,
    ]
    return main(argv), out


def test_eval_outputs_are_complete_and_reloadable(tmp_path, capsys):
    rc, out = run_eval(
        tmp_path,
        "--episodes",
        "6",
        "--seed",
        "5",
        "--batch-size",
        "4",
        "--env-kwargs",
        "num_turns=2",
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["episodes.jsonl", "summary.json", "table.md"]
    summary, records = load_results(out)
    assert summary["env"] == TOY_ID and summary["protocol"] == "discussion"
    assert summary["agents"] == ["random:3"] and summary["seed"] == 5
    assert summary["env_kwargs"] == {"num_turns": 2} and summary["episodes"] == 6
    for key in ("return_normalized", "reward", "components", "seconds_per_episode"):
        assert key in summary
    assert set(summary["components"]) == {"hit_alpha", "hit_beta"}
    assert [r.episode for r in records] == list(range(6))
    assert [r.seed for r in records] == [5, 6, 7, 8, 9, 10]
    assert [r.task_index for r in records] == [0, 1, 2, 3, 0, 1]
    for record in records:
        turn = record.turns[0]
        assert len(turn.calls) == 4  # discussion: two rounds of two agents
        assert all(c.prompt and isinstance(c.answer, str) for c in turn.calls)
        assert set(turn.reward_components) == {"hit_alpha", "hit_beta"}
        assert turn.actions == {c.role: c.answer for c in turn.calls if c.round == 1}
    # the table printed is the table written, and it shows every metric
    table = (out / "table.md").read_text()
    assert table.strip() in printed
    assert table.strip() == summary_table(summary)
    for row in ("return (normalised)", "reward component: hit_alpha", "seconds per episode"):
        assert f"| {row} |" in table
    # each line of episodes.jsonl is plain JSON a person can read
    line = json.loads((out / "episodes.jsonl").read_text().splitlines()[0])
    assert line["turns"][0]["calls"][0]["prompt"].startswith("[alpha] Name")
    assert line["reward_components"] == line["turns"][-1]["reward_components"]


def test_eval_defaults_to_one_episode_per_task_and_progress_bar(tmp_path, capsys):
    rc, out = (
        main(
            [
                "eval",
                "--env",
                TOY_ID,
                "--agents",
                "random",
                "--protocol",
                "single",
                "--output",
                str(tmp_path / "r"),
            ]
        ),
        tmp_path / "r",
    )
    assert rc == 0
    summary, records = load_results(out)
    assert summary["episodes"] == 4 and len(records) == 4
    assert records[0].turns[0].calls[0].role == "*"
    err = capsys.readouterr().err
    assert "eval single" in err and "4/4" in err  # the tqdm bar


@pytest.mark.parametrize(
    "argv_tail, message",
    [
        (["--env", "tests/guess-v0", "--agents", "random"], "Did you mean 'tests/Guess-v0'"),
        (
            ["--env", TOY_ID, "--agents", "random", "--env-kwargs", "turns=2"],
            "has no argument 'turns'; it accepts: num_turns, render_mode",
        ),
        (["--env", TOY_ID, "--agents", "random", "random", "random"], "3 agents for the roles"),
        (["--env", TOY_ID, "--agents", "openai:localhost#m"], "must start with http"),
        (["--env", TOY_ID, "--agents", "hf:/nonexistent/model"], "cannot load the agents"),
    ],
)
def test_eval_errors_are_clear(tmp_path, capsys, argv_tail, message):
    assert main(["eval", *argv_tail, "--output", str(tmp_path / "e"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_eval_with_openai_agents_on_a_stub_server(tmp_path, capsys, monkeypatch):
    from test_openai_agent import OK, Stub

    monkeypatch.setenv("EVAL_TEST_KEY", "sk-do-not-print")
    with Stub([OK]) as stub:
        rc, out = run_eval(
            tmp_path,
            "--episodes",
            "4",
            "--api-key-env",
            "EVAL_TEST_KEY",
            agents=(f"openai:{stub.url}#echo",),
            protocol="sequential",
        )
    assert rc == 0
    assert stub.headers[0]["Authorization"] == "Bearer sk-do-not-print"
    _, records = load_results(out)
    second = records[0].turns[0].calls[1]
    assert second.agent == f"openai:{stub.url}#echo"
    assert second.answer.startswith("echo:[beta] Name a fruit")  # the stub echoes the prompt
    assert "Your teammate, the alpha agent" in second.answer
    assert "sk-do-not-print" not in capsys.readouterr().out + "".join(
        p.read_text() for p in out.iterdir()
    )


def test_eval_subprocess_smoke_on_a_real_env(tmp_path):
    """The installed command on a registered env with bundled data and the tiny model."""
    out = tmp_path / "tldr"
    command = [
        sys.executable,
        "-m",
        "collabzoo.cli",
        "eval",
        "--env",
        "collabzoo/TLDR-v1",
        "--agents",
        "tiny",
        "--protocol",
        "parallel",
        "--env-kwargs",
        "dataset=bundled",
        "--episodes",
        "2",
        "--max-new-tokens",
        "8",
        "--output",
        str(out),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| return (normalised) |" in done.stdout
    summary, records = load_results(out)
    assert summary["episodes"] == 2 and len(records) == 2


def test_comparison_table():
    a = {
        "env": "E",
        "protocol": "parallel",
        "agents": ["tiny"],
        "episodes": 3,
        "return_normalized": {"mean": 0.5, "std": 0.1},
        "components": {"x": {"mean": 1.0, "std": 0.0}},
        "seconds_per_episode": {"mean": 1.234, "std": 0.0},
    }
    b = {
        "env": "E",
        "protocol": "single",
        "agents": ["tiny"],
        "episodes": 3,
        "return_normalized": {"mean": float("nan"), "std": float("nan")},
        "pass_rate": {"mean": 0.25, "std": 0.0},
        "seconds_per_episode": {"mean": 2.0, "std": 0.0},
    }
    table = comparison_table([a, b]).splitlines()
    assert table[0] == "| run | episodes | return (normalised) | x | pass rate | s / episode |"
    assert table[2] == "| E · parallel · tiny | 3 | 0.500 ± 0.100 | 1.000 ± 0.000 | – | 1.23 |"
    assert table[3] == "| E · single · tiny | 3 | – | – | 0.250 ± 0.000 | 2.00 |"


# ----------------------------------------------------------------------------- plot
def write_run(folder: Path, steps: int, components=("fit", "length"), evals=True) -> Path:
    folder.mkdir(parents=True)
    with (folder / "metrics.jsonl").open("w") as f:
        for step in range(1, steps + 1):
            row = {
                "step": step,
                "reward/mean": step / steps,
                "reward/std": 0.1,
                "reward/turn_1": 0.2,
                "loss/policy": 0.3,
            }
            row.update({f"reward/{c}": step / (2 * steps) for c in components})
            if evals and step % 2 == 0:
                row["eval/return_normalized"] = step / steps
            f.write(json.dumps(row) + "\n")
    return folder


def test_plot_runs_draws_one_line_per_run_and_metric(tmp_path):
    a = write_run(tmp_path / "runs" / "a", 6)
    b = write_run(tmp_path / "runs" / "b", 4, components=("fit",), evals=False)
    assert curve_metrics(json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines()) == [
        "reward/mean",
        "reward/fit",
        "reward/length",
        "eval/return_normalized",
    ]
    png = tmp_path / "curves.png"
    fig = plot_runs([a, b], png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [
        "reward/mean",
        "reward/fit",
        "reward/length",
        "eval/return_normalized",
    ]
    assert [len(ax.get_lines()) for ax in panels] == [2, 2, 1, 1]
    eval_line = panels[3].get_lines()[0]
    assert list(eval_line.get_xdata()) == [2, 4, 6]
    assert [line.get_label() for line in panels[0].get_lines()] == ["a", "b"]


def test_plot_cli(tmp_path, capsys):
    a = write_run(tmp_path / "a", 3)
    b = write_run(tmp_path / "b", 3)
    png = tmp_path / "out" / "curves.png"
    assert main(["plot", str(a), str(b), "--output", str(png), "--labels", "A", "B"]) == 0
    assert "4 panels, 8 lines" in capsys.readouterr().out and png.is_file()
    assert main(["plot", str(tmp_path / "missing"), "--output", str(png)]) == 2
    assert "missing not found: pass run folders" in capsys.readouterr().err


def test_bar_chart(tmp_path):
    fig = bar_chart(
        {"E1": {"p": (0.5, 0.1), "q": (float("nan"), float("nan"))}, "E2": {"p": (0.2, 0.0)}},
        tmp_path / "bars.png",
    )
    assert (tmp_path / "bars.png").is_file()
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [len(ax.patches) for ax in panels] == [2, 1]


def test_eval_top_k_and_threads_reach_the_sampler_and_torch(tmp_path):
    import torch

    threads = torch.get_num_threads()
    try:
        rc, out = run_eval(tmp_path, "--episodes", "2", "--temperature", "1", "--top-k", "1",
                           "--num-threads", "1", agents=("tiny",), protocol="parallel")
        assert rc == 0 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    summary, records = load_results(out)
    assert summary["sampling"]["top_k"] == 1 and summary["sampling"]["temperature"] == 1
    # top-k 1 at temperature 1 is greedy decoding: the same answers as --temperature 0
    rc, greedy = run_eval(tmp_path / "greedy", "--episodes", "2", agents=("tiny",),
                          protocol="parallel")
    assert rc == 0
    assert ([c.answer for r in records for c in r.turns[0].calls]
            == [c.answer for r in load_results(greedy)[1] for c in r.turns[0].calls])
    assert run_eval(tmp_path / "bad", "--top-k", "-1")[0] == 2
