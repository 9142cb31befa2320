"""Chunking: exact spans, size limits, sentence and word boundaries, stable ids, titles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.documents import Document

from assistant.chunking import chunk_document, plan_chunks, split_sentences
from assistant.documents import load_file

ROOT = Path(__file__).resolve().parent.parent
CORPUS_FILES = sorted((ROOT / "corpus").glob("*.md"))
SIZES = [900, 300, 150]


@pytest.fixture(scope="module")
def corpus_docs() -> list[Document]:
    docs = [load_file(path) for path in CORPUS_FILES]
    assert len(docs) == 13
    return docs


def chunk_text(chunk: Document) -> str:
    return chunk.page_content[chunk.metadata["text_offset"] :]


def mid_word(text: str, offset: int) -> bool:
    """Whether `offset` falls between two letters or digits of one word."""
    return 0 < offset < len(text) and text[offset - 1].isalnum() and text[offset].isalnum()


@pytest.mark.parametrize("size", SIZES)
def test_corpus_chunks_are_exact_bounded_and_end_at_sentence_ends(
    corpus_docs: list[Document], size: int
) -> None:
    for doc in corpus_docs:
        text = doc.page_content
        name = Path(doc.metadata["path"]).name
        sentences = split_sentences(text)
        sentence_ends = {s.end for s in sentences}
        longest_sentence = max(s.end - s.start for s in sentences)
        overlong = [(s.start, s.end) for s in sentences if s.end - s.start > size]
        chunks = chunk_document(doc, size)
        assert chunks, name
        previous_end = 0
        for chunk in chunks:
            meta = chunk.metadata
            start, end = meta["start"], meta["end"]
            # The span is exact: the chunk's text is the document's text at start:end.
            assert chunk_text(chunk) == text[start:end], (name, start)
            assert start >= previous_end, (name, "chunks overlap or go backwards")
            previous_end = end
            # Never longer than a chunk, unless one sentence on its own is.
            if end - start > size:
                assert longest_sentence > size and len(json.loads(meta["sentences"])) == 1, (
                    name,
                    start,
                    end - start,
                )
            assert not mid_word(text, start) and not mid_word(text, end), (
                name,
                text[end - 20 : end + 20],
            )
            spans = json.loads(meta["sentences"])
            assert spans[0][0] == 0 and spans[-1][1] == end - start, (name, start)
            # The last sentence ends where the chunk ends, and that is where a sentence of
            # the document ends (or where an over-long sentence was cut between words).
            assert end in sentence_ends or any(a < end < b for a, b in overlong), (
                name,
                text[end - 30 : end + 10],
            )
            for s_start, s_end, _ in spans:
                assert 0 <= s_start < s_end <= end - start


@pytest.mark.parametrize("size", SIZES)
def test_no_text_of_a_corpus_document_is_lost(corpus_docs: list[Document], size: int) -> None:
    """Every non-blank character of every document lies inside some chunk."""
    for doc in corpus_docs:
        text = doc.page_content
        covered = bytearray(len(text))
        for chunk in chunk_document(doc, size):
            for offset in range(chunk.metadata["start"], chunk.metadata["end"]):
                covered[offset] = 1
        lost = [i for i, char in enumerate(text) if not char.isspace() and not covered[i]]
        assert not lost, (
            Path(doc.metadata["path"]).name,
            size,
            text[lost[0] : lost[-1] + 1][:200] if lost else "",
        )


def test_heading_before_an_overlong_sentence_is_not_dropped() -> None:
    """Minimal case: a heading carried to the next chunk, followed by a sentence that
    does not fit with it, must still be in some chunk."""
    long_sentence = (
        "Currently the country has seven bilateral free trade agreements with Australia, Chile, "
        "India, Japan, New Zealand, Pakistan and Turkey."
    )
    # A short first chunk (under a quarter of the size) keeps the heading with it until the
    # long sentence forces a break; the heading is then carried forward, with no room left.
    text = f"Tariffs are low.\n\nBilateral Agreements\n\n{long_sentence}"
    assert 130 < len(long_sentence) <= 150
    chunks = plan_chunks(text, 150)
    kept = "".join(text[c.start : c.end] for c in chunks)
    assert "Bilateral Agreements" in kept, [text[c.start : c.end] for c in chunks]


def test_chunk_ids_are_stable_and_change_with_the_text(corpus_docs: list[Document]) -> None:
    doc = corpus_docs[0]
    first = [c.metadata["chunk_id"] for c in chunk_document(doc, 300)]
    second = [c.metadata["chunk_id"] for c in chunk_document(load_file(Path(doc.metadata["path"])), 300)]
    assert first == second
    assert len(set(first)) == len(first)

    changed = Document(
        page_content=doc.page_content.replace("Ben Black", "Ben White"), metadata=dict(doc.metadata)
    )
    assert changed.page_content != doc.page_content
    changed_ids = [c.metadata["chunk_id"] for c in chunk_document(changed, 300)]
    changed_texts = [chunk_text(c) for c in chunk_document(changed, 300)]
    original_texts = [chunk_text(c) for c in chunk_document(doc, 300)]
    for old_id, new_id, old_text, new_text in zip(
        first, changed_ids, original_texts, changed_texts, strict=True
    ):
        assert (old_id == new_id) == (old_text == new_text)
    assert set(changed_ids) != set(first)


def test_same_text_in_another_file_gets_another_id() -> None:
    text = "Rubber exports grew by ten percent in 2023."
    a = chunk_document(Document(page_content=text, metadata={"title": "T", "path": "/a.md"}), 900)
    b = chunk_document(Document(page_content=text, metadata={"title": "T", "path": "/b.md"}), 900)
    assert a[0].metadata["chunk_id"] != b[0].metadata["chunk_id"]


def test_sentence_longer_than_a_chunk_is_cut_between_words() -> None:
    words = [f"word{i}" for i in range(120)]
    text = "This sentence goes on and on " + " ".join(words) + " until it finally ends."
    size = 100
    assert len(text) > 5 * size
    chunks = plan_chunks(text, size)
    assert len(chunks) >= 6
    for chunk in chunks:
        assert chunk.end - chunk.start <= size
        assert not mid_word(text, chunk.start) and not mid_word(text, chunk.end)
        assert text[chunk.start : chunk.end] == text[chunk.start : chunk.end].strip()
    # Nothing is lost: the pieces, rejoined with single spaces, are the sentence.
    assert " ".join(text[c.start : c.end] for c in chunks) == text


def test_corp_berhad_is_not_split() -> None:
    text = (
        "Exporters can obtain ratings from the Malaysian Rating Corp. Berhad (MARC). It was founded in 1990."
    )
    sentences = [text[s.start : s.end] for s in split_sentences(text)]
    assert sentences == [
        "Exporters can obtain ratings from the Malaysian Rating Corp. Berhad (MARC).",
        "It was founded in 1990.",
    ]


def test_corp_berhad_in_the_corpus_stays_in_one_sentence() -> None:
    doc = load_file(ROOT / "corpus" / "trade-gov_ccg_malaysia-trade-financing.md")
    texts = [doc.page_content[s.start : s.end] for s in split_sentences(doc.page_content)]
    holding = [t for t in texts if "Malaysian Rating Corp." in t]
    assert len(holding) == 1 and "Berhad (MARC)" in holding[0]


def test_headings_and_paragraphs_are_separate_sentences() -> None:
    text = "# Trade Financing\n\nBanks lend to importers. Rates are low.\n\nExport Credit\n\nEXIM helps."
    spans = split_sentences(text)
    assert [(text[s.start : s.end], s.heading) for s in spans] == [
        ("# Trade Financing", True),
        ("Banks lend to importers.", False),
        ("Rates are low.", False),
        ("Export Credit", True),
        ("EXIM helps.", False),
    ]


def test_title_is_in_the_embedded_text() -> None:
    doc = Document(
        page_content="The facility separates rare earth oxides. It employs 650 people.",
        metadata={"title": "Lynas Advanced Materials Plant", "path": "/lynas.md"},
    )
    (chunk,) = chunk_document(doc, 900)
    assert chunk.page_content.startswith("Lynas Advanced Materials Plant")
    assert chunk.metadata["text_offset"] > len("Lynas Advanced Materials Plant")
    assert chunk_text(chunk) == doc.page_content
    assert chunk.metadata["title"] == "Lynas Advanced Materials Plant"


def test_a_chunk_that_repeats_an_earlier_one_of_its_document_is_left_out() -> None:
    """Identical vectors trap Chroma's HNSW search (a file of one 30,000-character word
    once hid every other file's chunks from a dense search); repeats add nothing."""
    word = Document(page_content="palm" * 7500, metadata={"title": "Palm", "path": "/palm.txt"})
    spans = plan_chunks(word.page_content, 900)
    chunks = chunk_document(word, 900)
    texts = [chunk.page_content for chunk in chunks]
    assert len(spans) > 20 and len(texts) == len(set(texts)) <= 2
    assert chunks[0].metadata["start"] == 0  # the first of the repeats is kept

    header = "Malaysian Investment Development Authority.\n\n"
    pages = "".join(f"{header}Page {n}: tin output rose in Perak in year {2000 + n}.\n\n" for n in range(6))
    doc = Document(page_content=pages, metadata={"title": "Report", "path": "/report.md"})
    kept = [chunk.page_content for chunk in chunk_document(doc, 60)]
    assert len(kept) == len(set(kept))
    assert sum(header.strip() in text for text in kept) == 1
    assert all(f"year {2000 + n}" in " ".join(kept) for n in range(6))  # nothing else is lost
