"""A lasting lexical index: BM25 over every chunk's terms, kept in the data directory.

Lexical search used to be rebuilt from every chunk in Chroma at each start (96% of a
300k-chunk start-up) and scored every chunk in Python for each question (rank_bm25:
610 ms at 300k chunks). This index is saved next to the vector store, follows ingest
and delete by the chunks that changed, and is loaded at start.

The engine was chosen by measurement (benchmarks/bench_lexical.py). bm25s answers as
fast as a sparse matrix can, but cannot be updated: every change means indexing the
whole corpus again, in Python loops slower than rank_bm25's. So the index keeps the
corpus as a sparse matrix of term counts (`assistant.bm25`, scipy) from which a question
computes the BM25 weights of its own terms: a change appends the new chunks' rows and
forgets the deleted ones, tokenising only the new chunks. The weights are rank_bm25's
`BM25Okapi`, so no ranking changed.

What lives in `directory` (the data directory's `lexical/`):

- `chunks.sqlite`: one row per chunk (id, terms, text, metadata, sentence vectors in a
  column of their own) and a generation number that every change bumps. The texts and
  sentence vectors of lexical hits come from here, not from Chroma.
- `snapshot-<generation>/`: what a process loads at start: the term counts (`Bm25`'s
  files; the large one is hard-linked from the previous snapshot when it did not
  change), the rows' ids and filter fields, the corpus `Vocabulary`'s counts and each
  document's chunk count and citation fields (what `assistant sources` lists), which a change updates
  with the changed chunks alone (the removed ones are read back from `chunks.sqlite`
  before they go). `current.json` names the newest.
  A missing or broken snapshot is rebuilt from `chunks.sqlite`'s saved terms; a missing
  or broken database from the vector store.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
from langchain_core.documents import Document
from scipy import sparse

from assistant.bm25 import Bm25
from assistant.sentence_vectors import SENTENCE_VECTORS_KEY
from assistant.text import terms
from assistant.vocabulary import Vocabulary

log = logging.getLogger("assistant.lexical")

SCHEMA_VERSION = 3  # PRAGMA user_version of chunks.sqlite; 1 and 2 are migrated, others rebuilt
# vocabulary.json's format; another one means the snapshot is rebuilt from chunks.sqlite.
VOCABULARY_FORMAT = 2
# The counts a saved vocabulary holds, in order (the list snapshots were saved with).
VOCABULARY_FIELDS = ("document_frequency", "chunk_count", "capitalised", "lowercase", "alias_counts")
# The metadata `Filters.matches` reads, kept in memory for every chunk.
FILTER_FIELDS = ("path", "source", "publisher", "date_sort")
# What the per-document summary keeps of a document's chunks (see `Documents`).
DOCUMENT_FIELDS = ("title", "source", "publisher", "date", "date_sort")
PAGE = 5_000  # ids per read or delete (SQLite's variable limit, see index.PAGE_SIZE)


class ChunkStore(Protocol):
    """What the index needs from the vector store (`CorpusIndex` provides it)."""

    def count(self) -> int:
        """How many chunks are stored."""
        ...

    def stored_ids(self) -> set[str]:
        """Every chunk id, read without texts."""
        ...

    def chunks_by_id(self, ids: list[str]) -> list[Document]:
        """The stored chunks with these ids, with their text and metadata."""
        ...


class LexicalIndexError(RuntimeError):
    """The saved index cannot be read (missing, corrupt, or of another format)."""


@dataclass
class SyncReport:
    """What `LexicalIndex.sync` changed."""

    added: int = 0
    removed: int = 0


# --- the documents ----------------------------------------------------------------------


# path -> {"chunks": how many, and the newest chunk's DOCUMENT_FIELDS}
Documents = dict[str, dict[str, Any]]


def documents_changed(documents: Documents, removed: list[dict], added: list[dict]) -> Documents:
    """`documents` after chunks with these metadata went and came: a new dict (snapshots
    are immutable); only the documents touched are copied. A document whose last chunk
    went is gone; one that gets chunks takes their fields (a changed title, say)."""
    changed = dict(documents)
    for metadata in removed:
        path = str(metadata.get("path"))
        if path in changed:
            entry = {**changed[path], "chunks": changed[path]["chunks"] - 1}
            if entry["chunks"] > 0:
                changed[path] = entry
            else:
                del changed[path]
    for metadata in added:
        path = str(metadata.get("path"))
        chunks = changed[path]["chunks"] if path in changed else 0
        changed[path] = {**{key: metadata.get(key) for key in DOCUMENT_FIELDS}, "chunks": chunks + 1}
    return changed


# --- the index ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """One generation of the index; replaced whole, so searches never see half an update."""

    generation: int = 0
    ids: list[str] = field(default_factory=list)
    filter_fields: list[dict[str, Any]] = field(default_factory=list)
    bm25: Bm25 = field(default_factory=lambda: Bm25.build([]))
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    documents: Documents = field(default_factory=dict)
    saved_in: Path | None = None  # its directory, once saved: a replica's change reads the vocabulary there


@dataclass
class _Change:
    """Chunks that a change adds or removes, as the vocabulary and the documents read
    them: from `chunks.sqlite`'s columns."""

    texts: list[str] = field(default_factory=list)
    terms: list[list[str]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)

    def append(self, text: str, chunk_terms: str, filters: str, metadata: str) -> None:
        self.texts.append(_vocabulary_text(text, filters))
        self.terms.append(chunk_terms.split())
        self.metadata.append(json.loads(metadata))

    def taken_from(self, vocabulary: Vocabulary, added: _Change) -> Vocabulary:
        """`vocabulary` without these chunks and with `added`'s."""
        return vocabulary.removed(self.texts, self.terms).added(added.texts, added.terms)


