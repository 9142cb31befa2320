"""Chroma + LangChain's indexing API: incremental, safe-to-re-run ingestion.

`index()` with a SQL record manager decides what to embed: an unchanged chunk is skipped
(nothing is embedded), a changed file's old chunks are deleted, and `prune` removes the
chunks of files that disappeared from an ingested directory.

`index()` trusts the record manager: a record whose chunk is not in the store (the
`chroma/` folder was lost, or an ingest was killed between deleting chunks and their
records) makes it skip that chunk forever, and a chunk written without its record (killed
between the two writes) is never cleaned up. So every ingest first compares the two
(`check`) and repairs what disagrees (`repair`), and `drop` starts over from the files.

This is the module that speaks Chroma (its client, `where` filters, distances, paged
reads; `assistant.changes` only gets its client): retrieval asks
`CorpusIndex.dense_search` with a `ChunkFilter` and gets cosine similarities back, and the
lexical index reads chunks through `count`, `stored_ids` and `chunks_by_id`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.indexing import index

from assistant.changes import ChangeMarker
from assistant.chunking import chunk_document
from assistant.config import Settings
from assistant.data_dir import ensure_data_dir
from assistant.documents import LoadError, load_paths
from assistant.embeddings import Embedder, make_embeddings
from assistant.ingested import IngestedFiles, KeysByPath
from assistant.lexical import LexicalIndex
from assistant.sentence_vectors import with_sentence_vectors

SOURCE_KEY = "path"  # one file = one source in the record manager
CHUNKS_PER_INDEX_CALL = 64
# Ids per Chroma read or delete: one call with more than 32,766 ids fails with "too many
# SQL variables" (SQLite's limit), so every read of the whole collection is paged.
PAGE_SIZE = 5_000
# Rows per read of ids alone, which passes no variable per row: at 300k chunks, pages of
# 5,000 took 15.7 s (each page skips the rows before it), of 100,000 2.0 s.
ID_PAGE_SIZE = 100_000
# Characters between one chunk and the next of a document: the blank lines and spaces that
# separate blocks (chunks break between whole sentences).
FOLLOWING_GAP = 20


@dataclass
class IngestReport:
    """What an ingest did, file by file and chunk by chunk."""

    files_added: list[str] = field(default_factory=list)
    files_updated: list[str] = field(default_factory=list)
    files_unchanged: list[str] = field(default_factory=list)
    files_deleted: list[str] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_skipped: int = 0
    texts_embedded: int = 0
    # Repairs made before indexing (see `CorpusIndex.repair`).
    files_repaired: list[str] = field(default_factory=list)
    files_lost: list[str] = field(default_factory=list)
    records_forgotten: int = 0
    records_regrouped: int = 0
    orphans_deleted: int = 0


@dataclass
class IndexHealth:
    """Where the record manager and the vector store disagree.

    `missing`: source path -> record keys whose chunks are not in the store (`index()`
    would skip those chunks as already indexed). `missing_unknown`: such records that name
    no source. `ungrouped`: key -> source path of records that lost their source (LangChain
    refreshes a record without its group id, then sets it again: a kill in between leaves
    it out of its file's cleanup), taken from the stored chunk. `orphans`: ids of chunks
    no record knows (written, then killed before the record was): nothing would ever
    delete them.
    """

    missing: dict[str, list[str]] = field(default_factory=dict)
    missing_unknown: list[str] = field(default_factory=list)
    ungrouped: dict[str, str] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    # The records as read for this check (key -> source path): an ingest reuses them when
    # nothing needed repair (reading them took 1.4 s at 300k chunks).
    records: dict[str, str | None] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.missing_unknown or self.ungrouped or self.orphans)

    def problems(self) -> list[str]:
        """One sentence per kind of problem, each naming the fix."""
        problems = []
        if self.missing:
            documents, keys = len(self.missing), sum(len(k) for k in self.missing.values())
            problems.append(
                f"{counted(documents, 'document')} {plural(documents, 'has', 'have')} records of "
                f"{counted(keys, 'chunk')} that {plural(keys, 'is', 'are')} not in the index (a lost "
                "chroma folder or an interrupted ingest): run `assistant ingest` to repair."
            )
        if self.missing_unknown:
            problems.append(
                f"{counted(len(self.missing_unknown), 'record')} of no known document point at "
                "chunks that are not in the index: run `assistant ingest` to forget them."
            )
        if self.ungrouped:
            problems.append(
                f"{counted(len(self.ungrouped), 'record')} lost the document they belong to (an "
                "interrupted ingest): run `assistant ingest` to repair."
            )
        if self.orphans:
            orphans = len(self.orphans)
            problems.append(
                f"{counted(orphans, 'chunk')} in the index {plural(orphans, 'has', 'have')} no "
                "record (an interrupted ingest): run `assistant ingest` to delete them."
            )
        return problems


def plural(n: int, one: str, many: str) -> str:
    """`one` or `many`, as `n` asks."""
    return one if n == 1 else many


def counted(n: int, noun: str) -> str:
    """The number with its noun: 1 chunk, 2 chunks."""
    return f"{n} {plural(n, noun, noun + 's')}"


@dataclass
class DropReport:
    """What `CorpusIndex.drop` threw away."""

    chunks: int
    records: int
    paths: list[str]


@dataclass
class SourceInfo:
    """One indexed document, as `assistant sources` lists it."""

    path: str
    title: str
    source: str
    publisher: str
    date: str
    chunks: int


def make_chroma_client(settings: Settings):
    """An embedded persistent client in the data directory, or an HTTP client to a server."""
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or 8000,
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    ensure_data_dir(settings)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


def make_vector_store(settings: Settings, client=None, embeddings=None):  # type: ignore[no-untyped-def]
    """The LangChain Chroma store, created in cosine space when it does not exist yet;
    with `sentence_vectors`, one that stores each chunk's sentence vectors with it."""
    from langchain_chroma import Chroma

    class SentenceVectorChroma(Chroma):
        """Chroma that adds each chunk's sentence vectors to its metadata as it is added:
        `index()` adds only the chunks it has to embed, so unchanged ones cost nothing."""

        def add_texts(self, texts, metadatas=None, ids=None, **kwargs):  # type: ignore[no-untyped-def]
            texts = list(texts)
            if metadatas:
                embed = self._embedding_function.embed_for_storage
                metadatas = with_sentence_vectors(texts, metadatas, embed)
            return super().add_texts(texts, metadatas, ids, **kwargs)

    store = SentenceVectorChroma if settings.sentence_vectors else Chroma
    return store(
        collection_name=settings.collection_name,
        embedding_function=embeddings or make_embeddings(settings),
        client=client or make_chroma_client(settings),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )


def make_record_manager(settings: Settings):
    """The SQL record manager that remembers which chunk hashes are already indexed."""
    from langchain_classic.indexes import SQLRecordManager
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from assistant.database import unusable_database

    if not settings.record_db_url:
        ensure_data_dir(settings)
    try:
        manager = SQLRecordManager(f"chroma/{settings.collection_name}", db_url=settings.record_manager_url)
        manager.create_schema()
    except (ArgumentError, NoSuchModuleError, ImportError, OperationalError) as error:
        hint = (
            "Check that it is running and that ASSISTANT_RECORD_DB_URL (or ASSISTANT_DATABASE_URL) is right."
        )
        raise unusable_database("the record database", settings.record_manager_url, error, hint) from None
    return manager


@dataclass(frozen=True)
class ChunkFilter:
    """Which chunks a dense search may return, in the stored metadata's own terms.

    Retrieval's `Filters` resolves itself into this (relative paths made absolute, dates
    made YYYYMMDD bounds), so retrieval never writes the store's query language:
    `chroma_where` is the one translation. Empty fields restrict nothing.
    """

    sources: tuple[str, ...] = ()  # paths or source URLs: a chunk matches by either
    publishers: tuple[str, ...] = ()
    dates: tuple[int, int] | None = None  # inclusive YYYYMMDD bounds of `date_sort`
    include_undated: bool = False  # with `dates`: chunks without a date (date_sort 0) pass too


def chroma_where(chunk_filter: ChunkFilter) -> dict[str, Any] | None:
    """`chunk_filter` in Chroma's `where` language; None when it restricts nothing."""
    clauses: list[dict[str, Any]] = []
    if chunk_filter.sources:
        keys = list(chunk_filter.sources)
        clauses.append({"$or": [{SOURCE_KEY: {"$in": keys}}, {"source": {"$in": keys}}]})
    if chunk_filter.publishers:
        clauses.append({"publisher": {"$in": list(chunk_filter.publishers)}})
    if chunk_filter.dates is not None:
        lower, upper = chunk_filter.dates
        dated = {"$and": [{"date_sort": {"$gte": lower}}, {"date_sort": {"$lte": upper}}]}
        clauses.append({"$or": [dated, {"date_sort": 0}]} if chunk_filter.include_undated else dated)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def chunk_key(chunk: Document) -> str:
    """Record-manager key and vector id: the stable chunk id plus a hash of everything
    stored with it, so a changed title or date also re-embeds the chunk."""
    payload = chunk.page_content + json.dumps(chunk.metadata, sort_keys=True)
    return f"{chunk.metadata['chunk_id']}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


ProgressCallback = Callable[[int, int], None]


def keys_of_paths(records: dict[str, str | None]) -> dict[str, list[str]]:
    """Record keys grouped by source path, from `CorpusIndex.records`."""
    grouped: dict[str, list[str]] = {}
    for key, path in records.items():
        if path:
            grouped.setdefault(path, []).append(key)
    return grouped


class RecordedKeys:
    """Record keys by source path, read one path at a time while few are asked for (an
    ingest of one file at 300k chunks reads its own keys, not 1.2 s of all records), and
    all at once from the `BULK_AFTER`-th path on (an ingest of a directory)."""

    BULK_AFTER = 50

    def __init__(self, corpus: CorpusIndex) -> None:
        self._corpus = corpus
        self._read: dict[str, list[str]] = {}
        self._all: dict[str, list[str]] | None = None

    def get(self, path: str, default: list[str], /) -> list[str]:
        if self._all is None and len(self._read) >= self.BULK_AFTER:
            self._all = keys_of_paths(self._corpus.records())
        if self._all is not None:
            return self._all.get(path, default)
        if path not in self._read:
            self._read[path] = list(self._corpus.record_manager.list_keys(group_ids=[path]))
        return self._read[path] or default


class CorpusIndex:
    """The indexed corpus: ingest, list, delete, and read back every chunk."""

    def __init__(self, settings: Settings, embeddings: Embedder | None = None) -> None:
        """`embeddings` replaces the configured model (`make_embeddings`): the fast test
        lane passes one that loads nothing."""
        self.settings = settings
        client = make_chroma_client(settings)
        self._client = client
        self.embeddings = embeddings or make_embeddings(settings)
        self.vector_store = make_vector_store(settings, client, self.embeddings)
        # Every change is announced where other processes sharing the store can see it.
        self.changes = ChangeMarker(client, settings.collection_name)
        self._deleted: list[str] = []  # chunk ids deleted since the last announced change
        self.record_manager = make_record_manager(settings)
        # BM25 over the same chunks, saved beside the store; ingest, delete and drop keep it in step.
        self.lexical = LexicalIndex(settings.data_dir / "lexical", self)

    def ingest(
        self,
        paths: list[Path],
        prune: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Load, chunk and index `paths`; with `prune`, forget files gone from directories.

        First the records are checked against the store and repaired (`repair`), when their
        counts say they disagree (`_store_and_records_agree`). A repaired file outside
        `paths` is indexed too when it still exists: its records said it was indexed, and
        without them nothing would bring its chunks back.

        A file whose bytes and settings are those it was indexed with, and whose chunks are
        all still stored, is neither parsed nor chunked (see `assistant.ingested`).
        """
        report = IngestReport()
        began = self.record_time()
        keys_by_path: KeysByPath
        repaired = False
        if self._store_and_records_agree():
            keys_by_path = RecordedKeys(self)  # path by path: a one-file ingest reads its own
        else:
            repaired = True
            health = self.check()
            self.repair(health, report)
            keys_by_path = keys_of_paths(health.records if health.ok else self.records())
        ingested = IngestedFiles(self.record_manager.engine, self.record_manager.namespace)
        unchanged = ingested.unchanged_check(keys_by_path, self.settings)
        loaded = load_paths(paths, self.settings, skip=unchanged)
        loaded_paths = {doc.metadata[SOURCE_KEY] for doc in loaded.documents}
        loaded_paths |= {str(path.resolve()) for path in loaded.skipped}
        elsewhere = [Path(p) for p in report.files_repaired if p not in loaded_paths]
        if elsewhere:
            extra = load_paths([p for p in elsewhere if p.is_file()], self.settings, skip=unchanged)
            loaded.documents += extra.documents
            loaded.errors += extra.errors
            loaded.skipped += extra.skipped
            report.files_lost = [str(p) for p in elsewhere if not p.is_file()]
        report.errors = loaded.errors
        for skipped in loaded.skipped:
            resolved = str(skipped.resolve())
            report.files_unchanged.append(resolved)
            report.chunks_skipped += unchanged.chunks(resolved)
        embedded_before = self.embeddings.texts_embedded
        total = len(loaded.documents) + len(loaded.skipped)
        done = len(loaded.skipped)

        def report_progress() -> None:
            if progress:
                progress(done, total)

        if done:
            report_progress()
        chunked = [(doc, self._chunks(doc)) for doc in loaded.documents]
        for batch in self._batches(chunked):
            self._classify(batch, report)
            self._index_batch(batch, report)
            # Only now, with its chunks and records written: a kill before leaves the old row.
            ingested.remember(
                {
                    doc.metadata[SOURCE_KEY]: unchanged.indexed(
                        doc.metadata[SOURCE_KEY], map(chunk_key, chunks)
                    )
                    for doc, chunks in batch
                }
            )
            done += len(batch)
            report_progress()
        if prune:
            loaded_paths = {doc.metadata["path"] for doc in loaded.documents}
            loaded_paths |= {str(path.resolve()) for path in loaded.skipped}
            for path in self._vanished_paths(loaded.roots, loaded_paths):
                report.chunks_deleted += self._delete_path(path)
                report.files_deleted.append(path)
        ingested.forget(report.files_deleted + report.files_lost)
        report.texts_embedded = self.embeddings.texts_embedded - embedded_before
        # Other processes (replicas) learn of the change now: they read the new chunks from
        # the store, not from this process's lexical index, whose sync (seconds at 300k
        # chunks) follows. A kill in between leaves it behind until its next sync: every
        # ingest and delete ends with one, and `serve` makes one at start.
        deleted = self._announce()
        self._follow_own_change(began, deleted, described=not repaired)
        return report

    def _chunks(self, document: Document) -> list[Document]:
        return chunk_document(document, self.settings.chunk_size, self.settings.chunk_overlap_sentences)

    def _index_batch(
        self,
        batch: list[tuple[Document, list[Document]]],
        report: IngestReport,
    ) -> None:
        """Index whole files, `CHUNKS_PER_INDEX_CALL` chunks per `index()` call, then delete
        the files' chunks that no call wrote (their old versions).

        `index()`'s own incremental cleanup runs after each of its batches and would delete
        a file's unchanged chunks that a later batch had yet to refresh (they would then be
        embedded again), so the calls do no cleanup and this does it once, after the last,
        as `index()` does: chunks first, then records. In pieces, a large file is embedded
        and stored a batch at a time, and a kill keeps the batches stored (the next ingest
        skips them); until the cleanup, a file interrupted mid-update has both versions.
        """
        chunks = [chunk for _, doc_chunks in batch for chunk in doc_chunks]
        started = self.record_manager.get_time()
        for start in range(0, len(chunks), CHUNKS_PER_INDEX_CALL):
            piece = chunks[start : start + CHUNKS_PER_INDEX_CALL]
            result = index(
                piece,
                self.record_manager,
                self.vector_store,
                cleanup=None,
                source_id_key=SOURCE_KEY,
                key_encoder=chunk_key,
                batch_size=len(piece),
            )
            report.chunks_added += result["num_added"]
            report.chunks_skipped += result["num_skipped"]
        paths = [document.metadata[SOURCE_KEY] for document, _ in batch]
        while stale := self.record_manager.list_keys(group_ids=paths, before=started, limit=PAGE_SIZE):
            self.vector_store.delete(ids=stale)
            self.record_manager.delete_keys(stale)
            self._deleted += stale
            report.chunks_deleted += len(stale)

    @staticmethod
    def _batches(
        chunked: list[tuple[Document, list[Document]]],
    ) -> Iterator[list[tuple[Document, list[Document]]]]:
        """Whole files per batch: the cleanup after a batch deletes every chunk of its files
        that the batch did not write."""
        batch: list[tuple[Document, list[Document]]] = []
        size = 0
        for item in chunked:
            batch.append(item)
            size += len(item[1])
            if size >= CHUNKS_PER_INDEX_CALL:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _classify(self, batch: list[tuple[Document, list[Document]]], report: IngestReport) -> None:
        for document, chunks in batch:
            path = document.metadata["path"]
            old_keys = set(self.record_manager.list_keys(group_ids=[path]))
            new_keys = {chunk_key(chunk) for chunk in chunks}
            if not old_keys:
                report.files_added.append(path)
            elif old_keys == new_keys:
                report.files_unchanged.append(path)
            else:
                report.files_updated.append(path)

    def _vanished_paths(self, roots: list[Path], loaded_paths: set[str]) -> list[str]:
        """Indexed files under `roots` that no longer exist or no longer load as supported."""
        vanished = []
        for path in self.indexed_paths():
            under_root = any(Path(path).is_relative_to(root) for root in roots)
            if under_root and path not in loaded_paths and not Path(path).exists():
                vanished.append(path)
        return vanished

    def indexed_paths(self) -> list[str]:
        """Paths of every indexed document, from the records (ingest has just made them
        agree with the store): one SQL query, not a read of every chunk's metadata."""
        return self._recorded_paths()

    def _recorded_paths(self, among: list[str] | None = None) -> list[str]:
        """The distinct source paths of the records (those in `among`, if given)."""
        from sqlalchemy import bindparam, text

        query = "SELECT DISTINCT group_id FROM upsertion_record WHERE namespace = :namespace"
        parameters: dict[str, Any] = {"namespace": self.record_manager.namespace}
        if among is not None:
            query += " AND group_id IN :among"
            parameters["among"] = among
        statement = text(query)
        if among is not None:
            statement = statement.bindparams(bindparam("among", expanding=True))
        with self.record_manager.engine.connect() as connection:
            rows = connection.execute(statement, parameters)
            return sorted(str(path) for (path,) in rows if path)

    def _stored_paths(self, where: dict[str, Any]) -> set[str]:
        """The paths of the stored chunks that match `where` (only their metadata is read)."""
        pages = self._pages(["metadatas"], where=where)
        return {str(m.get(SOURCE_KEY)) for page in pages for m in page["metadatas"] if m}

    # --- the store and the records, compared ------------------------------------------

    def _pages(
        self, include: list[str], size: int | None = None, where: dict[str, Any] | None = None
    ) -> Iterator[dict]:
        """The collection (the chunks matching `where`), `size` (else `PAGE_SIZE`) at a time."""
        offset = 0
        while True:
            page = self.vector_store.get(include=include, where=where, limit=size or PAGE_SIZE, offset=offset)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])

    def count(self) -> int:
        """How many chunks are stored (cheap, whatever the size).

        LangChain's Chroma has no public count, so this asks the client. The collection is
        looked up each time: `drop` replaces it with a new one.
        """
        return self._client.get_collection(self.settings.collection_name, embedding_function=None).count()

    def dense_search(
        self, vector: list[float], k: int, chunk_filter: ChunkFilter | None = None
    ) -> list[tuple[Document, float]]:
        """The `k` chunks nearest to `vector` that pass `chunk_filter`, nearest first, each
        with its cosine similarity to `vector` (higher is closer)."""
        where = chroma_where(chunk_filter) if chunk_filter else None
        results = self.vector_store.similarity_search_by_vector_with_relevance_scores(
            vector, k=k, filter=where
        )
        return [(chunk, 1.0 - float(distance)) for chunk, distance in results]  # cosine space: 1 - cos

    def chunks_by_id(self, ids: list[str]) -> list[Document]:
        """The stored chunks with these ids (at most `PAGE_SIZE`), text and metadata."""
        return _documents(self.vector_store.get(ids=ids, include=["documents", "metadatas"]))

    def following_chunk(self, path: str, end: int) -> Document | None:
        """The chunk of the document at `path` that starts where the chunk ending at `end`
        stops (after the blank lines between them), if any: a list whose introduction
        ends one chunk starts the next."""
        where = {
            "$and": [
                {"path": path},
                {"start": {"$gte": end}},
                {"start": {"$lte": end + FOLLOWING_GAP}},
            ]
        }
        chunks = _documents(self.vector_store.get(where=where, include=["documents", "metadatas"], limit=8))
        return min(chunks, key=lambda chunk: int(chunk.metadata.get("start", 0)), default=None)

    def stored_ids(self) -> set[str]:
        """Ids of every chunk in the store, read without their texts or vectors."""
        return {chunk_id for page in self._pages([], size=ID_PAGE_SIZE) for chunk_id in page["ids"]}

    def _store_and_records_agree(self) -> bool:
        """Whether the store and the records hold as many chunks, every record naming its
        source. Every state an interrupted ingest, delete or repair leaves breaks this
        (chunks stored before their records, records kept after their chunks, a record
        refreshed without its source), so an ingest compares every id (`check`) only when
        it fails: at 300k chunks the ids take 2.4 s to read, the counts 0.1 s."""
        from sqlalchemy import text

        query = text("SELECT count(*), count(group_id) FROM upsertion_record WHERE namespace = :namespace")
        with self.record_manager.engine.connect() as connection:
            records, grouped = connection.execute(query, {"namespace": self.record_manager.namespace}).one()
        return bool(records == grouped == self.count())

    def record_time(self) -> float:
        """The record database's clock (the one its `updated_at` column is written by)."""
        return float(self.record_manager.get_time())

    def recorded_since(self, moment: float) -> list[str]:
        """Keys of the records written or touched after `moment` (`record_time`'s clock):
        the chunks an ingest stored since then, whichever process ran it."""
        return list(self.record_manager.list_keys(after=moment))

    def records(self) -> dict[str, str | None]:
        """Every record-manager key with its source path (its group id).

        The record manager has no call that returns keys with their groups, and the
        missing chunks cannot say which file they came from, so this reads LangChain's
        table itself: its name and columns are its persisted schema, which LangChain
        changes only with a migration.
        """
        from sqlalchemy import text

        query = text("SELECT key, group_id FROM upsertion_record WHERE namespace = :namespace")
        with self.record_manager.engine.connect() as connection:
            rows = connection.execute(query, {"namespace": self.record_manager.namespace})
            return {key: group for key, group in rows}

    def check(self) -> IndexHealth:
        """Compare the records with the store; reads ids only, so it is cheap enough for
        every ingest and every `sources`."""
        records = self.records()
        stored = self.stored_ids()
        health = IndexHealth(orphans=sorted(stored - records.keys()), records=records)
        ungrouped = []
        for key, path in sorted(records.items()):
            if key not in stored:
                if path:
                    health.missing.setdefault(path, []).append(key)
                else:
                    health.missing_unknown.append(key)
            elif not path:
                ungrouped.append(key)
        for start in range(0, len(ungrouped), PAGE_SIZE):
            found = self.vector_store.get(ids=ungrouped[start : start + PAGE_SIZE], include=["metadatas"])
            for key, metadata in zip(found["ids"], found["metadatas"], strict=True):
                if metadata and metadata.get(SOURCE_KEY):  # `index()` requires it: always there
                    health.ungrouped[key] = str(metadata[SOURCE_KEY])
        return health

    def repair(self, health: IndexHealth, report: IngestReport | None = None) -> None:
        """Make the records and the store agree again, before `index()` trusts the records.

        Records of missing chunks are forgotten, so `index()` embeds those chunks again
        (only those: a file that lost one chunk is not re-embedded whole, and stale records
        of a file's old version, whose deletion was interrupted, simply go). Orphan chunks
        are deleted. Records that lost their source get it back from their chunk, so the
        file's next change cleans them up.
        """
        report = report if report is not None else IngestReport()
        forgotten = [key for keys in health.missing.values() for key in keys] + health.missing_unknown
        for start in range(0, len(forgotten), PAGE_SIZE):
            self.record_manager.delete_keys(forgotten[start : start + PAGE_SIZE])
        if health.ungrouped:
            keys = list(health.ungrouped)
            for start in range(0, len(keys), PAGE_SIZE):
                page = keys[start : start + PAGE_SIZE]
                self.record_manager.update(page, group_ids=[health.ungrouped[key] for key in page])
        self._delete_ids(health.orphans)
        report.files_repaired = sorted(health.missing)
        report.records_forgotten = len(forgotten)
        report.records_regrouped = len(health.ungrouped)
        report.orphans_deleted = len(health.orphans)

    def _delete_ids(self, ids: list[str]) -> None:
        for start in range(0, len(ids), PAGE_SIZE):
            self.vector_store.delete(ids=ids[start : start + PAGE_SIZE])
        self._deleted += ids

    def _announce(self, deleted_all: bool = False) -> list[str]:
        """Tell other processes the chunks changed, naming the ones deleted (see
        `assistant.changes`); after `drop`, which deleted every chunk, naming none (a
        replica then compares ids). Returns the chunks deleted since the last change."""
        deleted, self._deleted = self._deleted, []
        self.changes.bump(removed=None if deleted_all else deleted)
        return deleted

    def _follow_own_change(self, since: float, deleted: list[str], described: bool) -> None:
        """Bring this process's lexical index into step after its own ingest or delete.
        A change it knows in full is followed as a replica follows one: by the records
        written since `since` and the chunks it deleted, then a comparison of counts
        (`LexicalIndex.sync_added`). After a repair, by every record (the records equal
        the store then; reading them takes 1.2 s at 300k chunks)."""
        if described:
            self.lexical.sync_added(self.recorded_since(since), deleted)
        else:
            self.lexical.sync(stored=set(self.records()))

    def drop(self) -> DropReport:
        """Empty the collection and forget every record, for `ingest --rebuild`.

        The collection goes first: a drop interrupted between the two leaves records
        without chunks, which the next ingest repairs.
        """
        records = self.records()
        chunks = len(self.stored_ids())
        self.vector_store.reset_collection()
        self.lexical.reset()
        self._announce(deleted_all=True)
        keys = list(records)
        for start in range(0, len(keys), PAGE_SIZE):
            self.record_manager.delete_keys(keys[start : start + PAGE_SIZE])
        return DropReport(chunks=chunks, records=len(keys), paths=sorted({p for p in records.values() if p}))

    def delete(self, source: str) -> list[str]:
        """Delete a document by its path or source URL; returns the paths deleted.

        A path that only the records know (its chunks were lost) matches too, so that its
        records can be forgotten without an ingest. Only the matching chunks and records
        are read (listing every document first took 105 s at 300k chunks).
        """
        as_paths = sorted({source, Path(source).resolve().as_posix()})
        by_url = self._stored_paths({"source": source})
        by_path = self._stored_paths({SOURCE_KEY: {"$in": as_paths}})
        matches = sorted(by_url | by_path | set(self._recorded_paths(as_paths)))
        began = self.record_time()
        for path in matches:
            self._delete_path(path)
        deleted = self._announce() if matches else []  # before the lexical sync, as an ingest does
        self._follow_own_change(began, deleted, described=bool(matches))
        return matches

    def _delete_path(self, path: str) -> int:
        keys = self.record_manager.list_keys(group_ids=[path])
        for start in range(0, len(keys), PAGE_SIZE):
            page = keys[start : start + PAGE_SIZE]
            self.vector_store.delete(ids=page)
            self.record_manager.delete_keys(page)
            self._deleted += page
        return len(keys)

    def sources(self) -> list[SourceInfo]:
        """Indexed documents with their chunk counts, newest first.

        From the lexical index's per-document counts, which every ingest and delete (and a
        replica's sync) updates: reading every chunk's metadata took 105 s at 300k chunks.
        """
        documents = self.lexical.documents()
        listed = [
            SourceInfo(
                path=path,
                title=str(entry.get("title") or ""),
                source=str(entry.get("source") or ""),
                publisher=str(entry.get("publisher") or ""),
                date=str(entry.get("date") or ""),
                chunks=int(entry["chunks"]),
            )
            for path, entry in documents.items()
        ]
        return sorted(listed, key=lambda info: (-int(documents[info.path].get("date_sort") or 0), info.title))

    def all_chunks(self) -> list[Document]:
        """Every chunk with its id, read page by page (retrieval reads the lexical index instead)."""
        return [chunk for page in self._pages(["documents", "metadatas"]) for chunk in _documents(page)]


def _documents(page: dict) -> list[Document]:
    """The Documents of one Chroma `get` result."""
    return [
        Document(id=chunk_id, page_content=text, metadata=metadata)
        for chunk_id, text, metadata in zip(page["ids"], page["documents"], page["metadatas"], strict=True)
    ]
