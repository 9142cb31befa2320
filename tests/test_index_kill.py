"""Fault test: `assistant ingest` killed with SIGKILL at random moments, then run again,
leaves the same index as one clean ingest of the same files.

SIGKILL gives the process no chance to clean up: it can die between writing chunks and
their records, between deleting chunks and their records, or inside either store. The
next ingest must repair whatever that left (see `CorpusIndex.repair`).

Each run is the real console script in a subprocess, and most of its time is spent
importing the embedding library and loading the model before anything is written: a
moment drawn across a whole run mostly kills it in its imports. So each run's moment is
drawn (seeded) in one of three ways: a random delay after its first chunks reach Chroma
(their records come next), after it first changes the records (a cleanup comes next, or
the next batch; a run with nothing to embed still rewrites every record twice), or a
random fraction of a run's length (opening the stores, the check and repair, the model).
The corpus is four real files in small chunks: two `index()` calls. Unchanged files are
skipped, so a run after a finished one would have nothing to do (and nothing to kill):
the runs alternate between the files and a revision of them with a paragraph added at
the top, which moves every chunk (ids include offsets). Each run then writes every chunk
of its version and deletes the other version's, whatever the killed run before it left;
the last run, on the original files, must equal the clean ingest of them.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from assistant.index import CorpusIndex
from tests.conftest import CORPUS

ASSISTANT = Path(sys.executable).parent / "assistant"
SEED = 20260806
# Each kind of moment at least once (the delays are drawn); "after records" twice, since
# it covers the most steps. A run that finishes before its moment is tried again.
PLAN = ["after chunks", "after records", "after start", "after records"]
MAX_RUNS = 10  # runs that finish before their kill moment do not count as kills
CHUNK_SIZE = 100  # small chunks, more moments to die in
# 26 + 13 + 31 chunks in the first index() call (64 or more per call), 24 in the second.
FILES = [
    "exim_ctep-critical-minerals.md",
    "trade-gov_ccg_malaysia-import-tariffs.md",
    "trade-gov_ccg_malaysia-trade-financing.md",
    "ustr_fact-sheet_us-malaysia-reciprocal-trade.md",
]


REVISION = "Revised by the fault test: every chunk of this file moves by this paragraph.\n\n"


def write_corpus(corpus: Path, revised: bool) -> None:
    """The four files, or their revision: a paragraph right after the front matter."""
    for name in FILES:
        text = (CORPUS / name).read_text(encoding="utf-8")
        if revised:
            _, front_matter, body = text.split("---\n", 2)
            text = f"---\n{front_matter}---\n\n{REVISION}{body.lstrip()}"
        (corpus / name).write_text(text, encoding="utf-8")


def start_ingest(data_dir: Path, corpus: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ASSISTANT_CHUNK_SIZE": str(CHUNK_SIZE), "COLUMNS": "400"}
    return subprocess.Popen(
        [str(ASSISTANT), "--data-dir", str(data_dir), "ingest", str(corpus)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def query(database: Path, sql: str) -> list[tuple] | str:
    """Rows from a SQLite file, read-only (never by opening Chroma in this process while
    another process writes it: Chroma caches an open store per path); the error's text
    when it cannot be read."""
    if not database.exists():
        return []
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError as error:
        return [] if "no such table" in str(error) else str(error)  # no table: killed before
    finally:
        db.close()


# The chunks' collection, not the one-row change marker beside it (assistant/changes.py),
# which every ingest rewrites at its end.
CHUNK_COLLECTIONS = "SELECT id FROM collections WHERE name NOT LIKE '%-changes'"
CHUNK_COLLECTION_TOPICS = f"SELECT 'persistent://default/default/' || id FROM ({CHUNK_COLLECTIONS})"


def records_state(data_dir: Path) -> object:
    """How many records there are and when the newest was written: any write changes it
    (creating the empty table does not)."""
    rows = query(data_dir / "records.sqlite", "SELECT count(*), max(updated_at) FROM upsertion_record")
    return rows if rows and rows[0][0] else "empty"


def chunks_state(data_dir: Path) -> object:
    """The length of Chroma's write log: it grows the moment chunks are written, just before
    they are applied and their records written (read only to time a kill, never asserted on)."""
    rows = query(
        data_dir / "chroma" / "chroma.sqlite3",
        f"SELECT count(*), max(seq_id) FROM embeddings_queue WHERE topic IN ({CHUNK_COLLECTION_TOPICS})",
    )
    return rows if rows and rows[0][0] else "empty"


def describe_state(data_dir: Path) -> str:
    """What a kill left, for the log. Chroma's own table is read here as a diagnostic only,
    never asserted on: the assertions go through Chroma's API."""
    rows = query(data_dir / "records.sqlite", "SELECT key, group_id FROM upsertion_record")
    chunk_rows = query(
        data_dir / "chroma" / "chroma.sqlite3",
        "SELECT embedding_id FROM embeddings JOIN segments ON embeddings.segment_id = segments.id"
        f" WHERE segments.collection IN ({CHUNK_COLLECTIONS})",
    )
    if isinstance(rows, str) or isinstance(chunk_rows, str):
        return f"a store that cannot be read until it is opened for writing: {rows} / {chunk_rows}"
    records = dict(rows)
    chunks = {row[0] for row in chunk_rows}
    journal = (
        " (and a write cut short: its journal)" if (data_dir / "records.sqlite-journal").exists() else ""
    )
    return (
        f"{len(records)} records{journal} ({sum(g is None for g in records.values())} without a "
        f"document, {len(records.keys() - chunks)} without a chunk), {len(chunks)} chunks "
        f"({len(chunks - records.keys())} without a record)"
    )


