"""Incremental ingestion into a real Chroma store in tmp_path, deletion, locking, bad dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.data_dir import DataDirError, data_dir_lock, ensure_data_dir
from assistant.index import CorpusIndex

ASSISTANT = Path(sys.executable).parent / "assistant"

FILES = {
    "alpha.md": (
        "Alpha Tin",
        "https://example.org/alpha",
        "Tin mining in Perak began in the nineteenth century and shaped the state.\n\n"
        "Today the Kinta Valley mines are mostly closed, but the smelter still runs.\n\n"
        "The smelter exports tin ingots to Japan, Korea and the Netherlands.",
    ),
    "beta.md": (
        "Beta Palm Oil",
        "https://example.org/beta",
        "Crude palm oil exports pay a windfall levy when prices are high.\n\n"
        "Sabah and Sarawak grow more than half of the country's oil palms.",
    ),
    "gamma.md": (
        "Gamma Chips",
        "https://example.org/gamma",
        "Penang assembles and tests semiconductors for American chip makers.\n\n"
        "Kulim hosts wafer fabs that make power chips for electric cars.",
    ),
}


def write_doc(folder: Path, name: str, title: str, source: str, body: str) -> Path:
    path = folder / name
    path.write_text(
        f'---\ntitle: "{title}"\nsource: "{source}"\npublisher: "Test Office"\n'
        f'date: "2024-02-01"\n---\n\n{body}\n',
        encoding="utf-8",
    )
    return path


def three_documents(tmp_path: Path) -> Path:
    """A folder with the three small documents of `FILES`."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, (title, source, body) in FILES.items():
        write_doc(folder, name, title, source, body)
    return folder


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    return three_documents(tmp_path)


@pytest.fixture
def index(tmp_path: Path) -> CorpusIndex:
    # Small chunks, so that every file has several and an update replaces some of them.
    return CorpusIndex(Settings(data_dir=tmp_path / "data", chunk_size=100))


def chunk_counts(index: CorpusIndex) -> dict[str, int]:
    """Chunks per file name, counted in the store itself (`sources()` lists what the
    lexical index knows, which a write behind its back does not change)."""
    metadatas = index.vector_store.get(include=["metadatas"])["metadatas"]  # small corpora
    return dict(Counter(Path(str(m["path"])).name for m in metadatas))


def stored_ids(index: CorpusIndex) -> set[str]:
    return set(index.vector_store.get(include=[])["ids"])


def assert_consistent(index: CorpusIndex) -> None:
    """Vector store, sources() and record manager all agree on what is indexed."""
    ids = stored_ids(index)
    assert len(ids) == sum(chunk_counts(index).values())
    assert ids == set(index.record_manager.list_keys())


def test_ingest_is_incremental(index: CorpusIndex, small_corpus: Path) -> None:
    names = sorted(FILES)
    first = index.ingest([small_corpus])
    assert sorted(Path(p).name for p in first.files_added) == names
    assert first.files_updated == first.files_unchanged == first.files_deleted == []
    assert first.errors == []
    counts = chunk_counts(index)
    assert set(counts) == set(names) and all(n >= 2 for n in counts.values()), counts
    assert first.chunks_added == first.texts_embedded == sum(counts.values())
    assert_consistent(index)

    second = index.ingest([small_corpus])
    assert second.files_added == [] and second.files_updated == []
    assert sorted(Path(p).name for p in second.files_unchanged) == names
    assert second.chunks_added == 0 and second.chunks_deleted == 0
    assert second.texts_embedded == 0
    assert second.chunks_skipped == sum(counts.values())
    assert chunk_counts(index) == counts

    # Change one word of one file's first paragraph (same length, so the offsets of its
    # other chunks do not move): only that file is updated, only that chunk is replaced.
    before_ids = stored_ids(index)
    beta = small_corpus / "beta.md"
    beta.write_text(beta.read_text().replace("pay a windfall levy", "pay a windfall duty"), encoding="utf-8")
    third = index.ingest([small_corpus])
    assert [Path(p).name for p in third.files_updated] == ["beta.md"]
    assert sorted(Path(p).name for p in third.files_unchanged) == ["alpha.md", "gamma.md"]
    assert third.files_added == []
    assert third.chunks_added == third.texts_embedded == 1
    assert third.chunks_deleted == 1
    after_ids = stored_ids(index)
    removed, added = before_ids - after_ids, after_ids - before_ids
    assert len(removed) == len(added) == 1
    assert chunk_counts(index) == counts
    assert_consistent(index)
    texts = index.vector_store.get(include=["documents"])["documents"]
    assert not any("windfall levy" in text for text in texts)
    assert sum("windfall duty" in text for text in texts) == 1

    # A longer edit moves the offsets of the file's later chunks: they are re-embedded too,
    # but nothing of the other files is.
    beta.write_text(beta.read_text().replace("windfall duty", "much higher windfall duty"), encoding="utf-8")
    fourth = index.ingest([small_corpus])
    assert [Path(p).name for p in fourth.files_updated] == ["beta.md"]
    assert 1 <= fourth.texts_embedded == fourth.chunks_added <= chunk_counts(index)["beta.md"]
    assert fourth.chunks_deleted == fourth.chunks_added
    assert_consistent(index)


