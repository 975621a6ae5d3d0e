"""The joint rewards of the writing tasks, as pure functions of two texts.

``tldr_reward(concise, detailed)`` and ``arxiv_reward(background, method)`` score a joint
action of :mod:`collabzoo.envs.writing.tldr` and :mod:`collabzoo.envs.writing.arxiv` without
an env. Both are :func:`writing_reward` with a :class:`WritingRewardSpec`: four levels scored
in order, each failing gate stopping the scoring (the reward so far stands).

Levels (``first`` = concise/background, ``second`` = detailed/method):

1. ``structure`` (gate), 0 or 0.5: both texts have ``spec.words`` whitespace words.
2. ``length_ratio`` (gate), 0-1: ``spec.length_band`` of r = chars(second) / chars(first).
3. ``vocabulary`` (gate), 0-0.5: ``spec.vocabulary_band`` of
   u = distinct(second) / distinct(first).
4. ``coherence``, 0-0.38: ``0.4 * T`` with T from k transition-word categories (of 12);
   ``consistency``, 0-0.6: ``0.6 * min(J, spec.jaccard_cap) / spec.jaccard_cap``.

A band is a trapezoid: 0 at ``low``, rising linearly to its weight at ``full_low``, flat to
``full_high``, falling linearly to 0 at ``high``; outside ``[low, high]`` the gate fails.
``T = 0`` when k = 0, else ``0.4 + min(0.05 * (k - 1), 0.6)``: with 12 categories T <= 0.95,
so the highest reachable reward is 2.98 (the nominal maximum is 3.0, as in the paper).

Words and measures:
    - *whitespace words* (level 1): ``len(text.split())``.
    - *chars* (level 2): ``len(text)``, whitespace included, as in the reference.
    - *distinct words* (level 3): the set of ``\\w+`` runs of ``text.lower()`` (letters, digits
      and underscore; punctuation and apostrophes separate words, so "don't" is "don", "t").
    - *content words*: distinct words minus :data:`STOPWORDS` (our own English list).
    - *J*: Jaccard similarity of the two texts' content-word sets.
    - *k*: number of :data:`TRANSITION_WORDS` categories with at least one word or phrase in
      the text, matched as whole words: the phrase ``w1 w2`` matches exactly where the regex
      ``\\bw1\\W+w2\\b`` matches the lower-cased text (see :func:`transition_categories`).

Undefined ratios are 0 (and fail their gate): r when the first text is empty, u when the
first text has no word. Every string (empty, unicode, binary-looking, 1 MB) gets a reward.

Differences from the authors' released reward code (MAGRPO, arXiv 2508.04652):
    - Transition words match whole words and phrases. The reference tests substrings, so
      "so" fires inside "also", "as" inside "was", "if" inside "different", and nearly every
      text scores several categories for free.
    - J of two texts without any content word is 0, not 1: the reference gives two texts made
      only of stopwords the full consistency reward.
    - The transition-word and stopword lists are collabzoo's own (same 12 categories). Bare
      function words whose transition sense is rare ("as", "had", "were", "should", "still")
      are left out: with whole-word matching they would fire on almost any text.
    - For ArxivExpansion, k counts the categories found in either text, each searched on its
      own; the reference glued the texts together without a separator, so the last word of
      one and the first word of the other ran together ("however" + "Thus" = "howeverthus").

>>> result = tldr_reward("The cat sat on the warm mat all day.",
...                      "The cat sat on the warm mat all day long; however, when the sun "
...                      "moved away, it finally jumped down and looked for food.")
>>> round(result.total, 3), result.stopped_at
(2.741, None)
>>> {name: round(value, 3) for name, value in result.components.items()}
{'structure': 0.5, 'length_ratio': 0.941, 'vocabulary': 0.5, 'coherence': 0.2, 'consistency': 0.6}
>>> result.measures.categories, round(result.measures.length_ratio, 3)
(('contrast', 'sequence', 'time'), 3.306)
>>> tldr_reward("Too short.", "Also too short.").stopped_at  # level 1 fails: total 0.0
'structure'
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

__all__ = [
    "ARXIV_LENGTH_BANDS",
    "ARXIV_SPEC",
    "LEVELS",
    "STOPWORDS",
    "TLDR_SPEC",
    "TRANSITION_WORDS",
    "Band",
    "PairMeasures",
    "WritingReward",
    "WritingRewardSpec",
    "arxiv_reward",
    "arxiv_spec",
    "coherence",
    "content_words",
    "count_words",
    "distinct_words",
    "jaccard",
    "measure_pair",
    "tldr_reward",
    "transition_categories",
    "writing_reward",
]

# fmt: off
#: English function words left out of *content words* (J). Written for collabzoo; includes
#: the pieces ``\w+`` makes of contractions ("don't" -> "don", "t").
STOPWORDS: frozenset[str] = frozenset("""
a about above after again against all almost also although always am among an and another
any anyone anything are around as at away back be became because become been before being
below between both but by can cannot could d did do does doing done down during each either
else enough even ever every few for from further get gets getting go goes going got had has
have having he her here hers herself him himself his how however i if in into is it its
itself just least less let like ll m made make many may me might mine more most much must my
myself neither never no nor not now of off often on once one only onto or other others
otherwise our ours ourselves out over own per quite rather re really s same several shall she
should since so some something still such t than that the their theirs them themselves then
there therefore these they thing things this those though through thus to too toward towards
under until up upon us ve very was we well were what whatever when where whether which while
who whom whose why will with within without would yet you your yours yourself yourselves
aren couldn didn doesn don hadn hasn haven isn mustn shan shouldn wasn weren won wouldn
""".split())

#: Transition words and phrases by category (12 categories, lower case, single spaces).
#: Written for collabzoo; a phrase matches as whole words (see :func:`transition_categories`).
TRANSITION_WORDS: Mapping[str, tuple[str, ...]] = {
    "elaboration": (
        "additionally", "also", "besides", "further", "furthermore", "moreover",
        "in addition", "what is more", "not only", "as well as", "along with",
        "together with", "on top of that", "beyond that",
    ),
    "examples": (
        "for example", "for instance", "such as", "including", "namely", "specifically",
        "in particular", "particularly", "especially", "to illustrate", "as an illustration",
        "a case in point",
    ),
    "explanation": (
        "that is", "in other words", "put simply", "simply put", "to put it simply",
        "to clarify", "to be clear", "this means", "which means", "meaning that",
        "more precisely", "essentially", "basically",
    ),
    "cause_effect": (
        "because", "because of", "due to", "owing to", "since", "so", "therefore", "thus",
        "hence", "consequently", "accordingly", "thereby", "as a result",
        "as a consequence", "for this reason", "that is why", "which is why", "leads to",
        "led to", "resulting in",
    ),
    "contrast": (
        "however", "but", "yet", "whereas", "instead", "conversely", "unlike",
        "nevertheless", "nonetheless", "on the other hand", "in contrast", "by contrast",
        "on the contrary", "rather than", "even so",
    ),
    "sequence": (
        "first", "firstly", "second", "secondly", "third", "thirdly", "next", "then",
        "afterwards", "afterward", "subsequently", "finally", "lastly", "initially",
        "after that", "to begin with", "to start with", "following this",
        "last but not least",
    ),
    "emphasis": (
        "indeed", "certainly", "clearly", "obviously", "undoubtedly", "definitely",
        "notably", "importantly", "significantly", "in fact", "of course", "above all",
        "most importantly", "without a doubt", "it is worth noting",
    ),
    "summary": (
        "overall", "briefly", "ultimately", "in summary", "to summarize", "in short",
        "in brief", "to sum up", "all in all", "in conclusion", "to conclude",
        "on the whole", "in the end", "the bottom line", "in a nutshell",
    ),
    "comparison": (
        "similarly", "likewise", "equally", "correspondingly", "analogously", "just as",
        "just like", "much like", "compared to", "compared with", "in comparison",
        "by comparison", "in the same way", "by the same token",
    ),
    "concession": (
        "although", "though", "despite", "admittedly", "granted", "regardless",
        "notwithstanding", "even though", "even if", "in spite of", "that said",
        "having said that", "be that as it may", "all the same",
    ),
    "condition": (
        "if", "unless", "otherwise", "only if", "as long as", "so long as", "in case",
        "provided that", "assuming that", "given that", "in the event that",
        "on condition that", "whether or not",
    ),
    "time": (
        "when", "while", "after", "before", "until", "during", "meanwhile", "previously",
        "earlier", "later", "eventually", "immediately", "soon", "currently", "recently",
        "nowadays", "simultaneously", "in the meantime", "at the same time",
    ),
}
# fmt: on

_WORD = re.compile(r"\w+")

# Index of TRANSITION_WORDS for matching on word tokens: single words in one dict; phrases
# keyed by their first word, each as (its other words, " w1 w2 ... ", its categories).
_SINGLE: dict[str, frozenset[str]] = {}
_PHRASES: dict[str, tuple[tuple[frozenset[str], str, frozenset[str]], ...]] = {}
_SINGLE_KEYS: set[str] = set()  # set & set iterates the smaller one: faster than set & dict
_PHRASE_KEYS: set[str] = set()


def _build_index() -> None:
    singles: dict[str, set[str]] = {}
    phrases: dict[tuple[str, ...], set[str]] = {}
    for category, entries in TRANSITION_WORDS.items():
        for entry in entries:
            words = tuple(entry.split())
            if not words or " ".join(_WORD.findall(entry)) != entry or entry != entry.lower():
                raise ValueError(f"transition entry {entry!r} must be lower-case \\w+ words")
            if len(words) == 1:
                singles.setdefault(entry, set()).add(category)
            else:
                phrases.setdefault(words, set()).add(category)
    _SINGLE.update({w: frozenset(c) for w, c in singles.items()})
    by_first: dict[str, list[tuple[frozenset[str], str, frozenset[str]]]] = {}
    for words, categories in phrases.items():
        phrase = (frozenset(words[1:]), f" {' '.join(words)} ", frozenset(categories))
        by_first.setdefault(words[0], []).append(phrase)
    _PHRASES.update({first: tuple(entries) for first, entries in by_first.items()})
    _SINGLE_KEYS.update(_SINGLE)
    _PHRASE_KEYS.update(_PHRASES)


_build_index()

# --------------------------------------------------------------------------- measures


def count_words(text: str) -> int:
    """Whitespace-separated words: ``len(text.split())``."""
    return len(text.split())


# Every character that is not a regex word character (``\w``), mapped to a space: for text in
# these blocks, ``text.translate(_NON_WORD).split()`` equals ``re.findall(r"\w+", text)`` and
# is 3-5x faster (the cost that matters when scoring G x B joint actions per step).
_NON_WORD = str.maketrans(
    {c: " " for c in range(0x3000) if not (chr(c).isalnum() or chr(c) == "_")}
)


def _tokens(text: str) -> list[str]:
    """``re.findall(r"\\w+", text.lower())``, fast for ASCII and Latin/punctuation text."""
    lower = text.lower()
    tokens = lower.translate(_NON_WORD).split()
    if lower.isascii() or "".join(tokens).replace("_", "").isalnum() or not tokens:
        return tokens
    return _WORD.findall(lower)  # characters beyond the table (emoji, CJK punctuation...)


def distinct_words(text: str) -> frozenset[str]:
    """The distinct words of ``text``: ``set(re.findall(r"\\w+", text.lower()))``."""
    return frozenset(_tokens(text))


def content_words(words: frozenset[str] | set[str]) -> frozenset[str]:
    """``words`` minus :data:`STOPWORDS`."""
    return frozenset(words).difference(STOPWORDS)


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """``|a & b| / |a | b|``, and 0.0 when both sets are empty (the reference returns 1.0)."""
    common = len(a & b)
    union = len(a) + len(b) - common
    return common / union if union else 0.0


def _categories_of_tokens(tokens: list[str], present: frozenset[str]) -> set[str]:
    found: set[str] = set()
    for word in present & _SINGLE_KEYS:
        found |= _SINGLE[word]
    joined: str | None = None
    for first in present & _PHRASE_KEYS:
        for others, padded, categories in _PHRASES[first]:
            if categories <= found or not others <= present:
                continue  # nothing new to find, or a word of the phrase is absent
            if joined is None:
                joined = f" {' '.join(tokens)} "
            if padded in joined:
                found |= categories
    return found


def transition_categories(text: str) -> frozenset[str]:
    """The :data:`TRANSITION_WORDS` categories that occur in ``text`` as whole words.

    Naive equivalent: a category is present when, for one of its entries ``w1 ... wn``,
    ``re.search(r"\\b" + r"\\W+".join(words) + r"\\b", text.lower())`` matches. Implemented on
    the ``\\w+`` tokens (one pass, set look-ups), which gives the same answer.

    >>> sorted(transition_categories("Also, it rained; so we stayed in."))
    ['cause_effect', 'elaboration']
    >>> sorted(transition_categories("It was also raining."))  # no "so" inside "also"
    ['elaboration']
    """
    tokens = _tokens(text)
    return frozenset(_categories_of_tokens(tokens, frozenset(tokens)))


def coherence(k: int) -> float:
    """T of k transition categories: 0 if k == 0, else ``0.4 + min(0.05 * (k - 1), 0.6)``."""
    return 0.0 if k <= 0 else 0.4 + min(0.05 * (k - 1), 0.6)


@dataclass(frozen=True)
class PairMeasures:
    """The raw measures of a pair of texts (``first`` = concise/background, ``second`` =
    detailed/method). Computed for every pair, whichever level the gates stop at."""

    words: tuple[int, int]
    """Whitespace words of (first, second)."""
    chars: tuple[int, int]
    """Characters of (first, second)."""
    distinct: tuple[int, int]
    """Distinct words of (first, second)."""
    length_ratio: float
    """r = chars(second) / chars(first); 0.0 when first is empty."""
    vocabulary_ratio: float
    """u = distinct(second) / distinct(first); 0.0 when first has no word."""
    categories: tuple[str, ...]
    """Transition categories found (in :data:`TRANSITION_WORDS` order)."""
    jaccard: float
    """J = Jaccard similarity of the content-word sets."""

    @property
    def k(self) -> int:
        """Number of transition categories found."""
        return len(self.categories)


def measure_pair(
    first: str, second: str, *, transitions_in: Literal["second", "both"] = "second"
) -> PairMeasures:
    """Every raw measure of a pair of texts (see the module docstring for definitions).

    Args:
        first: The shorter-role text (concise summary, background).
        second: The other text (detailed summary, method).
        transitions_in: Count transition categories in ``"second"`` only (TLDR) or in the
            union of both texts' categories (ArxivExpansion).
    """
    tokens1, tokens2 = _tokens(first), _tokens(second)
    set1, set2 = frozenset(tokens1), frozenset(tokens2)
    chars1, chars2 = len(first), len(second)
    found = _categories_of_tokens(tokens2, set2)
    if transitions_in == "both":
        found |= _categories_of_tokens(tokens1, set1)
    elif transitions_in != "second":
        raise ValueError(f"transitions_in must be 'second' or 'both', got {transitions_in!r}")
    return PairMeasures(
        words=(count_words(first), count_words(second)),
        chars=(chars1, chars2),
        distinct=(len(set1), len(set2)),
        length_ratio=chars2 / chars1 if chars1 else 0.0,
        vocabulary_ratio=len(set2) / len(set1) if set1 else 0.0,
        categories=tuple(c for c in TRANSITION_WORDS if c in found),
        jaccard=jaccard(set1 - STOPWORDS, set2 - STOPWORDS),
    )


# --------------------------------------------------------------------------- levels


@dataclass(frozen=True)
class Band:
    """A trapezoid score of a ratio, and the gate it defines.

    ``score(x)`` is None (gate fails) outside ``[low, high]``; ``weight * (x - low) /
    (full_low - low)`` on ``[low, full_low)``; ``weight`` on ``[full_low, full_high]``;
    ``weight * (1 - (x - full_high) / (high - full_high))`` on ``(full_high, high]``.

    >>> Band(1.1, 1.6, 3.2, 5.0, weight=1.0).score(1.35)
    0.5
    >>> Band(1.1, 1.6, 3.2, 5.0, weight=1.0).score(6.0) is None
    True
    """

    low: float
    full_low: float
    full_high: float
    high: float
    weight: float

    def score(self, x: float) -> float | None:
        if not self.low <= x <= self.high:
            return None
        if x < self.full_low:
            return self.weight * (x - self.low) / (self.full_low - self.low)
        if x > self.full_high:
            return self.weight * (1.0 - (x - self.full_high) / (self.high - self.full_high))
        return self.weight


#: Component names in scoring order (the first three are gates).
LEVELS: tuple[str, ...] = ("structure", "length_ratio", "vocabulary", "coherence", "consistency")
STRUCTURE_WEIGHT = 0.5
COHERENCE_WEIGHT = 0.4
CONSISTENCY_WEIGHT = 0.6


@dataclass(frozen=True)
class WritingRewardSpec:
    """The thresholds of one writing task's reward (see the module docstring)."""

    words: tuple[int, int]
    """Level 1: inclusive range of whitespace words each text must have."""
    length_band: Band
    """Level 2: band of r = chars(second) / chars(first) (weight 1.0)."""
    vocabulary_band: Band
    """Level 3: band of u = distinct(second) / distinct(first) (weight 0.5)."""
    transitions_in: Literal["second", "both"]
    """Level 4: count transition categories in the second text or in both."""
    jaccard_cap: float
    """Level 4: J at or above this earns the full consistency reward."""

    @property
    def max_reachable(self) -> float:
        """The highest reward any pair can get (T <= 0.95 with 12 categories)."""
        return (
            STRUCTURE_WEIGHT
            + self.length_band.weight
            + self.vocabulary_band.weight
            + COHERENCE_WEIGHT * coherence(len(TRANSITION_WORDS))
            + CONSISTENCY_WEIGHT
        )


