"""benchmarks/leaderboard.py: verdicts and rows from a results.json, checked by hand."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "leaderboard.py"
_SPEC = importlib.util.spec_from_file_location("leaderboard", _PATH)
lb = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lb)


def _stat(iqm, low, high, kind):
    return {"iqm": iqm, "low": low, "high": high, "kind": kind, "seeds": {}}


def _results(tmp_path, name, magrpo_low):
    env = "collabzoo/Env-v1"
    results = {
        "spec": {"seeds": [0, 1, 2], "budget": {"steps": 30}},
        "runs": [{"algorithm": "magrpo", "steps": 30, "tokens": 100, "train_s": 10.0,
                  "machines": ["CPU X, 2 cores, bfloat16 emulated"]},
                 {"algorithm": "magrpo", "steps": 30, "tokens": 300, "train_s": 30.0}],
        "statistics": {"greedy": {env: {
            "single (untrained)": _stat(0.20, 0.20, 0.20, "baseline"),
            "parallel (untrained)": _stat(0.10, 0.10, 0.10, "baseline"),
            "magrpo": _stat(0.5, magrpo_low, 0.6, "team")}}},
        "probability_of_improvement": {env: {"magrpo": {"single (untrained)": 0.75,
                                                        "parallel (untrained)": 1.0}}},
    }
    (tmp_path / name).mkdir()
    (tmp_path / name / "results.json").write_text(json.dumps(results))


def test_a_win_needs_the_lower_end_above_the_best_untrained_protocol(tmp_path, monkeypatch):
    monkeypatch.setattr(lb, "RESULTS", tmp_path)
    _results(tmp_path, "firm", magrpo_low=0.21)
    _results(tmp_path, "loose", magrpo_low=0.20)  # touches single's 0.20: not a win
    firm, loose = lb.block("firm", "x"), lb.block("loose", "x")
    assert lb.block("missing", "x") is None
    top = firm["rows"][0]
    assert top["method"] == "magrpo" and top["best_untrained"] == "single (untrained)"
    assert top["wins"] and top["p_over_best_untrained"] == 0.75
    assert not loose["rows"][0]["wins"]
    # trained first, then the untrained protocols, best first
    assert [r["method"] for r in firm["rows"]] == ["magrpo", "single (untrained)",
                                                   "parallel (untrained)"]
    assert firm["budget"]["magrpo"] == {"runs": 2, "steps": 30, "tokens": 200, "train_s": 20}
    assert firm["machines"] == ["CPU X, 2 cores, bfloat16 emulated"]
    text = lb.markdown([firm, loose])
    assert "| Env-v1 · `firm` | magrpo (trained) | 0.500 [0.210, 0.600] | 0.75 | **wins** (vs single) |" in text
    assert "| Env-v1 · `loose` | magrpo (trained) | 0.500 [0.200, 0.600] | 0.75 | no firm win (vs single) |" in text



def test_the_matrix_has_one_row_per_benchmark_and_one_column_per_method(tmp_path, monkeypatch):
    monkeypatch.setattr(lb, "RESULTS", tmp_path)
    _results(tmp_path, "firm", magrpo_low=0.21)
    _results(tmp_path, "loose", magrpo_low=0.20)
    text = lb.matrix([lb.block("firm", "x"), lb.block("loose", "x")])
    lines = text.splitlines()
    assert lines[0] == ("| env · benchmark | magrpo | single (untrained) | parallel (untrained) "
                        "| sequential (untrained) | discussion (untrained) |")
    # a win is marked, P is against the best untrained protocol, a zero-width CI is one number
    assert lines[2] == ("| Env-v1 · `firm` | 0.500 [0.210, 0.600], P 0.75, **win** | 0.200 | "
                        "0.100 | – | – |")
    assert lines[3] == "| Env-v1 · `loose` | 0.500 [0.200, 0.600], P 0.75 | 0.200 | 0.100 | – | – |"
    assert len(lines) == 4

_ANSWERS = Path(__file__).resolve().parent.parent / "benchmarks" / "reasoning_answers.py"
_SPEC2 = importlib.util.spec_from_file_location("reasoning_answers", _ANSWERS)
ra = importlib.util.module_from_spec(_SPEC2)
_SPEC2.loader.exec_module(ra)


def test_reasoning_answers_read_the_last_number_and_the_format():
    prompt = "State the final answer to the following arithmetic problem: 0 - 4 =\n\nYou are"
    assert ra.classify(prompt, "0 - 4 = 4") == {
        "correct": False, "plus": False, "three_terms": False, "negative": True, "says_1": False,
        "restates": True, "terse": True}
    assert ra.classify(prompt, "The answer is -4, I think.")["correct"]
    assert ra.classify(prompt, "The final answer to the given arithmetic problem is 1.")["says_1"]
    rows = [ra.classify(prompt, "0 - 4 = -4"), ra.classify(prompt, "no idea")]
    assert ra.summarise(rows)["correct"] == 0.5 and ra.summarise(rows)["correct_plus"] is None


def test_reasoning_answers_read_basic_arithmetic_left_to_right():
    # basic_arithmetic's questions (cpu-arith): two or three terms, left to right
    three = ra.classify("Calculate 0 - 4 - 8.\n\nYou are solver A", "0 - 4 - 8 = -12")
    assert three == {"correct": True, "plus": False, "three_terms": True, "negative": True,
                     "says_1": False, "restates": True, "terse": False}  # 7 words
    assert ra.parse("10 - 8 + 10") == (12, ["-", "+"])
    assert ra.parse("-3 + 4") == (1, ["+"]) and ra.parse("5 - -2") == (7, ["-"])
    two = ra.classify("What is 7 + 4?", "The answer to this problem is 1.")
    assert not two["correct"] and two["plus"] and not two["three_terms"] and two["says_1"]
    with pytest.raises(ValueError, match="no \\+/- expression"):
        ra.classify("Count the legs of 3 cats.", "12")


_TLDR = Path(__file__).resolve().parent.parent / "benchmarks" / "tldr_answers.py"
_SPEC3 = importlib.util.spec_from_file_location("tldr_answers", _TLDR)
ta = importlib.util.module_from_spec(_SPEC3)
_SPEC3.loader.exec_module(ta)

_CONCISE = "The cat sat on the warm mat all day."
_DETAILED = ("The cat sat on the warm mat all day long; however, when the sun moved away, it "
             "finally jumped down and looked for food.")


def _episodes(path, pairs):
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps({"turns": [{"actions": {"concise": c, "detailed": d}}]})
                            + "\n" for c, d in pairs))


def test_tldr_answers_score_each_pair_and_share_the_gates(tmp_path, monkeypatch, capsys):
    # the reward module's worked example: every level scored, 2.741, r = 3.306
    row = ta.classify(_CONCISE, _DETAILED)
    assert row["stopped_at"] is None and round(row["reward"], 3) == 2.741
    assert round(row["length_ratio"], 3) == 3.306 and row["categories"] == 3
    assert (row["words_concise"], row["words_detailed"]) == (9, 24)
    same = "One two three four five six seven eight words here."
    monkeypatch.setattr(ta, "RESULTS", tmp_path)
    evals = tmp_path / "b" / "evals" / "TLDR-v1"
    # untrained: equal answers stop at the length ratio (r = 1); "Too short." at structure
    _episodes(evals / "baseline/parallel/m/seed-0/greedy/episodes.jsonl",
              [(same, same), ("Too short.", same)])
    _episodes(evals / "team/magrpo/m/seed-0/parallel/greedy/episodes.jsonl",
              [(_CONCISE, _DETAILED)])
    assert ta.main(["b"]) == 0
    out = json.loads((tmp_path / "b" / "answers.json").read_text())
    assert out["untrained (parallel)"]["stops_at_length_ratio"] == 0.5
    assert out["untrained (parallel)"]["stops_at_structure"] == 0.5
    assert out["untrained (parallel)"]["reward"] == 0.25  # (0.5 + 0) / 2
    assert out["magrpo (trained)"]["passes_all_gates"] == 1.0
    assert "| magrpo (trained) | 1 |" in capsys.readouterr().out
    assert ta.main(["missing"]) == 1


def test_reasoning_answers_agree_with_the_env_on_committed_answers():
    # every answer of the untrained model on arith-small's 39 test questions: the script's
    # "correct" is the env's own score of that solver
    path = (Path(__file__).resolve().parent.parent / "benchmarks" / "results"
            / "reasoning_untrained" / "arith-small-parallel-t1" / "episodes.jsonl")
    checked = right = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        episode = json.loads(line)  # one turn: the episode's components are each solver's score
        for call in episode["turns"][0]["calls"]:
            correct = ra.classify(call["prompt"], call["answer"])["correct"]
            assert correct == (episode["reward_components"][call["role"]] == 1.0), call
            checked += 1
            right += correct
    assert checked == 78 and right == 10  # 0.128 of the 78 answers
