"""What each file was when it was last indexed, so an unchanged file is not loaded again.

Loading and chunking (sentence splitting above all) are most of an ingest's time when
nothing changed: LangChain's record manager can only say a chunk is unchanged after the
file has been parsed and chunked. So each indexed file keeps a fingerprint (its bytes and
everything else that decides its chunks: chunk and loader settings, the embedding model,
`INGEST_VERSION`, the versions of the parsing libraries) and a digest of its chunks'
record keys. A file is skipped only when both still match: the keys check is what makes a
lost `chroma/` folder or an interrupted ingest (whose records `CorpusIndex.repair` forgets)
bring the file back.

The table lives in the record manager's database (SQLite in the data directory, or the
`record_db_url` server), next to the records it vouches for. A row is written only after
its file's chunks and records are, so a kill leaves at worst an old row that no longer
matches, never a row for chunks that were not stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Protocol

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, delete, insert, select

from assistant.config import Settings

# Bump when loading or chunking code changes what a file becomes (its text, metadata or
# chunks): every file is then loaded and chunked again once (only changed chunks are embedded).
INGEST_VERSION = 1
# Libraries whose output is a file's text or its chunks: an upgrade may change them.
PARSING_LIBRARIES = (
    "pyyaml",
    "charset-normalizer",
    "trafilatura",
    "beautifulsoup4",
    "pypdf",
    "python-docx",
    "pysbd",
)

_metadata = MetaData()
ingested_file = Table(
    "ingested_file",
    _metadata,
    Column("namespace", String(255), primary_key=True),
    Column("path", Text, primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("keys_digest", String(64), nullable=False),
    Column("chunks", Integer, nullable=False),
)


@dataclass(frozen=True)
class IngestedFile:
    """One file as it was last indexed."""

    fingerprint: str
    keys_digest: str
    chunks: int


@lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str], ...]:
    versions = []
    for name in PARSING_LIBRARIES:
        try:
            versions.append((name, version(name)))
        except PackageNotFoundError:
            versions.append((name, "absent"))
    return tuple(versions)


def file_fingerprint(data: bytes, settings: Settings) -> str:
    """A hash of a file's bytes and of everything else that decides its chunks."""
    context = {
        "version": INGEST_VERSION,
        "libraries": _library_versions(),
        "chunk_size": settings.chunk_size,
        "chunk_overlap_sentences": settings.chunk_overlap_sentences,
        "embedding_model": settings.embedding_model,
        "max_file_bytes": settings.max_file_bytes,
        "max_front_matter_bytes": settings.max_front_matter_bytes,
    }
    digest = hashlib.sha256(json.dumps(context, sort_keys=True).encode())
    digest.update(data)
    return digest.hexdigest()


def keys_digest(keys: Iterable[str]) -> str:
    """A hash of a file's record keys (each names one stored chunk and its content)."""
    return hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()


class IngestedFiles:
    """The `ingested_file` table of one record-manager namespace."""

    def __init__(self, engine: Engine, namespace: str) -> None:
        self.engine = engine
        self.namespace = namespace

    def create_schema(self) -> None:
        _metadata.create_all(self.engine, checkfirst=True)

    def unchanged_check(self, keys_by_path: KeysByPath, settings: Settings) -> UnchangedCheck:
        """The check `load_paths` skips files with, from the record keys of each path as
        they are after `CorpusIndex.repair`: every record's chunk is then stored."""
        self.create_schema()
        return UnchangedCheck(self.all(), keys_by_path, settings)

    def all(self) -> dict[str, IngestedFile]:
        """Every file of this namespace, by path."""
        query = select(ingested_file).where(ingested_file.c.namespace == self.namespace)
        with self.engine.connect() as connection:
            return {
                row.path: IngestedFile(row.fingerprint, row.keys_digest, row.chunks)
                for row in connection.execute(query)
            }

    def remember(self, files: dict[str, IngestedFile]) -> None:
        """Write these files' rows in one transaction (call only once their chunks are stored)."""
        if not files:
            return
        with self.engine.begin() as connection:
            self._delete(connection, list(files))
            connection.execute(
                insert(ingested_file),
                [{"namespace": self.namespace, "path": path, **vars(entry)} for path, entry in files.items()],
            )

    def forget(self, paths: list[str]) -> None:
        """Drop these files' rows (their chunks were deleted)."""
        if paths:
            with self.engine.begin() as connection:
                self._delete(connection, paths)

    def _delete(self, connection, paths: list[str]) -> None:
        for start in range(0, len(paths), 500):  # bounded: SQLite limits a query's variables
            connection.execute(
                delete(ingested_file).where(
                    ingested_file.c.namespace == self.namespace,
                    ingested_file.c.path.in_(paths[start : start + 500]),
                )
            )


class KeysByPath(Protocol):
    """Record keys by source path: a dict, or `index.RecordedKeys`, which reads them
    path by path while few are asked for."""

    def get(self, path: str, default: list[str], /) -> list[str]: ...


class UnchangedCheck:
    """`load_paths`'s `skip`: true for a file that is as it was indexed, with every chunk of
    that version still recorded (so stored). Keeps each fingerprint it computed, to be
    remembered once the file is indexed: the fingerprint of the very bytes that were parsed.
    """

    def __init__(self, known: dict[str, IngestedFile], keys_by_path: KeysByPath, settings: Settings) -> None:
        self.known = known
        self.keys_by_path = keys_by_path
        self.settings = settings
        self.fingerprints: dict[str, str] = {}

    def __call__(self, path: Path, data: bytes) -> bool:
        resolved = str(path.resolve())  # the document's `path`, as the loader sets it
        fingerprint = self.fingerprints[resolved] = file_fingerprint(data, self.settings)
        entry = self.known.get(resolved)
        return (
            entry is not None
            and entry.fingerprint == fingerprint
            and entry.keys_digest == keys_digest(self.keys_by_path.get(resolved, []))
        )

    def indexed(self, path: str, keys: Iterable[str]) -> IngestedFile:
        """The row of a file just indexed with these record keys (from the bytes this check saw)."""
        unique = set(keys)
        return IngestedFile(self.fingerprints[path], keys_digest(unique), len(unique))

    def chunks(self, path: str) -> int:
        """How many chunks `path` has recorded."""
        return len(self.keys_by_path.get(path, []))
