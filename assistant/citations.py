"""Citation and answer objects, and the checks that tie every sentence to its sources.

The `Answer` is the contract every surface renders: answer text with inline `[n]`
markers, the numbered citations, `refused`, and timings. A citation's `quote` is the
passage exactly as it stands in its document at `start:end`, so it can be checked.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from assistant.retrieval import Passage

_MARKER = re.compile(r"\s*\[(\d+)\]")


def public_path(path: str) -> str:
    """A document's path as callers may see it: relative to the server's working directory
    (the project, where `corpus/` lives), so that `corpus/x.md` works as a source filter;
    only the file name for files elsewhere. Absolute server paths never leave the server.
    URLs are returned unchanged. Applied where answers leave over HTTP (`public_dict`);
    the local CLI keeps absolute paths, which its user can open."""
    if not path or "://" in path:
        return path
    file = Path(path)
    if not file.is_absolute():
        return path
    try:
        return str(file.relative_to(Path.cwd()))
    except ValueError:
        return file.name


@dataclass
class Citation:
    """One numbered source of an answer."""

    n: int
    title: str
    source: str
    publisher: str
    date: str
    page: int | None
    quote: str  # the passage, verbatim from the document at [start, end)
    start: int
    end: int
    score: float
    path: str = ""
    chunk_id: str = ""
    # Document offsets of the sentences of `quote` that the answer used.
    highlights: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def from_passage(cls, n: int, passage: Passage) -> Citation:
        return cls(
            n=n,
            title=passage.title,
            source=passage.source,
            publisher=passage.publisher,
            date=passage.date,
            page=passage.page,
            quote=passage.text,
            start=passage.start,
            end=passage.end,
            score=round(passage.dense_score, 4),
            path=passage.path,
            chunk_id=passage.chunk_id,
        )


@dataclass
class AnswerSentence:
    """One sentence of an answer and the citation numbers that carry it."""

    text: str
    citations: list[int]
    supported: bool = True


@dataclass
class Answer:
    """What every surface renders. `answer` carries inline `[n]` markers."""

    answer: str
    refused: bool
    citations: list[Citation]
    timings_ms: dict[str, float] = field(default_factory=dict)
    question: str = ""
    standalone_question: str = ""
    sentences: list[AnswerSentence] = field(default_factory=list)
    closest_topics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    answerer: str = "extractive"
    # The answerability step's probability that the documents answer the question (0..1).
    relevance: float = 0.0
    # True when only part of the question is answered; the text says which part is missing.
    partial: bool = False
    # Why the answer is what it is (answerability features, the sentences' scores): for
    # staff, the evaluation report and `ask --json`; surfaces do not show it to users.
    diagnostics: dict[str, Any] = field(default_factory=dict)
    # Hashes of the prompt files that produced this answer (empty for the extractive one).
    prompt_versions: dict[str, str] = field(default_factory=dict)
    # Every passage the answerer saw, best first, for evaluation and debugging.
    passages: list[Passage] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `assistant ask --json` and `POST /api/ask` (without `passages`,
        which are for evaluation and debugging)."""
        data = asdict(replace(self, passages=[]))  # passages are not part of the contract
        for citation in data["citations"]:
            citation["highlights"] = [list(span) for span in citation["highlights"]]
        del data["passages"]
        return data

    def public_dict(self) -> dict[str, Any]:
        """`to_dict` for callers over HTTP: no absolute server paths (`public_path`)."""
        data = self.to_dict()
        for citation in data["citations"]:
            citation["path"] = public_path(citation["path"])
            citation["source"] = public_path(citation["source"])
        return data


def strip_markers(text: str) -> str:
    """Answer text without its `[n]` markers."""
    return _MARKER.sub("", text).strip()


class SupportChecker:
    """Does a passage support a sentence? An offline check, used by the evaluation's
    citation metrics and by the LLM chain to flag unsupported sentences.

    A sentence is supported when most of its content words appear in the passage
    (a quote, or a close paraphrase), or when its meaning is close to one of the
    passage's sentences or to the passage as a whole (the embedding model).
    """

    def __init__(self, embeddings, lexical_threshold: float = 0.7, semantic_threshold: float = 0.75):  # type: ignore[no-untyped-def]
        self.embeddings = embeddings
        self.lexical_threshold = lexical_threshold
        self.semantic_threshold = semantic_threshold

    def score(self, sentence: str, passages: list[str]) -> tuple[float, float]:
        """(lexical containment, best cosine) of `sentence` against `passages` together."""
        from assistant.chunking import split_sentences
        from assistant.text import terms

        sentence_terms = set(terms(strip_markers(sentence)))
        passage_terms = set(terms(" ".join(passages)))
        lexical = len(sentence_terms & passage_terms) / len(sentence_terms) if sentence_terms else 0.0
        units = list(passages)
        for passage in passages:
            units += [passage[s.start : s.end] for s in split_sentences(passage)]
        if not units:
            return lexical, 0.0
        vectors = self.embeddings.embed_sentences([strip_markers(sentence), *units])
        query = vectors[0]
        semantic = max(sum(a * b for a, b in zip(query, vector, strict=True)) for vector in vectors[1:])
        return lexical, float(semantic)

    def supports(self, sentence: str, passages: list[str]) -> bool:
        if not passages:
            return False
        lexical, semantic = self.score(sentence, passages)
        return lexical >= self.lexical_threshold or semantic >= self.semantic_threshold
