"""The saved lexical index (assistant/lexical.py): kept in the data directory, followed by
ingest and delete, loaded at start without reading the store's chunks, rebuilt when lost
or broken, and scoring exactly as rank_bm25 did. Real Chroma and the real model, over a
tiny corpus shared by the module."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from scipy import sparse

from assistant import bm25
from assistant.bm25 import Bm25
from assistant.config import Settings
from assistant.index import CorpusIndex
from assistant.lexical import LexicalIndex, _vocabulary_from_json
from assistant.service import Assistant
from assistant.text import terms
from assistant.vocabulary import Vocabulary
from tests.test_index import FILES, three_documents, write_doc

# A made-up word only one document has: found by BM25, meaningless to the embedding model.
RARE = "zentrilox"


class StoreSpy:
    """Records every read of chunk texts from the vector store."""

    def __init__(self, corpus: CorpusIndex, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts_read: list[str] = []
        store = corpus.vector_store
        real_get = store.get

        def get(*args, **kwargs):  # type: ignore[no-untyped-def]
            result = real_get(*args, **kwargs)
            if "documents" in (kwargs.get("include") or []):
                self.texts_read += result["ids"]
            return result

        monkeypatch.setattr(store, "get", get)


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lexical-corpus")
    for name, (title, source, body) in FILES.items():
        write_doc(folder, name, title, source, body)
    return folder


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Settings:
    """A data directory with the three small documents ingested (chunks of ~100 characters,
    so that there are more chunks than `fetch_k` and dense search cannot return all)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("lexical-data"), chunk_size=100, fetch_k=2)
    CorpusIndex(settings).ingest([corpus_dir])
    return settings


