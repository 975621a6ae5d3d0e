"""The writing envs: data loading, prompts, infos, feedback, early end (TLDR-v0, ArxivExpansion-v0).

The engine contract (API test, determinism, deepcopy, bad actions) is also checked for every
registered env in test_envs_api.py; here are the writing-specific behaviours.
"""

from __future__ import annotations

import json

import pytest
from pettingzoo.test import parallel_api_test

import collabzoo
from collabzoo.envs.data import DatasetUnavailableError
from collabzoo.envs.writing.arxiv import ArxivExpansionEnv
from collabzoo.envs.writing.rewards import LEVELS, arxiv_reward, tldr_reward
from collabzoo.envs.writing.tldr import TLDREnv

TLDR, ARXIV = "collabzoo/TLDR-v1", "collabzoo/ArxivExpansion-v1"


def words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i:03d}" for i in range(n))


# --------------------------------------------------------------------------- data


def test_bundled_tldr_splits():
    train = TLDREnv(dataset="bundled", split="train")
    test = TLDREnv(dataset="bundled", split="test")
    assert train.num_tasks >= 24 and test.num_tasks >= 8
    posts = [train.source_text(t) for t in train.tasks] + [test.source_text(t) for t in test.tasks]
    assert len(set(posts)) == len(posts), "every post is different"
    for task, post in zip([*train.tasks, *test.tasks], posts, strict=True):
        assert task["prompt"].startswith("SUBREDDIT: r/") and task["prompt"].endswith("TL;DR:")
        body = post.split("POST: ", 1)[1]
        assert 150 <= len(body.split()) <= 400
        assert not post.endswith("TL;DR:")
        assert task["completion"].strip()
    assert len({t["prompt"].split("\n")[0] for t in train.tasks}) >= 15, "varied subreddits"


def test_bundled_arxiv_splits():
    train = ArxivExpansionEnv(dataset="bundled", split="train")
    val = ArxivExpansionEnv(dataset="bundled", split="val")
    assert train.num_tasks + val.num_tasks >= 16
    assert train.text_column == "abstract_text"
    for task in [*train.tasks, *val.tasks]:
        assert set(task) == {"article_id", "abstract_text", "token_count"}
        assert 100 <= len(task["abstract_text"].split()) <= 300
        assert task["token_count"] == len(task["abstract_text"].split())


def test_default_dataset_is_the_hub_and_max_items():
    assert TLDREnv.__init__.__defaults__[:2] == ("trl-lib/tldr", "train")
    assert ArxivExpansionEnv.__init__.__defaults__[:2] == ("OpenMLRL/arXiv_abstract", "train")
    assert collabzoo.make(TLDR, dataset="bundled", max_items=3).num_tasks == 3


def test_unknown_bundled_split_names_the_available_ones():
    with pytest.raises(DatasetUnavailableError, match=r"\['test', 'train'\]"):
        TLDREnv(dataset="bundled", split="validation")
    with pytest.raises(DatasetUnavailableError, match=r"\['train', 'val'\]"):
        ArxivExpansionEnv(dataset="bundled", split="test")


