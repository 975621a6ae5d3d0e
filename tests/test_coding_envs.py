"""The coding envs through the PettingZoo API: contract, multi-turn feedback, batching, copies."""

from __future__ import annotations

import copy

import pytest
from pettingzoo.test import parallel_api_test

import collabzoo
from collabzoo.envs.coding.checks import docstring_examples, split_check
from collabzoo.envs.coding.coop_humaneval import load_coop_humaneval
from collabzoo.envs.coding.humaneval import load_humaneval
from collabzoo.envs.coding.sandbox import Candidate, SandboxLimits, SandboxPool, TestCase
from collabzoo.envs.core import step_batch

IDS = ["collabzoo/HumanEval-v1", "collabzoo/CoopHumanEval-v1"]
LIMITS = SandboxLimits(test_timeout=2.0, budget=6.0)


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(max_workers=2, limits=LIMITS) as p:
        yield p


def make(env_id, pool, **kwargs):
    return collabzoo.make(env_id, pool=pool, **{"dataset": "bundled", **kwargs})


HELPER = "```python\ndef aux(a, b):\n    return abs(a - b)\n```"
MAIN_OK = ("def has_close_elements(numbers, threshold):\n"
           "    return any(aux(a, b) < threshold\n"
           "               for i, a in enumerate(numbers) for b in numbers[i + 1:])\n")
MAIN_WRONG = "def has_close_elements(numbers, threshold):\n    return aux(0, 0)\n"  # 0


@pytest.mark.parametrize("env_id", IDS)
def test_parallel_api(env_id, pool):
    env = make(env_id, pool, max_items=2, num_turns=2)
    parallel_api_test(env, num_cycles=4)


@pytest.mark.parametrize("env_id", IDS)
def test_seeded_episodes_repeat(env_id, pool):
    def run(seed):
        env = make(env_id, pool, num_turns=2)
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for _ in range(2):
            if not env.agents:
                break
            actions = {a: env.action_space(a).sample() for a in env.agents}
            out.append(env.step(actions)[:2])
        return out
    assert run(3) == run(3)


def test_splits_and_bad_arguments():
    assert [len(load_humaneval(split=s)) for s in ("eval", "train", "all")] == [32, 132, 164]
    assert load_humaneval(split="train")[0]["task_id"] == "HumanEval/32"
    paper = load_humaneval(split="paper_train")
    assert (len(paper), paper[0]["task_id"], paper[-1]["task_id"]) == (130, "HumanEval/33",
                                                                      "HumanEval/162")
    assert [len(load_coop_humaneval("bundled", split=s)) for s in ("eval", "train", "all")] == [16, 4, 20]
    with pytest.raises(ValueError, match="split"):
        load_humaneval(split="test")
    with pytest.raises(ValueError, match="max_items"):
        load_coop_humaneval(max_items=0)


def test_prompts_roles_and_no_cross_visibility(pool):
    env = make("collabzoo/HumanEval-v1", pool, num_turns=2)
    obs, _ = env.reset(options={"task_index": 0})
    helper, main = (" ".join(obs[a].split()) for a in ("helper", "main"))
    assert "def aux(...)" in helper and "Do not write `has_close_elements`" in helper
    assert "do not define `aux` yourself" in main and "has_close_elements" in main
    obs, *_ = env.step({"helper": HELPER + "\n# HELPER-MARK", "main": MAIN_WRONG})
    assert "HELPER-MARK" in obs["helper"] and "HELPER-MARK" not in obs["main"]


