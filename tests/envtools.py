"""Helpers shared by the tests: the toy env's registration and offline construction."""

from __future__ import annotations

import importlib
import inspect
import os
import textwrap

import collabzoo
from collabzoo.envs import list_envs, registration, spec

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TOY_ID = "tests/Guess-v0"
collabzoo.register(
    TOY_ID,
    "toy_env:GuessEnv",
    agents=("alpha", "beta"),
    description="test-only toy env",
)
#: A turn-based env written without collabzoo (tests/plain_aec_env.py).
PLAIN_AEC_ID = "tests/CountTogether-v0"
collabzoo.register(
    PLAIN_AEC_ID,
    "plain_aec_env:CountTogether",
    agents=("first", "second"),
    description="test-only AEC env: two players count up in turn",
    api="aec",
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


#: Every registered parallel id but the deprecated ones (tests/test_registry.py covers those).
ALL_ENV_IDS = [info.id for info in list_envs() if not info.deprecated and info.api == "parallel"]
#: Every registered turn-based (AEC) id.
AEC_ENV_IDS = [info.id for info in list_envs() if not info.deprecated and info.api == "aec"]


def install_fake_plugin(tmp_path, monkeypatch, name: str, hook: str, source: str | None = None):
    """Make an installed distribution ``name`` whose entry point in group ``collabzoo.envs``
    is ``hook`` (``"module:function"``), with ``source`` as that module, visible to the next
    plugin discovery."""
    if source is not None:
        (tmp_path / f"{hook.split(':')[0]}.py").write_text(textwrap.dedent(source))
    dist = tmp_path / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[collabzoo.envs]\n{name} = {hook}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registration, "_plugins_loaded", False)
