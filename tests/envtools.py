"""Helpers shared by the tests: the toy env's registration and offline construction."""

from __future__ import annotations

import importlib
import inspect
import os

import collabzoo
from collabzoo.envs import list_envs, spec

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TOY_ID = "tests/Guess-v0"
collabzoo.register(
    TOY_ID,
    "toy_env:GuessEnv",
    agents=("alpha", "beta"),
    description="test-only toy env",
)


def offline_kwargs(env_id: str) -> dict:
    """Keyword arguments that make any registered env work offline (bundled data)."""
    entry_point = spec(env_id).entry_point
    if callable(entry_point):
        creator = entry_point
    else:
        module, attr = entry_point.split(":")
        creator = getattr(importlib.import_module(module), attr)
    params = inspect.signature(creator).parameters
    return {"dataset": "bundled"} if "dataset" in params else {}


def make_offline(env_id: str, **kwargs):
    return collabzoo.make(env_id, **{**offline_kwargs(env_id), **kwargs})


ALL_ENV_IDS = [info.id for info in list_envs()]