class LexicalIndex:
    """BM25 over every chunk of `store`, saved in `directory`.

    `open()` loads it (rebuilding it when missing, unreadable or out of step with the
    store; every reading method opens it first), `sync()` follows the store after an
    ingest or delete, `reset()` forgets everything, and `search` ranks chunks for a
    question's terms.
    """

    def __init__(self, directory: Path, store: ChunkStore) -> None:
        self.directory = directory
        self.store = store
        self._snapshot = _Snapshot()
        self._write_lock = threading.Lock()
        self._opened = False

    # --- reading -------------------------------------------------------------------

    @property
    def count(self) -> int:
        return len(self._current().ids)

    @property
    def vocabulary(self) -> Vocabulary:
        """The corpus's terms, names and abbreviations (see `Vocabulary`)."""
        return self._current().vocabulary

    def lacks_sentence_vectors(self) -> bool:
        """Whether the oldest chunk was stored without sentence vectors: an index ingested
        before they existed, or with `ASSISTANT_SENTENCE_VECTORS=false` (one row read)."""
        with self._connect() as db:
            row = db.execute("SELECT vectors IS NULL FROM chunks ORDER BY rowid LIMIT 1").fetchone()
        return bool(row and row[0])

    def filter_fields(self) -> list[dict[str, Any]]:
        """Every chunk's `FILTER_FIELDS`, in index order."""
        return self._current().filter_fields

    def documents(self) -> Documents:
        """Each indexed document's chunk count and `DOCUMENT_FIELDS`, by path: kept up to
        date by every change, so listing the corpus reads no chunk."""
        return self._current().documents

    def _current(self) -> _Snapshot:
        if not self._opened:
            self.open()
        return self._snapshot

    def search(
        self, query_terms: list[str], k: int, accept: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[tuple[Document, float]]:
        """The `k` best chunks for `query_terms` with their BM25 scores, best first.

        Chunks that share no term with the query are never returned; `accept`, called
        with a chunk's `FILTER_FIELDS`, keeps out chunks a filter excludes. Ties keep
        index order.
        """
        snapshot = self._current()
        if not snapshot.ids or not query_terms:
            return []
        scores = snapshot.bm25.scores(query_terms)
        matching = np.flatnonzero(scores > 0)
        chosen = _best_rows(scores, matching, k, accept, snapshot.filter_fields)
        documents = self._read_documents([snapshot.ids[row] for row in chosen])
        # A row deleted since this snapshot was taken is skipped.
        return [
            (documents[snapshot.ids[row]], float(scores[row]))
            for row in chosen
            if snapshot.ids[row] in documents
        ]

    def _read_documents(self, ids: list[str]) -> dict[str, Document]:
        if not ids:
            return {}
        with self._connect() as db:
            query = f"SELECT id, text, metadata, vectors FROM chunks WHERE id IN ({_marks(ids)})"
            return {
                chunk_id: Document(id=chunk_id, page_content=text, metadata=_with_vectors(metadata, vectors))
                for chunk_id, text, metadata, vectors in db.execute(query, ids)
            }

    # --- opening and following the store ----------------------------------------------

    def open(self) -> None:
        """Load the saved index, or rebuild it when it is missing, unreadable or holds a
        different number of chunks than `store` (an interrupted ingest, or another
        process writing the store). Cheap after the first call: no chunk is read."""
        with self._write_lock:
            self._open()

    def sync(self, stored: set[str] | None = None) -> SyncReport:
        """Follow `store` after an ingest or delete: read the chunks the index lacks (and
        only those), forget the chunks gone, and save. Compares ids only when nothing
        changed. `stored` is the store's ids when the caller knows them (an ingest: its
        records, which it has just brought into step with the store; reading every id
        from Chroma takes about 17 s at 300k chunks)."""
        with self._write_lock:
            # Not compared with the store's count first: the store has just changed (so the
            # counts differ, which is no news), and `_sync` below brings it into step.
            self._open(after_change=True)
            return self._sync(stored)

    def sync_added(self, added: Iterable[str], removed: Iterable[str] = ()) -> SyncReport:
        """Follow a change another process made, knowing the ids it may have added (the
        records written since this process last looked) and the ids it deleted (when the
        change said): read the added ones it lacks, forget the deleted, then compare counts
        with the store. Only a change fully described leaves them equal; any other (a
        replaced document, a change this process missed) is followed by `sync`, which
        compares every id (about 2.4 s at 300k chunks, against 0.1 s for the count)."""
        with self._write_lock:
            self._open(after_change=True)
            report = self._sync((set(self._snapshot.ids) | set(added)) - set(removed))
            if len(self._snapshot.ids) == self.store.count():
                return report
            return self._sync()

    def reset(self) -> None:
        """Forget every chunk (`ingest --rebuild`)."""
        with self._write_lock:
            shutil.rmtree(self.directory, ignore_errors=True)
            self._snapshot = _Snapshot()
            self._opened = False

    def _open(self, after_change: bool = False) -> None:
        """Load the saved snapshot, or rebuild it from the store when it is damaged or
        missing (quietly when missing `after_change`: the first ingest, or the one after a
        reset). At start, a snapshot out of step with the store's count is brought into
        step; `after_change`, the caller's sync does that."""
        if self._opened:
            return
        try:
            self._snapshot = self._load()
        except LexicalIndexError as error:
            missing = not (self.directory / "chunks.sqlite").is_file()
            stored = self.store.count()
            if stored and (not after_change or not missing):
                log.warning("The lexical index %s: rebuilding it from the %d stored chunks.", error, stored)
            shutil.rmtree(self.directory, ignore_errors=True)
            self._snapshot = _Snapshot()
            self._sync()
        else:
            held = len(self._snapshot.ids)
            stored = held if after_change else self.store.count()
            if held != stored:
                log.warning(
                    "The lexical index holds %d chunks and the store %d: bringing it into step.", held, stored
                )
                self._sync()
        self._opened = True

    def _load(self) -> _Snapshot:
        """The current snapshot; rebuilt from the saved terms (not from the store) when it
        is missing or broken but `chunks.sqlite` is sound."""
        if not (self.directory / "chunks.sqlite").is_file():
            raise LexicalIndexError(f"in {self.directory} is missing")
        try:
            generation = self._generation()
        except sqlite3.Error as error:
            raise LexicalIndexError(f"in {self.directory} could not be read ({error})") from None
        try:
            pointer = json.loads((self.directory / "current.json").read_text(encoding="utf-8"))
            if pointer["generation"] == generation:
                directory = self.directory / pointer["snapshot"]
                snapshot = self._with_documents(directory, _read_snapshot(directory, generation))
                return snapshot if snapshot.bm25.main_saved else self._resaved(snapshot)
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "The lexical index's snapshot could not be read (%s): re-indexing its saved terms.", error
            )
        return self._save(self._snapshot_from_database())

    def _resaved(self, snapshot: _Snapshot) -> _Snapshot:
        """A snapshot saved before the term counts were kept in segments (one matrix),
        saved again in the current format, once: converting it took 1.2 s of every start
        at 300k chunks."""
        assert snapshot.saved_in is not None
        vocabulary = _vocabulary_from_json(_read_json(snapshot.saved_in / "vocabulary.json"))
        log.info("Saving the lexical index's snapshot in the current format.")
        return self._save(replace(snapshot, vocabulary=vocabulary))

    def _sync(self, stored: set[str] | None = None) -> SyncReport:
        snapshot = self._snapshot
        stored = self.store.stored_ids() if stored is None else stored
        held = set(snapshot.ids)
        gone = held - stored
        new_ids = sorted(stored - held)
        if not (gone or new_ids):
            return SyncReport()
        removed = _Change()
        added = _Change()
        added_ids: list[str] = []
        added_filters: list[str] = []
        with self._connect() as db:
            doomed = sorted(gone)
            for start in range(0, len(doomed), PAGE):
                page = doomed[start : start + PAGE]
                # The vocabulary takes back what these chunks gave it: read them first.
                query = f"SELECT text, terms, filters, metadata FROM chunks WHERE id IN ({_marks(page)})"
                for text, chunk_terms, filters, metadata in db.execute(query, page):
                    removed.append(text, chunk_terms, filters, metadata)
                db.execute(f"DELETE FROM chunks WHERE id IN ({_marks(page)})", page)
            # A page at a time, so that only one page's rows (and sentence vectors) are
            # held: a first sync of 300k chunks would hold 1.2 GB of vectors alone.
            for start in range(0, len(new_ids), PAGE):
                rows = [_row(chunk) for chunk in self.store.chunks_by_id(new_ids[start : start + PAGE])]
                db.executemany(
                    "INSERT OR REPLACE INTO chunks (id, terms, text, metadata, filters, vectors)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                for chunk_id, chunk_terms, text, metadata, filters, _vectors in rows:
                    added.append(text, chunk_terms, filters, metadata)
                    added_ids.append(chunk_id)
                    added_filters.append(filters)
            db.execute("UPDATE state SET generation = generation + 1")
        kept = [row for row, chunk_id in enumerate(snapshot.ids) if chunk_id not in gone]
        updated = _Snapshot(
            generation=self._generation(),
            ids=[snapshot.ids[row] for row in kept] + added_ids,
            filter_fields=[snapshot.filter_fields[row] for row in kept] + _shared_filters(added_filters),
            bm25=snapshot.bm25.updated(np.array(kept, dtype=np.int64), added.terms),
            # A replica holds only the vocabulary's question view: changed as it is here,
            # exact again once the complete one is read back below.
            vocabulary=removed.taken_from(snapshot.vocabulary, added),
            documents=documents_changed(snapshot.documents, removed.metadata, added.metadata),
        )
        # Searchable before the complete vocabulary is read back and the snapshot
        # written: at 300k chunks those are seconds of a change. A crash before the write
        # ends leaves the pointer at an older generation than chunks.sqlite's, and the
        # next start rebuilds the snapshot from saved terms.
        self._snapshot = updated
        if not updated.vocabulary.complete:
            updated = replace(updated, vocabulary=self._complete_vocabulary(snapshot, removed, added))
        self._snapshot = self._save(updated)
        return SyncReport(added=len(added_ids), removed=len(gone))

    def _complete_vocabulary(self, before: _Snapshot, removed: _Change, added: _Change) -> Vocabulary:
        """The complete vocabulary after a change, when this process held only the
        question view: `before`'s read back from where it was saved, then changed. When
        that file is lost, every saved text is read again (the database already holds the
        change)."""
        try:
            if before.saved_in is None:
                raise LexicalIndexError("complete vocabulary was never saved")
            saved = _vocabulary_from_json(_read_json(before.saved_in / "vocabulary.json"))
            return removed.taken_from(saved, added)
        except (LexicalIndexError, OSError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "The lexical index's saved vocabulary could not be read (%s): re-reading its saved texts.",
                error,
            )
            return self._vocabulary_from_database()

    # --- the database and the snapshots ------------------------------------------------

    def _with_documents(self, directory: Path, snapshot: _Snapshot) -> _Snapshot:
        """`snapshot` with its per-document counts, added from `chunks.sqlite` when it was
        saved before they existed (seconds; rebuilding the whole snapshot would take
        minutes at 300k chunks)."""
        path = directory / "documents.json"
        if path.is_file():
            return snapshot
        with self._connect() as db:
            metadata_rows = [
                json.loads(row[0]) for row in db.execute("SELECT metadata FROM chunks ORDER BY rowid")
            ]
        documents = documents_changed({}, [], metadata_rows)
        _write_json(path, documents)
        return replace(snapshot, documents=documents)

    def _snapshot_from_database(self) -> _Snapshot:
        ids, term_lists, filter_texts, metadata_rows = [], [], [], []
        with self._connect() as db:
            for chunk_id, chunk_terms, filters, metadata in db.execute(
                "SELECT id, terms, filters, metadata FROM chunks ORDER BY rowid"
            ):
                ids.append(chunk_id)
                term_lists.append(chunk_terms.split())
                filter_texts.append(filters)
                metadata_rows.append(json.loads(metadata))
        return _Snapshot(
            self._generation(),
            ids,
            _shared_filters(filter_texts),
            Bm25.build(term_lists),
            self._vocabulary_from_database(),
            documents_changed({}, [], metadata_rows),
        )

    def _vocabulary_from_database(self) -> Vocabulary:
        """The corpus `Vocabulary`, built again from every saved text: when a snapshot is
        rebuilt (a change updates the vocabulary with the changed chunks only)."""
        texts, term_lists = [], []
        with self._connect() as db:
            for text, chunk_terms, filters in db.execute(
                "SELECT text, terms, filters FROM chunks ORDER BY rowid"
            ):
                texts.append(_vocabulary_text(text, filters))
                term_lists.append(chunk_terms.split())
        return Vocabulary.build(texts, term_lists)

    def _save(self, snapshot: _Snapshot) -> _Snapshot:
        """Write `snapshot` as the current one and remove older ones."""
        if not snapshot.vocabulary.complete:  # checked before the directory is emptied
            raise ValueError("a snapshot is saved with its complete vocabulary")
        name = f"snapshot-{snapshot.generation}"
        directory = self.directory / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        bm25 = snapshot.bm25.save(directory)
        _write_json(directory / "terms.json", list(snapshot.bm25.terms))
        _write_json(directory / "rows.json", _rows_to_json(snapshot))
        _write_json(directory / "vocabulary.json", _vocabulary_to_json(snapshot.vocabulary))
        question_view = snapshot.vocabulary.for_questions()
        _write_json(directory / "vocabulary-questions.json", _vocabulary_to_json(question_view))
        _write_json(directory / "documents.json", snapshot.documents)
        pointer = self.directory / "current.json.tmp"
        _write_json(pointer, {"generation": snapshot.generation, "snapshot": name})
        pointer.replace(self.directory / "current.json")  # atomic: a reader sees the old or the new
        for old in self.directory.glob("snapshot-*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        return replace(
            snapshot,
            bm25=bm25,
            vocabulary=question_view,
            saved_in=directory,
        )

    def _generation(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT generation FROM state").fetchone()[0])

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction, creating the schema on first use. One per
        call: searches run on server threads, and SQLite connections stay in theirs."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.directory / "chunks.sqlite")) as db, db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                db.executescript(
                    "CREATE TABLE chunks (id TEXT PRIMARY KEY, terms TEXT NOT NULL, text TEXT NOT NULL,"
                    " metadata TEXT NOT NULL, filters TEXT NOT NULL, vectors TEXT);"
                    "CREATE TABLE state (generation INTEGER NOT NULL);"
                    "INSERT INTO state VALUES (0);"
                    f"PRAGMA user_version = {SCHEMA_VERSION};"
                )
            elif version in (1, 2):
                if version == 1:
                    # Before sentence vectors: their chunks have none, and are embedded per question.
                    db.execute("ALTER TABLE chunks ADD COLUMN vectors TEXT")
                _fold_saved_terms(db)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise LexicalIndexError(f"in {self.directory} has format {version}, not {SCHEMA_VERSION}")
            yield db


def _fold_saved_terms(db: sqlite3.Connection) -> None:
    """Format 2 saved a chunk's terms with their accents ("gécamin"), which questions
    typed without them ("Gecamines") never matched: the terms of chunks with accented
    text are written again, and the generation bumped so every snapshot is rebuilt
    from them."""
    refolded = [
        (" ".join(terms(text)), chunk_id)
        for chunk_id, text in db.execute("SELECT id, text FROM chunks")
        if not text.isascii()
    ]
    db.executemany("UPDATE chunks SET terms = ? WHERE id = ?", refolded)
    db.execute("UPDATE state SET generation = generation + 1")


def _row(chunk: Document) -> tuple[str, str, str, str, str, str | None]:
    """A chunk as a database row: id, terms, text, metadata, filter fields, sentence
    vectors. The vectors (kilobytes a chunk) have their own column: only a search's
    results read them, never the reads of every row's metadata."""
    metadata = dict(chunk.metadata or {})
    vectors = metadata.pop(SENTENCE_VECTORS_KEY, None)
    return (
        str(chunk.id),
        " ".join(terms(chunk.page_content)),  # terms never contain spaces
        chunk.page_content,
        json.dumps(metadata),
        json.dumps({key: metadata.get(key) for key in FILTER_FIELDS}),
        vectors,
    )


def _with_vectors(metadata: str, vectors: str | None) -> dict[str, Any]:
    loaded = json.loads(metadata)
    if vectors:
        loaded[SENTENCE_VECTORS_KEY] = vectors
    return loaded


def _vocabulary_text(text: str, filters: str) -> str:
    """What the vocabulary reads of a chunk: its text, and its publisher, by which users
    name documents too ("ITA's guide")."""
    return f"{text}\n{json.loads(filters).get('publisher') or ''}"


def _marks(values: list[str]) -> str:
    return ",".join("?" * len(values))


def _write_json(path: Path, data: Any) -> None:
    path.write_bytes(orjson.dumps(data))  # 2.4 s of the json module's per change at 300k chunks


def _read_json(path: Path) -> Any:
    """A saved JSON file; orjson parses the 33 MB vocabulary of a 300k-chunk index in
    0.34 s where the json module takes 0.93 s, at every start-up."""
    return orjson.loads(path.read_bytes())


def _read_snapshot(directory: Path, generation: int) -> _Snapshot:
    terms_ = _read_json(directory / "terms.json")
    columns = {term: column for column, term in enumerate(terms_)}
    ids, filter_fields = _rows_from_json(_read_json(directory / "rows.json"))
    if (directory / "main.npz").is_file():
        bm25 = Bm25.load(directory, columns)
    else:  # saved before the counts were kept in segments: one matrix, no rows dropped
        bm25 = Bm25.from_counts(columns, sparse.load_npz(directory / "counts.npz"))
    if bm25.rows != len(ids) or len(filter_fields) != len(ids):
        raise ValueError("its term counts and rows disagree")
    questions_path = directory / "vocabulary-questions.json"  # absent: saved before it existed
    vocabulary = _vocabulary_from_json(
        _read_json(questions_path if questions_path.is_file() else directory / "vocabulary.json")
    )
    documents_path = directory / "documents.json"  # absent: saved before it existed
    documents = _read_json(documents_path) if documents_path.is_file() else {}
    return _Snapshot(generation, ids, filter_fields, bm25, vocabulary, documents, saved_in=directory)


def _shared_filters(filter_texts: list[str]) -> list[dict[str, Any]]:
    """The filter fields of rows, parsed from their JSON, one dict per distinct value.

    Every chunk of a document has the same filter fields: at 300k chunks one dict per
    row held 130 MB, one per document a few.
    """
    table: dict[str, dict[str, Any]] = {}
    for text in filter_texts:
        if text not in table:
            table[text] = json.loads(text)
    return [table[text] for text in filter_texts]


def _distinct(dicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({id(d): d for d in dicts}.values())


def _rows_to_json(snapshot: _Snapshot) -> dict[str, Any]:
    """Ids, and each row's filter fields as an index into a table of the distinct ones."""
    table = _distinct(snapshot.filter_fields)
    position = {id(d): i for i, d in enumerate(table)}
    return {
        "ids": snapshot.ids,
        "filter_table": table,
        "filter_rows": [position[id(d)] for d in snapshot.filter_fields],
    }


def _rows_from_json(rows: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """`_rows_to_json` read back; a snapshot saved before the table (one dict per row) is
    read too, its dicts shared as they are read."""
    if "filter_table" in rows:
        table = rows["filter_table"]
        return rows["ids"], [table[i] for i in rows["filter_rows"]]
    return rows["ids"], _shared_filters([json.dumps(f, sort_keys=True) for f in rows["filters"]])


def _vocabulary_to_json(vocabulary: Vocabulary) -> dict[str, Any]:
    """The vocabulary's counts (not its decisions), so that a change can add and take
    back chunks' shares after a restart."""
    return {
        "format": VOCABULARY_FORMAT,
        "fields": list(VOCABULARY_FIELDS),
        "complete": vocabulary.complete,
        "document_frequency": dict(vocabulary.document_frequency),
        "chunk_count": vocabulary.chunk_count,
        "capitalised": dict(vocabulary.capitalised),
        "lowercase": dict(vocabulary.lowercase),
        "alias_counts": vocabulary.alias_counts,
    }


def _vocabulary_from_json(data: dict[str, Any]) -> Vocabulary:
    """The saved vocabulary. One saved in another format (format 1 kept decisions, not
    counts) is refused, and the snapshot rebuilt from `chunks.sqlite`, rather than
    loaded half-filled."""
    if data.get("format") != VOCABULARY_FORMAT or data["fields"] != list(VOCABULARY_FIELDS):
        raise ValueError("its vocabulary was saved by another version")
    return Vocabulary(
        document_frequency=data["document_frequency"],  # as loaded: copying took 0.75 s at 300k
        chunk_count=int(data["chunk_count"]),
        capitalised=data["capitalised"],
        lowercase=data["lowercase"],
        alias_counts=data["alias_counts"],
        complete=bool(data.get("complete", True)),
    )


def _best_rows(
    scores: np.ndarray,
    matching: np.ndarray,
    k: int,
    accept: Callable[[dict[str, Any]], bool] | None,
    filter_fields: list[dict[str, Any]],
) -> list[int]:
    """The first `k` rows of `matching` that `accept` keeps, by score, ties in row order.

    Sorting every matching row cost 8 ms a question at 300k chunks (a common word
    matches most of them). Only the best `want` scores are sorted, with every row that
    ties the last of them, so the order is exactly a prefix of the full one; a filter
    that rejects too many of them widens the prefix until `k` are kept or none is left.
    """
    want = k
    while True:
        if want >= len(matching):
            prefix = matching
        else:
            cut = np.partition(scores[matching], len(matching) - want)[len(matching) - want]
            prefix = matching[scores[matching] >= cut]
        ordered = prefix[np.argsort(-scores[prefix], kind="stable")]
        chosen = [int(row) for row in ordered if accept is None or accept(filter_fields[row])][:k]
        if len(chosen) == k or len(prefix) == len(matching):
            return chosen
        want *= 4
