"""The writing rewards against hand-computed numbers (collabzoo.envs.writing.rewards).

Texts are built from synthetic words ("a000", "b001", ...) that are neither stopwords nor
transition words, so each test controls exactly one measure: the number of whitespace words,
the number of characters (padded with "." glued to the last word, which changes neither the
words nor the distinct words), the distinct words, the transition categories and the shared
content words.
"""

from __future__ import annotations

import math
import random
import re

import pytest

from collabzoo.envs.writing.rewards import (
    ARXIV_SPEC,
    LEVELS,
    STOPWORDS,
    TLDR_SPEC,
    TRANSITION_WORDS,
    Band,
    arxiv_reward,
    coherence,
    content_words,
    count_words,
    distinct_words,
    jaccard,
    measure_pair,
    tldr_reward,
    transition_categories,
    writing_reward,
)


def vocab(prefix: str, n: int) -> list[str]:
    """n distinct content words: a000, a001, ..."""
    return [f"{prefix}{i:03d}" for i in range(n)]


def text(words: list[str], chars: int | None = None) -> str:
    """The words joined by spaces, padded with "." to exactly ``chars`` characters."""
    s = " ".join(words)
    if chars is not None:
        assert len(s) <= chars, (len(s), chars)
        s += "." * (chars - len(s))
    return s


def tldr_pair(r: float = 2.0, u: float = 2.0, shared: int = 0, extra: str = ""):
    """(c1, c2) with 20 distinct words in c1 and 20*u in c2, chars(c1) = 200, r exact."""
    c1_words = vocab("a", 20)
    n2 = round(20 * u)
    c2_words = c1_words[:shared] + vocab("b", n2 - shared)
    c2_words = c2_words + extra.split() if extra else c2_words
    c1 = text(c1_words, 200)
    return c1, text(c2_words, round(200 * r))


# --------------------------------------------------------------------------- building blocks


def test_band_is_a_trapezoid_with_closed_gates():
    band = Band(1.1, 1.6, 3.2, 5.0, weight=1.0)
    assert band.score(1.09) is None and band.score(5.01) is None and band.score(6.0) is None
    assert band.score(1.1) == 0.0  # on the gate's edge: passes with nothing
    assert band.score(1.35) == pytest.approx(0.5)  # (1.35 - 1.1) / 0.5
    assert band.score(1.6) == band.score(2.4) == band.score(3.2) == 1.0
    assert band.score(4.1) == pytest.approx(0.5)  # 1 - (4.1 - 3.2) / 1.8
    assert band.score(5.0) == pytest.approx(0.0)


def test_coherence_formula():
    # T = 0 if k = 0 else 0.4 + min(0.05 (k - 1), 0.6)
    assert coherence(0) == 0.0
    assert coherence(1) == pytest.approx(0.4)
    assert coherence(3) == pytest.approx(0.5)
    assert coherence(12) == pytest.approx(0.95)
    assert coherence(20) == pytest.approx(1.0)  # the 0.6 cap: unreachable with 12 categories
    assert len(TRANSITION_WORDS) == 12
    assert set(TRANSITION_WORDS) == {
        "elaboration", "examples", "explanation", "cause_effect", "contrast", "sequence",
        "emphasis", "summary", "comparison", "concession", "condition", "time",
    }  # fmt: skip


def test_words_distinct_words_content_words_and_jaccard():
    sample = "Don't stop -- the cat's cat, THE Cat!\tend"
    assert count_words(sample) == 9  # whitespace tokens, "--" included
    assert distinct_words(sample) == {"don", "t", "stop", "the", "cat", "s", "end"}
    assert content_words(distinct_words(sample)) == {"stop", "cat", "end"}
    assert {"the", "and", "of", "don", "t", "s"} <= STOPWORDS
    assert jaccard({"a", "b", "c"}, {"b", "c", "d", "e"}) == pytest.approx(2 / 5)
    assert jaccard(set(), set()) == 0.0  # the reference returns 1.0 here


