"""The types every layer shares: a conversation's messages, retrieved passages, answers
and their citations, and the events of a streamed answer.

They sit at the bottom: this module imports nothing from the project and no library
beyond the standard one, so a surface (the API, the CLI, the chat) or a test can use
them without loading the index, Chroma or a model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.documents import Document

# One turn of a conversation: {"role": "user" | "assistant", "content": str}.
Message = dict[str, str]


@dataclass
class Passage:
    """A retrieved chunk: its text, where it lies in its document, and how it ranked."""

    chunk_id: str
    text: str
    title: str
    source: str
    publisher: str
    date: str
    path: str
    start: int
    end: int
    sentences: list[tuple[int, int]]  # spans relative to `text`
    headings: set[int] = field(default_factory=set)  # indexes of sentences that are headings
    page: int | None = None
    score: float = 0.0  # fused reciprocal-rank score
    dense_score: float = 0.0  # cosine similarity to the query
    bm25_score: float = 0.0
    duplicates: list[str] = field(default_factory=list)  # chunk ids collapsed into this one

    @classmethod
    def from_chunk(cls, chunk: Document) -> Passage:
        metadata = chunk.metadata
        offset = int(metadata.get("text_offset", 0))
        sentences = json.loads(metadata.get("sentences", "[]"))
        return cls(
            chunk_id=str(chunk.id),
            text=chunk.page_content[offset:],
            title=str(metadata.get("title", "")),
            source=str(metadata.get("source", "")),
            publisher=str(metadata.get("publisher", "")),
            date=str(metadata.get("date", "")),
            path=str(metadata.get("path", "")),
            start=int(metadata.get("start", 0)),
            end=int(metadata.get("end", 0)),
            sentences=[(span[0], span[1]) for span in sentences],
            headings={i for i, span in enumerate(sentences) if len(span) > 2 and span[2]},
            page=metadata.get("page"),
        )

    def sentence_texts(self) -> list[str]:
        return [self.text[start:end] for start, end in self.sentences]


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


@dataclass
class StreamEvent:
    """One step of a streamed answer: `token` (text) events, then one `answer` (the Answer)."""

    kind: str
    data: Any
