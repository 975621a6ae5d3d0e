"""``collabzoo benchmark`` on a turn-based env: training in episode groups, baselines only
under the protocols that take turns, and ad-hoc play of each trained agent with a scripted
partner it never trained with (``evaluation.partners``)."""

from __future__ import annotations

import json

import pytest
import yaml

pytest.importorskip("rliable")
pytestmark = pytest.mark.filterwarnings(
    "ignore::collabzoo.envs.answer_length.GenerationLengthWarning")

from collabzoo.benchmark import load_spec, run_benchmark  # noqa: E402
from collabzoo.benchmark.evaluate import eval_jobs  # noqa: E402
from collabzoo.benchmark.spec import BenchmarkSpec  # noqa: E402

ENV = "collabzoo/Hanabi-Very-Small-v1"
SPEC = {
    "name": "aec",
    "envs": {ENV: {}},
    "algorithms": {"magrpo": {}},
    "models": ["tiny"],
    "seeds": [0],
    "budget": {"steps": 1},
    "train": {"batch_size": 1, "num_generations": 2, "max_new_tokens": 4,
              "agent_sharing": "copies", "save_every": 1},
    "evaluation": {"episodes": 2, "bootstrap_reps": 50, "crossplay": False,
                   "leave_one_out": False, "partners": ["hanabi-rule"],
                   "max_new_tokens": 4},
}


def test_partner_jobs_and_turn_based_baselines(tmp_path):
    spec = BenchmarkSpec.from_dict({**SPEC, "seeds": [0, 1],
                                    "evaluation": {**SPEC["evaluation"],
                                                   "partners": ["hanabi-rule", "random"]}})
    runs = spec.runs(tmp_path)
    jobs = eval_jobs(spec, tmp_path, runs, lambda env: ["player_0", "player_1"])
    partner = [j for j in jobs if j.kind == "partner"]
    assert len(partner) == 2 * 2 * 2  # partners x seeds x roles
    first = partner[0]
    assert first.agents == (f"run:{runs[0].folder}/player_0", "hanabi-rule")
    assert first.info == {"role": "player_0", "partner": "hanabi-rule"}
    assert len({j.folder for j in partner}) == len(partner)
    assert {j.protocol for j in jobs if j.kind == "baseline"} == {"parallel", "sequential"}


@pytest.mark.slow
def test_benchmark_plays_trained_agents_with_a_scripted_partner(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    results = run_benchmark(load_spec(path), tmp_path / "out", log=lambda line: None)
    partner = tmp_path / "out" / "evals" / "Hanabi-Very-Small-v1" / "partner"
    summaries = sorted(partner.rglob("summary.json"))
    assert len(summaries) == 2  # the trained agent of each role, with the rule agent
    for summary in summaries:
        data = json.loads(summary.read_text())
        role = summary.parent.name
        assert data["benchmark"] == {"kind": "partner", "method": "magrpo", "model": "tiny",
                                     "role": role, "partner": "hanabi-rule"}
        agents = data["agents"]
        assert sum(a.startswith("run:") for a in agents) == 1 and "hanabi-rule" in agents
    by_role = next(iter(results["partners"][ENV].values()))["hanabi-rule"]
    assert set(by_role) == {"player_0", "player_1"}
    baselines = tmp_path / "out" / "evals" / "Hanabi-Very-Small-v1" / "baseline"
    assert sorted(p.name for p in baselines.iterdir()) == ["parallel", "sequential"]
    table = (tmp_path / "out" / "table.md").read_text()
    assert "Ad-hoc play" in table and "| hanabi-rule | player_1 |" in table
