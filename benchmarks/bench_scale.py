"""The assistant at scale (issue 9): start-up, questions, ingest and delete over synthetic
indexes of 20k to 1M chunks, each measured in fresh processes.

Run: `.venv/bin/python benchmarks/bench_scale.py [--sizes 20000 100000 300000] [--work-dir DIR]`.
Results go to benchmarks/results/scale.json (`--out` elsewhere).

Building: `corpus/` is ingested into a data directory of its own, its chunks are read
back from Chroma with their vectors, and synthetic copies are written straight into the
collection (`collection.add`, pages of 5,000) and the record manager (so that
`CorpusIndex.check` sees no orphans and `sources`/`delete` work), then the lexical index
catches up with `LexicalIndex.sync` as an ingest would. Each copy's vector is its
original's plus gaussian noise, renormalised; its text has one word in five replaced by
a corpus word with a random suffix (as `bench_lexical.py` does), so the vocabulary grows;
30 copies make one synthetic document (`/synthetic/docN.md`). The sizes grow one data
directory in turn (20k, then 100k, ...), each build in a process of its own.

Measuring, per size, in a new process (Chroma is not process-safe: one at a time):
- start-up: `Assistant(settings)` + `warm_up()`, imports and model load included: wall
  seconds, CPU seconds (`process_time`, every thread) and RSS once warm;
- questions: the golden set's questions that are not follow-ups (30), each `ask`ed once
  (total and `timings_ms`), then its dense (`HybridRetriever._dense`, query vector cached),
  lexical (`_lexical`) and query-embedding (uncached model call) parts timed apart;
- one new document (a small .md file): `Assistant.ingest` (embedding time apart, and the
  `CorpusIndex.check` every ingest starts with), searchable at once (asked and cited),
  `sources`, `Assistant.delete`, then the same file ingested again, removed from disk and
  pruned (`ingest --prune`).

The OS page cache is warm (the build just wrote the files), so start-up reads no cold disk.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # before the imports: start-up includes them

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))
PAGE = 5_000  # Chroma writes and record-manager updates per call
CHUNKS_PER_DOCUMENT = 30
NOISE = 0.03  # per dimension: a copy's cosine to its original is about 0.86
QUESTIONS = 30
TODAY_300K = {"startup_cpu_s": 150, "rss_mb": 4500, "lexical_ms": 610}  # issue 9, before
TARGETS_300K = {"startup_s": 15, "lexical_p50_ms": 20, "question_p50_ms": 150, "rss_mb": 1500}
NEW_DOCUMENT = """---
title: "Quokkalite Refining in Perlis"
source: "https://example.org/quokkalite-refining"
publisher: "Benchmark Gazette"
date: "2026-11-01"
---

# Quokkalite refining

The Quokkalite refinery in Perlis began processing zirconoxide concentrate in March 2026.
Its owner, Tanjung Quokka Metals, expects to ship 4,200 tonnes of refined quokkalite a year.

# Why Perlis

Perlis was chosen because the Kangar rail spur reaches the refinery and electricity there
costs 11 percent less than in Penang, according to the company's filing.
"""
NEW_QUESTION = "How many tonnes of refined quokkalite does Tanjung Quokka Metals expect to ship?"


def settings_for(data_dir: Path):  # type: ignore[no-untyped-def]
    from assistant.config import Settings

    return Settings(data_dir=data_dir)


def rss_mb() -> dict[str, float]:
    """Resident memory now and at its peak, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    return {
        key: round(int(fields[name].split()[0]) / 1024, 1)
        for key, name in (("rss", "VmRSS"), ("peak", "VmHWM"))
    }


def disk_mb(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6, 1)


# --- building -----------------------------------------------------------------------------