def test_whole_word_transition_matching_fixes_the_substring_bug():
    # "so" (cause_effect) must not fire inside "also" (elaboration)
    assert transition_categories("We also tried the other one.") == {"elaboration"}
    assert transition_categories("So we tried the other one.") == {"cause_effect"}
    # substrings of longer words never count: "if" in "different", "but" in "butter",
    # "when" in "whenever", "then" in "authentic", "first" in "firsthand"
    assert transition_categories("A different butter, whenever authentic firsthand.") == set()
    # phrases: case and spacing do not matter, the words must be whole
    assert transition_categories("In   ADDITION to that") == {"elaboration"}
    assert transition_categories("in additional costs") == set()
    assert transition_categories("For example, rent.") == {"examples"}
    # one entry may belong to several categories; each counts once
    assert len(transition_categories("however however however")) == 1
    assert transition_categories("") == set()


def test_transition_matching_equals_the_naive_regex():
    """The token implementation gives the answer of a regex with word boundaries."""

    def naive(s: str) -> set[str]:
        low = s.lower()
        return {
            category
            for category, entries in TRANSITION_WORDS.items()
            if any(
                re.search(r"\b" + r"\W+".join(map(re.escape, e.split())) + r"\b", low)
                for e in entries
            )
        }

    pieces = [
        "also", "so", "as", "a", "result", "in", "addition", "for", "example", "the", "end",
        "on", "other", "hand", "If", "only", "if", "whenever", "when", "Even", "though",
        ",", ".", ";", "—", "“", "”", "café", "that", "is", "at", "same", "time", "long",
    ]  # fmt: skip
    rng = random.Random(0)
    for _ in range(300):
        sample = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert transition_categories(sample) == naive(sample), sample


def test_transition_entries_are_lower_case_words():
    for entries in TRANSITION_WORDS.values():
        for entry in entries:
            assert entry == entry.lower() and re.fullmatch(r"\w+( \w+)*", entry), entry


# --------------------------------------------------------------------------- TLDR levels


def test_tldr_level1_structure_gate_8_to_256_words():
    ok = text(vocab("a", 8))
    assert tldr_reward(text(vocab("a", 7)), ok).total == 0.0
    assert tldr_reward(text(vocab("a", 7)), ok).stopped_at == "structure"
    assert tldr_reward(ok, text(vocab("b", 257))).stopped_at == "structure"
    # exactly 8 and 256 words pass level 1 (r = 1.0 then stops at level 2: total 0.5)
    result = tldr_reward(ok, text(vocab("b", 8)))
    assert result.stopped_at == "length_ratio" and result.total == 0.5
    assert tldr_reward(text(vocab("a", 100)), text(vocab("b", 256))).components["structure"] == 0.5


@pytest.mark.parametrize(
    "r, expected",
    [
        (1.1, 0.0),  # edge of the ramp: passes the gate with nothing
        (1.35, 0.5),  # (1.35 - 1.1) / 0.5
        (1.6, 1.0),
        (2.4, 1.0),
        (3.2, 1.0),
        (4.1, 0.5),  # 1 - (4.1 - 3.2) / 1.8
        (5.0, 0.0),
    ],
)
def test_tldr_level2_length_ratio_ramps(r, expected):
    result = tldr_reward(*tldr_pair(r=r))
    assert result.measures.length_ratio == pytest.approx(r)
    assert result.components["length_ratio"] == pytest.approx(expected)
    assert result.stopped_at != "length_ratio"


@pytest.mark.parametrize("r", [1.0, 1.09, 5.01, 6.0])
def test_tldr_level2_outside_stops_at_half(r):
    result = tldr_reward(*tldr_pair(r=r))
    assert result.stopped_at == "length_ratio"
    assert result.total == 0.5  # structure only: later levels are not scored
    assert result.components == {**dict.fromkeys(LEVELS, 0.0), "structure": 0.5}


