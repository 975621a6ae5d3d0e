"""collabzoo/BFCL-v1: the worked reward examples of its doc page, the checker, the parser."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

import collabzoo
from collabzoo.envs.tools.ast_check import Call, check_call, check_calls, standardize
from collabzoo.envs.tools.bfcl import DATA_DIR, BFCLEnv, bfcl_score, load_bfcl
from collabzoo.envs.tools.parsing import MAX_CALLS, parse_calls
from collabzoo.protocols.single import format_for_roles

ROOT = Path(__file__).resolve().parents[1]
TAYLOR = '{"name": "spotify.play", "arguments": {"artist": "Taylor Swift", "duration": 20}}'
MAROON = '{"name": "spotify.play", "arguments": {"artist": "Maroon 5", "duration": 15}}'


@pytest.fixture(scope="module")
def parallel_0() -> dict:
    item = load_bfcl(["parallel"], split="test")[0]
    assert item["id"] == "parallel_0"
    return item


# ---------------------------------------------------------------- worked examples (doc page)
@pytest.mark.parametrize(
    ("first", "second", "score", "recall", "precision"),
    [
        (f"[{TAYLOR}]", f"[{MAROON}]", 1.0, 1.0, 1.0),
        (f"[{TAYLOR}]", f"[{MAROON.replace('15', chr(34) + '15' + chr(34))}]", 0.75, 0.5, 0.5),
        (f"[{TAYLOR}, {MAROON}]", f"[{MAROON}, {TAYLOR}]", 0.5, 1.0, 0.5),
        (f"[{TAYLOR}, {MAROON}]", "Sorry, I am not sure which calls to make.", 1.0, 1.0, 1.0),
        ('spotify.play(artist="Taylor Swift")', "[]", 0.25, 0.0, 0.0),
    ],
    ids=["split", "string_duration", "both_make_both", "one_makes_all", "missing_duration"],
)
def test_worked_examples_of_the_doc_page(first, second, score, recall, precision):
    env = collabzoo.make("collabzoo/BFCL-v1", split="test")
    env.reset(options={"task_index": 0})
    _, rewards, terms, _, infos = env.step({"first_caller": first, "second_caller": second})
    assert rewards == {"first_caller": score, "second_caller": score}
    assert infos["first_caller"]["reward_components"]["exact"] == float(score == 1.0)
    assert infos["first_caller"]["reward_components"]["recall"] == recall
    assert infos["first_caller"]["reward_components"]["precision"] == precision
    assert terms["first_caller"] is True


def test_infos_name_every_call_its_agent_and_problem(parallel_0):
    score, details = bfcl_score(parallel_0, [f"[{TAYLOR}]", 'spotify.play(artist="Maroon 5")'])
    assert score == pytest.approx((1 + 0.25 + 0.5 * 1 / 2) / 2)
    assert [c["agent"] for c in details["calls"]] == [0, 1]
    assert details["calls"][0]["problem"] is None
    assert details["calls"][1]["problem"] == "missing required parameter 'duration'"
    assert details["formats"] == ["json", "python"] and details["counts"] == [1, 1]


def test_multi_turn_feedback_shows_problems_never_allowed_values_and_pays_improvement():
    env = collabzoo.make("collabzoo/BFCL-v1", split="test", num_turns=2)
    obs, _ = env.reset(options={"task_index": 0})
    wrong = MAROON.replace("Maroon 5", "Coldplay")
    obs, rewards, terms, _, infos = env.step({"first_caller": f"[{TAYLOR}]", "second_caller": f"[{wrong}]"})
    assert rewards["first_caller"] == pytest.approx((1 + 0.25 + 0.5 * 1 / 2) / 2)
    assert not terms["first_caller"]
    assert "value of 'artist' not accepted" in obs["second_caller"]
    assert "(yours) spotify.play(artist='Coldplay', duration=15)" in obs["second_caller"]
    assert "(partner's) spotify.play(artist='Taylor Swift', duration=20): correct" in obs["second_caller"]
    assert "Needed calls not yet made correctly: 1." in obs["first_caller"]
    assert "Maroon" in obs["first_caller"]  # only from the request itself:
    assert obs["first_caller"].count("Maroon") == 1
    _, rewards, terms, _, infos = env.step({"first_caller": f"[{TAYLOR}]", "second_caller": f"[{MAROON}]"})
    assert rewards["first_caller"] == pytest.approx(1.0 - 0.75) and infos["first_caller"]["score"] == 1.0
    assert terms["first_caller"]


# ---------------------------------------------------------------- the checker
SCHEMA = {"name": "f", "parameters": {"type": "dict", "required": ["n"], "properties": {
    "n": {"type": "integer"}, "x": {"type": "float"}, "s": {"type": "string"},
    "flag": {"type": "boolean"}, "items": {"type": "array", "items": {"type": "string"}},
    "d": {"type": "dict"}, "rows": {"type": "array", "items": {"type": "dict"}},
}}}


def _check(arguments: dict, allowed: dict) -> tuple[bool, float, str | None]:
    result = check_call(Call("f", arguments), {"f": allowed}, SCHEMA)
    return result.valid, result.credit, result.problem


def test_standardize_ignores_case_spaces_and_some_punctuation():
    assert standardize("New York, NY") == standardize("new_york ny") == "newyorkny"
    assert standardize("it's") == 'it"s'


@pytest.mark.parametrize(
    ("arguments", "allowed", "valid"),
    [
        ({"n": 3}, {"n": [3]}, True),
        ({"n": 3.0}, {"n": [3]}, False),          # a float for an integer
        ({"n": True}, {"n": [1]}, False),         # a bool is not an int
        ({"n": 3, "x": 2}, {"n": [3], "x": [2.0]}, True),   # an int for a float
        ({"n": "k"}, {"n": ["k"]}, True),         # BFCL's variable rule: allowed "k" is a name
        ({"n": 3, "s": "SAN-francisco"}, {"n": [3], "s": ["San Francisco"]}, True),
        ({"n": 3, "items": ["A b"]}, {"n": [3], "items": [["a_b"]]}, True),
        ({"n": 3, "items": [1]}, {"n": [3], "items": [["1"]]}, False),  # item type
        ({"n": 3}, {"n": [3], "s": ["x", ""]}, True),      # optional left out
        ({"n": 3}, {"n": [3], "s": ["x"]}, False),         # not optional
        ({"n": 3, "flag": True}, {"n": [3]}, False),       # unexpected parameter
        ({"n": 3, "d": {"a": "X y"}}, {"n": [3], "d": [{"a": ["x_y"], "b": ["", 1]}]}, True),
        ({"n": 3, "d": {"a": "x"}}, {"n": [3], "d": [{"a": ["x"], "b": [1]}]}, False),
        ({"n": 3, "rows": [{"a": 1}]}, {"n": [3], "rows": [[{"a": [1]}]]}, True),
        ({"n": 3, "rows": [{"a": 1}, {"a": 1}]}, {"n": [3], "rows": [[{"a": [1]}]]}, False),
    ],
)
def test_call_validity_follows_bfcl_rules(arguments, allowed, valid):
    assert _check(arguments, allowed)[0] is valid


def test_partial_credit_of_one_call():
    # right name, 1 of 2 parameters right, one unexpected: 0.25 + 0.5 * 1 / 3
    valid, credit, problem = _check({"n": 3, "s": "no", "zzz": 1}, {"n": [3], "s": ["yes"]})
    assert not valid and credit == pytest.approx(0.25 + 0.5 / 3)
    assert problem == "unexpected parameter 'zzz'"
    assert check_call(Call("g", {"n": 3}), {"f": {"n": [3]}}, SCHEMA).credit == 0.0
    assert _check({}, {"n": [3]}) == (False, 0.25, "missing required parameter 'n'")


def test_calls_are_paired_in_any_order_and_extra_calls_cost():
    gold = [{"f": {"n": [1]}}, {"f": {"n": [2]}}]
    one, two = Call("f", {"n": 1}), Call("f", {"n": 2})
    assert check_calls([two, one], gold, [SCHEMA]).exact
    result = check_calls([two, one, one], gold, [SCHEMA])
    assert not result.exact and result.score == pytest.approx(2 / 3)
    assert result.problems[2] == "not needed (an extra call, or the wrong function)"
    assert check_calls([], gold, [SCHEMA]).score == 0.0
    assert check_calls([Call(None)], gold, [SCHEMA]).problems == ["not a function call"]


def test_pairing_is_optimal_where_bfcl_pairs_greedily():
    """BFCL gives gold 0 the first call that fits it (n=1), leaving n=2 for gold 1, which
    accepts only 1: invalid there. Pairing n=2 with gold 0 makes it exact here."""
    gold = [{"f": {"n": [1, 2]}}, {"f": {"n": [1]}}]
    assert check_calls([Call("f", {"n": 1}), Call("f", {"n": 2})], gold, [SCHEMA]).exact


# ---------------------------------------------------------------- the parser
@pytest.mark.parametrize(
    "text",
    [
        '[{"name": "f", "arguments": {"n": 1}}]',
        '{"name": "f", "parameters": {"n": 1}}',
        '[{"function": {"name": "f", "arguments": "{\\"n\\": 1}"}}]',
        '[{"function": "f", "parameters": {"n": 1}}]',
        '[{"f": {"n": 1}}]',
        "[f(n=1)]",
        "f(n=1)",
        "Here you go:\n```json\n[{\"name\": \"f\", \"arguments\": {\"n\": 1}}]\n```",
        "Sure! f(n=1).",
        '<tool_call>\n{"name": "f", "arguments": {"n": 1}}\n</tool_call>',
    ],
)
def test_every_accepted_shape_reads_the_same_call(text):
    parsed = parse_calls(text)
    assert parsed.calls == [Call("f", {"n": 1})]


def test_python_values_are_literals_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    text = f"f(a=__import__('os').system('touch {marker}'), b=1 + 2, c=x, d=-4, e=(1, 2))"
    (call,) = parse_calls(text).calls
    assert not marker.exists()
    assert call.arguments["b"] == "1 + 2" and call.arguments["c"] == "x"
    assert call.arguments["d"] == -4 and call.arguments["e"] == (1, 2)
    assert parse_calls("f(1, 2)").calls == [Call("f", {})]  # positional arguments ignored
    json.dumps(parse_calls("f(a=1j, b={(1, 2): 3}, c=b'x')").calls[0].arguments)


def test_a_call_at_the_end_of_a_code_line_is_read_without_positional_arguments():
    code = "def f(n):\n    return n * math.factorial(n)\n"
    assert parse_calls(code).calls == [Call("math.factorial", {})]


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("", "empty"), ("[]", "empty"), ("I can't call anything.", "none"),
     ('[{"name": "f", "arguments": {"n": 1}', "none"), ("f(n=1", "none"),
     ("(" * 50_000, "none"), ("[" * 50_000, "none"), ("x" * 1_000_000, "none")],
    ids=["empty", "empty_list", "prose", "broken_json", "broken_call", "parens", "brackets", "1MB"],
)
def test_malformed_answers_give_no_calls(text, fmt):
    parsed = parse_calls(text)
    assert parsed.calls == [] and parsed.format == fmt


def test_too_many_calls_score_zero(parallel_0):
    answer = "[" + ", ".join([TAYLOR] * (MAX_CALLS + 1)) + "]"
    assert parse_calls(answer).too_many
    score, details = bfcl_score(parallel_0, [answer, f"[{MAROON}]"])
    assert score == 0.0 and details["too_many"] and not details["exact"]


# ---------------------------------------------------------------- data, arguments, protocol
def test_splits_never_share_an_item_and_cover_the_categories():
    train = load_bfcl(["parallel", "parallel_multiple", "multiple", "simple"], split="train")
    test = load_bfcl(["parallel", "parallel_multiple", "multiple", "simple"], split="test")
    assert not {i["id"] for i in train} & {i["id"] for i in test}
    assert len(test) == 4 * 50 and len(train) + len(test) == 1000
    assert collabzoo.make("collabzoo/BFCL-v1").num_tasks == 300
    assert {i["category"] for i in test} == {"parallel", "parallel_multiple", "multiple", "simple"}
    env = BFCLEnv(categories="simple, multiple", split="test")  # as --env-kwargs gives it
    assert env.categories == ("simple", "multiple") and env.num_tasks == 100


def test_every_item_has_its_functions_and_an_exact_gold_answer():
    for item in load_bfcl(["parallel", "parallel_multiple", "multiple", "simple"], split="all"):
        names = {f["name"] for f in item["function"]}
        assert all(next(iter(g)) in names for g in item["ground_truth"]), item["id"]


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown BFCL categories"):
        BFCLEnv(categories=("live_parallel",))
    with pytest.raises(ValueError, match="unknown split"):
        BFCLEnv(split="eval")
    with pytest.raises(ValueError, match="role_split"):
        BFCLEnv(role_split="odd_even")
    with pytest.raises(ValueError, match="call_format"):
        BFCLEnv(call_format="xml")
    from collabzoo.envs.data import DatasetUnavailableError
    with pytest.raises(DatasetUnavailableError, match="dataset='bundled'"):
        BFCLEnv(dataset=str(tmp_path / "nowhere"))
    with pytest.raises(DatasetUnavailableError, match="no BFCL file"):
        BFCLEnv(dataset=str(tmp_path))


def test_a_folder_laid_out_like_the_wheel_is_read(tmp_path):
    (tmp_path / "possible_answer").mkdir()
    for sub in ("", "possible_answer/"):
        source = (DATA_DIR / f"{sub}BFCL_v4_parallel.jsonl").read_text().splitlines()[:3]
        (tmp_path / f"{sub}BFCL_v4_parallel.json").write_text("\n".join(source) + "\n")
    env = BFCLEnv(categories="parallel", split="all", dataset=str(tmp_path))
    assert [t["id"] for t in env.tasks] == ["parallel_0", "parallel_1", "parallel_2"]


def test_prompts_role_splits_and_call_formats():
    env = BFCLEnv(split="test", role_split="self_select", call_format="python")
    obs, _ = env.reset(options={"task_index": 0})
    assert "those you are surest of" in obs["first_caller"] and "surest" in obs["second_caller"]
    assert "[function_name(parameter=" in obs["first_caller"]
    assert '"name": "spotify.play"' in obs["first_caller"]  # the schema, as JSON
    by_order = BFCLEnv(split="test").reset(options={"task_index": 0})[0]
    assert "first half" in by_order["first_caller"] and "second half" in by_order["second_caller"]


def test_single_protocol_gives_every_call_to_the_first_role():
    env = BFCLEnv(split="test")
    obs, _ = env.reset(options={"task_index": 0})
    fmt = format_for_roles(env.possible_agents)
    prompt = fmt.prompt(obs, env.possible_agents)
    assert "make every call" in prompt and "first half" not in prompt and "User request" in prompt
    assert fmt.parse("[f(n=1)]", env.possible_agents) == {"first_caller": "[f(n=1)]", "second_caller": "[]"}


def test_deepcopy_shares_the_items_and_answer_tokens_are_declared():
    env = BFCLEnv(split="test")
    env.reset(options={"task_index": 3})
    assert copy.deepcopy(env).tasks is env.tasks
    assert BFCLEnv(split="test").tasks is not env.tasks
    assert BFCLEnv(split="test").tasks[0] is env.tasks[0]  # the records are read once
    assert env.metadata["answer_tokens"] == {"first_caller": 256, "second_caller": 256}


@pytest.mark.slow
def test_agreement_with_bfcls_own_checker(tmp_path):
    """Downloads bfcl-eval's wheel from PyPI (network) and runs benchmarks/bfcl_agreement.py."""
    out = tmp_path / "agreement.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bfcl_agreement.py"),
                    "--cache", str(tmp_path / "wheel"), "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True)
    report = json.loads(out.read_text())
    assert all(report["vendored_files_equal"].values())
    # the only disagreements: BFCL's JSON decoder cuts a nested list of dicts short
    assert {(d["id"], d["variant"]) for d in report["disagreements"]} <= {
        ("multiple_119", "json_form"), ("simple_python_96", "json_form")}
    assert report["agree"] >= report["cases"] - 2
