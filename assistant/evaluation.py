"""Runs a golden question set through the `Assistant` and measures it.

Definitions (per question, then averaged):
- a passage is *relevant* when it contains an evidence quote (whitespace and case folded);
- evidence recall@k: the share of a question's evidence quotes found in its top k passages;
- MRR: 1 / rank of the first relevant passage in the top 10 (0 when there is none);
- evidence in answer: the answer text holds at least one evidence quote;
- refusal accuracy: the share of out-of-scope questions refused;
- false refusals: the share of answerable questions refused.
Follow-ups are asked with the history of the turn they follow: that question and the
answer the assistant actually gave to it.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.chain import Message
from assistant.citations import Answer, strip_markers
from assistant.service import Assistant

OUT_OF_SCOPE = "out_of_scope"
RANK_DEPTH = 10


@dataclass
class GoldenItem:
    """One question of a golden set."""

    id: str
    type: str
    question: str
    reference: str
    evidence: list[str]
    sources: list[str] = field(default_factory=list)
    follows: str | None = None

    @property
    def answerable(self) -> bool:
        return self.type != OUT_OF_SCOPE


@dataclass
class ItemResult:
    """What happened to one golden question."""

    item: GoldenItem
    answer: Answer
    ranks: list[int | None]  # per evidence quote: 1-based rank of the first passage holding it
    latency_ms: float

    def recall_at(self, k: int) -> float:
        if not self.ranks:
            return 0.0
        return sum(1 for rank in self.ranks if rank is not None and rank <= k) / len(self.ranks)

    @property
    def reciprocal_rank(self) -> float:
        found = [rank for rank in self.ranks if rank is not None]
        return 1.0 / min(found) if found else 0.0

    @property
    def evidence_in_answer(self) -> bool:
        answer = normalise(strip_markers(self.answer.answer))
        return any(normalise(quote) in answer for quote in self.item.evidence)


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form for containment checks."""
    return " ".join(text.replace("\u00a0", " ").split()).lower()


def load_golden(path: Path) -> list[GoldenItem]:
    """Read a golden JSONL file."""
    items = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                data = json.loads(line)
                items.append(GoldenItem(**{k: data.get(k) for k in GoldenItem.__dataclass_fields__ if k in data}))
    return items


def evidence_ranks(passages_text: list[str], evidence: list[str]) -> list[int | None]:
    """For each evidence quote, the 1-based rank of the first passage that holds it."""
    normalised = [normalise(text) for text in passages_text]
    ranks: list[int | None] = []
    for quote in evidence:
        needle = normalise(quote)
        ranks.append(next((i + 1 for i, text in enumerate(normalised) if needle in text), None))
    return ranks


def run(assistant: Assistant, items: list[GoldenItem]) -> list[ItemResult]:
    """Ask every question (follow-ups with their history) and rank the evidence."""
    results: list[ItemResult] = []
    answers: dict[str, Answer] = {}
    by_id = {item.id: item for item in items}
    for item in items:
        history: list[Message] = []
        if item.follows and item.follows in by_id and item.follows in answers:
            history = [
                {"role": "user", "content": by_id[item.follows].question},
                {"role": "assistant", "content": answers[item.follows].answer},
            ]
        started = time.perf_counter()
        answer = assistant.ask(item.question, history=history)
        latency = (time.perf_counter() - started) * 1000
        ranked = assistant.retriever.retrieve(answer.standalone_question, k=RANK_DEPTH)
        ranks = evidence_ranks([p.text for p in ranked], item.evidence) if item.answerable else []
        answers[item.id] = answer
        results.append(ItemResult(item, answer, ranks, latency))
    return results


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile (0..1) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    import numpy

    return float(numpy.percentile(values, share * 100))


def summarise(results: list[ItemResult]) -> dict[str, Any]:
    """The headline metrics of a run (see the module docstring for definitions)."""
    answerable = [r for r in results if r.item.answerable]
    out_of_scope = [r for r in results if not r.item.answerable]
    latencies = [r.latency_ms for r in results]

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    return {
        "questions": len(results),
        "answerable": len(answerable),
        "out_of_scope": len(out_of_scope),
        "recall@1": mean([r.recall_at(1) for r in answerable]),
        "recall@5": mean([r.recall_at(5) for r in answerable]),
        "mrr": mean([r.reciprocal_rank for r in answerable]),
        "evidence_in_answer": mean([float(r.evidence_in_answer) for r in answerable]),
        "refusal_accuracy": mean([float(r.answer.refused) for r in out_of_scope]),
        "false_refusals": mean([float(r.answer.refused) for r in answerable]),
        "latency_p50_ms": round(percentile(latencies, 0.5), 1),
        "latency_p95_ms": round(percentile(latencies, 0.95), 1),
    }


def failures(results: list[ItemResult]) -> list[dict[str, Any]]:
    """Questions that missed something, with what they missed, for a quick look."""
    listed = []
    for result in results:
        problems = []
        if result.item.answerable:
            if result.recall_at(5) < 1:
                problems.append(f"evidence not in top 5 (ranks {result.ranks})")
            if result.answer.refused:
                problems.append("refused")
            elif not result.evidence_in_answer:
                problems.append("evidence not in answer")
        elif not result.answer.refused:
            problems.append("answered an out-of-scope question")
        if problems:
            listed.append(
                {"id": result.item.id, "type": result.item.type, "question": result.item.question,
                 "problems": problems, "answer": result.answer.answer}
            )
    return listed


def suggest_refusal_threshold(results: list[ItemResult], max_false_refusals: float = 0.05) -> dict[str, Any]:
    """The threshold that refuses the most out-of-scope questions while wrongly refusing at
    most `max_false_refusals` of answerable ones. Run with `refusal_threshold=0` so that
    every question yields its best relevance."""
    answerable = sorted(r.answer.relevance for r in results if r.item.answerable)
    out_of_scope = sorted(r.answer.relevance for r in results if not r.item.answerable)
    scored = []
    candidates = sorted(set(answerable + out_of_scope))
    for low, high in zip([0.0, *candidates], [*candidates, 1.0], strict=True):
        threshold = round((low + high) / 2, 4)
        false_refusals = sum(v < threshold for v in answerable) / max(len(answerable), 1)
        refused = sum(v < threshold for v in out_of_scope) / max(len(out_of_scope), 1)
        if false_refusals <= max_false_refusals:
            scored.append(((refused, -false_refusals), threshold, refused, false_refusals))
    top = max(key for key, *_ in scored)
    tied = [row for row in scored if row[0] == top]
    # Of equally good thresholds, the middle one leaves the most margin on both sides.
    _, threshold, refused, false_refusals = tied[len(tied) // 2]
    best: dict[str, Any] = {
        "threshold": threshold,
        "refusal_accuracy": round(refused, 4),
        "false_refusals": round(false_refusals, 4),
    }
    best["answerable_relevance"] = [round(v, 3) for v in answerable]
    best["out_of_scope_relevance"] = [round(v, 3) for v in out_of_scope]
    return best
