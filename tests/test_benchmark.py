"""``collabzoo benchmark`` end to end on the tiny model: 2 envs x the available algorithms x
2 seeds x 2 steps, every output, cross-play and leave-one-out, resume after a run folder is
deleted, and ``--report``."""

from __future__ import annotations

import json
import shutil
from importlib.util import find_spec
from pathlib import Path

import pettingzoo
import pytest
import yaml

pytest.importorskip("rliable")

import collabzoo  # noqa: E402
from collabzoo.benchmark import load_spec, run_benchmark  # noqa: E402
from collabzoo.benchmark.report import _quote  # noqa: E402
from collabzoo.benchmark.spec import BenchmarkSpec, SpecError, apply_overrides  # noqa: E402
from collabzoo.benchmark.train import check_algorithm, threads_per_run  # noqa: E402
from collabzoo.cli import main  # noqa: E402
from collabzoo.envs import registration  # noqa: E402

# the tiny spec generates 4 tokens on purpose (speed); TLDR warns that they cannot reach its reward
pytestmark = pytest.mark.filterwarnings(
    "ignore::collabzoo.envs.answer_length.GenerationLengthWarning")

BREVITY = "bench/Brevity-v0"  # tests/plain_env.py: no reward_max, rewards from brevity
#: a second algorithm once the registry (collabzoo train --algo) exists
ALGORITHMS = ["magrpo", "mareinforce"] if find_spec("collabzoo.algorithms") else ["magrpo"]

SPEC = {
    "name": "tiny",
    "envs": {"collabzoo/TLDR-v1": {"dataset": "bundled", "split": "train"}, BREVITY: {}},
    "algorithms": {a: {} for a in ALGORITHMS},
    "models": ["tiny"],
    "seeds": [0, 1],
    "budget": {"steps": 2},
    "train": {"batch_size": 1, "num_generations": 2, "max_new_tokens": 4,
              "agent_sharing": "copies", "learning_rate": 1e-2, "save_every": 1},
    "evaluation": {"split": "test", "episodes": 2, "bootstrap_reps": 200},
}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    collabzoo.register(BREVITY, "plain_env:BrevityEnv", agents=("writer", "editor"),
                       description="brevity, for the benchmark test")
    root = tmp_path_factory.mktemp("bench")
    path = root / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    lines: list[str] = []
    results = run_benchmark(load_spec(path), root / "out", log=lines.append)
    yield root / "out", results, path, lines
    registration._INFOS.pop(BREVITY, None)
    pettingzoo.parallel_registry.pop(BREVITY, None)


def test_writes_every_output(bench):
    out, results, _, lines = bench
    for name in ("results.json", "table.md", "curves.png", "crossplay.png", "spec.yaml"):
        assert (out / name).is_file(), name
    assert len(results["runs"]) == 2 * len(ALGORITHMS) * 2
    assert all(r["steps"] == 2 and r["tokens"] > 0 for r in results["runs"])
    saved = json.loads((out / "results.json").read_text())
    assert saved["spec"]["budget"] == {"steps": 2} and "torch" in saved["versions"]
    table = (out / "table.md").read_text()
    for method in [*ALGORITHMS, "single (untrained)", "parallel (untrained)",
                   "sequential (untrained)", "discussion (untrained)"]:
        assert method in table
    stats = results["statistics"]["greedy"]
    for env in SPEC["envs"]:
        for algo in ALGORITHMS:
            s = stats[env][algo]
            assert s["low"] <= s["iqm"] <= s["high"] and sorted(s["seeds"]) == [0, 1]
        assert set(results["probability_of_improvement"][env][ALGORITHMS[0]]) == {
            *(f"{p} (untrained)" for p in ("single", "parallel", "sequential", "discussion")),
            *ALGORITHMS[1:]}
        assert len(results["curves"][env][ALGORITHMS[0]]["iqm"]) == 2
    assert "all envs" in stats