#: The reward of collabzoo/TLDR-v0 and -v1 (first = concise, second = detailed).
TLDR_SPEC = WritingRewardSpec(
    words=(8, 256),
    length_band=Band(1.1, 1.6, 3.2, 5.0, weight=1.0),
    vocabulary_band=Band(1.3, 2.0, math.inf, math.inf, weight=0.5),
    transitions_in="second",
    jaccard_cap=0.03,
)
#: The two length bands (level 2) of ArxivExpansion, by name. The authors' reward code used
#: ``"paper"`` (0.8 / 1.0-1.3 / 1.5) when the MAGRPO paper was written (August 2025) and
#: changed to ``"current"`` (0.8 / 1.3-1.6 / 2.0) on 2025-12-31. At r = 1.45 the first pays
#: 1 - (1.45 - 1.3) / 0.2 = 0.25, the second 1.0.
ARXIV_LENGTH_BANDS: Mapping[str, Band] = {
    "current": Band(0.8, 1.3, 1.6, 2.0, weight=1.0),
    "paper": Band(0.8, 1.0, 1.3, 1.5, weight=1.0),
}
#: The reward of collabzoo/ArxivExpansion-v0 and -v1 (first = background, second = method;
#: the "current" band).
ARXIV_SPEC = WritingRewardSpec(
    words=(128, 256),
    length_band=ARXIV_LENGTH_BANDS["current"],
    vocabulary_band=Band(0.5, 0.7, 1.3, 1.7, weight=0.5),
    transitions_in="both",
    jaccard_cap=0.23,
)


