"""collabzoo/ArxivExpansion-v1: expand a paper abstract into an introduction, in two parts.

| | |
|---|---|
| Id | `collabzoo/ArxivExpansion-v1` |
| Import | `from collabzoo.envs.writing.arxiv import ArxivExpansionEnv` |
| Agents | `("background", "method")` |
| Observation space | `gymnasium.spaces.Text` (each agent's own prompt) |
| Action space | `gymnasium.spaces.Text` (any `str` is accepted by `step`) |
| Joint reward | `[0, 3.0]` (highest reachable 2.98), every agent gets the same |
| Data | hub `OpenMLRL/arXiv_abstract` (`train`/`val`), or `dataset="bundled"` (13/5) |
| Reference | MAGRPO, arXiv 2508.04652 (writing task "arXiv expansion") |

Both writers read the same abstract. ``background`` writes the introduction's background and
motivation, ``method`` its methodology and implications; each is told that the other covers
the other part, and neither sees the other's text. The team is rewarded for two parts of
balanced size and vocabulary, with the method part a little longer, that flow and share
their key terms.

## Observations
The abstract (column ``abstract_text``, as in the hub dataset, or ``abstract``, ``text``,
``prompt``; a list of sentences is joined and ``<S>``/``</S>`` tags removed) and the agent's
instructions. With ``num_turns > 1``, later observations add the agent's own earlier answers,
each followed by feedback naming the levels it did not fully meet, in plain words.

## Actions
Each agent's part, any ``str``. Empty, non-English, 1 MB or binary-looking text is scored
like any other (it usually fails level 1 and earns 0), never refused.

## Rewards
:func:`collabzoo.envs.writing.rewards.arxiv_reward` (``b`` = background, ``m`` = method).
Levels are scored in order; failing a gate stops the scoring and the reward so far stands.

1. ``structure`` (gate), 0 or 0.5: both texts have 128-256 whitespace-separated words.
2. ``length_ratio`` (gate), 0-1: r = chars(m) / chars(b). With ``length_band="current"``
   (the default): 1 for r in [1.3, 1.6]; (r - 0.8) / 0.5 for r in [0.8, 1.3);
   1 - (r - 1.6) / 0.4 for r in (1.6, 2.0]; otherwise stop. With ``length_band="paper"``:
   1 for r in [1.0, 1.3]; (r - 0.8) / 0.2 for r in [0.8, 1.0); 1 - (r - 1.3) / 0.2 for r in
   (1.3, 1.5]; otherwise stop (see "Length band" below).
3. ``vocabulary`` (gate), 0-0.5: u = |distinct words of m| / |distinct words of b|
   (``\\w+`` runs, lower-cased). 0.5 for u in [0.7, 1.3]; 0.5 * (u - 0.5) / 0.2 for u in
   [0.5, 0.7); 0.5 * (1 - (u - 1.3) / 0.4) for u in (1.3, 1.7]; otherwise stop.
4. ``coherence``, 0-0.38: 0.4 * T, where k = number of the 12 transition-word categories
   present in either text as whole words and T = 0 if k = 0, else
   0.4 + min(0.05 * (k - 1), 0.6). ``consistency``, 0-0.6: 0.6 * min(J, 0.23) / 0.23,
   J = Jaccard similarity of the content words (distinct words minus stopwords) of b and m.

``infos[agent]["reward_components"]`` holds the five components (they sum to the reward)
and the raw measures ``r``, ``u``, ``k``, ``J``; ``infos[agent]`` also has
``return_normalized`` (reward / 3.0, the figure the paper plots), ``stopped_at`` (the gate
that failed, or None), ``transition_categories`` and each text's ``words_*``, ``chars_*``
and ``distinct_words_*``.

Fixes over the reference reward code (details in :mod:`collabzoo.envs.writing.rewards`):
transition words match whole words and phrases (the reference matches substrings, so "so"
counted inside "also"), and categories are found in each text on its own (the reference
searched the two texts glued together without a space); J of two texts without content
words is 0 (the reference gave 1).

## Length band
The authors' reward code changed its length band on 2025-12-31, from 0.8 / 1.0-1.3 / 1.5
(stop below / full credit / stop above) to 0.8 / 1.3-1.6 / 2.0; the MAGRPO paper (August
2025) was trained and scored with the first. ``length_band`` names both: ``"paper"`` and
``"current"``. **The default is ``"current"``** (what v0 has always computed, and what the
authors' code computes today); pass ``length_band="paper"`` (as the ``paper-arxiv`` preset
does) to compare with the paper's published numbers. Worked example: a pair with r = 1.45
that meets every other gate scores 0.75 more with ``"current"`` (length level 1.0) than with
``"paper"`` (1 - 0.15 / 0.2 = 0.25): with u = 1, J = 10/190 and no transition word,
2.137 vs 1.387. (Issue 14's "2.196 vs 1.500" is a pair with r = 1.439: length 1.0 vs 0.304,
other levels 1.196; both are checked in ``tests/test_writing_rewards.py``.)

## Episode End
Terminates after ``num_turns`` turns, or earlier if the reward reaches its highest reachable
value (every level at its maximum). Never truncates.

## Arguments
``ArxivExpansionEnv(dataset="OpenMLRL/arXiv_abstract", split="train", max_items=None,
num_turns=1, render_mode=None, length_band="current")``

- ``dataset``: a hub id for :func:`datasets.load_dataset`, a local ``.jsonl``/``.parquet``
  file with one of the columns above, or ``"bundled"`` for the offline abstracts shipped
  with collabzoo. An unreachable hub raises
  :class:`~collabzoo.envs.data.DatasetUnavailableError` naming ``dataset="bundled"``.
- ``split``: ``"train"`` or ``"val"``.
- ``max_items``: keep only the first ``max_items`` abstracts.
- ``num_turns``: turns per episode (the paper uses 1).
- ``render_mode``: ``"ansi"`` (``render()`` returns the transcript) or ``None``.
- ``length_band``: ``"current"`` (default) or ``"paper"``, the level-2 band (above).

``metadata["answer_tokens"]`` is ``{"background": 192, "method": 256}``: new tokens each
answer must be able to reach (128 words are ~155-175 SmolLM2 tokens); a smaller
``max_new_tokens`` cannot pass the structure gate (see :mod:`collabzoo.envs.answer_length`).

## Version History
- v0: first version; the reward of the MAGRPO paper with whole-word transition matching,
  per-text transition search and J(empty, empty) = 0. Later added ``length_band`` (default
  unchanged, ``"current"``; ``"paper"`` is the band the paper was scored with).
- v1: with ``num_turns > 1`` the reward of turn t is the improvement of the joint score over
  turn t-1 (turn 1: the score), so an episode's undiscounted return is its final score and
  solving earlier is worth more under a discount; ``infos[agent]["score"]`` holds the score
  and ``return_normalized`` is score / 3.0. ``-v0`` (deprecated, still registered) paid the
  full score every turn.

## Example
>>> import collabzoo
>>> env = collabzoo.make("collabzoo/ArxivExpansion-v1", dataset="bundled", num_turns=2)
>>> observations, infos = env.reset(seed=0, options={"task_index": 0})
>>> print(observations["method"].splitlines()[0])
Expand the following scientific abstract into part of a paper's introduction.
>>> actions = {"background": "Tool calls are slow.", "method": "We run them in parallel."}
>>> observations, rewards, terminations, _, infos = env.step(actions)
>>> rewards["background"], infos["background"]["stopped_at"], terminations["background"]
(0.0, 'structure', False)
>>> print(observations["background"].split("[Turn 1] Feedback:\\n")[1].split("\\n\\n")[0])
The team's joint reward was 0.00 of 3.0.
- Length in words: your background section had 4 words; each text needs 128-256.
- Length in words: the method section had 5 words; each text needs 128-256.
- Not scored until the levels above are met: length ratio, vocabulary, coherence, consistency.
"""

