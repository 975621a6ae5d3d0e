"""collabzoo/TLDR-v1: two summaries of one Reddit post, a concise one and a detailed one.

| | |
|---|---|
| Id | `collabzoo/TLDR-v1` |
| Import | `from collabzoo.envs.writing.tldr import TLDREnv` |
| Agents | `("concise", "detailed")` |
| Observation space | `gymnasium.spaces.Text` (each agent's own prompt) |
| Action space | `gymnasium.spaces.Text` (any `str` is accepted by `step`) |
| Joint reward | `[0, 3.0]` (highest reachable 2.98), every agent gets the same |
| Data | hub `trl-lib/tldr` (`train`/`test`), or `dataset="bundled"` (26/8 posts) |
| Reference | MAGRPO, arXiv 2508.04652 (writing task "TLDR") |

The two writers see the same post but not each other (decentralised execution). The team is
rewarded when the detailed summary is clearly longer and richer than the concise one, flows
with transition words, and still talks about the same things.

## Observations
``concise``: the post and a request for a brief, factual summary in one sentence or a few
sentences. ``detailed``: the post and a request for a longer summary that uses more distinct
words and some transition words. The post is the dataset's ``prompt`` column (or ``text``)
with a trailing ``TL;DR:`` removed. With ``num_turns > 1``, later observations add the agent's
own earlier answers, each followed by feedback that names the levels below it did not fully
meet, in plain words (e.g. "Length ratio: your detailed summary was 1.20x as long as the
concise summary (in characters); aim for 1.6-3.2x. Make yours longer.").

## Actions
Each agent's summary, any ``str``. Empty, non-English, 1 MB or binary-looking text is scored
like any other (it usually fails level 1 and earns 0), never refused.

## Rewards
:func:`collabzoo.envs.writing.rewards.tldr_reward` (``c1`` = concise, ``c2`` = detailed).
Levels are scored in order; failing a gate stops the scoring and the reward so far stands.

1. ``structure`` (gate), 0 or 0.5: both texts have 8-256 whitespace-separated words.
2. ``length_ratio`` (gate), 0-1: r = chars(c2) / chars(c1). 1 for r in [1.6, 3.2];
   (r - 1.1) / 0.5 for r in [1.1, 1.6); 1 - (r - 3.2) / 1.8 for r in (3.2, 5.0];
   otherwise stop. (r = 1.35 gives 0.5; r = 6 stops at a total of 0.5.)
3. ``vocabulary`` (gate), 0-0.5: u = |distinct words of c2| / |distinct words of c1|
   (``\\w+`` runs, lower-cased). 0.5 for u >= 2; 0.5 * (u - 1.3) / 0.7 for u in [1.3, 2);
   otherwise stop.
4. ``coherence``, 0-0.38: 0.4 * T, where k = number of the 12 transition-word categories
   present in c2 as whole words and T = 0 if k = 0, else 0.4 + min(0.05 * (k - 1), 0.6).
   ``consistency``, 0-0.6: 0.6 * min(J, 0.03) / 0.03, J = Jaccard similarity of the
   content words (distinct words minus stopwords) of c1 and c2.

``infos[agent]["reward_components"]`` holds the five components (they sum to the reward)
and the raw measures ``r``, ``u``, ``k``, ``J``; ``infos[agent]`` also has ``score`` (the
sum above; with ``num_turns > 1`` the reward of a later turn is the improvement of the score
over the previous turn's), ``return_normalized`` (score / 3.0, the figure the paper plots),
``stopped_at`` (the gate
that failed, or None), ``transition_categories`` and each text's ``words_*``, ``chars_*``
and ``distinct_words_*``.

Fixes over the reference reward code (details in :mod:`collabzoo.envs.writing.rewards`):
transition words match whole words and phrases (the reference matches substrings, so "so"
counted inside "also"); J of two texts without content words is 0 (the reference gave 1).

## Episode End
Terminates after ``num_turns`` turns, or earlier if the reward reaches its highest reachable
value (every level at its maximum). Never truncates.

## Arguments
``TLDREnv(dataset="trl-lib/tldr", split="train", max_items=None, num_turns=1,
render_mode=None)``

- ``dataset``: a hub id for :func:`datasets.load_dataset`, a local ``.jsonl``/``.parquet``
  file with a ``prompt`` (or ``text``) column, or ``"bundled"`` for the offline posts shipped
  with collabzoo. An unreachable hub raises
  :class:`~collabzoo.envs.data.DatasetUnavailableError` naming ``dataset="bundled"``.
- ``split``: ``"train"`` or ``"test"``.
- ``max_items``: keep only the first ``max_items`` posts.
- ``num_turns``: turns per episode (the paper uses 1).
- ``render_mode``: ``"ansi"`` (``render()`` returns the transcript) or ``None``.

``metadata["answer_tokens"]`` is ``{"concise": 64, "detailed": 160}``: new tokens each answer
must be able to reach, the detailed one 1.6-3.2x the concise one (see
:mod:`collabzoo.envs.answer_length`).

## Version History
- v0: first version; the reward of the MAGRPO paper with whole-word transition matching and
  J(empty, empty) = 0.
- v1: with ``num_turns > 1`` the reward of turn t is the improvement of the joint score over
  turn t-1 (turn 1: the score), so an episode's undiscounted return is its final score and
  solving earlier is worth more under a discount; ``infos[agent]["score"]`` holds the score
  and ``return_normalized`` is score / 3.0. ``-v0`` (deprecated, still registered) paid the
  full score every turn.

## Example
>>> import collabzoo
>>> env = collabzoo.make("collabzoo/TLDR-v1", dataset="bundled")
>>> observations, infos = env.reset(seed=0, options={"task_index": 0})
>>> env.agents
['concise', 'detailed']
>>> concise = ("My boyfriend owes me about $640 for shared groceries and keeps forgetting "
...            "to pay me back; how do I raise it again without a fight?")
>>> detailed = ("The poster and her boyfriend agreed to split groceries evenly when they moved "
...     "in together. However, since September he has ignored her payment requests, so he now "
...     "owes about $640. He is generous in other ways, for example paying for dinners out, but "
...     "she would rather have her savings back. When she raised it, he said she was keeping "
...     "score. Overall, she wants to ask again without a fight and is considering a joint account.")
>>> _, rewards, terminations, _, infos = env.step({"concise": concise, "detailed": detailed})
>>> round(rewards["concise"], 3), terminations["concise"]
(2.806, True)
>>> {k: round(v, 3) for k, v in infos["detailed"]["reward_components"].items()}
{'structure': 0.5, 'length_ratio': 0.966, 'vocabulary': 0.5, 'coherence': 0.24, 'consistency': 0.6, 'r': 3.262, 'u': 2.5, 'k': 5.0, 'J': 0.139}
>>> round(infos["detailed"]["return_normalized"], 3)
0.935
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collabzoo.envs.writing.base import WritingEnv
from collabzoo.envs.writing.rewards import TLDR_SPEC

__all__ = ["TLDREnv"]


class TLDREnv(WritingEnv):
    """collabzoo/TLDR-v1 (see the module docstring)."""

    metadata = {
        "name": "tldr_v1",
        "render_modes": ["ansi"],
        "is_parallelizable": True,
        # concise: a few sentences; detailed: 1.6-3.2x as many characters (2.5x the budget)
        "answer_tokens": {"concise": 64, "detailed": 160},
        "answer_tokens_note": "the detailed summary must be 1.6-3.2x as long as the concise one",
    }
    roles = ("concise", "detailed")
    spec = TLDR_SPEC
    bundled_name = "tldr"
    text_columns = ("prompt", "text")
    role_nouns = {"concise": "concise summary", "detailed": "detailed summary"}
    templates = {
        "concise": (
            "Write a concise summary of the following Reddit post.\n\n{text}\n\n"
            "Instructions:\n"
            "- Summarize it briefly, in one sentence or a few sentences.\n"
            "- Be factual: keep the main situation and question, leave out the rest.\n"
        ),
        "detailed": (
            "Write a detailed summary of the following Reddit post.\n\n{text}\n\n"
            "Instructions:\n"
            "- Another writer gives a short summary of the same post; yours is the longer "
            "one and covers more of the details.\n"
            "- Use a wide range of words.\n"
            "- Use some transition words to make it flow.\n"
        ),
    }

    def __init__(
        self,
        dataset: str = "trl-lib/tldr",
        split: str = "train",
        max_items: int | None = None,
        num_turns: int = 1,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(
            dataset=dataset,
            split=split,
            max_items=max_items,
            num_turns=num_turns,
            render_mode=render_mode,
        )

    def source_text(self, task: Mapping[str, Any]) -> str:
        """The post, without the trailing ``TL;DR:`` cue of ``trl-lib/tldr`` prompts."""
        text = super().source_text(task)
        return text.removesuffix("TL;DR:").rstrip()
