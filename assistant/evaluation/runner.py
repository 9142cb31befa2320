"""Runs a golden set through the same `Assistant` the users talk to and scores each
question; `summarise` turns the per-question results into the report's metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.citations import SupportChecker, strip_markers
from assistant.evaluation.golden import GoldenItem
from assistant.evaluation.metrics import (
    STAGES,
    citation_scores,
    evidence_ranks,
    ndcg_at,
    near_threshold,
    normalise,
    percentile,
    recall_at,
    reciprocal_rank,
    separation_auc,
    token_f1,
)
from assistant.service import Assistant
from assistant.types import Answer

RANK_DEPTH = 10


@dataclass
class ItemResult:
    """What happened to one golden question."""

    item: GoldenItem
    answer: Answer
    ranks: list[int | None]  # per evidence quote: rank of the first passage holding it
    latency_ms: float
    passages: list[dict[str, Any]] = field(default_factory=list)  # top 10, best first
    citation_recall: float | None = None
    citation_precision: float | None = None
    token_f1: float | None = None
    semantic_similarity: float | None = None

    def recall_at(self, k: int) -> float:
        return recall_at(self.ranks, k)

    @property
    def reciprocal_rank(self) -> float:
        return reciprocal_rank(self.ranks)

    @property
    def ndcg(self) -> float:
        return ndcg_at(self.ranks, RANK_DEPTH)

    @property
    def right_document(self) -> bool:
        """Whether the answer cites one of the documents the question's evidence is in."""
        sources = {Path(source).name for source in self.item.sources}
        return any(Path(c.path).name in sources for c in self.answer.citations)

    @property
    def evidence_in_answer(self) -> bool:
        answer = normalise(strip_markers(self.answer.answer))
        return any(normalise(quote) in answer for quote in self.item.evidence)

    def checks(self) -> dict[str, bool]:
        """Pass/fail per aspect; the report lists the failed ones, compare tracks flips."""
        if not self.item.answerable:
            return {"refusal_correct": self.answer.refused}
        checks = {
            "retrieved": self.recall_at(5) == 1.0,
            "answered": not self.answer.refused,
            "evidence_in_answer": self.evidence_in_answer,
            "right_document": self.right_document,
        }
        if self.citation_recall is not None:
            checks["citations_supported"] = self.citation_recall == 1.0
        return checks


def history_for(
    item: GoldenItem, items: dict[str, GoldenItem], answers: dict[str, Answer]
) -> list[dict[str, str]]:
    """Explicit history, or the turn a follow-up follows with the answer actually given."""
    if item.history:
        return [{"role": m["role"], "content": m["content"]} for m in item.history]
    if item.follows and item.follows in items and item.follows in answers:
        return [
            {"role": "user", "content": items[item.follows].question},
            {"role": "assistant", "content": answers[item.follows].answer},
        ]
    return []


def run(
    assistant: Assistant,
    items: list[GoldenItem],
    progress: Callable[[int, int], None] | None = None,
) -> list[ItemResult]:
    """Ask every question and score what came back."""
    checker = SupportChecker(assistant.corpus.embeddings)
    embeddings = assistant.corpus.embeddings
    by_id = {item.id: item for item in items}
    answers: dict[str, Answer] = {}
    results = []
    for number, item in enumerate(items, start=1):
        started = time.perf_counter()
        answer = assistant.ask(item.question, history=history_for(item, by_id, answers))
        latency = (time.perf_counter() - started) * 1000
        answers[item.id] = answer
        ranked = assistant.retriever.retrieve(answer.standalone_question, k=RANK_DEPTH)
        texts = [p.text for p in ranked]
        result = ItemResult(
            item,
            answer,
            evidence_ranks(texts, item.evidence) if item.answerable else [],
            latency,
            passages=[
                {
                    "rank": i + 1,
                    "title": p.title,
                    "path": p.path,
                    "text": p.text,
                    "score": round(p.score, 5),
                }
                for i, p in enumerate(ranked)
            ],
        )
        if item.answerable:
            _score_answer(result, checker, embeddings)
        results.append(result)
        if progress:
            progress(number, len(items))
    return results


