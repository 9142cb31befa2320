"""Sentence choice: which sentences of the retrieved passages an answer would use.

A fitted logistic model (`assistant/models/sentence_scorer.json`) gives each candidate
sentence a probability of answering the question; the best one is chosen, then others
close to it that add something new. The answerability step judges these sentences, and
the extractive answerer quotes them, so both read the same choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from assistant.answering.features import Candidate, Evidence
from assistant.linear import LinearModel
from assistant.text import jaccard


@dataclass(frozen=True)
class Selection:
    """How further sentences join the best one. Stored with the sentence scorer (its
    `fitted.selection`) so a refit can change them; today they are set by hand, not fitted
    (`--calibrate` uses these defaults)."""

    keep_ratio: float = 0.6  # a further sentence needs this share of the best probability
    adjacent_ratio: float = 0.4  # ... or this share when it reads on from a chosen sentence
    cover_ratio: float = 0.2  # ... or this share when it covers a named thing still missing
    redundancy: float = 0.5  # term Jaccard above which a sentence repeats a chosen one

    @classmethod
    def from_model(cls, model: LinearModel) -> Selection:
        fields = {k: float(v) for k, v in model.fitted.get("selection", {}).items()}
        return cls(**fields)


def rank(evidence: Evidence, scorer: LinearModel) -> list[Candidate]:
    """The candidate sentences with their probabilities, best first."""
    for candidate in evidence.candidates:
        candidate.probability = scorer.probability(candidate.features)
    return sorted(evidence.candidates, key=lambda c: c.probability, reverse=True)


def without_headings(ranked: list[Candidate]) -> list[Candidate]:
    """The ranked sentences an answer may use. A heading names a topic and answers
    nothing ("Background to EXIM Support for Critical Minerals"), so it never stands in an
    answer. It keeps its rank for judging answerability, though: a heading that matches a
    question better than every sentence says the documents name the topic without
    answering (CV over 8 fold dealings: refusal recall 0.45 when judged with headings,
    0.33 without). A field line the question asks for ("Last published date: ...") is
    not a heading here, whatever the chunker took it for (see `fields`)."""
    return [c for c in ranked if quotable(c)] or ranked


def quotable(candidate: Candidate) -> bool:
    """Whether an answer may quote this sentence: not a heading, unless it is a field line
    the question asks for."""
    return not candidate.features.get("is_heading") or bool(candidate.features.get("field_asked"))


def select(
    ranked: list[Candidate], evidence: Evidence, selection: Selection, max_sentences: int
) -> list[Candidate]:
    """The best sentence, then others close to it that add something new: a sentence that
    reads on from a chosen one, or one that covers a named thing the others lack (a
    two-part question answered from two documents), needs less."""
    if not ranked:
        return []
    best = ranked[0]
    chosen = [best]
    named = evidence.analysis.named
    for candidate in ranked[1:]:
        if len(chosen) >= max_sentences:
            break
        share = candidate.probability / max(best.probability, 1e-9)
        adjacent = any(
            c.passage_index == candidate.passage_index
            and abs(c.sentence_index - candidate.sentence_index) == 1
            for c in chosen
        )
        covered = frozenset().union(*(c.terms for c in chosen))
        adds_named = any(n.covered_by(candidate.terms) and not n.covered_by(covered) for n in named)
        needed = selection.keep_ratio
        if adjacent:
            needed = min(needed, selection.adjacent_ratio)
        if adds_named:
            needed = min(needed, selection.cover_ratio)
        if share < needed:
            continue
        if any(jaccard(set(candidate.terms), set(c.terms)) >= selection.redundancy for c in chosen):
            continue
        chosen.append(candidate)
    return chosen
