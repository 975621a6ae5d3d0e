"""The registry by name, plugin discovery, the CLI listing and the no-torch import guarantee."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pettingzoo
import pytest
from envtools import TOY_ID, install_fake_plugin

import collabzoo
from collabzoo.envs import registration
from collabzoo.envs.registration import UnknownEnvError

BUILT_IN = {
    "collabzoo/TLDR-v1": ("concise", "detailed"),
    "collabzoo/ArxivExpansion-v1": ("background", "method"),
    "collabzoo/HumanEval-v1": ("helper", "main"),
    "collabzoo/CoopHumanEval-v1": ("helper", "main"),
    "collabzoo/BFCL-v1": ("first_caller", "second_caller"),
    "collabzoo/ReasoningGym-v1": ("solver_a", "solver_b"),
}


def test_built_in_envs_are_listed_with_agents_and_description():
    infos = {i.id: i for i in collabzoo.envs.list_envs()}
    for env_id, agents in BUILT_IN.items():
        assert infos[env_id].agents == agents
        assert infos[env_id].description
        assert isinstance(infos[env_id].entry_point, str), "entry points must be lazy strings"
        assert env_id in pettingzoo.parallel_registry, "built on PettingZoo's registry"


def test_make_by_id_also_through_pettingzoo():
    env = collabzoo.make(TOY_ID, num_turns=2)
    assert env.possible_agents == ["alpha", "beta"] and env.num_turns == 2
    same = pettingzoo.make("parallel", TOY_ID)
    assert type(same) is type(env)


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("collabzoo/tldr-v1", "collabzoo/TLDR-v1"), ("collabzoo/HumanEval-v2", "collabzoo/HumanEval-v1"),
     ("collabzoo/CoopHumanEva-v1", "collabzoo/CoopHumanEval-v1")],
)
def test_unknown_id_suggests_close_match(typo, suggestion):
    with pytest.raises(UnknownEnvError, match=f"Did you mean '{suggestion}'"):
        collabzoo.make(typo)


def test_unknown_id_without_close_match_points_to_listing():
    with pytest.raises(UnknownEnvError, match="collabzoo envs") as info:
        collabzoo.make("nothing/Like-v9")
    assert "Did you mean" not in str(info.value)


@pytest.mark.parametrize("name", ["TLDR", "ArxivExpansion", "HumanEval", "CoopHumanEval"])
def test_v0_ids_stay_registered_with_the_old_reward_and_warn(name):
    info = collabzoo.envs.spec(f"collabzoo/{name}-v0")
    assert info.deprecated == f"collabzoo/{name}-v1"
    assert info.agents == BUILT_IN[f"collabzoo/{name}-v1"]
    from collabzoo.envs.kwargs import entry_point_callable

    v0, v1 = entry_point_callable(info.id), entry_point_callable(info.deprecated)
    assert issubclass(v0, v1) and v0.turn_reward == "score" and v1.turn_reward == "improvement"
    assert v0.metadata["name"].endswith("_v0") and v1.metadata["name"].endswith("_v1")
    if name == "TLDR":  # the warning itself (the others make sandbox pools)
        with pytest.warns(DeprecationWarning, match="use collabzoo/TLDR-v1"):
            collabzoo.make(info.id, dataset="bundled")


def test_duplicate_registration_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        collabzoo.register(TOY_ID, "toy_env:OtherEnv", agents=("alpha", "beta"))
    with pytest.raises(ValueError, match="already registered"):
        collabzoo.register("collabzoo/TLDR-v1", "toy_env:GuessEnv")


def test_identical_registration_is_a_no_op():
    info = collabzoo.envs.spec(TOY_ID)
    again = collabzoo.register(
        TOY_ID, info.entry_point, agents=info.agents, description=info.description
    )
    assert again == info and collabzoo.envs.spec(TOY_ID) is info


def test_malformed_entry_point_is_an_error():
    with pytest.raises(ValueError, match="module:attr"):
        collabzoo.register("tests/Bad-v0", "toy_env.GuessEnv")


def test_third_party_plugin_is_discovered_through_entry_points(tmp_path, monkeypatch):
    """A package installed with an entry point in group `collabzoo.envs` adds its envs."""
    install_fake_plugin(tmp_path, monkeypatch, "zoo-plugin-pkg", "zoo_plugin_pkg:register_envs", """
        import collabzoo

        def register_envs():
            collabzoo.register(
                "thirdparty/Echo-v0",
                "toy_env:GuessEnv",
                agents=("alpha", "beta"),
                description="a plugin env",
            )
        """)
    ids = [info.id for info in collabzoo.envs.list_envs()]
    assert "thirdparty/Echo-v0" in ids
    env = collabzoo.make("thirdparty/Echo-v0")
    assert env.possible_agents == ["alpha", "beta"]
    # discovery happens once: listing again does not re-register (which would raise)
    monkeypatch.setattr(registration, "_plugins_loaded", True)
    assert "thirdparty/Echo-v0" in [info.id for info in collabzoo.envs.list_envs()]
    registration._INFOS.pop("thirdparty/Echo-v0")
    pettingzoo.parallel_registry.pop("thirdparty/Echo-v0")


def test_broken_plugin_warns_instead_of_breaking_builtins(tmp_path, monkeypatch):
    install_fake_plugin(tmp_path, monkeypatch, "broken", "no_such_module:hook")
    with pytest.warns(UserWarning, match="'broken'.*failed to load"):
        ids = [info.id for info in collabzoo.envs.list_envs()]
    assert "collabzoo/TLDR-v1" in ids


BLOCK_HEAVY = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "transformers", "peft", "accelerate"):
                raise ImportError(f"{name} is not installed in this venv")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def test_import_without_torch():
    """`import collabzoo.envs` works where torch and transformers cannot be imported."""
    code = BLOCK_HEAVY + textwrap.dedent(
        """
        import collabzoo, collabzoo.envs, collabzoo.agents
        heavy = [m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")]
        assert not heavy, heavy
        print(len(collabzoo.envs.list_envs()))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) >= 4


def test_reasoning_env_without_reasoning_gym_says_which_extra():
    """The core install lacks the `reasoning` extra: listing works, making names the fix."""
    code = BLOCK_HEAVY.replace('"accelerate")', '"accelerate", "reasoning_gym")') + textwrap.dedent(
        """
        import collabzoo
        assert "collabzoo/ReasoningGym-v1" in [e.id for e in collabzoo.envs.list_envs()]
        try:
            collabzoo.make("collabzoo/ReasoningGym-v1")
        except ImportError as error:
            print(error)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'collabzoo[reasoning]'" in out.stdout


def test_import_does_not_load_torch_even_when_installed():
    code = (
        "import sys, collabzoo, collabzoo.envs;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch','transformers','reasoning_gym')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_envs_lists_the_registry():
    out = subprocess.run(
        [sys.executable, "-m", "collabzoo.cli", "envs"], capture_output=True, text=True, check=True
    )
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["id", "agents", "description"]
    for env_id, agents in BUILT_IN.items():
        (row,) = [line for line in lines if line.startswith(env_id + " ")]
        assert ", ".join(agents) in row