def test_multi_turn_feedback_then_early_end(pool):
    env = make("collabzoo/HumanEval-v1", pool, num_turns=3)
    env.reset(options={"task_index": 0})
    obs, rewards, terms, truncs, infos = env.step({"helper": HELPER, "main": MAIN_WRONG})
    info = infos["main"]
    assert not any(terms.values()) and not any(truncs.values())
    assert info["tests_total"] == 7 and 0 < info["tests_passed"] < 7
    assert info["first_failure"]["details"] == "expected True, got 0"
    assert info["first_failure"]["test"].startswith("assert candidate(")
    # a thin wrapper: 0.4 + 0.6 + 0.5 + passed/7 + 0.5 (called) + 0 (thin wrapper)
    assert rewards["main"] == pytest.approx(2.0 + info["tests_passed"] / 7)
    assert info["reward_components"]["beyond_wrapper"] == 0.0
    for agent in env.agents:
        assert "First failing visible test:" in obs[agent] and "expected True, got 0" in obs[agent]
    assert MAIN_WRONG.strip() in obs["main"] and "only returns `aux(...)`" in obs["main"]
    first = rewards["main"]
    obs, rewards, terms, _, infos = env.step({"helper": HELPER, "main": MAIN_OK})
    # -v1: the reward is the improvement of the score (first -> 4.0)
    assert rewards == {"helper": 4.0 - first, "main": 4.0 - first}
    assert infos["main"]["score"] == 4.0 and infos["main"]["return_normalized"] == 1.0
    assert all(terms.values()) and env.agents == []
    with pytest.raises(RuntimeError):
        env.step({"helper": HELPER, "main": MAIN_OK})


def test_odd_actions_never_raise(pool):
    env = make("collabzoo/HumanEval-v1", pool)
    for helper, main in [("", ""), ("é€😀" * 100, "\x00"), ("x" * 1_000_000, "```"),
                         ("def aux(:", "def has_close_elements(:\n")]:
        env.reset(options={"task_index": 0})
        _, rewards, *_ , infos = env.step({"helper": helper, "main": main})
        assert rewards["main"] in (0.0, 0.4) and not infos["main"]["tests_run"]


def test_bad_inputs_raise_clear_errors(pool):
    env = make("collabzoo/CoopHumanEval-v1", pool)
    env.reset(options={"task_index": 0})
    with pytest.raises(ValueError, match="missing"):
        env.step({"helper": ""})
    with pytest.raises(ValueError, match="must be a str"):
        env.step({"helper": "", "main": 3})


def test_step_batch_scores_in_parallel_and_matches_step(pool):
    env = make("collabzoo/HumanEval-v1", pool, num_turns=2)
    env.reset(options={"task_index": 0})
    branches = [copy.deepcopy(env) for _ in range(4)]
    assert all(b.pool is pool and b.tasks is env.tasks for b in branches)
    actions = [{"helper": HELPER, "main": m}
               for m in (MAIN_OK, MAIN_WRONG, "nothing", MAIN_OK.replace("aux(a, b)", "abs(a - b)"))]
    batched = [out[1]["main"] for out in step_batch(branches, actions)]
    assert batched == [4.0, pytest.approx(2.0 + 3 / 7), 0.4, 2.5]
    single = copy.deepcopy(env)
    assert single.step(actions[1])[1]["main"] == batched[1]
    # branches are independent: the original env has not moved
    assert env.turn == 0 and all(b.turn == 1 for b in branches)


def test_close_only_by_owner(pool):
    env = collabzoo.make("collabzoo/CoopHumanEval-v1", dataset="bundled", max_workers=1)
    branch = copy.deepcopy(env)
    branch.close()  # a copy never closes the shared pool
    env.reset(options={"task_index": 0})
    assert env.step({"helper": "", "main": ""})[1]["main"] == 0.0
    env.close()
    with pytest.raises(RuntimeError, match="closed"):
        env.pool.run(Candidate("x = 1\n", (TestCase("pass"),)))


# --------------------------------------------------------------------------- feedback


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("env_id", ["collabzoo/HumanEval-v1", "collabzoo/HumanEval-v0"])
def test_feedback_never_shows_a_held_out_test(env_id, pool):
    # has_close_elements: `return True` passes the first assert and fails the held-out
    # tests that expect False; the feedback must not show them (a bug fix on -v0 too)
    env = make(env_id, pool, num_turns=2)
    env.reset(options={"task_index": 0})
    main = "def has_close_elements(numbers, threshold):\n    return True\n"
    obs, _, _, _, infos = env.step({"helper": HELPER, "main": main})
    tests = split_check(env.task["test"], "has_close_elements")
    info = infos["main"]
    assert info["first_failure"]["test"] == tests[1].source  # the infos keep it, for the user
    assert (info["visible_tests_passed"], info["visible_tests_total"]) == (1, 1)
    assert info["visible_failure"] is None
    for agent in ("helper", "main"):
        assert all(t.source not in obs[agent] for t in tests[1:])
        assert "held-out tests are not shown" in obs[agent]
        assert "First failing" not in obs[agent]