def arxiv_spec(length_band: str = "current") -> WritingRewardSpec:
    """:data:`ARXIV_SPEC` with the named length band of :data:`ARXIV_LENGTH_BANDS`.

    >>> [round(arxiv_spec(name).length_band.score(1.45), 3) for name in ("paper", "current")]
    [0.25, 1.0]
    """
    if length_band not in ARXIV_LENGTH_BANDS:
        raise ValueError(f"length_band must be one of {sorted(ARXIV_LENGTH_BANDS)}, "
                         f"got {length_band!r}")
    return replace(ARXIV_SPEC, length_band=ARXIV_LENGTH_BANDS[length_band])


@dataclass(frozen=True)
class WritingReward:
    """A scored pair: the reward, its parts and why."""

    total: float
    """The joint reward, the sum of ``components``."""
    components: dict[str, float] = field(hash=False)
    """Each of :data:`LEVELS` -> its contribution (0.0 for levels not scored)."""
    measures: PairMeasures
    """The raw measures, computed whatever the gates say."""
    stopped_at: str | None
    """The gate that failed ("structure", "length_ratio" or "vocabulary"), or None."""

    @property
    def raw(self) -> dict[str, float]:
        """The raw measures by the names of the formulas: r, u, k, J."""
        m = self.measures
        return {"r": m.length_ratio, "u": m.vocabulary_ratio, "k": float(m.k), "J": m.jaccard}


