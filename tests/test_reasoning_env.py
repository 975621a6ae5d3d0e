"""collabzoo/ReasoningGym-v1: answer extraction, the checker wrapper, the worked examples of
its doc page, oracle answers on three reasoning-gym tasks, the train/test split and bad input."""

from __future__ import annotations

import copy

import pytest

import collabzoo
from collabzoo.envs.reasoning.gym import (
    CURATED,
    ReasoningGymEnv,
    SplitSizeWarning,
    in_test_split,
    load_items,
)
from collabzoo.envs.reasoning.scoring import (
    MAX_ANSWER_CHARS,
    extract_answer,
    joint_score,
    score_answer_safely,
)

reasoning_gym = pytest.importorskip("reasoning_gym")

ENV_ID = "collabzoo/ReasoningGym-v1"


def make(**kwargs) -> ReasoningGymEnv:
    return collabzoo.make(ENV_ID, **kwargs)


# ---------------------------------------------------------------- extraction (pure)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so <answer>5</answer>", "5"),
        ("<answer>4</answer> no, wait: <answer> 5 </answer>", "5"),  # the last pair wins
        ("<answer>a<answer>b</answer>", "b"),  # nearest opening tag before the last closing
        ("<ANSWER>\n 7 \n</Answer>", "7"),  # any case, stripped
        ("<answer></answer>", ""),
        ("<answer>5", None),  # cut off before the closing tag: no tag
        ("</answer><answer>5", None),
        ("5 </answer>", None),
        ("the answer is 5", None),
        ("", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_answer_untagged_last_line():
    assert extract_answer("first\n  the answer: 5  \n\n", untagged="last_line") == "the answer: 5"
    assert extract_answer(" \n \n", untagged="last_line") is None
    assert extract_answer("x <answer>3</answer>\nlast", untagged="last_line") == "3"
    assert extract_answer("4 - 1 = 3.\nDone", untagged="last_number") == "3"
    assert extract_answer("x5 and 2.5 then -7", untagged="last_number") == "-7"
    assert extract_answer("no digits here", untagged="last_number") is None
    with pytest.raises(ValueError, match="untagged must be"):
        extract_answer("x", untagged="whole")


class Fixed:
    def __init__(self, value):
        self.value = value

    def score_answer(self, answer, entry):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


def test_score_answer_safely_never_raises():
    entry = {"answer": "5"}
    assert score_answer_safely(Fixed(1.0), entry, "5").score == 1.0
    assert score_answer_safely(Fixed(3.0), entry, "5").score == 1.0  # clamped
    assert score_answer_safely(Fixed(-1), entry, "5").score == 0.0
    broken = score_answer_safely(Fixed(KeyError("metadata")), entry, "5")
    assert (broken.score, broken.reason) == (0.0, "checker_error: KeyError: 'metadata'")
    assert score_answer_safely(Fixed(float("nan")), entry, "5").reason == "not_a_number"
    assert score_answer_safely(Fixed(None), entry, "5").reason == "not_a_number"
    assert score_answer_safely(Fixed(1.0), entry, None).reason == "no_answer"
    long = score_answer_safely(Fixed(1.0), entry, "5" * (MAX_ANSWER_CHARS + 1))
    assert (long.score, long.reason) == (0.0, "too_long")


def test_joint_score():
    assert joint_score({"a": 1.0, "b": 0.25}) == 0.625
    assert joint_score({"a": 1.0, "b": 0.25}, "min") == 0.25
    with pytest.raises(ValueError, match="joint must be"):
        joint_score({"a": 1.0}, "max")


# ---------------------------------------------------------------- worked examples (doc page)

LEGS = dict(task="leg_counting", split="all")  # item 0: 500 legs


def test_worked_example_both_right_on_turn_one_ends_the_episode():
    env = make(**LEGS)
    env.reset(options={"task_index": 0})
    assert env.task["answer"] == "500"
    _, rewards, terms, truncs, infos = env.step({a: "<answer>500</answer>" for a in env.agents})
    assert rewards == {"solver_a": 1.0, "solver_b": 1.0} and all(terms.values())
    assert not any(truncs.values()) and env.agents == []
    assert infos["solver_a"]["answers"] == {"solver_a": "500", "solver_b": "500"}


@pytest.mark.parametrize(("joint", "paid"), [("mean", [0.5, 0.5]), ("min", [0.0, 1.0])])
def test_worked_example_cross_check(joint, paid):
    env = make(**LEGS, joint=joint)
    env.reset(options={"task_index": 0})
    obs, r1, terms, _, infos = env.step(
        {"solver_a": "5*6 + ... = 500 <answer>500</answer>", "solver_b": "I count 490."})
    assert not any(terms.values())
    assert infos["solver_b"]["reward_components"] == {
        "solver_a": 1.0, "solver_b": 0.0, "no_answer": 1.0, "too_long": 0.0, "checker_error": 0.0}
    assert infos["solver_b"]["reasons"] == {"solver_a": "", "solver_b": "no_answer"}
    # each sees the partner's answer, never the verdict or the expected answer
    assert "I count 490." in obs["solver_a"] and "<answer>500</answer>" in obs["solver_b"]
    assert "Your partner's final answer: none in <answer> tags. Yours: 500." in obs["solver_a"]
    assert "reward" not in obs["solver_a"].lower()
    _, r2, terms, _, infos = env.step({a: "<answer> 500 </answer>" for a in env.agents})
    assert [r1["solver_a"], r2["solver_a"]] == paid
    assert infos["solver_a"]["score"] == 1.0 and all(terms.values())


def test_worked_example_wrong_and_partial_answers():
    env = make(**LEGS, num_turns=1)
    env.reset(options={"task_index": 0})
    _, rewards, _, _, infos = env.step(
        {"solver_a": "<answer>490</answer>", "solver_b": "<answer>500 legs</answer>"})
    assert infos["solver_a"]["reward_components"]["solver_a"] == 0.0
    assert infos["solver_a"]["reward_components"]["solver_b"] == 0.375  # len("500") / len("500 legs")
    assert rewards["solver_a"] == pytest.approx(0.1875)


def test_feedback_hides_the_expected_answer():
    env = make(**LEGS)
    env.reset(options={"task_index": 0})
    obs, *_ = env.step({a: "<answer>7</answer>" for a in env.agents})
    assert all("500" not in o for o in obs.values())


def test_untagged_last_line_option():
    env = make(**LEGS, num_turns=1, untagged="last_line")
    env.reset(options={"task_index": 0})
    _, rewards, *_ = env.step({"solver_a": "I count:\n500", "solver_b": "500\nlegs?"})
    assert rewards["solver_a"] == 0.5


# ---------------------------------------------------------------- oracle on three tasks

ORACLE_TASKS = [
    ("leg_counting", {}),
    ("basic_arithmetic", {}),
    ("chain_sum", CURATED["chain-small"]["task_config"]),
    ("spell_backward", {}),
]


@pytest.mark.parametrize(("task", "config"), ORACLE_TASKS, ids=[t for t, _ in ORACLE_TASKS])
@pytest.mark.parametrize("split", ["train", "test"])
def test_the_datasets_own_answer_reaches_reward_max_and_a_wrong_one_zero(task, config, split):
    size = 150 if split == "train" else 30  # chain-small has 39 test questions
    env = make(task=task, task_config=config, size=size, split=split)
    wrong = 0
    for i in range(env.num_tasks):
        env.reset(options={"task_index": i})
        answer = env.task["answer"]
        total = 0.0
        while env.agents:
            total += env.step({a: f"Done.\n<answer>{answer}</answer>" for a in env.agents})[1]["solver_a"]
        assert total == env.reward_max, (i, answer)
        env.reset(options={"task_index": i})
        # off by one for numbers; spell_backward's checker gives near misses partial credit
        bad = str(int(answer) + 1) if answer.lstrip("-").isdigit() else "#"
        total = sum(env.step({a: f"<answer>{bad}</answer>" for a in env.agents})[1]["solver_b"]
                    for _ in range(env.num_turns))
        assert total == 0.0, (i, answer, bad)
        wrong += 1
    assert wrong == size


# ---------------------------------------------------------------- data and splits


def test_split_all_is_create_dataset_item_by_item():
    env = make(task="chain_sum", size=20, data_seed=7, split="all")
    reference = reasoning_gym.create_dataset("chain_sum", seed=7, size=20)
    assert [t["question"] for t in env.tasks] == [reference[i]["question"] for i in range(20)]


def test_train_and_test_never_share_a_question():
    config = CURATED["chain-small"]["task_config"]  # ~200 distinct questions: repeats are common
    questions = {}
    for split, seed in [("train", 0), ("train", 5), ("test", 0), ("test", 5)]:
        size = 120 if split == "train" else 30  # of 161 and 39 distinct questions
        env = make(task="chain_sum", task_config=config, size=size, split=split, data_seed=seed)
        questions.setdefault(split, set()).update(t["question"] for t in env.tasks)
        assert all(in_test_split(t["question"]) == (split == "test") for t in env.tasks)
    assert questions["train"] and questions["test"]
    assert not questions["train"] & questions["test"]


def test_reasoning_gym_seeds_are_shifted_streams():
    """Why the split is by question, not by seed: seed 1 item i is seed 0 item i + 1."""
    a = reasoning_gym.create_dataset("leg_counting", seed=0, size=5)
    b = reasoning_gym.create_dataset("leg_counting", seed=1, size=5)
    assert a[1]["question"] == b[0]["question"]


def test_a_split_smaller_than_size_keeps_every_question_and_warns():
    """chain-small's 200 questions: 39 fall into the test split, so size=5000 holds those 39
    (what evaluating a run trained at size=160 on split="test" needs)."""
    tiny = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}
    with pytest.warns(SplitSizeWarning, match="holds only 39 distinct questions"):
        _, items = load_items("chain_sum", tiny, 5000, 0, "test")
    questions = [item["question"] for item in items]
    assert len(questions) == len(set(questions)) == 39
    assert all(in_test_split(q) for q in questions)
    _, first = load_items("chain_sum", tiny, 10, 0, "test")  # a size it can fill: no warning
    assert [item["question"] for item in first] == questions[:10]


