"""The types every layer shares: a conversation's messages, retrieved passages, answers
and their citations, and the events of a streamed answer.

They sit at the bottom: this module imports nothing from the project and no library
beyond the standard one, so a surface (the API, the CLI, the chat) or a test can use
them without loading the index, Chroma or a model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from langchain_core.documents import Document


class Message(TypedDict):
    """One turn of a conversation, as every surface sends it."""

    role: Literal["user", "assistant"]
    content: str


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
    sentence_vectors: str = ""  # as stored at ingest (`assistant.sentence_vectors`); "" if not

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
            # `sentence_vectors.SENTENCE_VECTORS_KEY`: this module imports nothing of the project.
            sentence_vectors=str(metadata.get("sentence_vectors", "")),
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

    __pydantic_config__ = {"use_attribute_docstrings": True}  # the API's schema reads the docstrings

    n: int
    title: str
    source: str
    """URL, or the file path when the document has none."""
    publisher: str
    date: str
    page: int | None
    quote: str
    """The passage, verbatim from the document at [start, end)."""
    start: int
    end: int
    score: float
    path: str = ""
    chunk_id: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)
    """Document offsets of the sentences of `quote` that the answer used."""

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

    __pydantic_config__ = {"use_attribute_docstrings": True}

    text: str
    citations: list[int]
    supported: bool = True


@dataclass
class Answer:
    """What every surface renders, and the API's response model: the JSON of
    `POST /api/ask` and `assistant ask --json` is this, field for field."""

    __pydantic_config__ = {"use_attribute_docstrings": True}

    answer: str
    """Answer text with inline [n] markers."""
    refused: bool
    citations: list[Citation]
    timings_ms: dict[str, float] = field(default_factory=dict)
    question: str = ""
    standalone_question: str = ""
    """The question as retrieval saw it: a follow-up rewritten with the conversation."""
    sentences: list[AnswerSentence] = field(default_factory=list)
    closest_topics: list[str] = field(default_factory=list)
    """For a refusal: headings of the nearest passages, so the user can rephrase."""
    notes: list[str] = field(default_factory=list)
    """Notes for the user (a fallback, unsupported sentences)."""
    answerer: str = "extractive"
    relevance: float = 0.0
    """The answerability step's probability that the documents answer the question (0..1)."""
    partial: bool = False
    """Only part of the question is answered; the text says which part is missing."""
    diagnostics: dict[str, Any] = field(default_factory=dict)
    """Why the answer is what it is (answerability features, the sentences' scores): for
    staff, the evaluation report and `ask --json`; surfaces do not show it to users."""
    prompt_versions: dict[str, str] = field(default_factory=dict)
    """Hashes of the prompt files that produced this answer (empty for the extractive one)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of `assistant ask --json` and `POST /api/ask`."""
        data = asdict(self)
        for citation in data["citations"]:
            citation["highlights"] = [list(span) for span in citation["highlights"]]
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