# A program that reads every test's source from the sandbox process's frames and raises it
# as its error: the error text is the candidate's own, so it must not come from a process
# that held a held-out test.
EXFILTRATE = """
def {entry}(*args, **kwargs):
    import sys
    frame, sources = sys._getframe(0), []
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, tuple) and len(item) == 3 and isinstance(item[2], str):
                        sources.append(item[2])
        frame = frame.f_back
    if sources:
        print(" || ".join(sources))
        raise ValueError(" || ".join(sources))
    return aux(*args)
"""


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("feedback", ["first_assert", "docstring"])
def test_a_program_that_reads_the_tests_cannot_show_them_to_itself(env_id, feedback, pool):
    env = make(env_id, pool, num_turns=2, feedback=feedback)
    env.reset(options={"task_index": 0})
    entry = env.task["entry_point"]
    obs, _, _, _, infos = env.step({"helper": HELPER,
                                    "main": EXFILTRATE.format(entry=entry)})
    hidden = [t.source for t in split_check(env.task["test"], entry)][1:]
    failure = infos["main"]["visible_failure"]
    assert failure is not None and "ValueError" in failure["error"]  # it ran, and raised
    # in the scored run the program did find the held-out tests (the exploit is real) ...
    assert any(h in infos["main"]["first_failure"]["error"] for h in hidden) or \
        any(h in (infos["main"]["first_failure"]["output"] or "") for h in hidden)
    # ... but the observation comes from the run that held only the visible tests
    for agent in ("helper", "main"):
        assert not any(h in obs[agent] for h in hidden)


def _wrong_mains(task):
    """Two wrong answers: one that always fails, one right only at its first call (so the
    first assert passes and the held-out tests fail)."""
    entry = task["entry_point"]
    solution = (task["prompt"] + task["canonical_solution"]).replace(f"def {entry}(",
                                                                     "def _solution(")
    always = f"def {entry}(*args):\n    return aux(*args)\n"
    first_only = (f"{solution}\n\n_calls = []\n\ndef {entry}(*args):\n    _calls.append(1)\n"
                  f"    return _solution(*args) if len(_calls) == 1 else aux(*args)\n")
    return always, first_only


@pytest.mark.parametrize("feedback", ["first_assert", "docstring", "none"])
@pytest.mark.parametrize("env_id", IDS)
def test_no_held_out_test_text_in_any_observation(env_id, feedback, pool):
    env = make(env_id, pool, split="all", num_turns=2, feedback=feedback)
    branches, actions = [], []
    for index in range(env.num_tasks):
        env.reset(options={"task_index": index})
        for main in _wrong_mains(env.task):
            branches.append(copy.deepcopy(env))
            actions.append({"helper": "def aux(*args):\n    return None\n", "main": main})
    outputs = step_batch(branches, actions)
    shown_first = 0
    for branch, (obs, *_) in zip(branches, outputs, strict=True):
        task = branch.task
        tests = split_check(task["test"], task["entry_point"])
        visible = {"first_assert": tests[:1], "none": (),
                   "docstring": docstring_examples(task["prompt"], task["entry_point"])}[feedback]
        visible_sources = {t.source for t in visible}
        hidden = [t for t in tests if t.source not in visible_sources]
        for agent in ("helper", "main"):
            rest = obs[agent]  # the observation without the visible tests' text
            for source in visible_sources:
                rest = rest.replace(source, "")
            for test in hidden:
                assert test.source not in obs[agent], (task["task_id"], test.source)
                named = test.source.replace("candidate", task["entry_point"])
                assert named not in rest, (task["task_id"], named)
        shown_first += "First failing visible test" in obs["main"]
    # the visible tests are shown when they fail (not a vacuous pass)
    assert (shown_first > 0) == (feedback != "none")


