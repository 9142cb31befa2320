# ruff: noqa: F811  (the fixtures `index` and `small_corpus` come from test_index)
"""Unchanged files are not parsed or chunked again (assistant/ingested.py), yet a lost chunk,
a changed setting or an interrupted ingest still brings a file back; a large file is
indexed in pieces, and an interrupted one keeps the pieces stored.

Real Chroma, the real model and real files in tmp_path. `chunk_document` is wrapped (not
replaced) to count the files chunked; faults are raised from the embedder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import assistant.index
from assistant.config import Settings
from assistant.index import CHUNKS_PER_INDEX_CALL, CorpusIndex
from assistant.ingested import IngestedFiles
from tests.test_index import (  # the same small corpus and index fixtures
    FILES,
    assert_consistent,
    chunk_counts,
    index,  # noqa: F401
    small_corpus,  # noqa: F401
    stored_ids,
    write_doc,
)


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files chunked, in order (the real chunker still runs)."""
    names: list[str] = []
    real = assistant.index.chunk_document

    def counting(document, *args, **kwargs):
        names.append(Path(document.metadata["path"]).name)
        return real(document, *args, **kwargs)

    monkeypatch.setattr(assistant.index, "chunk_document", counting)
    return names


def rows(index: CorpusIndex) -> dict[str, str]:
    """File name -> fingerprint of the `ingested_file` rows."""
    files = IngestedFiles(index.record_manager.engine, index.record_manager.namespace)
    files.create_schema()
    return {Path(path).name: entry.fingerprint for path, entry in files.all().items()}


class EmbeddingFault(RuntimeError):
    pass


def fail_embedding_after(index: CorpusIndex, monkeypatch: pytest.MonkeyPatch, calls: int) -> None:
    """The embedder works `calls` times, then raises (as a kill would stop the ingest there)."""
    real = index.embeddings.embed_documents
    done = []

    def embed(texts: list[str]) -> list[list[float]]:
        if len(done) == calls:
            raise EmbeddingFault("killed")
        done.append(len(texts))
        return real(texts)

    monkeypatch.setattr(index.embeddings, "embed_documents", embed)


def test_unchanged_files_are_not_chunked_and_are_reported_unchanged(
    index: CorpusIndex, small_corpus: Path, chunked: list[str]
) -> None:
    first = index.ingest([small_corpus])
    assert sorted(chunked) == sorted(FILES)
    assert set(rows(index)) == set(FILES)
    counts = chunk_counts(index)

    chunked.clear()
    second = index.ingest([small_corpus])
    assert chunked == []
    assert sorted(Path(p).name for p in second.files_unchanged) == sorted(FILES)
    assert second.files_added == second.files_updated == []
    assert second.chunks_skipped == sum(counts.values()) == first.chunks_added
    assert second.chunks_added == second.chunks_deleted == second.texts_embedded == 0

    beta = small_corpus / "beta.md"
    beta.write_text(beta.read_text().replace("windfall levy", "windfall duty"), encoding="utf-8")
    old_fingerprint = rows(index)["beta.md"]
    third = index.ingest([small_corpus])
    assert chunked == ["beta.md"]
    assert [Path(p).name for p in third.files_updated] == ["beta.md"]
    assert third.texts_embedded == third.chunks_deleted == 1
    assert third.chunks_skipped == sum(counts.values()) - 1
    assert rows(index)["beta.md"] != old_fingerprint
    assert_consistent(index)


def test_a_file_whose_chunks_were_lost_is_indexed_again(
    index: CorpusIndex, small_corpus: Path, chunked: list[str]
) -> None:
    index.ingest([small_corpus])
    ids = stored_ids(index)
    alpha = (small_corpus / "alpha.md").resolve().as_posix()
    lost = index.record_manager.list_keys(group_ids=[alpha])
    index.vector_store.delete(ids=lost)  # as a lost chroma folder leaves it, for one file

    chunked.clear()
    report = index.ingest([small_corpus])
    assert chunked == ["alpha.md"]
    assert report.files_repaired == [alpha]
    assert report.texts_embedded == len(lost)
    assert stored_ids(index) == ids
    assert index.check().ok

    index.vector_store.delete(ids=lost[:1])  # one chunk lost is enough
    chunked.clear()
    assert index.ingest([small_corpus]).texts_embedded == 1
    assert chunked == ["alpha.md"]