from __future__ import annotations

from collabzoo.envs.writing.base import WritingEnv
from collabzoo.envs.writing.rewards import ARXIV_SPEC, arxiv_spec

__all__ = ["ArxivExpansionEnv"]

_TEMPLATE = (
    "Expand the following scientific abstract into part of a paper's introduction.\n\n"
    "Abstract:\n{{text}}\n\n"
    "Instructions:\n"
    "- Write {mine}.\n"
    "- Another writer covers {theirs}; do not repeat that part.\n"
)


class ArxivExpansionEnv(WritingEnv):
    """collabzoo/ArxivExpansion-v1 (see the module docstring)."""

    metadata = {
        "name": "arxiv_expansion_v1",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
        # 128 words ~ 155-175 tokens; the method ~1.3x the background's characters
        "answer_tokens": {"background": 192, "method": 256},
        "answer_tokens_note": "each text needs 128-256 words, or the reward is 0",
    }
    roles = ("background", "method")
    spec = ARXIV_SPEC
    bundled_name = "arxiv"
    text_columns = ("abstract_text", "abstract", "text", "prompt")
    role_nouns = {"background": "background section", "method": "method section"}
    templates = {
        "background": _TEMPLATE.format(
            mine="the background and motivation: the problem, why it matters, and what "
            "earlier work leaves open",
            theirs="the methodology and its implications",
        ),
        "method": _TEMPLATE.format(
            mine="the methodology and implications: what the work does, how it does it, "
            "and what follows from the results",
            theirs="the background and motivation",
        ),
    }

    def __init__(
        self,
        dataset: str = "OpenMLRL/arXiv_abstract",
        split: str = "train",
        max_items: int | None = None,
        num_turns: int = 1,
        render_mode: str | None = None,
        length_band: str = "current",
    ) -> None:
        self.spec = arxiv_spec(length_band)  # the instance's band shadows the class default
        self.length_band = length_band
        super().__init__(
            dataset=dataset,
            split=split,
            max_items=max_items,
            num_turns=num_turns,
            render_mode=render_mode,
        )