def writing_reward(first: str, second: str, spec: WritingRewardSpec) -> WritingReward:
    """Score a pair of texts with the gated four-level reward of ``spec``.

    Args:
        first: Concise summary (TLDR) or background (ArxivExpansion).
        second: Detailed summary (TLDR) or method (ArxivExpansion).
        spec: The task's thresholds, :data:`TLDR_SPEC` or :data:`ARXIV_SPEC`.

    Returns:
        The total, its five components (summing to it), the raw measures and the gate that
        stopped the scoring. Never raises on the texts' content.
    """
    m = measure_pair(first, second, transitions_in=spec.transitions_in)
    parts = dict.fromkeys(LEVELS, 0.0)

    def done(stopped_at: str | None) -> WritingReward:
        return WritingReward(sum(parts.values()), parts, m, stopped_at)

    low, high = spec.words
    if not (low <= m.words[0] <= high and low <= m.words[1] <= high):
        return done("structure")
    parts["structure"] = STRUCTURE_WEIGHT
    length = spec.length_band.score(m.length_ratio)
    if length is None:
        return done("length_ratio")
    parts["length_ratio"] = length
    vocabulary = spec.vocabulary_band.score(m.vocabulary_ratio) if m.distinct[0] else None
    if vocabulary is None:
        return done("vocabulary")
    parts["vocabulary"] = vocabulary
    parts["coherence"] = COHERENCE_WEIGHT * coherence(m.k)
    parts["consistency"] = CONSISTENCY_WEIGHT * min(m.jaccard, spec.jaccard_cap) / spec.jaccard_cap
    return done(None)


def tldr_reward(concise: str, detailed: str) -> WritingReward:
    """The joint reward of collabzoo/TLDR-v0 (max 3.0): ``writing_reward`` with TLDR_SPEC."""
    return writing_reward(concise, detailed, TLDR_SPEC)


def arxiv_reward(background: str, method: str, length_band: str = "current") -> WritingReward:
    """The joint reward of collabzoo/ArxivExpansion-v0 (max 3.0): ``writing_reward`` with
    :func:`arxiv_spec` of ``length_band`` (``"current"``, the default, or ``"paper"``)."""
    spec = ARXIV_SPEC if length_band == "current" else arxiv_spec(length_band)
    return writing_reward(background, method, spec)