def test_a_changed_chunk_setting_chunks_every_file_again(
    tmp_path: Path, small_corpus: Path, chunked: list[str]
) -> None:
    CorpusIndex(Settings(data_dir=tmp_path / "data", chunk_size=100)).ingest([small_corpus])
    chunked.clear()
    larger = CorpusIndex(Settings(data_dir=tmp_path / "data", chunk_size=400))
    report = larger.ingest([small_corpus])
    assert sorted(chunked) == sorted(FILES)
    assert sorted(Path(p).name for p in report.files_updated) == sorted(FILES)
    assert report.texts_embedded > 0
    assert_consistent(larger)
    chunked.clear()
    assert len(larger.ingest([small_corpus]).files_unchanged) == len(FILES)
    assert chunked == []


def test_an_interrupted_ingest_never_marks_a_file_it_did_not_store(
    index: CorpusIndex, small_corpus: Path, monkeypatch: pytest.MonkeyPatch, chunked: list[str]
) -> None:
    index.ingest([small_corpus])
    before = rows(index)
    gamma = small_corpus / "gamma.md"
    gamma.write_text(gamma.read_text().replace("Penang", "Penang island"), encoding="utf-8")
    delta = write_doc(
        small_corpus, "delta.md", "Delta", "https://example.org/delta", "Gloves come from Klang."
    )

    with monkeypatch.context() as patch, pytest.raises(EmbeddingFault):
        fail_embedding_after(index, patch, calls=0)
        index.ingest([small_corpus])
    assert rows(index) == before  # gamma keeps its old row, delta has none

    chunked.clear()
    report = index.ingest([small_corpus])
    assert sorted(chunked) == ["delta.md", "gamma.md"]
    assert [Path(p).name for p in report.files_added] == ["delta.md"]
    assert [Path(p).name for p in report.files_updated] == ["gamma.md"]
    assert set(rows(index)) == set(FILES) | {delta.name}
    assert_consistent(index)


def test_prune_sees_skipped_files_and_forgets_vanished_ones(
    index: CorpusIndex, small_corpus: Path, chunked: list[str]
) -> None:
    index.ingest([small_corpus])
    (small_corpus / "gamma.md").unlink()
    chunked.clear()
    report = index.ingest([small_corpus], prune=True)
    assert chunked == []
    assert [Path(p).name for p in report.files_deleted] == ["gamma.md"]
    assert set(chunk_counts(index)) == {"alpha.md", "beta.md"}
    assert set(rows(index)) == {"alpha.md", "beta.md"}
    assert_consistent(index)


def big_file(folder: Path, paragraphs: int, extra: str = "") -> Path:
    body = "\n\n".join(
        f"Shipment {n} of rare earth carbonate left the Gebeng plant in week {n}." for n in range(paragraphs)
    )
    return write_doc(folder, "big.md", "Big Log", "https://example.org/big", body + extra)


def test_a_large_file_is_stored_in_pieces_and_an_interrupted_one_keeps_them(
    tmp_path: Path, index: CorpusIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    big_file(folder, paragraphs=CHUNKS_PER_INDEX_CALL + 20)

    with monkeypatch.context() as patch, pytest.raises(EmbeddingFault):
        fail_embedding_after(index, patch, calls=1)  # the first piece, then a kill
        index.ingest([folder])
    assert len(stored_ids(index)) == CHUNKS_PER_INDEX_CALL
    assert index.check().ok  # each stored chunk has its record
    assert rows(index) == {}  # the file is not marked: the next ingest finishes it

    report = index.ingest([folder])
    chunks = len(stored_ids(index))
    assert chunks > CHUNKS_PER_INDEX_CALL
    assert report.chunks_skipped == CHUNKS_PER_INDEX_CALL  # the stored piece is not embedded again
    assert report.texts_embedded == chunks - CHUNKS_PER_INDEX_CALL
    assert list(rows(index)) == ["big.md"]
    assert_consistent(index)

    # A new last paragraph: the unchanged chunks of the earlier pieces are not embedded
    # again (a cleanup after the first piece would have deleted them).
    big_file(folder, paragraphs=CHUNKS_PER_INDEX_CALL + 20, extra="\n\nOne more shipment left in May.")
    changed = index.ingest([folder])
    assert changed.texts_embedded <= 2 and changed.chunks_deleted <= 1
    assert changed.chunks_skipped >= chunks - 1
    assert_consistent(index)