def base_chunks(data_dir: Path, work_dir: Path) -> dict[str, Any]:
    """The real corpus's chunks with their vectors, saved once in `work_dir`."""
    saved = work_dir / "base.json"
    if saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))
    from assistant.index import CorpusIndex

    corpus = CorpusIndex(settings_for(data_dir))
    corpus.ingest([ROOT / "corpus"])
    collection = corpus.vector_store._collection
    base: dict[str, list] = {"documents": [], "metadatas": [], "embeddings": []}
    offset = 0
    while page := collection.get(include=["documents", "metadatas", "embeddings"], limit=PAGE, offset=offset):
        if not page["ids"]:
            break
        base["documents"] += page["documents"]
        base["metadatas"] += page["metadatas"]
        base["embeddings"] += [[float(x) for x in vector] for vector in page["embeddings"]]
        offset += len(page["ids"])
    saved.write_text(json.dumps(base), encoding="utf-8")
    return base


def vary(text: str, rng: random.Random, words: list[str]) -> str:
    """One word in five replaced by a corpus word with a random suffix (bench_lexical.py)."""
    pieces = text.split(" ")
    for _ in range(len(pieces) // 5):
        pieces[rng.randrange(len(pieces))] = rng.choice(words) + rng.choice("abcdefghij") * rng.randint(1, 3)
    return " ".join(pieces)


def synthetic_page(base: dict[str, Any], words: list[str], start: int, stop: int):  # type: ignore[no-untyped-def]
    """Chunks `start` to `stop` (exclusive): ids (record keys), vectors, texts, metadatas."""
    import numpy as np
    from langchain_core.documents import Document

    from assistant.index import chunk_key

    ids, vectors, texts, metadatas = [], [], [], []
    noise = np.random.default_rng(start).normal(0, NOISE, (stop - start, len(base["embeddings"][0])))
    for offset, n in enumerate(range(start, stop)):
        original = n % len(base["documents"])
        rng = random.Random(n)
        path = f"/synthetic/doc{n // CHUNKS_PER_DOCUMENT}.md"
        metadata = {**base["metadatas"][original], "path": path, "source": path, "chunk_id": f"synthetic-{n}"}
        text = vary(base["documents"][original], rng, words)
        vector = np.asarray(base["embeddings"][original]) + noise[offset]
        ids.append(chunk_key(Document(page_content=text, metadata=metadata)))
        vectors.append((vector / np.linalg.norm(vector)).astype(np.float32))
        texts.append(text)
        metadatas.append(metadata)
    return ids, vectors, texts, metadatas


def build(data_dir: Path, work_dir: Path, size: int) -> dict[str, Any]:
    """Grow the index in `data_dir` to `size` chunks; times of each part."""
    from assistant.index import CorpusIndex

    base = base_chunks(data_dir, work_dir)
    words = sorted({w for text in base["documents"] for w in text.split() if w.isalpha()})
    corpus = CorpusIndex(settings_for(data_dir))
    collection = corpus.vector_store._collection
    have = corpus.count()
    start = have - len(base["documents"])  # synthetic chunks already written
    row: dict[str, Any] = {"chunks_before": have}
    timings = {"generate_s": 0.0, "chroma_add_s": 0.0, "records_s": 0.0}
    for first in range(start, size - len(base["documents"]), PAGE):
        last = min(first + PAGE, size - len(base["documents"]))
        began = time.perf_counter()
        ids, vectors, texts, metadatas = synthetic_page(base, words, first, last)
        timings["generate_s"] += time.perf_counter() - began
        began = time.perf_counter()
        collection.add(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)
        timings["chroma_add_s"] += time.perf_counter() - began
        began = time.perf_counter()
        corpus.record_manager.update(ids, group_ids=[m["path"] for m in metadatas])
        timings["records_s"] += time.perf_counter() - began
        print(f"  {last + len(base['documents']):,} chunks written", flush=True)
    row.update({key: round(value, 1) for key, value in timings.items()})
    began = time.perf_counter()
    corpus.lexical.sync()
    row["lexical_sync_s"] = round(time.perf_counter() - began, 1)
    row["lexical_chunks"] = corpus.lexical.count  # a sync that opens the index reports 0 added
    began = time.perf_counter()
    health = corpus.check()
    row["check_s"] = round(time.perf_counter() - began, 2)
    if not health.ok:
        raise SystemExit(f"The synthetic index is not healthy: {health.problems()}")
    row["chunks"] = corpus.count()
    row["disk_mb"] = {part: disk_mb(data_dir / part) for part in ("chroma", "lexical")}
    row["disk_mb"]["records"] = round((data_dir / "records.sqlite").stat().st_size / 1e6, 1)
    row["peak_rss_mb"] = rss_mb()["peak"]
    return row


# --- measuring ----------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1)}


def measure(data_dir: Path) -> dict[str, Any]:
    """Start-up, questions, and one document's ingest and delete, in this fresh process."""
    from assistant.service import Assistant

    assistant = Assistant(settings_for(data_dir))
    assistant.warm_up()
    row: dict[str, Any] = {
        "startup_s": round(time.perf_counter() - _STARTED, 2),
        "startup_cpu_s": round(time.process_time(), 1),
        "rss_after_warm_up_mb": rss_mb()["rss"],
        "chunks": assistant.corpus.count(),
    }
    print(f"  started in {row['startup_s']} s, RSS {row['rss_after_warm_up_mb']} MB", flush=True)
    row["questions"] = ask_questions(assistant)
    row["rss_after_questions_mb"] = rss_mb()
    row["document"] = one_document(assistant)
    row["rss_end_mb"] = rss_mb()
    return row


def ask_questions(assistant) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    rows = [json.loads(line) for line in (ROOT / "evals" / "golden.jsonl").read_text().splitlines() if line]
    questions = [row["question"] for row in rows if not row.get("follows")][:QUESTIONS]
    retriever, embeddings = assistant.retriever, assistant.corpus.embeddings
    parts: dict[str, list[float]] = {
        key: [] for key in ("total", "total_cpu", "retrieve", "answer", "dense", "lexical", "embed_query")
    }
    for question in questions:
        cpu = time.process_time()
        answer = assistant.ask(question)
        parts["total_cpu"].append((time.process_time() - cpu) * 1000)  # every thread's CPU
        parts["total"].append(answer.timings_ms["total"])
        parts["retrieve"].append(answer.timings_ms.get("retrieve", 0.0))
        parts["answer"].append(answer.timings_ms.get("answer", 0.0))
        for key, action in (
            ("dense", partial(retriever._dense, question, None)),  # query vector cached by ask
            ("lexical", partial(retriever._lexical, question, None)),
            ("embed_query", partial(embeddings._encode, [question])),
        ):
            began = time.perf_counter()
            action()
            parts[key].append((time.perf_counter() - began) * 1000)
    return {"count": len(questions), **{key: percentiles(values) for key, values in parts.items()}}


def time_embedding(embeddings) -> list[float]:  # type: ignore[no-untyped-def]
    """Count the seconds `embeddings` spends embedding documents, in the one-item list
    returned (this instance only, for this process; reset it by assigning item 0)."""
    spent = [0.0]
    embed_documents = embeddings.embed_documents

    def timed_embed(texts: list[str]) -> list[list[float]]:
        began = time.perf_counter()
        try:
            return embed_documents(texts)
        finally:
            spent[0] += time.perf_counter() - began

    embeddings.embed_documents = timed_embed
    return spent


def one_document(assistant) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Ingest one small file, ask about it, list sources, delete it; then ingest and prune."""
    embedding_s = time_embedding(assistant.corpus.embeddings)
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-doc-"))
    path = folder / "quokkalite.md"
    path.write_text(NEW_DOCUMENT, encoding="utf-8")
    row: dict[str, Any] = {}

    def step(name: str, action):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        result = action()
        row[f"{name}_s"] = round(time.perf_counter() - began, 3)
        return result

    report = step("ingest", lambda: assistant.ingest([path]))
    row["ingest_embedding_s"] = round(embedding_s[0], 3)
    row["ingest_rest_s"] = round(row["ingest_s"] - embedding_s[0], 3)
    row["chunks_added"] = report.chunks_added
    answer = step("ask_new", lambda: assistant.ask(NEW_QUESTION))
    row["searchable"] = any(c.path == str(path.resolve()) for c in answer.citations)
    step("check", assistant.corpus.check)  # what every ingest does first, timed alone
    sources = step("sources", assistant.sources)
    row["sources_listed"] = len(sources)
    deleted = step("delete", lambda: assistant.delete(str(path)))
    row["deleted"] = deleted == [str(path.resolve())]
    answer = assistant.ask(NEW_QUESTION)
    row["gone_after_delete"] = not any(c.path == str(path.resolve()) for c in answer.citations)
    step("reingest", lambda: assistant.ingest([folder]))
    path.unlink()
    report = step("prune", lambda: assistant.ingest([folder], prune=True))
    row["pruned"] = report.files_deleted == [str(path.resolve())]
    shutil.rmtree(folder)
    return row


# --- the runs -----------------------------------------------------------------------------


def child(
    mode: str, data_dir: Path, work_dir: Path, size: int, torch_threads: int | None = None
) -> dict[str, Any]:
    """Run `mode` in a new process; its last output line is the JSON result. `torch_threads`
    sets OMP_NUM_THREADS (torch's default is one thread per core)."""
    command = [sys.executable, __file__, "--child", mode, "--data-dir", str(data_dir)]
    command += ["--work-dir", str(work_dir), "--sizes", str(size)]
    began = time.perf_counter()
    env = {**os.environ, **({"OMP_NUM_THREADS": str(torch_threads)} if torch_threads else {})}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    last = ""
    for line in process.stdout:
        print(line, end="", flush=True)
        last = line
    failed = process.wait()
    wall = round(time.perf_counter() - began, 1)
    if failed or not last.startswith("RESULT "):
        return {"failed": f"{mode} at {size:,} chunks exited with {process.returncode} after {wall} s"}
    return {**json.loads(last.removeprefix("RESULT ")), "process_wall_s": wall}


def summary(size_row: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue sets targets for, side by side."""
    run = size_row.get("measure", {})
    questions = run.get("questions", {})
    document = run.get("document", {})
    return {
        "startup_s": run.get("startup_s"),
        "startup_cpu_s": run.get("startup_cpu_s"),
        "rss_mb": run.get("rss_after_warm_up_mb"),
        "question_p50_ms": questions.get("total", {}).get("p50"),
        "question_p95_ms": questions.get("total", {}).get("p95"),
        "dense_p50_ms": questions.get("dense", {}).get("p50"),
        "lexical_p50_ms": questions.get("lexical", {}).get("p50"),
        "ingest_s": document.get("ingest_s"),
        "ingest_embedding_s": document.get("ingest_embedding_s"),
        "delete_s": document.get("delete_s"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 300_000])
    parser.add_argument("--work-dir", type=Path, help="kept between runs (default: a new temp dir)")
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["build", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--torch-threads", type=int, help="OMP_NUM_THREADS for the measuring process")
    parser.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args()
    if args.child:
        result = (
            build(args.data_dir, args.work_dir, args.sizes[0])
            if args.child == "build"
            else measure(args.data_dir)
        )
        print("RESULT " + json.dumps(result), flush=True)
        return

    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir = work_dir / "data"
    results: dict[str, Any] = {
        "today_300k": TODAY_300K,
        "targets_300k": TARGETS_300K,
        "cpu_cores": os.cpu_count(),
        "sizes": [],
    }
    if args.out.is_file():  # rows of earlier runs stay unless measured again
        earlier = json.loads(args.out.read_text(encoding="utf-8")).get("sizes", [])
        results["sizes"] = [
            row
            for row in earlier
            if row["size"] not in args.sizes or row.get("torch_threads") != args.torch_threads
        ]
    for size in sorted(args.sizes):
        print(f"{size:,} chunks: building", flush=True)
        row: dict[str, Any] = {"size": size, "torch_threads": args.torch_threads}
        row["load_average_before"] = os.getloadavg()
        row["build"] = child("build", data_dir, work_dir, size)
        if "failed" not in row["build"]:
            print(f"{size:,} chunks: measuring", flush=True)
            row["measure"] = child("measure", data_dir, work_dir, size, args.torch_threads)
        row["load_average_after"] = os.getloadavg()
        row["summary"] = summary(row)
        results["sizes"] = sorted(
            [*results["sizes"], row], key=lambda r: (r["size"], r.get("torch_threads") or 0)
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")  # after every size
        print(json.dumps(row["summary"]), flush=True)
    print(f"peak RSS of children: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")
    if not args.keep and not args.work_dir:
        shutil.rmtree(work_dir)


if __name__ == "__main__":
    main()
