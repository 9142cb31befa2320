"""The assistant's logic with real Chroma and an embedder that loads nothing.

These tests run in the fast lane (`pytest -m "not slow"`, under a minute); the same
behaviour with the real model is tested in test_index.py, test_retrieval.py and
test_answering.py. Loading the real model here is a failure, not a slowdown.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.embeddings import SentenceTransformerEmbeddings
from assistant.retrieval import Filters
from assistant.service import Assistant
from tests.hashing_embedder import HashingEmbedder

DOCUMENTS = {
    "tin.md": (
        "Tin in Perak",
        "The Kinta smelter in Perak refines tin ingots for export.\n\n"
        "Malaysia produced 7,000 tonnes of refined tin in 2023.",
    ),
    "palm.md": (
        "Palm oil levies",
        "Sabah and Sarawak collect a levy on crude palm oil.\n\n"
        "The windfall levy applies above a reference price.",
    ),
}


@pytest.fixture
def assistant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Assistant:
    def no_model(self: SentenceTransformerEmbeddings) -> None:
        raise AssertionError("the fast lane must not load the embedding model")

    monkeypatch.setattr(SentenceTransformerEmbeddings, "_load", no_model)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (title, body) in DOCUMENTS.items():
        source = f"https://example.org/{name}"
        (corpus / name).write_text(f"---\ntitle: {title}\nsource: {source}\n---\n\n{body}\n")
    assistant = Assistant(Settings(data_dir=tmp_path / "data"), embeddings=HashingEmbedder())
    report = assistant.ingest([corpus])
    assert len(report.files_added) == 2 and not report.errors
    return assistant


def test_a_question_is_answered_from_the_document_that_says_it(assistant: Assistant) -> None:
    answer = assistant.ask("Which smelter in Perak refines tin ingots?")
    assert "Kinta smelter" in answer.answer
    assert {citation.title for citation in answer.citations} == {"Tin in Perak"}


def test_filters_and_deletes_reach_dense_and_lexical_search(assistant: Assistant) -> None:
    question = "Which levy applies to crude palm oil?"
    assert {p.title for p in assistant.retriever.retrieve(question)} >= {"Palm oil levies"}
    only_tin = Filters(sources=["https://example.org/tin.md"])
    assert {p.title for p in assistant.retriever.retrieve(question, only_tin)} == {"Tin in Perak"}

    [palm] = [s.path for s in assistant.sources() if s.title == "Palm oil levies"]
    assert assistant.delete(palm)
    assert {p.title for p in assistant.retriever.retrieve(question)} == {"Tin in Perak"}
    assert [s.title for s in assistant.sources()] == ["Tin in Perak"]


def test_a_re_ingest_of_unchanged_files_embeds_nothing(assistant: Assistant, tmp_path: Path) -> None:
    embedder = assistant.corpus.embeddings
    before = embedder.texts_embedded
    report = assistant.ingest([tmp_path / "corpus"])
    assert report.chunks_added == 0 and embedder.texts_embedded == before


def test_the_retriever_is_a_langchain_retriever(assistant: Assistant) -> None:
    """`invoke` gives the fused passages as Documents, for use in other LangChain chains."""
    documents = assistant.retriever.invoke("Which levy applies to crude palm oil?")
    assert documents and documents[0].metadata["title"] == "Palm oil levies"
    assert documents[0].metadata["score"] > 0 and documents[0].id