@pytest.mark.parametrize(
    "u, expected",
    [
        (1.3, 0.0),
        (1.65, 0.25),  # 0.5 * (1.65 - 1.3) / 0.7
        (2.0, 0.5),
        (3.0, 0.5),
    ],
)
def test_tldr_level3_vocabulary_ramp(u, expected):
    result = tldr_reward(*tldr_pair(r=2.0, u=u))
    assert result.measures.vocabulary_ratio == pytest.approx(u)
    assert result.components["vocabulary"] == pytest.approx(expected)
    assert result.stopped_at is None


def test_tldr_level3_below_gate_stops():
    result = tldr_reward(*tldr_pair(r=2.0, u=1.25))
    assert result.stopped_at == "vocabulary"
    assert result.total == pytest.approx(1.5)  # 0.5 structure + 1.0 length


def test_tldr_level4_by_hand():
    # c2: 40 words (1 of them shared with c1) + "however for example": 2 categories
    # (contrast, examples), 43 distinct words (u = 2.15).
    c1, c2 = tldr_pair(r=2.4, u=2.0, shared=1, extra="however for example")
    result = tldr_reward(c1, c2)
    m = result.measures
    assert m.categories == ("examples", "contrast")
    # content words: c1 has 20, c2 has 40 (+ "example"; "however", "for" are stopwords)
    # J = 1 shared / (20 + 41 - 1) = 1/60
    assert m.jaccard == pytest.approx(1 / 60)
    assert result.components["coherence"] == pytest.approx(0.4 * 0.45)  # T = 0.4 + 0.05
    assert result.components["consistency"] == pytest.approx(0.6 * (1 / 60) / 0.03)
    assert result.total == pytest.approx(0.5 + 1.0 + 0.5 + 0.18 + 0.6 * (1 / 60) / 0.03)
    assert result.total == pytest.approx(sum(result.components.values()))


def test_tldr_consistency_is_capped_at_003():
    result = tldr_reward(*tldr_pair(r=2.0, u=2.0, shared=10))  # J = 10/50 >> 0.03
    assert result.measures.jaccard == pytest.approx(10 / 50)
    assert result.components["consistency"] == pytest.approx(0.6)


def test_tldr_transitions_count_in_the_detailed_text_only():
    c1 = text(vocab("a", 19) + ["however"], 200)  # padding dots do not break the word
    c2 = text(vocab("b", 40), 400)
    assert tldr_reward(c1, c2).measures.k == 0
    assert arxiv_reward(c1, c2).measures.k == 1  # ArxivExpansion counts both texts


def test_gate_order_structure_before_length_before_vocabulary():
    # every measure bad: the first gate named is structure
    assert tldr_reward("one two", "one two").stopped_at == "structure"
    # structure fine, length and vocabulary bad: stops at length
    c1, c2 = tldr_pair(r=6.0, u=1.0)
    assert tldr_reward(c1, c2).stopped_at == "length_ratio"
    # length fine, vocabulary bad: stops at vocabulary, coherence and consistency unscored
    c1, c2 = tldr_pair(r=2.0, u=1.0, shared=20, extra="however for example therefore")
    result = tldr_reward(c1, c2)
    assert result.stopped_at == "vocabulary"
    assert result.measures.k == 3 and result.measures.jaccard > 0.03  # measured anyway
    assert result.components["coherence"] == result.components["consistency"] == 0.0


def test_stopword_only_texts_get_no_consistency():
    # the reference scored J(empty, empty) = 1: stopword soup earned the full 0.6
    c1 = "the a an of to in on at by with"
    c2 = (
        "the a an of to in on at by with from into over under about after before "
        "above below between through during without within upon against among"
    )
    result = tldr_reward(c1, c2)
    assert result.stopped_at is None and result.measures.jaccard == 0.0
    assert result.components["consistency"] == 0.0


