"""The corpus vocabulary follows a change by the changed chunks alone: added and removed
chunks leave it equal to one built from scratch on the chunks that remain, in every
decision (document frequencies, idf, proper nouns, abbreviations). Real corpus texts."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.text import terms
from assistant.vocabulary import MAX_EXPANSIONS, Vocabulary

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
# The corpus's paragraphs as chunks: headings (title-case lines), names, "(EXIM)"-style
# abbreviations and sentence starts, as a real index holds them.
CHUNKS = [
    block.strip()
    for path in sorted(CORPUS.glob("*.md"))
    for block in path.read_text(encoding="utf-8").split("\n\n")
    if block.strip()
]
# Lines that flip decisions: a word capitalised twice, then as often in lower case; an
# abbreviation two chunks give; initials of a name.
EDGE_CHUNKS = [
    "Exports rose. Exports from Malaysia and Vietnam grew, as Malaysia said.",
    "The tin smelter in Malaysia and the malaysia office. Tin from Perak.",
    "The Export-Import Bank of the United States (EXIM) lends. Ex-Im is EXIM.",
    "The Board of the Export-Import Bank of the United States (EXIM) approved it.",
    "PRC (People's Republic of China) rules apply to the International Trade Administration.",
    "The malaysia desk and the malaysia team, the vietnam desk.",
]
POOL = CHUNKS + EDGE_CHUNKS
TERMS = {text: terms(text) for text in POOL}


def assert_same_decisions(incremental: Vocabulary, chunks: list[str]) -> None:
    """`incremental` decides as `Vocabulary.build` does on `chunks`."""
    built = Vocabulary.build(chunks, [TERMS[text] for text in chunks])
    assert incremental == built  # every count, none left at zero
    assert incremental.chunk_count == len(chunks)
    assert incremental.max_idf == built.max_idf
    assert incremental.document_frequency == built.document_frequency
    for term in {term for text in POOL for term in TERMS[text]}:
        assert incremental.idf(term) == built.idf(term)
    words = {word.lower() for text in POOL for word in text.split()} | set(built.capitalised)
    assert {w for w in words if incremental.is_proper_noun(w)} == {
        w for w in words if built.is_proper_noun(w)
    }
    assert incremental.proper_nouns == built.proper_nouns
    keys = set(built.alias_counts) | set(incremental.alias_counts)
    assert {key: incremental.expansions(key) for key in keys} == {key: built.expansions(key) for key in keys}


def changed(vocabulary: Vocabulary, add: list[str], remove: list[str]) -> Vocabulary:
    return vocabulary.removed(remove, [TERMS[t] for t in remove]).added(add, [TERMS[t] for t in add])


def test_the_corpus_is_read() -> None:
    assert len(CHUNKS) > 50
    whole = Vocabulary.build(CHUNKS)
    assert whole.is_proper_noun("malaysia") and not whole.is_proper_noun("minerals")
    assert frozenset(terms("Export-Import Bank of the United States")) in whole.expansions("EXIM")


def test_adding_every_chunk_one_at_a_time_and_removing_half_equals_a_build() -> None:
    vocabulary = Vocabulary()
    for text in POOL:
        vocabulary = vocabulary.added([text])
    assert_same_decisions(vocabulary, POOL)
    removed, kept = POOL[::2], POOL[1::2]
    vocabulary = vocabulary.removed(removed)
    assert_same_decisions(vocabulary, kept)
    assert_same_decisions(vocabulary.removed(kept), [])
    assert vocabulary.removed(kept) == Vocabulary()


def test_decisions_that_flip_with_a_change_flip_back() -> None:
    """A word becomes a proper noun, and stops being one; an abbreviation stays while
    one chunk still gives it."""
    names = ["Talks with Malaysia went on.", "The deal with Malaysia holds."]
    vocabulary = Vocabulary.build(names)
    assert vocabulary.is_proper_noun("malaysia")
    lower = ["the malaysia desk"]
    assert not vocabulary.added(lower).is_proper_noun("malaysia")  # 2 < 3 x 1
    assert vocabulary.added(lower).removed(lower) == vocabulary

    exim_twice = Vocabulary.build(EDGE_CHUNKS[2:4])
    once = exim_twice.removed(EDGE_CHUNKS[2:3])
    bank = frozenset(terms("Export-Import Bank of the United States"))
    assert bank in once.expansions("EXIM")
    assert once.removed(EDGE_CHUNKS[3:4]).expansions("EXIM") == []


def test_removing_what_was_never_added_is_refused() -> None:
    vocabulary = Vocabulary.build(EDGE_CHUNKS[:1])
    with pytest.raises(ValueError, match="cannot remove"):
        vocabulary.removed(EDGE_CHUNKS[1:3])
    with pytest.raises(ValueError, match="cannot remove"):
        Vocabulary().removed(["Malaysia"])


def test_the_question_view_expands_as_the_full_vocabulary_and_changes_as_a_view() -> None:
    """A replica holds the view: each abbreviation's most written long forms only. A
    change to it keeps its counts exact, and it stays a view (never saved): which long
    forms it keeps is exact again once the lexical index cuts the changed full one."""
    firsts = ["Energy", "Export", "European", "Electric", "Economic", "Environmental", "Emergency"]
    firsts += ["Education", "Equity", "Estate"]
    texts = [f"The {first} Investment Bank (EIB) met in Kuching." for first in firsts]
    full = Vocabulary.build(texts * 2 + texts[:1] + POOL)
    view = full.for_questions()
    assert len(full.alias_counts["eib"]) > MAX_EXPANSIONS and len(view.alias_counts["eib"]) == MAX_EXPANSIONS
    assert view.aliases == full.aliases and view.expansions("EIB")[0] == frozenset(terms(texts[0])[:3])
    assert (view.document_frequency, view.chunk_count) == (full.document_frequency, full.chunk_count)
    assert view.proper_nouns == full.proper_nouns and not view.complete and full.complete
    news = ["The Export Investment Bank (EIB) met again in Miri."]
    changed_view, changed_full = view.added(news), full.added(news)
    assert not changed_view.complete and changed_full.complete
    assert (changed_view.document_frequency, changed_view.chunk_count, changed_view.capitalised) == (
        changed_full.document_frequency,
        changed_full.chunk_count,
        changed_full.capitalised,
    )
    assert changed_view.removed(news) == view
    [cut] = [
        first
        for first in firsts
        if frozenset(terms(f"{first} Investment Bank")) not in view.expansions("EIB")
    ][:1]
    gone = [f"The {cut} Investment Bank (EIB) closed."]  # a long form the view had cut
    assert view.removed(gone).alias_counts["eib"] == view.alias_counts["eib"]


def test_a_change_leaves_the_vocabulary_it_started_from_as_it_was() -> None:
    """A search running during a change keeps a consistent view."""
    vocabulary = Vocabulary.build(POOL)
    before = Vocabulary.build(POOL)
    changed(vocabulary, add=EDGE_CHUNKS, remove=CHUNKS[:50])
    assert vocabulary == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.lists(st.sampled_from(POOL), max_size=25),
    steps=st.lists(
        st.tuples(st.lists(st.sampled_from(POOL), max_size=6), st.lists(st.integers(0, 10**6), max_size=6)),
        max_size=6,
    ),
)
def test_any_adds_and_removes_equal_a_build_of_what_remains(
    start: list[str], steps: list[tuple[list[str], list[int]]]
) -> None:
    """Chunks may repeat (two documents may share a paragraph): a multiset."""
    held = list(start)
    vocabulary = Vocabulary.build(held, [TERMS[t] for t in held])
    for add, picks in steps:
        remove = []
        for pick in picks:
            if held:
                remove.append(held.pop(pick % len(held)))
        vocabulary = changed(vocabulary, add, remove)
        held += add
        assert_same_decisions(vocabulary, held)


def test_many_random_changes_over_the_whole_corpus() -> None:
    """Large changes, including removing every chunk that gave a decision."""
    rng = random.Random(7)
    held: Counter[str] = Counter(POOL)
    vocabulary = Vocabulary.build(POOL)
    for _ in range(5):
        remove = rng.sample(sorted(held.elements()), k=len(POOL) // 3)
        add = rng.sample(POOL, k=len(POOL) // 4)
        vocabulary = changed(vocabulary, add, remove)
        held = held - Counter(remove) + Counter(add)
    assert_same_decisions(vocabulary, sorted(held.elements()))