def test_items_and_checker_are_shared_by_copies_and_envs():
    env = make(task="chain_sum", size=10)
    other = make(task="chain_sum", size=10)
    assert other.tasks is env.tasks and other.checker is env.checker
    env.reset(seed=0)
    branch = copy.deepcopy(env)
    assert branch.checker is env.checker and branch.tasks is env.tasks


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(task="leg_countin"), "Did you mean 'leg_counting'"),
        (dict(task="chain_sum", task_config={"max_term": 3}), r"unknown keys \['max_term'\]"),
        (dict(task="chain_sum", task_config={"seed": 3}), "data_seed"),
        (dict(task="chain_sum", task_config={"min_terms": 3, "max_terms": 2}), "invalid task_config"),
        (dict(task="chain_sum", task_config=[1]), "task_config must be a dict"),
        (dict(size=0), "size must be"),
        (dict(split="validation"), "split must be one of"),
        (dict(data_seed="1"), "data_seed must be"),
        (dict(joint="max"), "joint must be"),
        (dict(untagged="whole"), "untagged must be"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


@pytest.mark.parametrize(
    "text",
    ["<answer>5", "<answer><answer>5</answer></answer>", "</answer>" * 1000,
     "<answer>" + "9" * 1_000_000 + "</answer>", "<answer>漢字 🙂\x00\ud800</answer>"],
    ids=["unclosed", "nested", "only-closing", "1MB-in-tags", "unicode-in-tags"],
)
def test_broken_tags_and_huge_answers_score_without_raising(text):
    env = make(task="basic_arithmetic", size=5, num_turns=1)
    env.reset(options={"task_index": 0})
    _, rewards, _, _, infos = env.step({a: text for a in env.agents})
    assert 0.0 <= rewards["solver_a"] <= 1.0


def test_checker_errors_score_zero_with_a_reason():
    env = make(task="chain_sum", size=5, num_turns=1)
    env.checker = Fixed(RuntimeError("boom"))  # this env only: the shared one is untouched
    env.reset(options={"task_index": 0})
    _, rewards, _, _, infos = env.step({a: "<answer>1</answer>" for a in env.agents})
    assert rewards["solver_a"] == 0.0
    assert infos["solver_a"]["reward_components"]["checker_error"] == 2.0
    assert infos["solver_a"]["reasons"]["solver_b"] == "checker_error: RuntimeError: boom"


@pytest.mark.parametrize("name", sorted(CURATED))
def test_curated_presets_make_envs_with_room_for_the_measured_splits(name):
    for split, size in (("train", 160), ("test", 39)):  # chain-small: 161 / 39 questions
        env = make(**CURATED[name], split=split, size=size)
        assert env.num_tasks == size and env.untagged == "last_number"
