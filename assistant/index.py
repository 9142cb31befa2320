"""Chroma + LangChain's indexing API: incremental, safe-to-re-run ingestion.

`index()` with a SQL record manager decides what to embed: an unchanged chunk is skipped
(nothing is embedded), a changed file's old chunks are deleted, and `prune` removes the
chunks of files that disappeared from an ingested directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.indexing import index

from assistant.chunking import chunk_document
from assistant.config import Settings
from assistant.documents import LoadError, load_paths
from assistant.embeddings import make_embeddings

SOURCE_KEY = "path"  # one file = one source in the record manager
CHUNKS_PER_INDEX_CALL = 64


class DataDirError(RuntimeError):
    """The data directory cannot be used; the message names the fix."""


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


@dataclass
class SourceInfo:
    """One indexed document, as `assistant sources` lists it."""

    path: str
    title: str
    source: str
    publisher: str
    date: str
    chunks: int


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data directory, or say plainly why it cannot be used."""
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataDirError(
            f"Cannot create data directory {data_dir}: {error.strerror}. "
            "Choose another with --data-dir or ASSISTANT_DATA_DIR."
        ) from error
    # A real write, not os.access: root passes access checks on read-only mounts.
    try:
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as error:
        raise DataDirError(
            f"Data directory {data_dir} is read-only ({error.strerror}). "
            "Choose a writable one with --data-dir or ASSISTANT_DATA_DIR."
        ) from error
    return data_dir


@contextmanager
def data_dir_lock(settings: Settings, purpose: str) -> Iterator[None]:
    """Hold the data directory for one process.

    Chroma's embedded store is thread-safe but not process-safe: two processes writing one
    directory can corrupt it. A second process is refused at once with a message naming
    the holder; several processes must share a Chroma server (ASSISTANT_CHROMA_URL).
    """
    if settings.chroma_url:
        yield
        return
    from filelock import FileLock, Timeout

    data_dir = ensure_data_dir(settings)
    lock_path = data_dir / "assistant.lock"
    holder_path = data_dir / "assistant.lock.holder"
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = holder_path.read_text().strip() if holder_path.exists() else "another process"
        raise DataDirError(
            f"The data directory {data_dir} is in use by {holder}. "
            "Wait for it to finish (an ingest holds it until done), stop it, "
            "or point ASSISTANT_CHROMA_URL at a shared Chroma server."
        ) from None
    try:
        holder_path.write_text(f"'assistant {purpose}' (pid {os.getpid()})")
        yield
    finally:
        holder_path.unlink(missing_ok=True)
        lock.release()


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


def make_vector_store(settings: Settings):
    """The LangChain Chroma store, created in cosine space when it does not exist yet."""
    from langchain_chroma import Chroma

    return Chroma(
        collection_name=settings.collection_name,
        embedding_function=make_embeddings(settings),
        client=make_chroma_client(settings),
        collection_configuration={"hnsw": {"space": "cosine"}},
    )


def make_record_manager(settings: Settings):
    """The SQL record manager that remembers which chunk hashes are already indexed."""
    from langchain_classic.indexes import SQLRecordManager

    if not settings.record_db_url:
        ensure_data_dir(settings)
    manager = SQLRecordManager(f"chroma/{settings.collection_name}", db_url=settings.record_manager_url)
    manager.create_schema()
    return manager


def chunk_key(chunk: Document) -> str:
    """Record-manager key and vector id: the stable chunk id plus a hash of everything
    stored with it, so a changed title or date also re-embeds the chunk."""
    payload = chunk.page_content + json.dumps(chunk.metadata, sort_keys=True)
    return f"{chunk.metadata['chunk_id']}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


ProgressCallback = Callable[[int, int], None]


class CorpusIndex:
    """The indexed corpus: ingest, list, delete, and read back every chunk."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.vector_store = make_vector_store(settings)
        self.record_manager = make_record_manager(settings)
        self.embeddings = make_embeddings(settings)

    def ingest(
        self,
        paths: list[Path],
        prune: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Load, chunk and index `paths`; with `prune`, forget files gone from directories."""
        loaded = load_paths(paths)
        report = IngestReport(errors=loaded.errors)
        embedded_before = self.embeddings.texts_embedded
        chunked = [(doc, self._chunks(doc)) for doc in loaded.documents]
        done = 0
        for batch in self._batches(chunked):
            self._classify(batch, report)
            chunks = [chunk for _, doc_chunks in batch for chunk in doc_chunks]
            result = index(
                chunks,
                self.record_manager,
                self.vector_store,
                cleanup="incremental",
                source_id_key=SOURCE_KEY,
                key_encoder=chunk_key,
                batch_size=max(len(chunks), 1),
            )
            report.chunks_added += result["num_added"]
            report.chunks_deleted += result["num_deleted"]
            report.chunks_skipped += result["num_skipped"]
            done += len(batch)
            if progress:
                progress(done, len(chunked))
        if prune:
            loaded_paths = {doc.metadata["path"] for doc in loaded.documents}
            for path in self._vanished_paths(loaded.roots, loaded_paths):
                report.chunks_deleted += self._delete_path(path)
                report.files_deleted.append(path)
        report.texts_embedded = self.embeddings.texts_embedded - embedded_before
        return report

    def _chunks(self, document: Document) -> list[Document]:
        return chunk_document(document, self.settings.chunk_size, self.settings.chunk_overlap_sentences)

    @staticmethod
    def _batches(
        chunked: list[tuple[Document, list[Document]]],
    ) -> Iterator[list[tuple[Document, list[Document]]]]:
        """Whole files per `index()` call: incremental cleanup would otherwise delete the
        chunks an earlier call wrote for the same file."""
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
        """Paths of every indexed document."""
        metadatas = self.vector_store.get(include=["metadatas"])["metadatas"]
        return sorted({str(m.get(SOURCE_KEY)) for m in metadatas if m})

    def delete(self, source: str) -> list[str]:
        """Delete a document by its path or source URL; returns the paths deleted."""
        matches = [
            info.path
            for info in self.sources()
            if source in (info.path, info.source) or Path(source).resolve().as_posix() == info.path
        ]
        for path in matches:
            self._delete_path(path)
        return matches

    def _delete_path(self, path: str) -> int:
        keys = self.record_manager.list_keys(group_ids=[path])
        if keys:
            self.vector_store.delete(ids=keys)
            self.record_manager.delete_keys(keys)
        return len(keys)

    def sources(self) -> list[SourceInfo]:
        """Indexed documents with their chunk counts, newest first."""
        metadatas = self.vector_store.get(include=["metadatas"])["metadatas"]
        by_path: dict[str, SourceInfo] = {}
        dates: dict[str, int] = {}
        for metadata in metadatas:
            path = str(metadata.get(SOURCE_KEY))
            if path not in by_path:
                by_path[path] = SourceInfo(
                    path=path,
                    title=str(metadata.get("title", "")),
                    source=str(metadata.get("source", "")),
                    publisher=str(metadata.get("publisher", "")),
                    date=str(metadata.get("date", "")),
                    chunks=0,
                )
                dates[path] = int(metadata.get("date_sort") or 0)
            by_path[path].chunks += 1
        return sorted(by_path.values(), key=lambda info: (-dates[info.path], info.title))

    def all_chunks(self) -> list[Document]:
        """Every chunk with its id, for the BM25 index and for passage lookups."""
        stored = self.vector_store.get(include=["documents", "metadatas"])
        return [
            Document(id=chunk_id, page_content=text, metadata=metadata)
            for chunk_id, text, metadata in zip(
                stored["ids"], stored["documents"], stored["metadatas"], strict=True
            )
        ]