@pytest.mark.parametrize("env_cls", [TLDREnv, ArxivExpansionEnv])
def test_unreachable_hub_names_the_bundled_option(env_cls, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    for module in ("huggingface_hub.constants", "datasets.config"):
        mod = pytest.importorskip(module)
        monkeypatch.setattr(mod, "HF_HUB_OFFLINE", True, raising=False)
    with pytest.raises(DatasetUnavailableError, match='dataset="bundled"'):
        env_cls(dataset="collabzoo-tests/no-such-dataset-anywhere")


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def test_local_jsonl_files(tmp_path):
    tldr = TLDREnv(dataset=write_jsonl(tmp_path / "posts.jsonl", [{"prompt": "A post."}] * 2))
    assert tldr.num_tasks == 2 and tldr.text_column == "prompt"
    # the loader accepts `abstract` and `text`/`prompt` columns as well as `abstract_text`
    for column in ("abstract", "text", "prompt"):
        path = write_jsonl(tmp_path / f"{column}.jsonl", [{column: "We study X.", "id": 1}])
        env = ArxivExpansionEnv(dataset=path)
        assert env.text_column == column
        obs, _ = env.reset(seed=0)
        assert "We study X." in obs["background"] and "We study X." in obs["method"]
    # sentence lists (the arXiv corpus format) are joined and <S> tags removed
    path = write_jsonl(
        tmp_path / "s.jsonl", [{"abstract_text": ["<S> One. </S>", "<S> Two. </S>"]}]
    )
    env = ArxivExpansionEnv(dataset=path)
    assert env.source_text(env.tasks[0]) == "One. Two."
    with pytest.raises(ValueError, match=r"none of the text columns .*'abstract_text'.*'body'"):
        ArxivExpansionEnv(dataset=write_jsonl(tmp_path / "bad.jsonl", [{"body": "x"}]))


# --------------------------------------------------------------------------- API and prompts


@pytest.mark.filterwarnings("ignore:.*ignores unknown options")  # parallel_api_test passes one
@pytest.mark.parametrize("env_id", [TLDR, ARXIV])
def test_parallel_api(env_id):
    env = collabzoo.make(env_id, dataset="bundled")
    parallel_api_test(env, num_cycles=5)
    multi = collabzoo.make(env_id, dataset="bundled", num_turns=3)
    parallel_api_test(multi, num_cycles=5)


def test_tldr_prompts_are_decentralised_and_role_specific():
    env = collabzoo.make(TLDR, dataset="bundled")
    obs, infos = env.reset(options={"task_index": 0})
    assert env.agents == ["concise", "detailed"]
    title = env.task["prompt"].split("\n")[2]
    for agent in env.agents:
        assert title in obs[agent] and "TL;DR:" not in obs[agent]
    assert "one sentence or a few sentences" in obs["concise"]
    assert "transition words" in obs["detailed"] and "range of words" in obs["detailed"]
    assert "transition" not in obs["concise"]


def test_arxiv_prompts_name_the_other_part():
    env = collabzoo.make(ARXIV, dataset="bundled")
    obs, _ = env.reset(options={"task_index": 0})
    abstract = env.task["abstract_text"]
    assert abstract in obs["background"] and abstract in obs["method"]
    assert "Write the background and motivation" in obs["background"]
    assert "Another writer covers the methodology" in obs["background"]
    assert "Write the methodology and implications" in obs["method"]
    assert "Another writer covers the background" in obs["method"]


# --------------------------------------------------------------------------- rewards and infos


def test_step_reward_infos_match_the_pure_function():
    env = collabzoo.make(TLDR, dataset="bundled")
    env.reset(seed=1)
    concise, detailed = words("a", 20), words("a", 3) + " " + words("b", 45) + " however so if"
    _, rewards, terms, truncs, infos = env.step({"concise": concise, "detailed": detailed})
    expected = tldr_reward(concise, detailed)
    assert rewards == {"concise": expected.total, "detailed": expected.total}
    assert terms == {"concise": True, "detailed": True} and not any(truncs.values())
    info = infos["detailed"]
    assert set(info["reward_components"]) == {*LEVELS, "r", "u", "k", "J"}
    assert info["reward_components"]["k"] == 3.0
    assert info["reward_components"]["r"] == pytest.approx(len(detailed) / len(concise))
    assert info["return_normalized"] == pytest.approx(expected.total / 3.0)
    assert info["stopped_at"] is None
    assert info["transition_categories"] == ("cause_effect", "contrast", "condition")
    assert (info["words_concise"], info["words_detailed"]) == (20, 51)
    assert info["chars_concise"] == len(concise) and info["distinct_words_detailed"] == 51


def test_arxiv_step_uses_the_arxiv_reward():
    env = collabzoo.make(ARXIV, dataset="bundled")
    env.reset(seed=0)
    background, method = words("a", 140), words("a", 20) + " " + words("b", 170)
    _, rewards, _, _, infos = env.step({"background": background, "method": method})
    assert rewards["method"] == arxiv_reward(background, method).total
    assert infos["background"]["words_background"] == 140
    assert env.reward_max == 3.0


def test_arxiv_length_band_argument():
    # r = 1.45: full length credit with the current band, 0.25 with the paper-era band
    background = words("a", 140)
    method = (words("b", 140) + " " + "x" * 2000)[: round(len(background) * 1.45)]
    rewards = {}
    for band in ("current", "paper"):
        env = collabzoo.make(ARXIV, dataset="bundled", length_band=band)
        env.reset(seed=0)
        _, r, _, _, infos = env.step({"background": background, "method": method})
        assert infos["method"]["reward_components"]["r"] == pytest.approx(1.45, abs=1e-3)
        assert r["method"] == arxiv_reward(background, method, length_band=band).total
        rewards[band] = infos["method"]["reward_components"]["length_ratio"]
    assert rewards["current"] == 1.0 and rewards["paper"] == pytest.approx(0.25, abs=0.01)
    with pytest.raises(ValueError, match="paper"):
        collabzoo.make(ARXIV, dataset="bundled", length_band="2024")


@pytest.mark.parametrize("env_id", [TLDR, ARXIV])
@pytest.mark.parametrize(
    "bad", ["", "ünïcödé 漢字 🙂", "x" * 1_000_000, "\x00\xff\ud800", "word " * 200_000]
)
def test_any_action_gets_a_reward(env_id, bad):
    env = collabzoo.make(env_id, dataset="bundled", num_turns=2)
    env.reset(seed=0)
    first, second = env.possible_agents
    for actions in ({first: bad, second: "fine text"}, {first: bad, second: bad}):
        _, rewards, _, _, infos = env.step(actions)
        assert isinstance(rewards[first], float) and 0.0 <= rewards[first] <= 3.0
        assert infos[first]["stopped_at"] == "structure"


def test_solved_ends_the_episode_early():
    concise = (
        "The landlord kept the tenant's whole $2,100 deposit for cleaning and a worn carpet, "
        "but she has dated photos of the clean apartment and wants her money back within a month."
    )
    detailed = (
        "The tenant moved out after three years and cleaned carefully; furthermore, she took "
        "photos of every room. For example, the carpet was already worn when she arrived. "
        "In other words, the damage was normal wear. Therefore she disputes the charges. "
        "However, the landlord kept the whole deposit. First she asked for receipts; "
        "meanwhile nothing arrived. Indeed, the law requires an itemized list. Similarly, "
        "old carpet cannot be billed, although landlords often try. If nothing changes, "
        "overall, small claims court is her best option."
    )
    env = collabzoo.make(TLDR, dataset="bundled", num_turns=3)
    env.reset(seed=0)
    _, rewards, terms, _, _ = env.step({"concise": concise, "detailed": detailed})
    assert rewards["concise"] == pytest.approx(2.98)
    assert terms == {"concise": True, "detailed": True} and env.agents == []


# --------------------------------------------------------------------------- multi-turn feedback


def test_feedback_names_unmet_levels_for_each_agent():
    env = collabzoo.make(TLDR, dataset="bundled", num_turns=2)
    env.reset(seed=0, options={"task_index": 3})
    concise = words("a", 20) + "."  # 100 characters
    detailed = words("a", 20) + " a000 a001 a002 a003."  # 120: r = 1.2, level 2 partly met
    obs, rewards, terms, _, infos = env.step({"concise": concise, "detailed": detailed})
    assert infos["concise"]["reward_components"]["r"] == pytest.approx(1.2)
    assert not any(terms.values())
    fb_detailed = obs["detailed"].split("[Turn 1] Feedback:\n")[1]
    fb_concise = obs["concise"].split("[Turn 1] Feedback:\n")[1]
    assert (
        "Length ratio: your detailed summary was 1.20x as long as the concise summary "
        "(in characters); aim for 1.6-3.2x. Make yours longer." in fb_detailed
    )
    assert (
        "Length ratio: the detailed summary was 1.20x as long as your concise summary "
        "(in characters); aim for 1.6-3.2x. Make yours shorter." in fb_concise
    )
    # u = 1.0 < 1.3: the vocabulary gate failed, so the style levels were not scored
    for fb in (fb_detailed, fb_concise):
        assert fb.startswith(f"The team's joint reward was {rewards['concise']:.2f} of 3.0.")
        assert "Vocabulary: " in fb and "aim for at least 2x" in fb
        assert "Not scored until the levels above are met: coherence, consistency." in fb
    assert "Use a wider range of words." in fb_detailed
    # each agent sees its own answer, not the other's
    assert detailed in obs["detailed"] and detailed not in obs["concise"]


def test_feedback_on_structure_and_style():
    env = collabzoo.make(TLDR, dataset="bundled", num_turns=3)
    env.reset(seed=0)
    obs, *_ = env.step({"concise": "Too short.", "detailed": words("b", 30)})
    fb = obs["concise"].rsplit("Feedback:\n", 1)[1]
    assert "Length in words: your concise summary had 2 words; each text needs 8-256." in fb
    assert "the detailed summary had" not in fb  # 30 words: that one was fine
    assert "length ratio, vocabulary, coherence, consistency" in fb
    # all gates passed: the feedback is about transitions and shared content words
    concise, detailed = words("a", 20), words("b", 60) + " however"
    obs, rewards, *_ = env.step({"concise": concise, "detailed": detailed})
    fb = obs["detailed"].rsplit("Feedback:\n", 1)[1]
    assert "Length ratio" not in fb and "Vocabulary" not in fb
    assert "Transitions: your detailed summary used transition words from 1 of 12 categories" in fb
    assert "'additionally' (elaboration)" in fb
    assert "Consistency: the two texts share few content words (Jaccard 0.000" in fb
    assert "Not scored" not in fb


def test_arxiv_feedback_counts_transitions_together():
    env = collabzoo.make(ARXIV, dataset="bundled", num_turns=2)
    env.reset(seed=0)
    background, method = words("a", 140), words("a", 40) + " " + words("b", 150)
    obs, *_ = env.step({"background": background + " however", "method": method + " thus"})
    fb = obs["background"].rsplit("Feedback:\n", 1)[1]
    assert "Transitions: together you used transition words from 2 of 12 categories" in fb
