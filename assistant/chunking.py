"""Structure- and sentence-aware splitting with stable ids and character spans.

A document is cut into blocks (blank-line separated), blocks into units (a heading, a list
item, or a paragraph whose lines were hard-wrapped), units into sentences (pysbd).
Chunks are packed from whole sentences and prefer to break between blocks, so no chunk
ends mid-word or mid-sentence unless one sentence is longer than a chunk.

Each chunk keeps its span in the document and the spans of its sentences, so that the
answerer can quote sentences verbatim and every citation can be checked by offset.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache

from langchain_core.documents import Document

from assistant.documents import page_of
from assistant.text import LIST_MARKER

_SENTENCE_END = re.compile(r"[.!?:;…\"'”’)\]]\s*$")
_BLOCK_BREAK = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Sentence:
    """A sentence (or heading, or list item) and its span in the document."""

    start: int
    end: int
    block: int
    heading: bool


def split_sentences(text: str) -> list[Sentence]:
    """All sentences of `text` with document offsets, in order."""
    sentences: list[Sentence] = []
    for block_number, (block_start, block_end) in enumerate(_blocks(text)):
        for unit_start, unit_end, is_heading in _units(text, block_start, block_end):
            if is_heading:
                sentences.append(Sentence(unit_start, unit_end, block_number, True))
                continue
            for start, end in _sentence_spans(text[unit_start:unit_end]):
                sentences.append(Sentence(unit_start + start, unit_start + end, block_number, False))
    return sentences


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans of blank-line separated blocks, stripped of surrounding whitespace."""
    spans = []
    position = 0
    for match in [*_BLOCK_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        span = _strip_span(text, position, end)
        if span:
            spans.append(span)
        position = match.end() if match else len(text)
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def _units(text: str, block_start: int, block_end: int) -> list[tuple[int, int, bool]]:
    """Split a block into units: (start, end, is_heading).

    A block whose lines were hard-wrapped is one paragraph; otherwise each line stands
    alone (headings, list items, one-paragraph-per-line text).
    """
    lines: list[tuple[int, int]] = []
    position = block_start
    for raw_line in text[block_start:block_end].split("\n"):
        span = _strip_span(text, position, position + len(raw_line))
        if span:
            lines.append(span)
        position += len(raw_line) + 1
    if _is_wrapped_paragraph(text, lines):
        return [(lines[0][0], lines[-1][1], False)]
    return [(start, end, _looks_like_heading(text[start:end])) for start, end in lines]


def _is_wrapped_paragraph(text: str, lines: list[tuple[int, int]]) -> bool:
    if len(lines) < 2:
        return False
    inner = lines[:-1]
    wrapped = [
        (start, end)
        for start, end in inner
        if end - start >= 40
        and not _SENTENCE_END.search(text[start:end])
        and not LIST_MARKER.match(text[start:end])
    ]
    return len(wrapped) >= 0.6 * len(inner) and not any(
        LIST_MARKER.match(text[start:end]) for start, end in lines
    )


def _looks_like_heading(line: str) -> bool:
    """A line that does not end a sentence and is short or Title Cased: a heading, a
    label, a menu remnant."""
    if line.startswith("#"):
        return True
    if _SENTENCE_END.search(line) or LIST_MARKER.match(line):
        return False
    words = re.findall(r"[^\W\d_]+", line)
    capitalised = sum(1 for word in words if word[0].isupper())
    return len(line) < 100 or (bool(words) and capitalised >= 0.6 * len(words))


@lru_cache(maxsize=1)
def _segmenter():  # pragma: no cover - trivial factory
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


# pysbd ends sentences after these abbreviations ("Malaysian Rating Corp. Berhad").
_ABBREVIATION_END = re.compile(
    r"\b(Corp|Inc|Ltd|Co|Bhd|Sdn|Dept|No|Nos|Jr|Sr|Mr|Mrs|Ms|Dr|St|Gov|Gen|Sen|Rep|Ave|vs|Fig|approx)\.$"
)


def _sentence_spans(unit: str) -> list[tuple[int, int]]:
    """Sentence spans inside one unit; pysbd finds boundaries, offsets are found by search."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for sentence in _segmenter().segment(unit):
        stripped = sentence.strip()
        if not stripped:
            continue
        start = unit.find(stripped, cursor)
        if start < 0:  # pysbd changed the text; fall back to the rest of the unit
            start = cursor
            stripped = unit[cursor:].strip()
        end = start + len(stripped)
        if spans and _ABBREVIATION_END.search(unit[spans[-1][0] : spans[-1][1]]):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
        cursor = end
    return spans or [(0, len(unit))]


@dataclass(frozen=True)
class ChunkSpan:
    """Where a chunk lies in its document, and its sentences."""

    start: int
    end: int
    sentences: tuple[Sentence, ...]


def plan_chunks(text: str, chunk_size: int, overlap_sentences: int = 0) -> list[ChunkSpan]:
    """Pack whole sentences into chunks of at most `chunk_size` characters."""
    pieces = [piece for sentence in split_sentences(text) for piece in _fit(text, sentence, chunk_size)]
    block_ends: dict[int, int] = {}
    for piece in pieces:
        block_ends[piece.block] = piece.end
    chunks: list[list[Sentence]] = []
    current: list[Sentence] = []

    def length_with(sentence: Sentence) -> int:
        return sentence.end - current[0].start if current else sentence.end - sentence.start

    for sentence in pieces:
        block_fits = block_ends[sentence.block] - sentence.start <= chunk_size
        whole_block_length = block_ends[sentence.block] - current[0].start if current else 0
        if current and _should_break(
            current, sentence, length_with(sentence), whole_block_length, block_fits, chunk_size
        ):
            carried = _carry_headings(current)
            if len(carried) == len(current):
                if length_with(sentence) > chunk_size:  # only headings, and no room left
                    chunks.append(current)
                    current = []
            else:
                finished = current[: len(current) - len(carried)]
                chunks.append(finished)
                current = carried or _overlap(finished, sentence, overlap_sentences)
                if carried and length_with(sentence) > chunk_size:
                    chunks.append(carried)  # headings that leave no room stand alone
                    current = []
                # Overlap must still leave room for the new sentence.
                while current and length_with(sentence) > chunk_size:
                    current = current[1:]
        current.append(sentence)
    if current:
        chunks.append(current)
    return [ChunkSpan(part[0].start, part[-1].end, tuple(part)) for part in chunks]


def _should_break(
    current: list[Sentence],
    sentence: Sentence,
    new_length: int,
    whole_block_length: int,
    block_fits: bool,
    size: int,
) -> bool:
    """Whether `sentence` starts a new chunk.

    Breaks when the chunk would grow past `size`; at a block start, also when the whole
    block would not fit but would fit in a chunk of its own (paragraphs stay whole), or
    when the chunk already holds enough text.
    """
    if new_length > size:
        return True
    starts_block = sentence.block != current[-1].block
    if starts_block and block_fits and whole_block_length > size:
        return True
    current_length = current[-1].end - current[0].start
    # Prefer ending a chunk where a block ends, once the chunk holds enough text.
    if starts_block and sentence.heading and current_length >= size // 4:
        return not all(s.heading for s in current)
    return starts_block and current_length >= size // 2


def _carry_headings(current: list[Sentence]) -> list[Sentence]:
    """Headings at the end of a chunk belong to the next chunk."""
    carried: list[Sentence] = []
    for sentence in reversed(current):
        if not sentence.heading:
            break
        carried.insert(0, sentence)
    return carried


def _overlap(previous: list[Sentence], sentence: Sentence, count: int) -> list[Sentence]:
    if count <= 0:
        return []
    return [s for s in previous[-count:] if s.block == sentence.block and not s.heading]


def _fit(text: str, sentence: Sentence, size: int) -> list[Sentence]:
    """A sentence longer than a chunk is cut at word boundaries; others pass unchanged."""
    if sentence.end - sentence.start <= size:
        return [sentence]
    pieces = []
    start = sentence.start
    while sentence.end - start > size:
        cut = text.rfind(" ", start, start + size)
        if cut <= start:
            cut = start + size
        pieces.append(Sentence(start, cut, sentence.block, False))
        start = cut
        while start < sentence.end and text[start].isspace():
            start += 1
    if start < sentence.end:
        pieces.append(Sentence(start, sentence.end, sentence.block, False))
    return pieces


def chunk_id(path: str, start: int, chunk_text: str) -> str:
    """Stable id: the same text at the same place in the same file keeps its id."""
    digest = hashlib.sha256(f"{path}\x00{start}\x00{chunk_text}".encode()).hexdigest()
    return digest[:24]


def embedding_text(title: str, chunk_text: str) -> str:
    """The text that is embedded and indexed: the title first, so that a passage about
    "the facility" is still found by the name of its document's subject."""
    return f"{title}\n\n{chunk_text}"


def chunk_document(document: Document, chunk_size: int, overlap_sentences: int = 0) -> list[Document]:
    """Split one loaded document into chunk `Document`s ready for indexing.

    A chunk whose text repeats an earlier chunk of the document (a header on every page,
    a line of one repeated word) is left out: it adds nothing to find or cite, and
    identical vectors trap Chroma's HNSW search. A file of one 30,000-character word
    gave 30-odd identical chunks, and in 1 of 60 fresh ingests the dense search for a
    question about another file returned only those, missing its best chunk (0.69
    against 0.05).
    """
    text = document.page_content
    base = {key: value for key, value in document.metadata.items() if key != "page_starts"}
    title = str(base.get("title", ""))
    chunks = []
    seen: set[str] = set()
    for span in plan_chunks(text, chunk_size, overlap_sentences):
        chunk_text = text[span.start : span.end]
        if chunk_text in seen:
            continue
        seen.add(chunk_text)
        metadata = {
            **base,
            "chunk_id": chunk_id(str(base.get("path", "")), span.start, chunk_text),
            "start": span.start,
            "end": span.end,
            "text_offset": len(embedding_text(title, "")),
            # [start, end, is_heading] relative to the chunk text, for the answerer.
            "sentences": json.dumps(
                [[s.start - span.start, s.end - span.start, int(s.heading)] for s in span.sentences]
            ),
        }
        page = page_of(document.metadata, span.start)
        if page is not None:
            metadata["page"] = page
        chunks.append(Document(page_content=embedding_text(title, chunk_text), metadata=metadata))
    return chunks
