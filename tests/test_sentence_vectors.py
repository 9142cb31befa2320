"""Sentence vectors made at ingest: stored with each chunk, read back with its passages,
used by the answer step instead of embedding the sentences per question."""

from __future__ import annotations

import json
import os
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from assistant.config import Settings
from assistant.lexical import SCHEMA_VERSION, LexicalIndex
from assistant.sentence_vectors import SENTENCE_VECTORS_KEY, decode, encode
from assistant.service import Assistant
from assistant.text import terms
from assistant.types import Passage
from tests.conftest import free_port
from tests.hashing_embedder import HashingEmbedder
from tests.test_index import three_documents

QUESTION = "Where does the smelter export tin ingots to?"
ASSISTANT = Path(sys.executable).parent / "assistant"


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, recording every text `embed_sentences` is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.sentences_asked: list[str] = []

    def embed_sentences(self, sentences: list[str]) -> list[list[float]]:
        self.sentences_asked += sentences
        return super().embed_sentences(sentences)


def make_assistant(tmp_path: Path, **settings: object) -> tuple[Assistant, CountingEmbedder]:
    embedder = CountingEmbedder()
    tmp_path.mkdir(exist_ok=True)
    assistant = Assistant(
        Settings(data_dir=tmp_path / "data", chunk_size=150, **settings), embeddings=embedder
    )
    report = assistant.ingest([three_documents(tmp_path)])
    assert not report.errors and report.chunks_added >= 3
    return assistant, embedder


def test_vectors_round_trip_and_a_mismatch_is_refused() -> None:
    vectors = np.random.default_rng(1).normal(size=(3, 384)).astype(np.float32)
    back = decode(encode(vectors), 3, 384)
    assert back is not None and back.shape == (3, 384)
    assert np.abs(back - vectors).max() < 0.01  # float16
    assert decode(encode(vectors), 2, 384) is None  # not the chunk's sentence count
    assert decode(encode(vectors), 3, 768) is None  # another model's dimension
    assert decode("not base64 at all!", 3, 384) is None
    assert decode("", 3, 384) is None


def test_ingest_stores_one_vector_per_sentence_of_every_chunk(tmp_path: Path) -> None:
    assistant, embedder = make_assistant(tmp_path)
    stored = assistant.corpus.vector_store.get(include=["documents", "metadatas"])
    assert stored["ids"]
    for chunk_id, text, metadata in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True):
        passage = Passage.from_chunk(_document(chunk_id, text, metadata))
        vectors = decode(metadata[SENTENCE_VECTORS_KEY], len(passage.sentences), 384)
        assert vectors is not None, chunk_id
        expected = np.array(embedder.embed_sentences(passage.sentence_texts()))
        assert np.abs(vectors - expected).max() < 0.01


def test_the_lexical_index_keeps_them_apart_from_the_metadata_and_returns_them(tmp_path: Path) -> None:
    assistant, _ = make_assistant(tmp_path)
    with sqlite3.connect(tmp_path / "data" / "lexical" / "chunks.sqlite") as db:
        rows = db.execute("SELECT metadata, vectors FROM chunks").fetchall()
    assert rows and all(vectors for _, vectors in rows)
    assert not any(SENTENCE_VECTORS_KEY in json.loads(metadata) for metadata, _ in rows)
    hits = assistant.corpus.lexical.search(terms("smelter ingots"), k=3)
    assert hits and all(SENTENCE_VECTORS_KEY in document.metadata for document, _ in hits)


def test_a_question_embeds_only_itself_when_its_passages_carry_vectors(tmp_path: Path) -> None:
    assistant, embedder = make_assistant(tmp_path)
    embedder.sentences_asked.clear()
    answer = assistant.ask(QUESTION)
    assert "Japan" in answer.answer
    assert set(embedder.sentences_asked) == {QUESTION}


def test_without_them_the_sentences_are_embedded_per_question_and_the_answer_is_the_same(
    tmp_path: Path,
) -> None:
    with_vectors, _ = make_assistant(tmp_path / "with")
    without, embedder = make_assistant(tmp_path / "without", sentence_vectors=False)
    stored = without.corpus.vector_store.get(include=["metadatas"])["metadatas"]
    assert not any(SENTENCE_VECTORS_KEY in metadata for metadata in stored)
    embedder.sentences_asked.clear()
    answer = without.ask(QUESTION)
    assert len(set(embedder.sentences_asked)) > 1  # the question and its passages' sentences
    assert answer.answer == with_vectors.ask(QUESTION).answer