def test_prune_deletes_chunks_of_vanished_files(index: CorpusIndex, small_corpus: Path) -> None:
    index.ingest([small_corpus])
    gamma_chunks = chunk_counts(index)["gamma.md"]
    (small_corpus / "gamma.md").unlink()

    kept = index.ingest([small_corpus])
    assert kept.files_deleted == [] and kept.chunks_deleted == 0
    assert "gamma.md" in chunk_counts(index)  # without --prune the chunks stay

    pruned = index.ingest([small_corpus], prune=True)
    assert [Path(p).name for p in pruned.files_deleted] == ["gamma.md"]
    assert pruned.chunks_deleted == gamma_chunks
    assert pruned.texts_embedded == 0
    assert set(chunk_counts(index)) == {"alpha.md", "beta.md"}
    assert_consistent(index)


def test_prune_only_touches_the_ingested_directory(
    index: CorpusIndex, small_corpus: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    lone = write_doc(
        other, "delta.md", "Delta", "https://example.org/delta", "Rubber gloves are made in Klang."
    )
    index.ingest([small_corpus, other])
    lone.unlink()
    report = index.ingest([small_corpus], prune=True)  # `other` was not given: not pruned
    assert report.files_deleted == []
    assert "delta.md" in chunk_counts(index)


def test_delete_by_path_and_by_url(
    index: CorpusIndex, small_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.ingest([small_corpus])
    counts = chunk_counts(index)
    total = len(stored_ids(index))

    alpha = str((small_corpus / "alpha.md").resolve())
    assert index.delete(alpha) == [alpha]
    assert "alpha.md" not in chunk_counts(index)
    assert len(stored_ids(index)) == total - counts["alpha.md"]

    # A relative path, as a user types it, is resolved.
    monkeypatch.chdir(small_corpus.parent)
    beta = str((small_corpus / "beta.md").resolve())
    assert index.delete("corpus/beta.md") == [beta]

    gamma = str((small_corpus / "gamma.md").resolve())
    assert index.delete("https://example.org/gamma") == [gamma]

    assert index.sources() == []
    assert stored_ids(index) == set()
    assert index.record_manager.list_keys() == []
    assert index.delete("https://example.org/gamma") == []  # nothing left to match

    # Deleted files are new again on the next ingest.
    again = index.ingest([small_corpus])
    assert len(again.files_added) == 3 and again.texts_embedded == total


def test_corrupt_file_among_good_ones(index: CorpusIndex, small_corpus: Path) -> None:
    broken = small_corpus / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not really a PDF \x00\x01\x02")
    report = index.ingest([small_corpus])
    assert sorted(Path(p).name for p in report.files_added) == sorted(FILES)
    assert [(e.path.name, "cannot read PDF" in e.reason) for e in report.errors] == [("broken.pdf", True)]
    assert set(chunk_counts(index)) == set(FILES)


def test_file_that_becomes_corrupt_keeps_its_old_chunks(index: CorpusIndex, small_corpus: Path) -> None:
    index.ingest([small_corpus])
    counts = chunk_counts(index)
    ids = stored_ids(index)
    (small_corpus / "alpha.md").write_text("---\ntitle: [broken\n---\n\nNew body.\n", encoding="utf-8")

    for prune in (False, True):
        report = index.ingest([small_corpus], prune=prune)
        assert [e.path.name for e in report.errors] == ["alpha.md"]
        assert "YAML" in report.errors[0].reason
        assert report.files_deleted == [] and report.chunks_deleted == 0
        assert chunk_counts(index) == counts
        assert stored_ids(index) == ids


def test_lock_refuses_a_second_process(tmp_path: Path, small_corpus: Path) -> None:
    settings = Settings(data_dir=tmp_path / "locked")
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(settings.data_dir), "COLUMNS": "400"}
    with data_dir_lock(settings, "test-holder"):
        result = subprocess.run(
            [str(ASSISTANT), "--data-dir", str(settings.data_dir), "ingest", str(small_corpus)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    stderr = " ".join(result.stderr.split())
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Error:" in stderr and "in use" in stderr
    assert f"'assistant test-holder' (pid {os.getpid()})" in stderr  # names the holder
    assert "Files:" not in result.stdout  # nothing was ingested
    # Released: the lock can be taken again at once.
    with data_dir_lock(settings, "again"):
        pass


def _read_only_dir(path: Path) -> str:
    """Make `path` a read-only directory; returns how ('mount' or 'chmod'), or skips."""
    path.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(path)], capture_output=True, text=True
        )
        if mounted.returncode == 0:
            return "mount"
        pytest.skip(f"running as root and cannot mount a read-only tmpfs: {mounted.stderr.strip()}")
    path.chmod(0o555)
    return "chmod"


def test_read_only_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "ro"
    how = _read_only_dir(data_dir)
    try:
        settings = Settings(data_dir=data_dir)
        with pytest.raises(DataDirError, match="read-only") as info:
            ensure_data_dir(settings)
        assert "--data-dir" in str(info.value)
        with pytest.raises(DataDirError, match="read-only"), data_dir_lock(settings, "ingest"):
            pass
        with pytest.raises(DataDirError, match="read-only"):
            CorpusIndex(settings)
        # A data directory that would have to be created inside it cannot be.
        with pytest.raises(DataDirError, match="(?i)cannot create.*read-only"):
            ensure_data_dir(Settings(data_dir=data_dir / "sub"))
    finally:
        if how == "mount":
            subprocess.run(["umount", str(data_dir)], check=True)
        else:
            data_dir.chmod(0o755)
