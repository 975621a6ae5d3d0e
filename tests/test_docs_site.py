"""The documentation site's generator (docs/_ext/collabzoo_docs.py) without building the site:
docstring conversion, env pages (parallel, AEC, a missing optional package), algorithm pages
(help text from field metadata, else the source), the CLI page, and the link checker.
CI builds the whole site with warnings as errors (`make docs`) and checks it in a browser."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import gymnasium
import pettingzoo
import pytest
from pettingzoo import AECEnv

import collabzoo
from collabzoo.envs import registration as env_registry

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load("collabzoo_docs", ROOT / "docs" / "_ext" / "collabzoo_docs.py")
check = _load("check_docs", ROOT / "tools" / "check_docs.py")


@pytest.fixture
def registered():
    """Env ids registered by a test are removed afterwards."""
    ids: list[str] = []
    yield ids
    for env_id in ids:
        env_registry._INFOS.pop(env_id, None)
        pettingzoo.parallel_registry.pop(env_id, None)


# ------------------------------------------------------------------------ docstrings
def test_docstring_to_myst_converts_roles_doctests_and_literal_blocks():
    text = ("Reward :func:`collabzoo.envs.writing.rewards.tldr_reward` and "
            ":class:`~collabzoo.envs.Score`.\n\nThe formula::\n\n    A = R - mean(R)\n\n"
            "## Example\n>>> 1 + 1\n2\n\nAfter.")
    assert gen.docstring_to_myst(text) == (
        "Reward {py:func}`collabzoo.envs.writing.rewards.tldr_reward` and "
        "{py:class}`~collabzoo.envs.Score`.\n\nThe formula:\n\n```text\nA = R - mean(R)\n```\n\n"
        "## Example\n```pycon\n>>> 1 + 1\n2\n```\n\nAfter.")


def test_a_doctest_at_the_end_is_closed():
    assert gen.doctest_to_fence(">>> x = 1\n>>> x\n1") == "```pycon\n>>> x = 1\n>>> x\n1\n```"


# ------------------------------------------------------------------------ env pages
def test_env_page_of_a_builtin_env_resets_it_at_build_time():
    page = gen.env_page(collabzoo.spec("collabzoo/TLDR-v1"))
    assert page.startswith("# collabzoo/TLDR-v1\n\nTwo summaries of one Reddit post")
    assert "| Observation space | `Text(min_length=0, max_length=" in page
    assert "| API | PettingZoo `ParallelEnv` |" in page
    assert "| Agents | `('concise', 'detailed')` |" in page
    assert "`collabzoo.make('collabzoo/TLDR-v1', dataset='bundled')`" in page
    # the observation of each agent, made by env.reset(seed=0), and the docstring's sections
    env = collabzoo.make("collabzoo/TLDR-v1", dataset="bundled")
    observations, _ = env.reset(seed=0)
    for agent in ("concise", "detailed"):  # wrapped at 80 characters for the page
        assert observations[agent].splitlines()[0][:70] in page
    for heading in ("## Rewards", "## Arguments", "## Version History", "```pycon"):
        assert heading in page


class TurnsEnv(AECEnv):
    """Two players take turns naming a number; the docstring of a class-only env."""

    metadata = {"name": "turns_v0", "render_modes": []}
    possible_agents = ["first", "second"]

    def __init__(self):
        self._space = gymnasium.spaces.Text(64)

    def observation_space(self, agent):
        return self._space

    def action_space(self, agent):
        return self._space

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.agent_selection = "first"
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = dict(self.rewards)
        self.terminations = {a: False for a in self.agents}
        self.truncations = dict(self.terminations)
        self.infos = {a: {"legal_actions": ["1", "2"]} for a in self.agents}

    def observe(self, agent):
        return f"{agent}: your move (seed-free)"

    def step(self, action):
        self.agent_selection = "second"


def test_env_page_of_an_aec_env_observes_the_selected_agent(registered):
    collabzoo.register("docs-test/Turns-v0", TurnsEnv, agents=("first", "second"))
    registered.append("docs-test/Turns-v0")
    page = gen.env_page(collabzoo.spec("docs-test/Turns-v0"))
    assert "| API | PettingZoo `AECEnv` |" in page
    assert "`env.observe(env.agent_selection)`" in page
    assert "`first`:\n\n```text\nfirst: your move (seed-free)\n```" in page
    assert "Info keys: `legal_actions`." in page
    assert "two players take turns" in page.lower()


def test_an_env_whose_package_is_missing_gets_a_note_not_a_crash(registered, tmp_path,
                                                                  monkeypatch):
    (tmp_path / "needs_rliable_env.py").write_text("import rliable_not_installed_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    collabzoo.register("docs-test/Missing-v0", "needs_rliable_env:Env", agents=("a", "b"),
                       description="needs a package")
    registered.append("docs-test/Missing-v0")
    logged, warned = [], []
    page = gen.env_page_or_note(collabzoo.spec("docs-test/Missing-v0"), logged.append,
                                warned.append)
    assert "built without the Python package `rliable_not_installed_here`" in page
    assert "```{note}" in page and "| Agents | `('a', 'b')` |" in page
    assert logged and not warned  # a user's build without every extra is not an error


def test_a_broken_env_is_a_warning(registered):
    def broken(**kwargs):
        raise RuntimeError("reset exploded")

    collabzoo.register("docs-test/Broken-v0", broken, agents=("a",))
    registered.append("docs-test/Broken-v0")
    warned: list[str] = []
    page = gen.env_page_or_note(collabzoo.spec("docs-test/Broken-v0"), print, warned.append)
    assert "reset exploded" in page and len(warned) == 1 and "reset exploded" in warned[0]


def test_extra_providing_reads_setup_cfg():
    assert gen.extra_providing("rliable") == "bench"
    assert gen.extra_providing("sphinx") == "docs"
    assert gen.extra_providing("no_such_package") is None


# ------------------------------------------------------------------------ algorithms, CLI
def test_field_help_prefers_metadata_and_falls_back_to_the_source():
    from collabzoo.trainers.config import TrainerConfig, field_docs

    # a class made at run time has no source: the metadata alone, no OSError
    Config = dataclasses.make_dataclass(
        "Config", [("clip", float, dataclasses.field(default=2.0, metadata={"help": "Clip."}))],
        bases=(TrainerConfig,))
    helps = gen.field_help(Config)
    assert helps["clip"] == "Clip."
    # the loop's fields keep their attribute docstrings from the source
    assert helps["num_generations"] == field_docs(TrainerConfig)["num_generations"] != ""
    table = gen.config_table(Config, ["clip"])
    assert table.splitlines()[-1] == "| `clip` | `float` | `2.0` | Clip. |"


def test_algorithm_page_has_the_formula_fields_and_needs():
    from collabzoo.algorithms import spec

    page = gen.algorithm_page(spec("magrpo"))
    assert page.startswith("# magrpo\n")
    assert "```{eval-rst}" in page and "A_k = (R_k - mean_j R_j)" in page
    assert "| `advantage` |" in page and "| `learning_rate` |" not in page  # a loop field
    assert "| Needs from the env | the contract (ParallelEnv + deepcopy); G >= 2 |" in page


def test_cli_page_has_every_subcommand():
    page = gen.cli_page()
    for command in ("envs", "algos", "presets", "train", "eval", "plot", "benchmark"):
        assert f"## collabzoo {command}\n" in page
    assert "--algo" in page and "usage: collabzoo train" in page


def test_canonical_name_follows_reexports():
    assert gen.canonical_name("collabzoo.make") == "collabzoo.envs.registration.make"
    assert (gen.canonical_name("collabzoo.envs.TextCollabEnv.reset")
            == "collabzoo.envs.core.TextCollabEnv.reset")
    assert gen.canonical_name("collabzoo.envs.no_such_thing") is None


# ------------------------------------------------------------------------ the link check
def test_link_check_finds_broken_links_and_anchors(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<h1 id="top">Home</h1><a href="sub/page.html#part">ok</a>'
        '<a href="sub/page.html#nope">bad anchor</a><a href="missing.html">bad</a>'
        '<a href="https://example.org/x">external</a><a href="#top">self</a>')
    (tmp_path / "sub" / "page.html").write_text('<section id="part"></section>'
                                                '<a href="../index.html">up</a>')
    problems = check.check_links(tmp_path)
    assert len(problems) == 2
    assert any("#nope" in p for p in problems) and any("missing.html" in p for p in problems)
    assert check.parse("<h1>Title<a>¶</a></h1>").h1 == ["Title¶"]