def test_full_marks_is_2_98():
    c1 = (
        "The landlord kept the tenant's whole $2,100 deposit for cleaning and a worn carpet, "
        "but she has dated photos of the clean apartment and wants her money back within a month."
    )
    c2 = (
        "The tenant moved out after three years and cleaned carefully; furthermore, she took "
        "photos of every room. For example, the carpet was already worn when she arrived. "
        "In other words, the damage was normal wear. Therefore she disputes the charges. "
        "However, the landlord kept the whole deposit. First she asked for receipts; "
        "meanwhile nothing arrived. Indeed, the law requires an itemized list. Similarly, "
        "old carpet cannot be billed, although landlords often try. If nothing changes, "
        "overall, small claims court is her best option."
    )
    result = tldr_reward(c1, c2)
    assert result.measures.k == 12
    assert result.total == pytest.approx(TLDR_SPEC.max_reachable) == pytest.approx(2.98)


# --------------------------------------------------------------------------- Arxiv levels


def arxiv_pair(r: float = 1.45, u: float = 1.0, shared: int = 0):
    """(background, method): the background has 130 words, 100 of them distinct, and 1000
    characters; the method has 100*u distinct words (``shared`` of them the background's),
    repeated to at least 128 words, and 1000*r characters."""
    background = text((vocab("a", 100) * 2)[:130], 1000)
    n2 = round(100 * u)
    distinct = vocab("a", shared) + vocab("b", n2 - shared)
    return background, text((distinct * 3)[: max(n2, 128)], round(1000 * r))


def test_arxiv_level1_128_to_256_words():
    assert arxiv_reward(text(vocab("a", 127)), text(vocab("b", 150))).stopped_at == "structure"
    assert arxiv_reward(text(vocab("a", 150)), text(vocab("b", 257))).stopped_at == "structure"
    ok = arxiv_reward(text(vocab("a", 128)), text(vocab("b", 128)))
    assert ok.components["structure"] == 0.5 and ok.stopped_at != "structure"


@pytest.mark.parametrize(
    "r, expected",
    [(0.8, 0.0), (1.05, 0.5), (1.3, 1.0), (1.6, 1.0), (1.8, 0.5), (2.0, 0.0)],
)
def test_arxiv_level2_length_ratio(r, expected):
    # (r - 0.8) / 0.5 below 1.3, 1 - (r - 1.6) / 0.4 above 1.6
    result = arxiv_reward(*arxiv_pair(r=r))
    assert result.measures.length_ratio == pytest.approx(r)
    assert result.components["length_ratio"] == pytest.approx(expected)
    assert result.stopped_at is None


@pytest.mark.parametrize("r", [0.79, 2.01, 3.0])
def test_arxiv_level2_outside_stops(r):
    result = arxiv_reward(*arxiv_pair(r=r))
    assert result.stopped_at == "length_ratio" and result.total == 0.5


@pytest.mark.parametrize(
    "u, expected",
    [(0.5, 0.0), (0.6, 0.25), (0.7, 0.5), (1.0, 0.5), (1.3, 0.5), (1.5, 0.25), (1.7, 0.0)],
)
def test_arxiv_level3_vocabulary(u, expected):
    # 0.5 (u - 0.5) / 0.2 below 0.7; 0.5 (1 - (u - 1.3) / 0.4) above 1.3
    result = arxiv_reward(*arxiv_pair(u=u))
    assert result.measures.vocabulary_ratio == pytest.approx(u)
    assert result.components["vocabulary"] == pytest.approx(expected)
    assert result.stopped_at is None


@pytest.mark.parametrize("u", [0.49, 1.71])
def test_arxiv_level3_outside_stops(u):
    result = arxiv_reward(*arxiv_pair(u=u))
    assert result.measures.vocabulary_ratio == pytest.approx(u)
    assert result.stopped_at == "vocabulary" and result.total == pytest.approx(1.5)


@pytest.mark.parametrize(
    "r, expected",
    [(0.8, 0.0), (0.9, 0.5), (1.0, 1.0), (1.3, 1.0), (1.4, 0.5), (1.5, 0.0)],
)
def test_arxiv_paper_length_band(r, expected):
    # the authors' band until 2025-12-31: (r - 0.8) / 0.2 below 1.0, 1 - (r - 1.3) / 0.2 above 1.3
    result = arxiv_reward(*arxiv_pair(r=r), length_band="paper")
    assert result.components["length_ratio"] == pytest.approx(expected)
    assert result.stopped_at is None
    assert arxiv_reward(*arxiv_pair(r=1.55), length_band="paper").stopped_at == "length_ratio"


