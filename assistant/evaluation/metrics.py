"""Metric functions: plain inputs, plain numbers, no I/O, so they can be tested by hand.

Definitions (they are also written into every report):
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

# The timed stages of one question, in the order they run (the report's latency table).
STAGES = ("condense", "retrieve", "answer", "total")

DEFINITIONS = {
    "retrieval.recall@k": "Share of a question's evidence quotes found in its top k retrieved "
    "passages (a passage is relevant when it contains an evidence quote, ignoring case and "
    "whitespace); averaged over answerable questions.",
    "retrieval.mrr": "1 / rank of the first relevant passage in the top 10 (0 if none), averaged.",
    "retrieval.ndcg@10": "Discounted cumulative gain of the top 10, counting each evidence quote "
    "once, divided by the best possible; averaged.",
    "answers.evidence_in_answer": "Share of answerable questions whose answer text contains at "
    "least one evidence quote.",
    "answers.token_f1": "SQuAD-style token F1 between the answer (without [n] markers) and the "
    "reference answer.",
    "answers.semantic_similarity": "Cosine similarity of the answer and the reference answer "
    "with the embedding model.",
    "citations.right_document": "Share of answerable questions whose answer cites at least one "
    "of the documents their evidence comes from (a refusal cites none).",
    "citations.recall": "ALCE citation recall: share of answer sentences whose cited passages, "
    "together, support them.",
    "citations.precision": "ALCE citation precision: share of citations that support their "
    "sentence alone, or without which the sentence would lose its support.",
    "refusals.recall": "Share of out-of-scope questions that were refused.",
    "refusals.precision": "Share of refusals that were on out-of-scope questions (1 when "
    "nothing was refused).",
    "refusals.false_refusal_rate": "Share of answerable questions that were refused.",
    "refusals.auc": "Chance that an answerable question gets a higher answerable probability "
    "(the answer's relevance) than an out-of-scope one: 1 separates them all, 0.5 is a coin. "
    "Unlike recall it moves before a question crosses the threshold.",
    "refusals.near_threshold": "Questions whose answerable probability lies within "
    "0.05 of the refusal threshold, either side. A refit moves the threshold "
    "by about that much, so these verdicts, and with them the refusal numbers, can flip "
    "without any question getting better or worse.",
    "latency": "Wall time of each chain stage (condense, retrieve, answer) and in total, p50/p95.",
    "support": "Support check (offline): a passage supports a sentence when 70% of the "
    "sentence's content words appear in it, or its embedding cosine to the passage or one of "
    "its sentences is at least 0.75.",
}


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form for containment checks."""
    return " ".join(text.replace("\u00a0", " ").split()).lower()


def evidence_ranks(passages: Sequence[str], evidence: Sequence[str]) -> list[int | None]:
    """For each evidence quote, the 1-based rank of the first passage that holds it."""
    normalised = [normalise(text) for text in passages]
    ranks: list[int | None] = []
    for quote in evidence:
        needle = normalise(quote)
        ranks.append(next((i + 1 for i, text in enumerate(normalised) if needle in text), None))
    return ranks


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of evidence quotes found within the top k."""
    if not ranks:
        return 0.0
    return sum(1 for rank in ranks if rank is not None and rank <= k) / len(ranks)


def reciprocal_rank(ranks: Sequence[int | None]) -> float:
    """1 / rank of the first passage holding any evidence quote."""
    found = [rank for rank in ranks if rank is not None]
    return 1.0 / min(found) if found else 0.0


def ndcg_at(ranks: Sequence[int | None], k: int = 10) -> float:
    """nDCG with binary gains: each evidence quote counts once, at the rank it is first found."""
    if not ranks:
        return 0.0
    gains = Counter(rank for rank in ranks if rank is not None and rank <= k)
    dcg = sum(count / math.log2(rank + 1) for rank, count in gains.items())
    ideal = sum(1 / math.log2(position + 1) for position in range(1, min(len(ranks), k) + 1))
    return dcg / ideal if ideal else 0.0


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = re.compile(r"[^\w\s]")


def _answer_tokens(text: str) -> list[str]:
    text = re.sub(r"\[\d+\]", " ", text.lower())
    return _ARTICLES.sub(" ", _PUNCTUATION.sub("", text)).split()


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD token F1 (lower case, no punctuation or articles, no [n] markers)."""
    predicted, expected = _answer_tokens(prediction), _answer_tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


Supports = Callable[[str, list[str]], bool]


def citation_scores(
    sentences: Sequence[tuple[str, Sequence[int]]],
    passages: dict[int, str],
    supports: Supports,
) -> tuple[float, float]:
    """ALCE citation (recall, precision) of one answer.

    `sentences` are (text, citation numbers); `passages` maps numbers to passage text.
    Recall: a sentence counts when its cited passages together support it. Precision: a
    citation counts when it supports its sentence alone, or when the sentence is
    supported with it and not without it. Numbers that point at no passage count against
    precision.
    """
    if not sentences:
        return 0.0, 0.0
    supported_sentences = 0
    relevant, total = 0, 0
    for text, numbers in sentences:
        cited = [passages[n] for n in numbers if n in passages]
        together = bool(cited) and supports(text, cited)
        supported_sentences += together
        for n in numbers:
            total += 1
            if n not in passages:
                continue
            alone = supports(text, [passages[n]])
            others = [passages[m] for m in numbers if m != n and m in passages]
            needed = together and not (others and supports(text, others))
            relevant += alone or needed
    recall = supported_sentences / len(sentences)
    precision = relevant / total if total else 0.0
    return recall, precision


def separation_auc(answerable: Sequence[float], out_of_scope: Sequence[float]) -> float | None:
    """Area under the ROC curve of answerable vs out-of-scope probabilities (ties count
    half), to 4 decimals; None without both kinds of question."""
    if not answerable or not out_of_scope:
        return None
    from sklearn.metrics import roc_auc_score

    labels = [1] * len(answerable) + [0] * len(out_of_scope)
    return round(float(roc_auc_score(labels, [*answerable, *out_of_scope])), 4)


# About how far a refit moves the refusal threshold: a change to one answerability feature
# moved it from 0.346 to 0.396 (2026-11-29), and refused a test question at 0.394.
NEAR_THRESHOLD = 0.05


def near_threshold(probability: float, threshold: float, margin: float = NEAR_THRESHOLD) -> bool:
    """Whether a verdict is close enough to the threshold that a refit could flip it."""
    return abs(probability - threshold) < margin


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` quantile (0..1) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    import numpy

    return float(numpy.percentile(list(values), share * 100))