def test_feedback_argument_is_checked(pool):
    with pytest.raises(ValueError, match="first_assert"):
        make("collabzoo/HumanEval-v1", pool, feedback="all")


def test_docstring_feedback_shows_the_prompt_examples(pool):
    env = make("collabzoo/HumanEval-v1", pool, num_turns=2, feedback="docstring")
    env.reset(options={"task_index": 0})
    main = "def has_close_elements(numbers, threshold):\n    return True\n"
    obs, rewards, _, _, infos = env.step({"helper": HELPER, "main": main})
    info = infos["main"]
    assert (info["visible_tests_passed"], info["visible_tests_total"]) == (1, 2)
    assert info["visible_failure"]["test"] == "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False"
    assert "expected False, got True" in obs["main"]
    assert info["tests_total"] == 7  # the examples never count towards the reward
    plain = make("collabzoo/HumanEval-v1", pool, feedback="none")
    plain.reset(options={"task_index": 0})
    assert plain.step({"helper": HELPER, "main": main})[1] == rewards


# --------------------------------------------------------------------------- vs the authors' reward


def _score(pool, index, helper, main, **kwargs):
    env = make("collabzoo/HumanEval-v1", pool, split="all", **kwargs)
    env.reset(options={"task_index": index})
    return env.step({"helper": helper, "main": main})[1]["main"]


def test_difference_a_combining_the_answers(pool):
    # HumanEval/38: the prompt defines encode_cyclic; the authors' program leaves it out
    helper = "def aux(s):\n    return encode_cyclic(s)\n"
    main = "def decode_cyclic(s):\n    once = aux(s)\n    return aux(once)\n"
    assert _score(pool, 38, helper, main) == 4.0
    assert _score(pool, 38, helper, main, combine="reference") == 1.5
    # a function of main's own: kept here, dropped there
    main_own = ("def _close(a, b, t):\n    return aux(a, b) < t\n\n"
                "def has_close_elements(numbers, threshold):\n"
                "    return any(_close(a, b, threshold)\n"
                "               for i, a in enumerate(numbers) for b in numbers[i + 1:])\n")
    assert _score(pool, 0, HELPER, main_own) == 4.0
    assert _score(pool, 0, HELPER, main_own, combine="reference") == 1.5
    with pytest.raises(ValueError, match="combine"):
        make("collabzoo/HumanEval-v1", pool, combine="all")


def test_difference_b_tests_kept_in_loops(pool):
    # HumanEval/32: check is a loop over random polynomials; the authors' line rule finds no
    # test there (scoring stops after syntax: 0.4 + 0.6 + 0.5), collabzoo runs the loop
    task = load_humaneval(split="all")[32]
    main = task["prompt"] + task["canonical_solution"]
    assert _score(pool, 32, "def aux(x):\n    return x\n", main) == 2.5
    assert [line for line in task["test"].splitlines()
            if line.strip().startswith("assert") and "candidate" in line] == []


def test_difference_c_thin_wrapper_rule(pool):
    helper = "def aux(l):\n    return list(set(l))\n"
    main = "def unique(l):\n    return sorted(aux(l))\n"
    assert _score(pool, 34, helper, main) == 4.0
    assert _score(pool, 34, helper, main, thin_wrapper="reference") == 3.0


def test_difference_d_ignored_aux_result(pool):
    # -0.5 here; the authors' pattern needs "aux", one whitespace, "(", one character, ")"
    helper = "def aux(l):\n    return list(set(l))\n"
    main = "def unique(l):\n    aux(l)\n    return sorted(set(l))\n"
    assert _score(pool, 34, helper, main) == 3.5
    # a fix, so no option gives the authors' 4.0
    assert _score(pool, 34, helper, main, combine="reference", thin_wrapper="reference") == 3.5