def test_arxiv_length_bands_differ_by_075_at_r_145():
    # the documented worked example: r = 1.45, u = 1, J = 10/190, no transition word
    background, method = arxiv_pair(r=1.45, shared=10)
    current = arxiv_reward(background, method)
    paper = arxiv_reward(background, method, length_band="paper")
    assert round(current.total, 3) == 2.137 and round(paper.total, 3) == 1.387
    assert current.total - paper.total == pytest.approx(0.75)


def test_arxiv_length_bands_issue_figures():
    # issue 14 quotes 2.196 vs 1.500 "at r = 1.45"; those figures are a pair with r = 1.4392
    # (length 1.0 vs 0.304) whose other levels sum to 1.196 (J = 14/186, no transitions)
    background = text((vocab("a", 100) * 2)[:130], 2500)
    method = text((vocab("a", 14) + vocab("b", 86)) * 2, round(2500 * 1.4392))
    current = arxiv_reward(background, method)
    paper = arxiv_reward(background, method, length_band="paper")
    assert current.measures.length_ratio == pytest.approx(1.4392)
    assert (round(current.total, 3), round(paper.total, 3)) == (2.196, 1.5)


def test_arxiv_unknown_length_band():
    with pytest.raises(ValueError, match="current"):
        arxiv_reward("a", "b", length_band="2024")


def test_arxiv_consistency_cap_023():
    # J = 30 / (100 + 100 - 30) = 3/17 -> 0.6 * (3/17) / 0.23
    result = arxiv_reward(*arxiv_pair(shared=30))
    assert result.measures.jaccard == pytest.approx(3 / 17)
    assert result.components["consistency"] == pytest.approx(0.6 * (3 / 17) / 0.23)
    capped = arxiv_reward(*arxiv_pair(shared=100))  # J = 1 >= 0.23
    assert capped.components["consistency"] == pytest.approx(0.6)


def test_arxiv_transitions_are_searched_in_each_text():
    # the reference glued the two texts without a separator, so "however" + "Thus" became
    # "howeverthus" and neither counted; here each text is searched on its own
    background, method = arxiv_pair()
    result = arxiv_reward(background + " however", "Thus " + method)
    assert result.measures.categories == ("cause_effect", "contrast")
    assert result.components["coherence"] == pytest.approx(0.4 * 0.45)


# --------------------------------------------------------------------------- any input


BAD_INPUTS = [
    "",
    "   \n\t ",
    "ünïcödé 漢字 🙂 — “quoted” café",
    "x" * 1_000_000,
    "lorem ipsum, dolor sit; " * 40_000,  # ~1 MB of words
    "\x00\xff\x1b[31m\ud800\udfff?",
    "```python\nprint(1)\n```",
]


@pytest.mark.parametrize("reward", [tldr_reward, arxiv_reward])
@pytest.mark.parametrize("bad", BAD_INPUTS, ids=lambda s: repr(s[:12]))
def test_any_string_gets_a_reward(reward, bad):
    ok = text(vocab("a", 150), 900)
    for first, second in [(bad, ok), (ok, bad), (bad, bad)]:
        result = reward(first, second)
        assert math.isfinite(result.total) and 0.0 <= result.total <= 3.0
        assert set(result.components) == set(LEVELS)
        assert all(math.isfinite(v) for v in result.raw.values())


def test_pure_and_deterministic():
    c1, c2 = tldr_pair(r=2.0, u=2.0, shared=2, extra="however")
    assert tldr_reward(c1, c2) == tldr_reward(c1, c2)
    assert writing_reward(c1, c2, TLDR_SPEC) == tldr_reward(c1, c2)
    assert writing_reward(c1, c2, ARXIV_SPEC) == arxiv_reward(c1, c2)
    m = measure_pair(c1, c2)
    assert (m.words, m.chars, m.distinct) == ((20, 41), (200, 400), (20, 41))
