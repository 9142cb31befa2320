"""Warm `ask` latency and retrieval quality against LangChain's tutorial recipe.

Run: `make bench` (or `.venv/bin/python benchmarks/bench_ask.py`). Both pipelines run in
this one process over the same corpus, the same embedding model and the same golden set,
so the comparison is fair on a noisy machine. Results go to benchmarks/results/ask.json.

- warm latency: the model is loaded and the index open; every golden question is asked
  once with an empty sentence cache ("first ask") and once more ("repeat ask");
- baseline: RecursiveCharacterTextSplitter(1000, 200) + Chroma similarity top-k, the
  recipe of LangChain's RAG tutorial, scored with the same evidence recall@5 and MRR.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import evaluation  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.documents import load_paths  # noqa: E402
from assistant.embeddings import make_embeddings  # noqa: E402
from assistant.service import Assistant  # noqa: E402

GOLDEN = ROOT / "evals" / "golden.jsonl"
RESULTS = ROOT / "benchmarks" / "results"


def latency_summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 1),
        "p95_ms": round(evaluation.percentile(values, 0.95), 1),
        "mean_ms": round(statistics.fmean(values), 1),
        "n": len(values),
    }


def measure_latency(assistant: Assistant, items: list[evaluation.GoldenItem]) -> dict[str, dict]:
    """Two passes over the golden questions, timing `Assistant.ask` only."""
    passes = {}
    for name in ("first_ask", "repeat_ask"):
        timings = []
        for item in items:
            started = time.perf_counter()
            assistant.ask(item.question)
            timings.append((time.perf_counter() - started) * 1000)
        passes[name] = latency_summary(timings)
    return passes


def baseline_retrieval(items: list[evaluation.GoldenItem], settings: Settings) -> dict[str, float]:
    """LangChain tutorial recipe: 1000/200 recursive splitter, Chroma similarity top-k."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    documents = load_paths([ROOT / "corpus"]).documents
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(documents)
    with tempfile.TemporaryDirectory() as directory:
        client = chromadb.PersistentClient(directory, settings=ChromaSettings(anonymized_telemetry=False))
        store = Chroma(
            collection_name="baseline",
            embedding_function=make_embeddings(settings),
            client=client,
            collection_configuration={"hnsw": {"space": "cosine"}},
        )
        store.add_documents(splits)
        recalls, reciprocal_ranks = [], []
        for item in items:
            if not item.answerable or item.follows:
                continue
            texts = [doc.page_content for doc in store.similarity_search(item.question, k=10)]
            ranks = evaluation.evidence_ranks(texts, item.evidence)
            recalls.append(sum(1 for r in ranks if r and r <= 5) / len(ranks))
            found = [r for r in ranks if r]
            reciprocal_ranks.append(1 / min(found) if found else 0.0)
    return {
        "chunks": len(splits),
        "recall@5": round(statistics.fmean(recalls), 4),
        "mrr": round(statistics.fmean(reciprocal_ranks), 4),
        "questions": len(recalls),
    }


def ours_retrieval(assistant: Assistant, items: list[evaluation.GoldenItem]) -> dict[str, float]:
    """Our hybrid retrieval on the same questions as the baseline (no follow-ups)."""
    recalls, reciprocal_ranks = [], []
    for item in items:
        if not item.answerable or item.follows:
            continue
        texts = [p.text for p in assistant.retriever.retrieve(item.question, k=10)]
        ranks = evaluation.evidence_ranks(texts, item.evidence)
        recalls.append(sum(1 for r in ranks if r and r <= 5) / len(ranks))
        found = [r for r in ranks if r]
        reciprocal_ranks.append(1 / min(found) if found else 0.0)
    return {
        "chunks": assistant.retriever.chunk_count,
        "recall@5": round(statistics.fmean(recalls), 4),
        "mrr": round(statistics.fmean(reciprocal_ranks), 4),
        "questions": len(recalls),
    }


def main() -> None:
    items = evaluation.load_golden(GOLDEN)
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir))
        assistant = Assistant(settings)
        started = time.perf_counter()
        assistant.ingest([ROOT / "corpus"])
        ingest_seconds = time.perf_counter() - started
        started = time.perf_counter()
        assistant.warm_up()
        warm_up_seconds = time.perf_counter() - started
        results = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "ingest_seconds": round(ingest_seconds, 2),
            "warm_up_seconds": round(warm_up_seconds, 2),
            "latency": measure_latency(assistant, items),
            "retrieval": {
                "ours": ours_retrieval(assistant, items),
                "langchain_tutorial_baseline": baseline_retrieval(items, settings),
            },
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ask.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
