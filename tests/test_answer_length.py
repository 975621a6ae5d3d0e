"""Each collabzoo env declares how long its answers must be able to get, and budgets are checked."""

from __future__ import annotations

import warnings

import pytest

import collabzoo
from collabzoo.envs.answer_length import (
    GenerationLengthWarning,
    answer_tokens,
    check_max_new_tokens,
    tokens_needed,
)
from collabzoo.envs.registration import spec

COLLABZOO_IDS = [e.id for e in collabzoo.list_envs() if e.id.startswith("collabzoo/")]


def _env_class(env_id):
    module, _, attr = spec(env_id).entry_point.partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)


@pytest.mark.parametrize("env_id", COLLABZOO_IDS)
def test_every_collabzoo_env_declares_its_answer_length(env_id):
    cls = _env_class(env_id)
    declared = answer_tokens(cls)
    assert set(declared) == set(cls.roles)
    assert all(isinstance(n, int) and n >= 32 for n in declared.values())
    assert cls.metadata["answer_tokens_note"]
    assert check_max_new_tokens(cls, tokens_needed(cls), warn=False) == []


def test_the_old_default_length_cannot_reach_arxivs_gate():
    # issue 14: with max_new_tokens 64 (the trainer's old default) every ArXiv reward is 0;
    # the check says so, per agent
    cls = _env_class("collabzoo/ArxivExpansion-v1")
    with pytest.warns(GenerationLengthWarning, match="128-256 words") as caught:
        messages = check_max_new_tokens(cls, 64)
    assert len(messages) == len(caught) == 2
    assert "'background'" in messages[0] and "max_new_tokens >= 192" in messages[0]
    assert check_max_new_tokens(cls, 200, warn=False) == [messages[1].replace("=64", "=200")]


def test_an_env_that_declares_nothing_is_never_warned_about():
    class Plain:
        metadata = {"name": "plain"}

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_max_new_tokens(Plain(), 1) == []
    assert tokens_needed(Plain) is None and answer_tokens(object()) == {}


def test_trainer_takes_the_envs_length_unless_set_and_warns_below_it():
    pytest.importorskip("torch")
    from collabzoo.trainers import MAGRPOConfig, MAGRPOTrainer

    def trainer(**fields):
        return MAGRPOTrainer("collabzoo/ArxivExpansion-v1", env_kwargs={"dataset": "bundled"},
                             model="tiny", config=MAGRPOConfig(steps=1, **fields))

    assert MAGRPOConfig().max_new_tokens is None
    assert trainer().config.max_new_tokens == 256
    with pytest.warns(GenerationLengthWarning, match="'method'"):
        assert trainer(max_new_tokens=200).config.max_new_tokens == 200


def test_eval_takes_the_envs_length_unless_set(tmp_path):
    from collabzoo.cli import main
    from collabzoo.evaluation.results import load_results

    def run(*extra):
        out = tmp_path / f"r{len(extra)}"
        assert main(["eval", "--env", "collabzoo/TLDR-v1", "--agents", "random:1",
                     "--env-kwargs", "dataset=bundled", "split=test", "--episodes", "1",
                     "--no-progress", "--output", str(out), *extra]) == 0
        return load_results(out)[0]["sampling"]["max_new_tokens"]

    assert run() == 160
    with pytest.warns(GenerationLengthWarning, match="'detailed'"):
        assert run("--max-new-tokens", "100") == 100
