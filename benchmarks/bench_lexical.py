"""Lexical search engines compared in one process: the old rank_bm25 set-up, bm25s, and
the saved `LexicalIndex` (assistant/lexical.py) that replaced them.

Run: `.venv/bin/python benchmarks/bench_lexical.py [--sizes 2000 100000] [--data-dir DIR]`.
Results go to benchmarks/results/lexical.json (`--out` elsewhere). `--new-only` measures
the saved index alone (the old set-up needs minutes and gigabytes at 300k chunks).

The chunks are the real corpus's (read from an ingested data directory, default
`.assistant/`), then synthetic copies of them up to each size: every copy replaces one
word in five with a corpus word plus a random suffix, so the vocabulary grows as a real
corpus's does. Every engine gets the same tokens (`assistant.text.terms`); tokenising is
timed once, apart.

For each size:
- start-up: what a process does before its first question. Old: tokenise every chunk,
  build BM25Okapi and the corpus `Vocabulary` (what `HybridRetriever.refresh` did, minus
  reading the chunks from Chroma). bm25s: load its saved index. New: `LexicalIndex.open()`
  from its saved files.
- build: indexing every chunk from tokens (new: the first `open()`, vocabulary and SQLite
  included).
- update: one document (5 chunks) ingested, then 5 chunks deleted. Old and bm25s rebuild
  everything; new: one `sync()` for each (`ingest_s`, `delete_s`; `update_s` is their
  sum), the BM25 part of such a change (`Bm25.updated`) shown apart.
- query: p50 over the golden and user question sets, top 30 as retrieval asks.
- memory: bytes the engine keeps (tracemalloc, a separate pass), the old one's chunks
  included (it kept every chunk in memory).

Times are medians of `--repeat` runs (one run at sizes over 20,000). The machine's load
average is recorded: on a shared machine it says as much as the figures do.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.documents import Document  # noqa: E402

from assistant.config import Settings  # noqa: E402
from assistant.index import CorpusIndex  # noqa: E402
from assistant.lexical import LexicalIndex  # noqa: E402
from assistant.text import terms  # noqa: E402
from assistant.vocabulary import Vocabulary  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
QUESTION_SETS = ("golden.jsonl", "user-questions-train.jsonl", "user-questions.jsonl")
TOP = 30  # Settings.fetch_k


class MemoryStore:
    """A `ChunkStore` in memory, standing in for Chroma (whose reads are not measured)."""

    def __init__(self, chunks: list[Document]) -> None:
        self.chunks = {str(chunk.id): chunk for chunk in chunks}

    def count(self) -> int:
        return len(self.chunks)

    def stored_ids(self) -> set[str]:
        return set(self.chunks)

    def chunks_by_id(self, ids: list[str]) -> list[Document]:
        return [self.chunks[i] for i in ids if i in self.chunks]


def synthetic(real: list[Document], size: int, seed: int = 0) -> list[Document]:
    """`size` chunks: the real ones, then noisy copies (5 chunks per made-up document)."""
    rng = random.Random(seed)
    words = sorted({word for chunk in real for word in chunk.page_content.split() if word.isalpha()})
    chunks = list(real[:size])
    while len(chunks) < size:
        n = len(chunks)
        original = real[n % len(real)]
        text = original.page_content.split(" ")
        for _ in range(len(text) // 5):
            text[rng.randrange(len(text))] = rng.choice(words) + rng.choice("abcdefghij") * rng.randint(1, 3)
        path = f"/synthetic/doc{n // 5}.md"
        metadata = {**original.metadata, "path": path, "source": path, "chunk_id": f"synthetic-{n}"}
        chunks.append(Document(id=f"synthetic-{n}", page_content=" ".join(text), metadata=metadata))
    return chunks


def timed(action: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def timed_once(action: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of one run (a change cannot be repeated), and its result."""
    gc.collect()
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def retained_bytes(build: Callable[[], Any]) -> int:
    """Bytes still allocated by `build` once it returns (its result kept alive)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return after - before


def old_start(chunks: list[Document]) -> tuple[Any, list[Document]]:
    """What `HybridRetriever.refresh` did with rank_bm25, once the chunks were read."""
    from rank_bm25 import BM25Okapi

    copies = [Document(id=c.id, page_content=c.page_content, metadata=dict(c.metadata)) for c in chunks]
    term_lists = [terms(chunk.page_content) for chunk in copies]
    bm25 = BM25Okapi(term_lists)
    vocabulary = Vocabulary.build(
        (f"{c.page_content}\n{c.metadata.get('publisher', '')}" for c in copies), term_lists
    )
    return bm25, copies, vocabulary


def old_query(bm25: Any, chunks: list[Document], query: list[str]) -> list[Document]:
    scores = bm25.get_scores(query)
    order = sorted(range(len(chunks)), key=lambda i: scores[i], reverse=True)
    return [chunks[i] for i in order[:TOP] if scores[i] > 0]


def bm25s_build(term_lists: list[list[str]]) -> Any:
    import bm25s

    model = bm25s.BM25(method="lucene")
    model.index(term_lists, show_progress=False)
    return model


def bm25s_query(model: Any, query: list[str]) -> np.ndarray:
    scores = model.get_scores(query) if query else np.zeros(model.scores["num_docs"])
    top = np.argpartition(-scores, min(TOP, len(scores) - 1))[:TOP]
    return top[np.argsort(-scores[top])]


def p50_ms(action: Callable[[list[str]], Any], queries: list[list[str]]) -> float:
    times = []
    for query in queries:
        started = time.perf_counter()
        action(query)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def measure(
    real: list[Document], size: int, queries: list[list[str]], repeat: int, with_bm25s: bool, with_old: bool
) -> dict:
    chunks = synthetic(real, size)
    repeat = repeat if size <= 20_000 else 1
    row: dict[str, Any] = {"chunks": len(chunks)}
    tokenise, term_lists = timed(lambda: [terms(c.page_content) for c in chunks], repeat)
    row["tokenise_s"] = round(tokenise, 3)
    print(f"{size}: tokenised in {tokenise:.1f} s", flush=True)

    if with_old:
        # Old: rank_bm25 + the vocabulary, rebuilt at every start and after every change.
        start, old = timed(lambda: old_start(chunks), repeat)
        row["old"] = {
            "start_s": round(start, 3),
            "update_s": round(start, 3),
            "query_p50_ms": p50_ms(lambda q: old_query(old[0], old[1], q), queries),
        }
        print(f"  old {row['old']}", flush=True)
        old = None

    if with_bm25s:
        build, model = timed(lambda: bm25s_build(term_lists), repeat)
        folder = Path(tempfile.mkdtemp(prefix="bench-bm25s-"))
        model.save(str(folder), show_progress=False)
        import bm25s

        load, _ = timed(lambda: bm25s.BM25.load(str(folder), show_progress=False), repeat)
        row["bm25s"] = {
            "build_s": round(build, 3),
            "start_s": round(load, 3),
            "update_s": round(build, 3),  # no update: index everything again
            "query_p50_ms": p50_ms(lambda q: bm25s_query(model, q), queries),
        }
        shutil.rmtree(folder)
        print(f"  bm25s {row['bm25s']}", flush=True)
        del model

    # New: the saved LexicalIndex.
    folder = Path(tempfile.mkdtemp(prefix="bench-lexical-"))
    store = MemoryStore(chunks)

    def first_open() -> LexicalIndex:
        shutil.rmtree(folder / "lexical", ignore_errors=True)
        index = LexicalIndex(folder / "lexical", store)
        index.open()
        return index

    build, _ = timed(first_open, repeat)
    start, index = timed(lambda: _opened(LexicalIndex(folder / "lexical", store)), repeat)
    document = synthetic(real, size + 5)[size:]
    for chunk in document:
        chunk.id = f"added-{chunk.id}"
    keep = np.arange(5, len(chunks))
    new_terms = [terms(c.page_content) for c in document]
    bm25_update, _ = timed(lambda: index._snapshot.bm25.updated(keep, new_terms), repeat)
    store.chunks.update({str(c.id): c for c in document})
    ingest, report = timed_once(index.sync)
    assert (report.added, report.removed) == (5, 0), report
    doomed = list(store.chunks)[:5]
    for chunk_id in doomed:
        del store.chunks[chunk_id]
    delete, report = timed_once(index.sync)
    assert (report.added, report.removed) == (0, 5), report
    row["new"] = {
        "build_s": round(build, 3),
        "start_s": round(start, 3),
        "ingest_s": round(ingest, 3),
        "delete_s": round(delete, 3),
        "update_s": round(ingest + delete, 3),
        "update_bm25_s": round(bm25_update, 3),
        "query_p50_ms": p50_ms(lambda q: index.search(q, TOP), queries),
        "disk_mb": round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6, 1),
    }
    print(f"  new {row['new']}", flush=True)

    # Memory, in a pass of its own (tracemalloc slows Python code down).
    if with_old:
        row["old"]["memory_mb"] = round(retained_bytes(lambda: old_start(chunks)) / 1e6, 1)
    if with_bm25s:
        row["bm25s"]["memory_mb"] = round(retained_bytes(lambda: bm25s_build(term_lists)) / 1e6, 1)
    row["new"]["memory_mb"] = round(
        retained_bytes(lambda: _opened(LexicalIndex(folder / "lexical", store))) / 1e6, 1
    )
    shutil.rmtree(folder)
    print(f"  memory new {row['new']['memory_mb']} MB", flush=True)
    if with_old:
        for key in ("start_s", "update_s", "query_p50_ms"):
            row[f"old_over_new_{key}"] = round(row["old"][key] / max(row["new"][key], 1e-9), 1)
        row["old_over_new_memory"] = round(row["old"]["memory_mb"] / max(row["new"]["memory_mb"], 1e-9), 1)
    return row


def _opened(index: LexicalIndex) -> LexicalIndex:
    index.open()
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    default_data = Path(os.environ.get("ASSISTANT_DATA_DIR", ".assistant"))
    parser.add_argument("--data-dir", type=Path, default=default_data)
    parser.add_argument("--no-bm25s", action="store_true", help="skip bm25s (not a dependency)")
    parser.add_argument("--new-only", action="store_true", help="measure the saved index alone")
    parser.add_argument("--out", type=Path, default=RESULTS / "lexical.json")
    args = parser.parse_args()
    with_bm25s = not args.no_bm25s and not args.new_only and importlib.util.find_spec("bm25s") is not None
    if not with_bm25s:
        print("bm25s left out (pip install bm25s to compare it)", flush=True)

    real = CorpusIndex(Settings(data_dir=args.data_dir)).all_chunks()
    if not real:
        sys.exit(f"No chunks in {args.data_dir}: run `assistant ingest corpus/` first.")
    questions = [
        json.loads(line)["question"]
        for name in QUESTION_SETS
        for line in (ROOT / "evals" / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    queries = [terms(question) for question in questions]
    results = {
        "load_average": os.getloadavg(),
        "corpus_chunks": len(real),
        "questions": len(queries),
        "sizes": [
            measure(real, size, queries, args.repeat, with_bm25s, not args.new_only)
            for size in [len(real), *args.sizes]
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
