"""An index out of step with its records, repaired: a lost chroma folder, chunks without
records, records without chunks or without their document, `ingest --rebuild`, paging.

Real embedding model, real Chroma and real files in tmp_path. The states are made the way
an interrupted ingest or a lost folder leaves them: by removing one side only.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import assistant.index
from assistant.cli.app import app
from assistant.config import Settings
from assistant.index import CorpusIndex, make_chroma_client
from assistant.service import Assistant
from tests.conftest import CORPUS
from tests.test_index import FILES, assert_consistent, chunk_counts, stored_ids, three_documents, write_doc

# Three real corpus files, and a question one of them answers.
REAL_FILES = [
    "exim_blog_what-is-scri.md",
    "trade-gov_ccg_malaysia-import-tariffs.md",
    "ustr_fact-sheet_us-malaysia-reciprocal-trade.md",
]
QUESTION = "What is the Supply Chain Resiliency Initiative?"


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    return three_documents(tmp_path)


@pytest.fixture
def index(tmp_path: Path) -> CorpusIndex:
    return CorpusIndex(Settings(data_dir=tmp_path / "data", chunk_size=100))


def run_cli(*args: str) -> tuple[int, str, str]:
    """The real `assistant` app in this process (the model stays loaded between calls)."""
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, " ".join(result.stdout.split()), " ".join(result.stderr.split())


def keys_of(index: CorpusIndex, name: str, folder: Path) -> list[str]:
    return index.record_manager.list_keys(group_ids=[(folder / name).resolve().as_posix()])


def test_lost_chroma_folder_is_repaired_and_questions_are_answered_again(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in REAL_FILES:
        shutil.copy(CORPUS / name, corpus / name)
    data = tmp_path / "data"
    before = Assistant(Settings(data_dir=data))
    before.ingest([corpus])
    answered = before.ask(QUESTION)
    assert not answered.refused and answered.citations
    ids = stored_ids(before.corpus)

    # The same data directory without its chroma folder. (A copy: this process keeps its
    # Chroma open on `data`, and Chroma caches an open store per path.)
    lost = tmp_path / "lost"
    shutil.copytree(data, lost, ignore=shutil.ignore_patterns("chroma", "assistant.lock*"))
    assert (lost / "records.sqlite").exists() and not (lost / "chroma").exists()

    code, stdout, stderr = run_cli("--data-dir", str(lost), "sources")
    assert code == 0
    assert f"3 documents have records of {len(ids)} chunks that are not in the index" in stderr
    assert "run `assistant ingest` to repair" in stderr
    assert "No documents are indexed yet" not in stdout  # it is not a new index

    # Before the fix: "3 unchanged ... 0 embedded", and every question refused.
    code, stdout, stderr = run_cli("--data-dir", str(lost), "ingest", str(corpus))
    assert code == 0, stderr
    assert "Files: 3 added, 0 updated, 0 unchanged" in stdout
    assert f"{len(ids)} embedded" in stdout
    assert f"Repaired: {len(ids)} records of 3 documents pointed at chunks missing" in stdout

    after = Assistant(Settings(data_dir=lost))
    assert stored_ids(after.corpus) == ids
    assert after.corpus.check().ok
    answer = after.ask(QUESTION)
    assert not answer.refused
    assert [c.title for c in answer.citations] == [c.title for c in answered.citations]

    code, stdout, stderr = run_cli("--data-dir", str(lost), "sources")
    assert code == 0 and stderr == ""
    assert f"3 documents, {len(ids)} chunks." in stdout


def test_records_of_missing_chunks_are_forgotten_and_only_those_chunks_embedded(
    index: CorpusIndex, small_corpus: Path
) -> None:
    index.ingest([small_corpus])
    ids = stored_ids(index)
    alpha = (small_corpus / "alpha.md").resolve().as_posix()
    lost = keys_of(index, "alpha.md", small_corpus)[0]
    index.vector_store.delete(ids=[lost])  # killed after deleting a chunk, before its record
    # A record of the file's previous version whose chunk is already gone (killed in
    # index()'s cleanup, between the store and the records).
    index.record_manager.update([f"{lost[:-16]}0000000000000000"], group_ids=[alpha])

    health = index.check()
    assert health.missing == {alpha: sorted([lost, f"{lost[:-16]}0000000000000000"])}
    assert health.orphans == [] and not health.ok
    assert "1 document has records of 2 chunks that are not in the index" in health.problems()[0]

    report = index.ingest([small_corpus])
    assert report.files_repaired == [alpha] and report.records_forgotten == 2
    assert report.texts_embedded == report.chunks_added == 1  # not the whole file
    assert stored_ids(index) == ids
    assert index.check().ok
    assert_consistent(index)


def test_chunks_without_records_are_deleted(index: CorpusIndex, small_corpus: Path) -> None:
    index.ingest([small_corpus])
    ids = stored_ids(index)
    beta = (small_corpus / "beta.md").resolve().as_posix()
    # Killed between writing chunks and their records: one of the current chunks, and one
    # of a version of the file that no longer exists.
    unrecorded = keys_of(index, "beta.md", small_corpus)[0]
    index.record_manager.delete_keys([unrecorded])
    index.vector_store.add_texts(["An old paragraph."], metadatas=[{"path": beta}], ids=["beta-old"])

    health = index.check()
    assert health.orphans == sorted([unrecorded, "beta-old"]) and health.missing == {}
    assert "2 chunks in the index have no record" in " ".join(health.problems())

    report = index.ingest([small_corpus])
    assert report.orphans_deleted == 2
    assert report.texts_embedded == 1  # the unrecorded current chunk, indexed again
    assert stored_ids(index) == ids
    assert_consistent(index)


def test_records_that_lost_their_document_get_it_back(index: CorpusIndex, small_corpus: Path) -> None:
    """index() refreshes an unchanged chunk's record without its group, then sets the group
    again: killed in between, the record belongs to no file, and when the file changes its
    old chunks are never cleaned up (the old text stays retrievable beside the new)."""
    index.ingest([small_corpus])
    counts = chunk_counts(index)
    beta_keys = keys_of(index, "beta.md", small_corpus)
    beta = (small_corpus / "beta.md").resolve().as_posix()
    index.record_manager.update(beta_keys, group_ids=[None] * len(beta_keys))
    assert keys_of(index, "beta.md", small_corpus) == []

    health = index.check()
    assert health.ungrouped == dict.fromkeys(beta_keys, beta)

    path = small_corpus / "beta.md"
    path.write_text(path.read_text().replace("pay a windfall levy", "pay a windfall duty"), encoding="utf-8")
    report = index.ingest([small_corpus])
    assert report.records_regrouped == len(beta_keys)
    assert [Path(p).name for p in report.files_updated] == ["beta.md"]
    assert report.chunks_deleted == 1
    assert chunk_counts(index) == counts
    texts = [chunk.page_content for chunk in index.all_chunks()]
    assert not any("windfall levy" in text for text in texts)
    assert_consistent(index)


def test_repair_reaches_files_outside_the_given_paths(
    index: CorpusIndex, small_corpus: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    delta = write_doc(
        other, "delta.md", "Delta", "https://example.org/delta", "Rubber gloves are made in Klang."
    )
    index.ingest([small_corpus, other])
    delta_path = delta.resolve().as_posix()

    index.vector_store.delete(ids=keys_of(index, "delta.md", other))
    report = index.ingest([small_corpus])  # `other` not given, but its records said indexed
    assert report.files_repaired == [delta_path] and report.files_added == [delta_path]
    assert "delta.md" in chunk_counts(index)
    assert_consistent(index)

    index.vector_store.delete(ids=keys_of(index, "delta.md", other))
    delta.unlink()
    report = index.ingest([small_corpus])
    assert report.files_lost == [delta_path] and report.errors == []
    assert "delta.md" not in chunk_counts(index)
    assert_consistent(index)


def test_delete_forgets_a_document_whose_chunks_are_lost(index: CorpusIndex, small_corpus: Path) -> None:
    index.ingest([small_corpus])
    gamma = (small_corpus / "gamma.md").resolve().as_posix()
    index.vector_store.delete(ids=keys_of(index, "gamma.md", small_corpus))
    assert "gamma.md" not in chunk_counts(index)
    assert index.delete(gamma) == [gamma]
    assert index.check().ok
    assert_consistent(index)


def test_rebuild_drops_everything_and_indexes_the_files_again(tmp_path: Path, small_corpus: Path) -> None:
    data = tmp_path / "rebuilt"
    other = tmp_path / "other"
    other.mkdir()
    write_doc(other, "delta.md", "Delta", "https://example.org/delta", "Rubber gloves are made in Klang.")
    assert run_cli("--data-dir", str(data), "ingest", str(small_corpus), str(other))[0] == 0
    index = CorpusIndex(Settings(data_dir=data))
    assert set(chunk_counts(index)) == {*FILES, "delta.md"}
    ids = stored_ids(index)
    delta_keys = set(keys_of(index, "delta.md", other))
    index.vector_store.add_texts(["Stray."], metadatas=[{"path": "x"}], ids=["stray"])

    code, stdout, stderr = run_cli("--data-dir", str(data), "ingest", "--rebuild", str(small_corpus))
    assert code == 0, stderr
    assert f"Rebuilding: dropped the index ({len(ids) + 1} chunks) and its {len(ids)} records" in stdout
    assert "Files: 3 added, 0 updated, 0 unchanged" in stdout
    assert "Not indexed again (indexed before, but not under the given paths" in stderr
    assert stderr.endswith("delta.md")

    index = CorpusIndex(Settings(data_dir=data))  # the old one holds the dropped collection
    assert set(chunk_counts(index)) == set(FILES)
    assert stored_ids(index) == set(index.record_manager.list_keys())
    assert stored_ids(index) == ids - delta_keys
    assert index.check().ok


def test_every_read_of_the_collection_is_paged(
    index: CorpusIndex, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chroma's get() of more than 32,766 rows with their metadata fails ("too many SQL
    variables"); pages of 3 here show that every page is read and nothing twice."""
    index.ingest([small_corpus])
    ids = stored_ids(index)
    counts = chunk_counts(index)
    assert len(ids) > 3 * 2
    monkeypatch.setattr(assistant.index, "PAGE_SIZE", 3)
    monkeypatch.setattr(assistant.index, "ID_PAGE_SIZE", 3)
    assert index.stored_ids() == ids
    assert chunk_counts(index) == counts
    chunks = index.all_chunks()
    assert sorted(chunk.id or "" for chunk in chunks) == sorted(ids)
    assert index.check().ok
    index.vector_store.delete(ids=sorted(ids)[:5])
    report = index.ingest([small_corpus])
    assert report.records_forgotten == 5 and report.texts_embedded == 5
    assert index.stored_ids() == ids


def test_a_collection_larger_than_sqlite_allows_in_one_read(tmp_path: Path) -> None:
    """32,800 chunks: one get() of them with their metadata fails with "too many SQL
    variables" (SQLite's 32,766); sources, all_chunks and the check read them in pages."""
    settings = Settings(data_dir=tmp_path / "big", collection_name="big-collection")
    client = make_chroma_client(settings)
    collection = client.get_or_create_collection(settings.collection_name)
    total, batch = 32_800, 5_000  # a Chroma write takes at most ~5,400 rows
    for start in range(0, total, batch):
        ids = [f"chunk-{n}" for n in range(start, min(start + batch, total))]
        collection.add(
            ids=ids,
            embeddings=[[1.0, float(n)] for n in range(len(ids))],
            metadatas=[{"path": f"/docs/{n % 7}.md", "title": "T"} for n in range(len(ids))],
            documents=["text"] * len(ids),
        )
    with pytest.raises(Exception, match="too many SQL variables"):
        collection.get(include=["metadatas"])

    index = CorpusIndex(settings)
    assert sum(info.chunks for info in index.sources()) == total
    assert len(index.all_chunks()) == total
    health = index.check()  # no records at all: every chunk is an orphan
    assert len(health.orphans) == total and health.missing == {}