def open_index(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[CorpusIndex, StoreSpy]:
    """A new process's view: a fresh CorpusIndex whose lexical index is opened."""
    corpus = CorpusIndex(settings)
    spy = StoreSpy(corpus, monkeypatch)
    corpus.lexical.open()
    return corpus, spy


def lexical_paths(lexical: LexicalIndex, query: str) -> set[str]:
    return {Path(chunk.metadata["path"]).name for chunk, _ in lexical.search(terms(query), 10)}


def test_ingest_saves_the_index_and_a_start_loads_it_without_reading_chunks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (settings.data_dir / "lexical" / "chunks.sqlite").is_file()
    assert (settings.data_dir / "lexical" / "current.json").is_file()
    assistant = Assistant(settings)
    spy = StoreSpy(assistant.corpus, monkeypatch)
    assistant.warm_up()
    assert spy.texts_read == []
    stored = assistant.corpus.count()
    assert assistant.retriever.chunk_count == stored > 2
    assert lexical_paths(assistant.corpus.lexical, "smelter tin ingots") == {"alpha.md"}
    assert assistant.retriever.vocabulary.chunk_count == stored
    assert assistant.retriever.vocabulary.document_frequency["smelter"] >= 1


def test_warm_up_builds_a_missing_index_once(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = Settings(data_dir=settings.data_dir.parent / "warm-up-copy", chunk_size=100, fetch_k=2)
    shutil.copytree(
        settings.data_dir, copy.data_dir, ignore=shutil.ignore_patterns("assistant.lock*", "lexical")
    )
    read = []  # the chunks each change of the vocabulary reads
    real_added = Vocabulary.added

    def added(self: Vocabulary, texts: list[str], *args: object) -> Vocabulary:
        read.append(len(texts))
        return real_added(self, texts, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Vocabulary, "added", added)
    assistant = Assistant(copy)
    spy = StoreSpy(assistant.corpus, monkeypatch)
    assistant.warm_up()
    # The retriever property and warm_up's refresh share one build: every chunk read once.
    assert sum(read) == assistant.corpus.count() > 0
    assert len(spy.texts_read) == assistant.corpus.count()  # every chunk read once


def test_a_second_ingest_and_a_delete_update_it(
    settings: Settings, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus, spy = open_index(settings, monkeypatch)
    before = corpus.stored_ids()
    write_doc(
        corpus_dir, "delta.md", "Delta", "https://example.org/delta", f"The {RARE} alloy is cast in Ipoh."
    )
    report = corpus.ingest([corpus_dir])
    assert report.chunks_added >= 1
    assert sorted(spy.texts_read) == sorted(corpus.stored_ids() - before)  # only the new chunks
    assert corpus.lexical.count == len(before) + report.chunks_added
    assert lexical_paths(corpus.lexical, f"{RARE} alloy") == {"delta.md"}

    assert corpus.delete(str(corpus_dir / "alpha.md"))
    assert "alpha.md" not in lexical_paths(corpus.lexical, "smelter tin ingots Kinta")
    # What was saved says the same to the next process.
    reopened, _ = open_index(settings, monkeypatch)
    assert reopened.lexical.count == corpus.count() == corpus.lexical.count
    assert "alpha.md" not in lexical_paths(reopened.lexical, "smelter tin ingots Kinta")
    assert lexical_paths(reopened.lexical, RARE) == {"delta.md"}
    assert reopened.lexical.vocabulary.document_frequency.get("smelter", 0) == 0
    # The vocabulary followed both changes by the changed chunks alone, and decides as
    # one built again from every saved chunk.
    rebuilt = corpus.lexical._vocabulary_from_database()
    assert corpus.lexical.vocabulary == reopened.lexical.vocabulary == rebuilt.for_questions()
    saved = reopened.lexical._current().saved_in
    assert saved is not None
    assert _vocabulary_from_json(json.loads((saved / "vocabulary.json").read_text())) == rebuilt
    assert rebuilt.chunk_count == corpus.count() and rebuilt.document_frequency[terms(RARE)[0]] >= 1


def test_a_snapshot_with_a_vocabulary_of_the_old_format_is_rebuilt_from_the_saved_chunks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Format 1 saved the vocabulary's decisions, which cannot be updated by a change."""
    caplog.set_level(logging.WARNING, logger="assistant.lexical")
    directory = settings.data_dir / "lexical"
    expected = open_index(settings, monkeypatch)[0].lexical.vocabulary
    snapshot = directory / json.loads((directory / "current.json").read_text())["snapshot"]
    old = {
        "fields": ["document_frequency", "chunk_count", "proper_nouns", "aliases"],
        "document_frequency": dict(expected.document_frequency),
        "chunk_count": expected.chunk_count,
        "proper_nouns": sorted(expected.proper_nouns),
        "aliases": {key: [sorted(form) for form in forms] for key, forms in expected.aliases.items()},
    }
    (snapshot / "vocabulary.json").write_text(json.dumps(old))
    (snapshot / "vocabulary-questions.json").unlink()  # not saved in that format's days
    corpus, spy = open_index(settings, monkeypatch)
    assert (
        "vocabulary was saved by another version" in caplog.text
        and "re-indexing its saved terms" in caplog.text
    )
    assert spy.texts_read == [] and corpus.lexical.vocabulary == expected
    saved = directory / json.loads((directory / "current.json").read_text())["snapshot"] / "vocabulary.json"
    assert json.loads(saved.read_text())["format"] == 2


def test_hybrid_retrieval_finds_a_lexical_only_match(settings: Settings) -> None:
    assistant = Assistant(settings)
    question = f"Which palm oil levy and {RARE}?"
    rare = [c for c, _ in assistant.corpus.lexical.search([RARE], 5)]
    assert len(rare) == 1
    dense = assistant.retriever._dense(question, None)
    assert rare[0].id not in {p.chunk_id for p in dense}  # dense search alone misses it
    found = {p.chunk_id: p for p in assistant.retriever.retrieve(question, k=4)}
    assert rare[0].id in found and found[rare[0].id].bm25_score > 0


def test_a_lost_or_broken_index_is_rebuilt_with_a_message(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="assistant.lexical")
    directory = settings.data_dir / "lexical"
    expected = open_index(settings, monkeypatch)[0].lexical.count

    # A broken snapshot is rebuilt from the saved terms, without reading the store.
    snapshot = directory / json.loads((directory / "current.json").read_text())["snapshot"]
    (snapshot / "main.npz").write_bytes(b"not a matrix")
    corpus, spy = open_index(settings, monkeypatch)
    assert "snapshot could not be read" in caplog.text and "re-indexing its saved terms" in caplog.text
    assert spy.texts_read == [] and corpus.lexical.count == expected
    assert lexical_paths(corpus.lexical, RARE) == {"delta.md"}

    for damage in ("missing", "corrupt"):
        caplog.clear()
        if damage == "missing":
            shutil.rmtree(directory)
        else:
            (directory / "chunks.sqlite").write_bytes(b"garbage" * 100)
        corpus, spy = open_index(settings, monkeypatch)
        message = "is missing" if damage == "missing" else "could not be read"
        assert message in caplog.text and f"rebuilding it from the {expected} stored chunks" in caplog.text
        assert len(spy.texts_read) == expected == corpus.lexical.count
        assert lexical_paths(corpus.lexical, RARE) == {"delta.md"}


def test_an_index_out_of_step_with_the_store_catches_up(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks written or deleted behind the index's back (an interrupted ingest)."""
    corpus, _ = open_index(settings, monkeypatch)
    [(victim, _score)] = corpus.lexical.search([RARE], 5)
    corpus.vector_store.delete(ids=[victim.id])  # the store changes, the lexical index does not know
    reopened, spy = open_index(settings, monkeypatch)
    assert reopened.lexical.count == reopened.count()
    assert reopened.lexical.search([RARE], 5) == [] and spy.texts_read == []


def test_a_change_links_the_unchanged_counts_and_lost_counts_are_rebuilt_from_saved_terms(
    tmp_path: Path, corpus_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A change writes what it changed: the large `main.npz` of the new snapshot is the
    previous one's file, hard-linked. A snapshot whose counts are gone is rebuilt from
    `chunks.sqlite`'s saved terms at the next start."""
    caplog.set_level(logging.WARNING, logger="assistant.lexical")
    settings = Settings(data_dir=tmp_path / "data", chunk_size=100)
    CorpusIndex(settings).ingest([corpus_dir])
    corpus = CorpusIndex(settings)  # a new process
    corpus.lexical.open()
    before = corpus.lexical._current().bm25.main_saved
    assert before is not None
    inode = before.stat().st_ino

    assert corpus.delete(str(corpus_dir / "alpha.md"))
    after = corpus.lexical._current().bm25.main_saved
    assert after is not None and after.parent != before.parent and after.stat().st_ino == inode
    assert not before.parent.exists()

    after.unlink()
    reopened = CorpusIndex(settings)
    query = terms("smelter tin ingots Kinta palm oil")
    assert reopened.lexical.search(query, 5)
    assert "re-indexing its saved terms" in caplog.text
    assert reopened.lexical.count == reopened.count()
    assert "alpha.md" not in lexical_paths(reopened.lexical, "smelter tin ingots Kinta")
    expected = reopened.lexical._snapshot_from_database().bm25.scores(query)
    assert reopened.lexical._current().bm25.scores(query) == pytest.approx(expected)


# --- the scores -------------------------------------------------------------------------

TERM_LISTS = [
    ["tin", "smelter", "perak", "tin"],
    ["tin", "palm", "oil", "levy"],
    ["tin", "chip", "penang"],
    ["palm", "oil", "sabah", "sarawak", "palm"],
    [],
]


@pytest.mark.parametrize(
    "query", [["tin"], ["palm", "oil"], ["tin", "tin", "smelter"], ["chip", "unknown"], ["unknown"]]
)
def test_scores_are_rank_bm25s(query: list[str]) -> None:
    """Including a term in more than half the chunks ("tin": rank_bm25's epsilon floor)
    and a repeated query term."""
    expected = BM25Okapi(TERM_LISTS).get_scores(query)
    assert np.allclose(Bm25.build(TERM_LISTS).scores(query), expected, rtol=1e-5)


QUERIES = (["tin"], ["palm", "levy"], ["gallium"], ["sabah"], ["tin", "oil", "tin"])


def test_an_updated_index_scores_like_one_built_from_scratch() -> None:
    new = [["gallium", "tin"], ["palm", "levy"]]
    updated = Bm25.build(TERM_LISTS).updated(np.array([0, 2, 4]), new)
    assert updated.tail.shape[0] == 2 and updated.segment_rows == 7  # no merge: two rows changed
    rebuilt = Bm25.build([TERM_LISTS[0], TERM_LISTS[2], TERM_LISTS[4], *new])
    for query in QUERIES:
        assert np.allclose(updated.scores(query), rebuilt.scores(query))
        assert np.allclose(updated.merged().scores(query), rebuilt.scores(query))


def test_changes_merge_the_segments_once_they_outgrow_the_main_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows added and dropped over many changes, merged when due, saved and read back:
    the same scores as an index built from the surviving rows."""
    monkeypatch.setattr(bm25, "MERGE_MINIMUM", 3)
    index, rows = Bm25.build(TERM_LISTS), list(TERM_LISTS)
    merges = 0
    for step in range(12):
        keep = [row for row in range(len(rows)) if row % 3 != step % 3]
        new = [["gallium", f"term{step}"], ["tin", "tin", "palm"]]
        index = index.updated(np.array(keep), new)
        rows = [rows[row] for row in keep] + new
        merges += index.tail.shape[0] == 0
        saved = tmp_path / f"snapshot-{step}"
        saved.mkdir()
        index = index.save(saved)
        loaded = Bm25.load(saved, index.terms)
        rebuilt = Bm25.build(rows)
        for query in (*QUERIES, [f"term{step}"]):
            assert np.allclose(loaded.scores(query), rebuilt.scores(query), rtol=1e-5)
    assert merges >= 2 and loaded.rows == len(rows)


def test_cached_column_weights_give_the_same_scores_within_their_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A question reuses the weights of columns an earlier one computed; the cache keeps
    the most recently used within its limit, and a column larger than it is not kept."""
    monkeypatch.setattr(bm25, "CACHED_WEIGHTS", 4)
    index = Bm25.build(TERM_LISTS).updated(np.array([0, 1, 3]), [["tin", "gallium"]])  # a tail, a drop
    reference = Bm25.build([TERM_LISTS[0], TERM_LISTS[1], TERM_LISTS[3], ["tin", "gallium"]])
    for query in (*QUERIES, *QUERIES, ["oil"], ["tin", "smelter"], ["tin"]):
        assert np.allclose(index.scores(query), reference.scores(query), rtol=1e-5)
        assert index._cache._size <= 4
    # "oil" (2 rows) made way for "tin" (3) and "smelter" (1); "tin" was used last.
    assert list(index._cache._held) == [index.terms["smelter"], index.terms["tin"]]
    monkeypatch.setattr(bm25, "CACHED_WEIGHTS", 2)
    smaller = Bm25.build(TERM_LISTS)
    assert np.allclose(smaller.scores(["tin"]), BM25Okapi(TERM_LISTS).get_scores(["tin"]), rtol=1e-5)
    assert smaller._cache._size == 0  # "tin" has more rows than the cache may hold


def test_saved_counts_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    index = Bm25.build(TERM_LISTS).save(tmp_path)
    np.save(tmp_path / "order.npy", np.array([0, 1, 99]))
    with pytest.raises(bm25.Bm25Error, match="do not fit"):
        Bm25.load(tmp_path, index.terms)
    (tmp_path / "tail.npz").unlink()
    with pytest.raises(bm25.Bm25Error, match="could not be read"):
        Bm25.load(tmp_path, index.terms)


# --- the documents it lists ---------------------------------------------------------------


def store_listing(corpus: CorpusIndex) -> dict[str, tuple[str, int]]:
    """Title and chunk count per file name, read from the store itself."""
    metadatas = corpus.vector_store.get(include=["metadatas"])["metadatas"]  # a tiny corpus
    titles = {Path(str(m["path"])).name: str(m["title"]) for m in metadatas}
    counts = Counter(Path(str(m["path"])).name for m in metadatas)
    return {name: (titles[name], counts[name]) for name in counts}


def listing(corpus: CorpusIndex) -> dict[str, tuple[str, int]]:
    return {Path(info.path).name: (info.title, info.chunks) for info in corpus.sources()}


def test_sources_follow_every_change_without_reading_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sources()` comes from the lexical index's per-document counts (reading every
    chunk's metadata took 105 s at 300k chunks); it must say what the store holds after
    an ingest, an update that changes a title, a delete by URL, and in the next process."""
    folder = three_documents(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", chunk_size=100)
    corpus = CorpusIndex(settings)
    corpus.ingest([folder])
    assert listing(corpus) == store_listing(corpus) and len(listing(corpus)) == len(FILES)

    _, source, body = FILES["beta.md"]
    write_doc(folder, "beta.md", "Beta, revised", source, body + " Sabah adds a second refinery in 2025.")
    corpus.ingest([folder])
    assert listing(corpus)["beta.md"][0] == "Beta, revised"
    assert listing(corpus) == store_listing(corpus)

    assert corpus.delete(FILES["gamma.md"][1]) == [(folder / "gamma.md").resolve().as_posix()]
    assert "gamma.md" not in listing(corpus)
    assert listing(corpus) == store_listing(corpus)

    expected = store_listing(corpus)
    reopened = CorpusIndex(settings)

    def no_reads(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("sources() read the store")

    reopened.lexical.open()  # a start: reads ids and counts, not chunks
    monkeypatch.setattr(reopened.vector_store, "get", no_reads)
    assert listing(reopened) == expected


def test_a_snapshot_saved_without_documents_gets_them_from_the_saved_chunks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot written before the per-document counts existed gets them at start from
    `chunks.sqlite`'s metadata, neither from the store nor by rebuilding the snapshot
    (its vocabulary alone takes minutes at 300k chunks)."""
    corpus, _ = open_index(settings, monkeypatch)
    expected = store_listing(corpus)
    current = json.loads((settings.data_dir / "lexical" / "current.json").read_text())
    documents = settings.data_dir / "lexical" / current["snapshot"] / "documents.json"
    documents.unlink()
    monkeypatch.setattr(Vocabulary, "build", lambda *args: pytest.fail("the snapshot was rebuilt"))
    with caplog.at_level(logging.WARNING, logger="assistant.lexical"):
        reopened, spy = open_index(settings, monkeypatch)
        assert listing(reopened) == expected
    assert spy.texts_read == [] and caplog.records == []
    assert documents.is_file()  # saved: the next start reads it


def test_an_ingest_compares_the_stores_ids_only_when_the_counts_disagree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading every id from Chroma takes 2.4 s at 300k chunks. An ingest compares them with
    the records only when the counts say they disagree (an interrupted ingest or delete),
    and its lexical index follows the records it has just written (not every record: 1.2 s
    at 300k), in this process or a new one (each CLI command), without warning that it is
    out of step with a store the ingest itself has just changed."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_doc(folder, "tin.md", "Tin", "https://example.org/tin", f"The {RARE} smelter casts tin.")
    write_doc(folder, "chips.md", "Chips", "https://example.org/chips", "Chips are packaged in Penang.")
    settings = Settings(data_dir=tmp_path / "data", chunk_size=100)
    corpus = CorpusIndex(settings)
    corpus.ingest([folder])
    reads = []
    real = CorpusIndex.stored_ids
    monkeypatch.setattr(CorpusIndex, "stored_ids", lambda self: reads.append(1) or real(self))
    record_reads = []
    real_records = CorpusIndex.records
    monkeypatch.setattr(CorpusIndex, "records", lambda self: record_reads.append(1) or real_records(self))
    write_doc(folder, "palm.md", "Palm", "https://example.org/palm", "Palm oil is refined in Sabah.")
    corpus.ingest([folder])
    assert reads == []
    # No record is read whole: which files are unchanged was decided from their own
    # records, and the lexical index follows the records written since the ingest began.
    assert record_reads == []
    assert corpus.lexical.count == corpus.count()
    assert lexical_paths(corpus.lexical, "palm oil Sabah") == {"palm.md"}

    write_doc(folder, "rubber.md", "Rubber", "https://example.org/rubber", "Rubber gloves are made in Kedah.")
    with caplog.at_level(logging.WARNING, logger="assistant.lexical"):
        fresh = CorpusIndex(settings)
        fresh.ingest([folder])
    assert reads == []
    assert [r.getMessage() for r in caplog.records] == []
    assert lexical_paths(fresh.lexical, "rubber gloves Kedah") == {"rubber.md"}

    # A chunk lost behind the records' back: the counts differ, the ids are compared once,
    # and the chunk is embedded again.
    lost = sorted(fresh.stored_ids())[0]
    reads.clear()
    fresh.vector_store.delete(ids=[lost])
    report = fresh.ingest([folder])
    assert reads == [1]
    assert report.records_forgotten == 1 and report.chunks_added == 1
    assert lost in fresh.stored_ids() and fresh.count() == len(fresh.records())


def test_a_follower_catches_up_at_its_first_look_with_a_change_made_while_it_was_down(
    tmp_path: Path,
) -> None:
    """A change that keeps the number of chunks (one chunk swapped for another) passes the
    count check at start; the replica's first look at the store brings it in."""
    folder = three_documents(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", chunk_size=100, sync_interval_seconds=0.1)
    corpus = CorpusIndex(settings)
    corpus.ingest([folder])
    count = corpus.count()
    # Behind the lexical index's back, as another process sharing a Chroma server would.
    victim = sorted(corpus.stored_ids())[0]
    corpus.vector_store.delete(ids=[victim])
    corpus.vector_store.add_texts(
        [f"The {RARE} foundry opened in Ipoh."],
        metadatas=[{"path": str(folder / "alpha.md"), "title": "Alpha Tin"}],
        ids=["swapped-in"],
    )
    corpus.changes.bump()
    assert corpus.count() == count

    replica = Assistant(settings)
    replica.corpus.lexical.open()  # the count matches: nothing is read at start
    assert replica.corpus.lexical.search([RARE], 5) == []
    follower = replica.follow_changes()
    try:
        deadline = time.monotonic() + 60
        while not replica.corpus.lexical.search([RARE], 5) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        follower.stop()
    assert [chunk.id for chunk, _ in replica.corpus.lexical.search([RARE], 5)] == ["swapped-in"]
    assert victim not in replica.corpus.lexical._current().ids


def test_a_replica_follows_ingests_and_deletes_by_what_changed_and_compares_ids_after_a_missed_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its first look, a replica learns what an ingest elsewhere added from the
    records written since, and what a delete removed from the change marker (both cheap
    at any size). It compares every id only when it missed a change, which the marker
    shows (the change it names as previous is not the last one the replica saw)."""
    folder = three_documents(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", chunk_size=100)
    writer = CorpusIndex(settings)
    writer.ingest([folder])
    replica = Assistant(settings)
    # The replica's own lexical index, as its own data directory would hold it.
    replica.corpus.lexical = LexicalIndex(tmp_path / "replica-lexical", replica.corpus)
    assert replica.sync_with_store()  # the first look compares every id
    reads = []
    real = CorpusIndex.stored_ids
    monkeypatch.setattr(CorpusIndex, "stored_ids", lambda self: reads.append(1) or real(self))

    palm = write_doc(
        folder, "palm.md", "Palm", "https://example.org/palm", f"{RARE} palm oil is refined in Sabah."
    )
    writer.ingest([palm])
    reads.clear()
    assert replica.sync_with_store()
    assert reads == []
    assert lexical_paths(replica.corpus.lexical, RARE) == {"palm.md"}
    assert replica.corpus.lexical.count == writer.count()

    writer.delete(str(palm))
    reads.clear()
    assert replica.sync_with_store()
    assert reads == []
    assert replica.corpus.lexical.search([RARE], 5) == []
    assert replica.corpus.lexical.count == writer.count()

    writer.ingest([palm])
    assert replica.sync_with_store()
    writer.delete(str(palm))
    writer.ingest([folder / "alpha.md"])  # announced after the delete: the replica misses its hint
    reads.clear()
    assert replica.sync_with_store()
    assert reads == [1]
    assert replica.corpus.lexical.search([RARE], 5) == []
    assert replica.corpus.lexical.count == writer.count()


def test_the_best_rows_are_a_prefix_of_the_full_stable_order() -> None:
    from assistant.lexical import _best_rows

    rng = np.random.default_rng(5)
    for trial in range(200):
        size = int(rng.integers(0, 400))
        scores = rng.integers(0, 6, size).astype(float)  # few values: many ties
        matching = np.flatnonzero(scores > 0)
        fields = [{"keep": bool(rng.random() < 0.3)} for _ in range(size)]
        accept = (lambda f: f["keep"]) if trial % 2 else None
        k = int(rng.integers(1, 30))
        full = [int(r) for r in matching[np.argsort(-scores[matching], kind="stable")]]
        expected = [r for r in full if accept is None or accept(fields[r])][:k]
        assert _best_rows(scores, matching, k, accept, fields) == expected


def test_a_snapshot_with_the_counts_in_one_matrix_loads_and_is_saved_again_in_segments(
    tmp_path: Path, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Snapshots saved before the segments held `counts.npz` (and `weights.npz`): the
    first start reads them without touching the store and saves the segments."""
    settings = Settings(data_dir=tmp_path / "data", chunk_size=100)
    CorpusIndex(settings).ingest([corpus_dir])
    directory = settings.data_dir / "lexical"
    snapshot = directory / json.loads((directory / "current.json").read_text())["snapshot"]
    query = terms("smelter tin ingots Kinta palm oil")
    vocabulary = open_index(settings, monkeypatch)[0].lexical.vocabulary  # as saved in segments
    expected = Bm25.load(
        snapshot, {t: i for i, t in enumerate(json.loads((snapshot / "terms.json").read_text()))}
    )
    sparse.save_npz(snapshot / "counts.npz", expected.main.tocsr().astype(np.float32))
    (snapshot / "weights.npz").write_bytes(b"no longer read")
    for name in bm25.FILES:
        (snapshot / name).unlink()

    corpus, spy = open_index(settings, monkeypatch)
    assert corpus.lexical._current().bm25.scores(query) == pytest.approx(expected.scores(query))
    assert spy.texts_read == [] and all((snapshot / name).is_file() for name in bm25.FILES)
    assert corpus.lexical._current().bm25.main_saved == snapshot / "main.npz"
    assert corpus.lexical.vocabulary == vocabulary
    assert not (snapshot / "counts.npz").exists()  # the next start reads the segments alone
    assert open_index(settings, monkeypatch)[0].lexical._current().bm25.scores(query) == pytest.approx(
        expected.scores(query)
    )


def test_rows_keep_one_filter_dict_per_document_and_old_snapshots_still_load(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every chunk of a document has the same filter fields: saved as a table of the
    distinct ones, and shared in memory (one dict per row held 130 MB at 300k chunks)."""
    corpus, _ = open_index(settings, monkeypatch)
    fields = corpus.lexical.filter_fields()
    by_path = {f["path"]: f for f in fields}
    found = {q: lexical_paths(corpus.lexical, q) for q in ("tin smelter", "wafer chips", "rubber gloves")}
    assert any(found.values())
    assert 2 <= len(by_path) < len(fields)  # earlier tests of this module delete one
    assert all(f is by_path[f["path"]] for f in fields)
    current = json.loads((settings.data_dir / "lexical" / "current.json").read_text())
    rows_path = settings.data_dir / "lexical" / current["snapshot"] / "rows.json"
    rows = json.loads(rows_path.read_text())
    assert len(rows["filter_table"]) == len(by_path) and len(rows["filter_rows"]) == len(fields)
    # A snapshot saved before the table held one dict per row: it loads the same.
    table = rows["filter_table"]
    rows_path.write_text(json.dumps({"ids": rows["ids"], "filters": [table[i] for i in rows["filter_rows"]]}))
    reopened, spy = open_index(settings, monkeypatch)
    assert reopened.lexical.filter_fields() == fields and spy.texts_read == []
    assert len({id(f) for f in reopened.lexical.filter_fields()}) == len(by_path)
    assert {q: lexical_paths(reopened.lexical, q) for q in found} == found
    rows_path.write_text(json.dumps(rows))