def test_examples_show_every_method_on_the_same_items_and_the_machine(bench):
    out, results, _, _ = bench
    examples = (out / "examples.md").read_text()
    sections = {part.split("\n", 1)[0]: part for part in examples.split("\n## ")[1:]}
    assert set(sections) == set(SPEC["envs"])
    tldr = sections["collabzoo/TLDR-v1"]
    assert tldr.count("### Item ") == 2  # the spec's 2 eval episodes
    item0 = tldr[tldr.index("### Item 0"):tldr.index("### Item 1")]
    for method in [*(f"{a} (trained)" for a in ALGORITHMS), "single (untrained)",
                   "discussion (untrained)"]:
        assert f"**{method}**: score " in item0, method
    # the trained team's answers are the ones its evaluation recorded for that item
    team = next(e for e in results["evaluations"] if e["kind"] == "team" and e["seed"] == 0
                and e["env"] == "collabzoo/TLDR-v1" and e["method"] == ALGORITHMS[0])
    episode = json.loads((Path(team["folder"]) / "episodes.jsonl").read_text().splitlines()[0])
    call = episode["turns"][0]["calls"][0]
    trained = item0.split(f"**{ALGORITHMS[0]} (trained)**")[1]
    assert trained.split("\n\n")[1:3] == [f"`{call['role']}`, turn 1, round 0:",
                                           _quote(call["answer"], 400)]
    assert _quote(call["prompt"], 1600).splitlines()[0] in item0  # the env's observation
    assert "Trained on: " in (out / "table.md").read_text()
    assert all(r["machines"] for r in results["runs"])


def test_crossplay_matrix_and_leave_one_out(bench):
    _, results, _, _ = bench
    stats = results["statistics"]["greedy"]
    for env in SPEC["envs"]:
        for algo in ALGORITHMS:
            cross = results["crossplay"][env][algo]
            assert cross["seeds"] == [0, 1]
            assert [len(row) for row in cross["matrix"]] == [2, 2]
            # the diagonal (agents of one seed together, assembled role by role) is the
            # self-play evaluation of that seed's team
            for k, seed in enumerate(cross["seeds"]):
                assert cross["matrix"][k][k] == pytest.approx(stats[env][algo]["seeds"][seed])
            roles = results["leave_one_out"][env][algo]
            assert len(roles) == 2
            for entry in roles.values():
                assert sorted(entry["seeds"]) == [0, 1] and entry["contribution"] is not None
    # the brevity env scores every answer (> 0), so the check above compares real numbers
    assert any(v > 0 for v in stats[BREVITY][ALGORITHMS[0]]["seeds"].values())


def test_rerun_skips_finished_work_and_redoes_a_deleted_run(bench):
    out, results, path, _ = bench
    deleted = out / "runs" / "TLDR-v1" / ALGORITHMS[0] / "tiny" / "seed-1"
    shutil.rmtree(deleted)
    lines: list[str] = []
    again = run_benchmark(load_spec(path), out, log=lines.append)
    trained = [line for line in lines if line.startswith("train ")]
    assert len(trained) == 1 and str(deleted) in trained[0]
    evaluated = [line for line in lines if line.startswith("eval ")]
    assert evaluated and all(str(deleted) in line for line in evaluated)
    assert len(again["evaluations"]) == len(results["evaluations"])


def test_report_rerenders_from_the_folder(bench, capsys):
    out = bench[0]
    (out / "table.md").unlink()
    assert main(["benchmark", "--report", str(out)]) == 0
    assert (out / "table.md").is_file()
    assert main(["benchmark", "--report", str(out / "nothing")]) == 2
    assert "not a benchmark folder" in capsys.readouterr().err