def _score_answer(result: ItemResult, checker: SupportChecker, embeddings) -> None:  # type: ignore[no-untyped-def]
    answer = result.answer
    text = strip_markers(answer.answer)
    result.token_f1 = token_f1(text, result.item.reference)
    vectors = embeddings.embed_sentences([text, result.item.reference])
    result.semantic_similarity = float(sum(a * b for a, b in zip(vectors[0], vectors[1], strict=True)))
    if not answer.refused and answer.sentences:
        passages = {c.n: c.quote for c in answer.citations}
        recall, precision = citation_scores(
            [(s.text, s.citations) for s in answer.sentences], passages, checker.supports
        )
        result.citation_recall, result.citation_precision = recall, precision


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarise(results: list[ItemResult]) -> dict[str, Any]:
    """Every metric of a run, flat, under dotted names (see `metrics.DEFINITIONS`)."""
    answerable = [r for r in results if r.item.answerable]
    out_of_scope = [r for r in results if not r.item.answerable]
    refused = [r for r in results if r.answer.refused]
    cited = [r for r in answerable if r.citation_recall is not None]
    summary: dict[str, Any] = {
        "questions": len(results),
        "answerable": len(answerable),
        "out_of_scope": len(out_of_scope),
    }
    for k in (1, 3, 5, 10):
        summary[f"retrieval.recall@{k}"] = _mean([r.recall_at(k) for r in answerable])
    summary["retrieval.mrr"] = _mean([r.reciprocal_rank for r in answerable])
    summary["retrieval.ndcg@10"] = _mean([r.ndcg for r in answerable])
    summary["answers.evidence_in_answer"] = _mean([float(r.evidence_in_answer) for r in answerable])
    summary["answers.token_f1"] = _mean([r.token_f1 for r in answerable if r.token_f1 is not None])
    summary["answers.semantic_similarity"] = _mean(
        [r.semantic_similarity for r in answerable if r.semantic_similarity is not None]
    )
    summary["citations.right_document"] = _mean([float(r.right_document) for r in answerable])
    summary["citations.recall"] = _mean([r.citation_recall for r in cited if r.citation_recall is not None])
    summary["citations.precision"] = _mean(
        [r.citation_precision for r in cited if r.citation_precision is not None]
    )
    summary["refusals.recall"] = _mean([float(r.answer.refused) for r in out_of_scope])
    summary["refusals.precision"] = (
        round(sum(not r.item.answerable for r in refused) / len(refused), 4)
        if refused
        else (1.0 if results else None)
    )
    summary["refusals.false_refusal_rate"] = _mean([float(r.answer.refused) for r in answerable])
    summary["refusals.auc"] = separation_auc(
        [r.answer.relevance for r in answerable], [r.answer.relevance for r in out_of_scope]
    )
    summary["refusals.near_threshold"] = _near_threshold_count(results)
    for stage in STAGES:
        values = (
            [r.answer.timings_ms.get(stage, 0.0) for r in results]
            if stage != "total"
            else [r.latency_ms for r in results]
        )
        summary[f"latency.{stage}.p50_ms"] = round(percentile(values, 0.5), 2)
        summary[f"latency.{stage}.p95_ms"] = round(percentile(values, 0.95), 2)
    return summary


def _near_threshold_count(results: list[ItemResult]) -> int | None:
    """How many verdicts lie near the refusal threshold; None when no answer says its
    threshold (the LLM answerer's diagnostics, an older report), rather than a 0 that
    would read as "no fragile verdicts"."""
    judged = [r for r in results if isinstance(r.answer.diagnostics.get("threshold"), int | float)]
    if not judged:
        return None
    return sum(near_threshold(r.answer.relevance, r.answer.diagnostics["threshold"]) for r in judged)


def by_type(results: list[ItemResult]) -> dict[str, dict[str, Any]]:
    """The same metrics for each question type."""
    types = sorted({r.item.type for r in results})
    return {kind: summarise([r for r in results if r.item.type == kind]) for kind in types}