@dataclass
class Run:
    killed: bool
    seconds: float
    output: str


def run_ingest(
    data_dir: Path,
    corpus: Path,
    kill_after: float | None = None,
    watch: Callable[[Path], object] | None = None,
) -> Run:
    """Run an ingest and SIGKILL it `kill_after` seconds after it starts, or, with `watch`,
    that long after `watch(data_dir)` first changes; unless it finishes first."""
    before = watch(data_dir) if watch else None
    started = time.monotonic()
    process = start_ingest(data_dir, corpus)
    deadline = None if watch or kill_after is None else started + kill_after
    while process.poll() is None:
        now = time.monotonic()
        if deadline is None and watch and kill_after is not None and watch(data_dir) != before:
            deadline = now + kill_after
        if deadline is not None and now >= deadline:
            # Not yet reaped, so the pid is still this process even if it has just ended.
            os.kill(process.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    out, err = process.communicate()
    if process.returncode == -signal.SIGKILL:
        return Run(True, time.monotonic() - started, f"left {describe_state(data_dir)}")
    assert process.returncode == 0, err
    return Run(False, time.monotonic() - started, " ".join(out.split()))


def snapshot(index: CorpusIndex) -> dict[str, Any]:
    """What must be equal after the faults: ids, records with their files, chunk counts."""
    ids = index.vector_store.get(include=[])["ids"]  # a few hundred: one read is fine
    return {
        "ids": sorted(ids),
        "unique_ids": len(set(ids)),
        "keys": sorted(index.record_manager.list_keys()),
        "records": index.records(),
        "chunks_per_file": {Path(info.path).name: info.chunks for info in index.sources()},
    }


@pytest.mark.timeout(900)  # about 5 clean ingests; slower when the machine is busy
def test_ingest_killed_at_random_moments_then_run_again_equals_a_clean_ingest(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_corpus(corpus, revised=False)

    clean_dir = tmp_path / "clean"
    clean = run_ingest(clean_dir, corpus)
    assert "Files: 4 added" in clean.output

    faulty_dir = tmp_path / "faulty"
    rng = random.Random(SEED)
    log = [f"clean ingest: {clean.seconds:.1f}s"]
    run_seconds = clean.seconds  # the length of a run like the next one
    kills = 0
    for number in range(MAX_RUNS):
        if kills == len(PLAN):
            break
        write_corpus(corpus, revised=number % 2 == 0)
        kind = PLAN[kills]
        if kind == "after chunks":  # between the chunks and their records
            delay = rng.uniform(0, 0.1)
            run = run_ingest(faulty_dir, corpus, kill_after=delay, watch=chunks_state)
        elif kind == "after records":  # a cleanup, the next batch, a refresh of records
            delay = rng.uniform(0, 0.5)
            run = run_ingest(faulty_dir, corpus, kill_after=delay, watch=records_state)
        else:  # opening the stores, the check and the repair, loading the model
            delay = rng.uniform(0.3, 1.0) * run_seconds
            run = run_ingest(faulty_dir, corpus, kill_after=delay)
        plan = f"{delay:.2f}s {kind}"
        kills += run.killed
        if not run.killed:
            run_seconds = run.seconds
        outcome = "killed" if run.killed else "finished"
        log.append(f"run {number} (kill {plan}): {outcome} at {run.seconds:.1f}s, {run.output}")
    assert kills == len(PLAN), log

    write_corpus(corpus, revised=False)
    final = run_ingest(faulty_dir, corpus)
    log.append(f"final: {final.output}")

    faulty = CorpusIndex(Settings(data_dir=faulty_dir, chunk_size=CHUNK_SIZE))
    reference = CorpusIndex(Settings(data_dir=clean_dir, chunk_size=CHUNK_SIZE))
    got, expected = snapshot(faulty), snapshot(reference)
    assert got == expected, log
    assert got["ids"] == got["keys"]  # every chunk has its record, every record its chunk
    assert got["unique_ids"] == len(got["ids"])
    assert set(got["chunks_per_file"]) == set(FILES)
    assert faulty.check().ok

    # The vectors too: each equals the clean ingest's vector of the same chunk, and the
    # HNSW index finds each chunk by its own vector.
    stored = faulty.vector_store.get(include=["embeddings"])
    expected_vectors = reference.vector_store.get(ids=list(stored["ids"]), include=["embeddings"])
    clean_vectors = dict(zip(expected_vectors["ids"], expected_vectors["embeddings"], strict=True))
    for chunk_id, vector in zip(stored["ids"], stored["embeddings"], strict=True):
        assert max(abs(a - b) for a, b in zip(vector, clean_vectors[chunk_id], strict=True)) < 1e-4
        nearest = faulty.vector_store.similarity_search_by_vector(list(vector), k=1)
        assert nearest[0].id == chunk_id
    print("\n".join(log))