def _old_lexical_index(directory: Path, version: int, generation: int, rows: str) -> LexicalIndex:
    """A `chunks.sqlite` as format `version` wrote it (format 1 had no vectors column),
    with `rows` inserted, opened as today's index opens it."""
    directory.mkdir()
    vectors = ", vectors TEXT" if version >= 2 else ""
    with sqlite3.connect(directory / "chunks.sqlite") as db:
        db.executescript(
            "CREATE TABLE chunks (id TEXT PRIMARY KEY, terms TEXT NOT NULL, text TEXT NOT NULL,"
            f" metadata TEXT NOT NULL, filters TEXT NOT NULL{vectors});"
            f"CREATE TABLE state (generation INTEGER NOT NULL); INSERT INTO state VALUES ({generation});"
            f"{rows} PRAGMA user_version = {version};"
        )
    return LexicalIndex(directory, store=None)  # type: ignore[arg-type]  # reads only its own file


def _saved_version(directory: Path) -> int:
    with sqlite3.connect(directory / "chunks.sqlite") as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_a_lexical_index_of_the_format_before_vectors_is_migrated(tmp_path: Path) -> None:
    rows = "INSERT INTO chunks VALUES ('a', 'tin', 'Tin.', '{\"title\": \"T\"}', '{}');"
    lexical = _old_lexical_index(tmp_path / "lexical", version=1, generation=0, rows=rows)
    assert lexical._read_documents(["a"])["a"].metadata == {"title": "T"}
    assert _saved_version(tmp_path / "lexical") == SCHEMA_VERSION


def test_terms_saved_with_their_accents_are_folded_when_the_index_opens(tmp_path: Path) -> None:
    """Format 2 saved "gécamin"; a question's terms are folded ("gecamin"), so the saved
    terms are written again and the generation moves on, which rebuilds every snapshot."""
    rows = (
        "INSERT INTO chunks VALUES ('a', 'gécamin copper', 'Gécamines copper.', '{}', '{}', NULL);"
        "INSERT INTO chunks VALUES ('b', 'tin', 'Tin.', '{}', '{}', NULL);"
    )
    lexical = _old_lexical_index(tmp_path / "lexical", version=2, generation=4, rows=rows)
    assert lexical._generation() == 5
    assert _saved_version(tmp_path / "lexical") == SCHEMA_VERSION
    with sqlite3.connect(tmp_path / "lexical" / "chunks.sqlite") as db:
        assert dict(db.execute("SELECT id, terms FROM chunks")) == {"a": "gecamin copper", "b": "tin"}


def _document(chunk_id: str, text: str, metadata: dict):  # type: ignore[no-untyped-def]
    from langchain_core.documents import Document

    return Document(id=chunk_id, page_content=text, metadata=metadata)


@pytest.mark.slow
def test_the_real_models_stored_vectors_are_the_ones_a_question_would_embed(
    corpus_assistant: Assistant,
) -> None:
    """On the real corpus and model: every chunk has them, and each is the vector the
    sentence gets when embedded alone (float16 aside)."""
    embeddings = corpus_assistant.corpus.embeddings
    chunks = corpus_assistant.corpus.all_chunks()
    assert chunks
    for chunk in chunks:
        passage = Passage.from_chunk(chunk)
        vectors = decode(passage.sentence_vectors, len(passage.sentences), 384)
        assert vectors is not None, passage.chunk_id
        fresh = np.array(embeddings.embed_sentences(passage.sentence_texts()))
        cosine = (vectors * fresh).sum(axis=1) / np.linalg.norm(vectors, axis=1)
        assert cosine.min() > 0.999


def test_an_index_ingested_without_them_says_so(tmp_path: Path) -> None:
    with_vectors, _ = make_assistant(tmp_path / "with")
    without, _ = make_assistant(tmp_path / "without", sentence_vectors=False)
    assert not with_vectors.corpus.lexical.lacks_sentence_vectors()
    assert without.corpus.lexical.lacks_sentence_vectors()


@pytest.mark.slow
def test_serve_tells_how_to_add_them_to_an_index_made_without(tmp_path: Path) -> None:
    """A user upgrading keeps an index without sentence vectors: `serve` says so at start,
    with the command that adds them, and serves anyway."""
    corpus = three_documents(tmp_path)
    data_dir = tmp_path / "data"
    env = {**os.environ, "COLUMNS": "400"}
    ingest = [str(ASSISTANT), "--data-dir", str(data_dir), "ingest", str(corpus)]
    subprocess.run(ingest, env={**env, "ASSISTANT_SENTENCE_VECTORS": "false"}, check=True, timeout=240)
    port = free_port()
    serve = [str(ASSISTANT), "--data-dir", str(data_dir), "serve", "--port", str(port)]
    with subprocess.Popen(
        serve, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as server:
        try:
            said = ""
            deadline = time.monotonic() + 180
            while "--rebuild" not in said and time.monotonic() < deadline and server.poll() is None:
                # Wait for a line only as long as the deadline allows: a server that never
                # says it must fail the test, not hang it.
                ready, _, _ = select.select([server.stderr], [], [], max(deadline - time.monotonic(), 0))
                if ready:
                    said += server.stderr.readline()  # type: ignore[union-attr]
            assert "ingested without sentence vectors" in " ".join(said.split())
            assert "assistant ingest DIR --rebuild" in said
            assert server.poll() is None  # still serving
        finally:
            server.terminate()