def test_spec_checks_and_overrides():
    assert apply_overrides({"budget": {"steps": 80}}, ["budget.steps=2", "evaluation.episodes=3"]) \
        == {"budget": {"steps": 2}, "evaluation": {"episodes": 3}}
    with pytest.raises(SpecError, match="unknown spec keys"):
        BenchmarkSpec.from_dict({**SPEC, "algos": []})
    with pytest.raises(SpecError, match="set by the benchmark"):
        BenchmarkSpec.from_dict({**SPEC, "train": {"steps": 3}})
    with pytest.raises(SpecError, match="unknown protocols"):
        BenchmarkSpec.from_dict({**SPEC, "evaluation": {"protocols": ["debate"]}})
    spec = BenchmarkSpec.from_dict({**SPEC, "evaluation": {"sampling": [
        "greedy", {"temperature": 0.7, "samples": 2}]}})
    assert [s.name for s in spec.evaluation.sampling] == ["greedy", "t0.7-n2"]
    spec = BenchmarkSpec.from_dict({**SPEC, "evaluation": {"sampling": [
        {"temperature": 0.7, "samples": 4, "top_p": 0.9, "top_k": 20}]}})
    assert spec.evaluation.sampling[0].top_k == 20
    assert spec.evaluation.sampling[0].name == "t0.7-n4-p0.9-k20"
    with pytest.raises(SpecError, match="top_k >= 0"):
        BenchmarkSpec.from_dict({**SPEC, "evaluation": {"sampling": [
            {"temperature": 1.0, "top_k": -1}]}})
    assert threads_per_run(2, cores=2) == 1 and threads_per_run(1, cores=2) == 2
    assert threads_per_run(3, cores=2) == 1


def test_algorithm_check():
    check_algorithm("maac")
    with pytest.raises(SpecError, match="algorithm 'maacc'.*Did you mean 'maac'"):
        check_algorithm("maacc")
    with pytest.raises(SpecError, match="cannot import the module 'no_such_module'"):
        check_algorithm("no_such_module:Algo")


def test_local_workers_train_runs_in_parallel_subprocesses(tmp_path):
    """``--workers 2``: two ``collabzoo train`` subprocesses at once, one thread each."""
    spec = BenchmarkSpec.from_dict({
        **SPEC, "envs": {"collabzoo/TLDR-v1": {"dataset": "bundled", "split": "train"}},
        "algorithms": {"magrpo": {}},
        "evaluation": {"split": "test", "episodes": 1, "protocols": ["parallel"],
                       "crossplay": False, "leave_one_out": False, "bootstrap_reps": 50}})
    lines: list[str] = []
    results = run_benchmark(spec, tmp_path / "out", workers=2, cores=2, log=lines.append)
    trained = [line for line in lines if line.startswith("train ")]
    assert len(trained) == 2 and all(line.endswith(", 1 threads)") for line in trained)
    assert [r["steps"] for r in results["runs"]] == [2, 2]
    # each run went through its own subprocess, whose output is the run's train.log
    logs = sorted((tmp_path / "out").rglob("train.log"))
    assert len(logs) == 2 and all("wrote " in log.read_text() for log in logs)


@pytest.mark.slow
def test_ray_launcher_trains_on_a_local_instance(tmp_path):
    """``--launcher ray``: one Ray task per run on a local instance started here."""
    ray = pytest.importorskip("ray")
    spec = BenchmarkSpec.from_dict({
        **SPEC, "envs": {"collabzoo/TLDR-v1": {"dataset": "bundled", "split": "train"}},
        "algorithms": {"magrpo": {}},
        "evaluation": {"split": "test", "episodes": 1, "protocols": ["parallel"],
                       "crossplay": False, "leave_one_out": False, "bootstrap_reps": 50}})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        lines: list[str] = []
        results = run_benchmark(spec, tmp_path / "out", workers=2, launcher="ray",
                                log=lines.append)
    finally:
        ray.shutdown()
    assert sum(line.endswith(", ray)") for line in lines) == 2
    assert [r["steps"] for r in results["runs"]] == [2, 2]
    assert (tmp_path / "out" / "table.md").is_file()


SPECS = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "specs").glob("*.yaml"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_shipped_specs_parse(path):
    from collabzoo.presets import load_preset

    spec = load_spec(path)
    assert spec.runs("x") and all(collabzoo.spec(env) for env in spec.envs)
    for preset in spec.preset.values():
        load_preset(preset)
    for algo in spec.algorithms:
        check_algorithm(algo)
    if find_spec("collabzoo.algorithms") is not None:  # every run's config is valid
        from collabzoo.algorithms import load

        for run in spec.runs("x"):
            preset = load_preset(run.preset).config if run.preset else {}
            load(run.algorithm).config_class.from_dict(
                {**preset, **run.config, "seed": run.seed, "steps": run.steps})
