"""The evaluation report: one JSON document for machines, one HTML page for people."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from assistant.evaluation import gate
from assistant.evaluation.metrics import DEFINITIONS
from assistant.evaluation.runner import ItemResult, by_type, summarise
from assistant.service import Assistant

REPORT_VERSION = 1


def question_entry(result: ItemResult) -> dict[str, Any]:
    """Everything about one question that a reviewer needs to judge it."""
    answer = result.answer.to_dict()
    checks = result.checks()
    return {
        "id": result.item.id,
        "type": result.item.type,
        "question": result.item.question,
        "follows": result.item.follows,
        "reference": result.item.reference,
        "evidence": result.item.evidence,
        "answer": answer["answer"],
        "refused": answer["refused"],
        "standalone_question": answer["standalone_question"],
        "citations": answer["citations"],
        "sentences": answer["sentences"],
        "relevance": answer["relevance"],
        "partial": answer["partial"],
        "diagnostics": answer["diagnostics"],
        "passages": result.passages,
        "evidence_ranks": result.ranks,
        "metrics": {
            "recall@5": result.recall_at(5) if result.item.answerable else None,
            "reciprocal_rank": result.reciprocal_rank if result.item.answerable else None,
            "evidence_in_answer": result.evidence_in_answer if result.item.answerable else None,
            "token_f1": result.token_f1,
            "semantic_similarity": result.semantic_similarity,
            "citation_recall": result.citation_recall,
            "citation_precision": result.citation_precision,
        },
        "checks": checks,
        "failed": [name for name, passed in checks.items() if not passed],
        "passed": all(checks.values()),
        "timings_ms": answer["timings_ms"],
    }


def build_report(
    assistant: Assistant,
    results: list[ItemResult],
    golden_set: Path,
    thresholds: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """The whole report as plain data."""
    metrics = summarise(results)
    stats = assistant.stats()
    settings = assistant.settings
    failed = gate.check(metrics, thresholds) if thresholds else []
    return {
        "version": REPORT_VERSION,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "golden_set": str(golden_set),
        "settings": {
            "embedding_model": settings.embedding_model,
            "answerer": settings.answerer,
            "llm": settings.llm,
            "llm_model": settings.llm_model or None,
            "chunk_size": settings.chunk_size,
            "k": settings.k,
            "refusal_threshold": settings.refusal_threshold,
            "models": _model_provenance(),
            "prompt_versions": _prompt_versions(assistant),
        },
        "corpus": {"documents": stats["documents"], "chunks": stats["chunks"]},
        "definitions": DEFINITIONS,
        "metrics": metrics,
        "by_type": by_type(results),
        "latency_samples": {
            stage: [round(r.answer.timings_ms.get(stage, 0.0), 2) for r in results]
            for stage in ("condense", "retrieve", "answer", "total")
        },
        "thresholds": thresholds or {"minimum": {}, "maximum": {}},
        "gate": {"passed": not failed, "failures": failed},
        "questions": [question_entry(result) for result in results],
    }


def _model_provenance() -> dict[str, Any]:
    """Which fitted models answered, and the cross-validated numbers they reached."""
    from assistant.linear import load_model

    provenance = {}
    for name in ("sentence_scorer", "answerability"):
        model = load_model(name)
        provenance[name] = {
            "threshold": model.threshold,
            "date": model.fitted.get("date"),
            "sets": model.fitted.get("sets"),
            "cross_validated": model.fitted.get("cross_validated"),
        }
    return provenance


def _prompt_versions(assistant: Assistant) -> dict[str, str]:
    """Hashes of the prompts in use; the extractive answerer uses none."""
    if assistant.settings.llm == "none":
        return {}
    from assistant.prompts import versions

    return versions(assistant.prompts())


def write_report(report: dict[str, Any], out_dir: Path, comparison: dict[str, Any] | None = None) -> Path:
    """Write report.json and report.html into `out_dir`; returns the HTML path."""
    from assistant.evaluation.html_report import render_report

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(
        json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    html_path = out_dir / "report.html"
    html_path.write_text(render_report(report, comparison), encoding="utf-8")
    return html_path


def load_report(path: Path) -> dict[str, Any]:
    """A report.json, given the file or the directory that holds it."""
    if path.is_dir():
        path = path / "report.json"
    return json.loads(path.read_text(encoding="utf-8"))
