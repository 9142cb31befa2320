"""The offline default: an answer built from verbatim sentences of the retrieved passages.

The answerability step (`assistant.answering.answerability`) has already scored every candidate
sentence, chosen the ones an answer would use and decided whether to answer, answer in
part, or refuse; this answerer quotes the chosen sentences, each followed by its
passage's `[n]`, with the sentences needed to read them (the one a "This ..." leans on,
the items of a list it introduces). Since every sentence is copied verbatim, every
citation can be checked character by character.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from assistant.answering.answerability import Assessment, Verdict, answer_notes
from assistant.answering.base import quoted_names, refusal, stream_words
from assistant.answering.features import ANAPHOR, Candidate, Evidence
from assistant.text import LIST_MARKER
from assistant.types import Answer, AnswerSentence, Citation, Passage

MAX_LIST_ITEMS = 8
# The passage that follows one in its document (`Assistant.following_passage`), if any.
FollowingPassage = Callable[[Passage], Passage | None]


class ExtractiveAnswerer:
    """Answers with the passages' own sentences; needs no LLM."""

    name = "extractive"

    def __init__(self, following: FollowingPassage | None = None) -> None:
        self.following = following  # to finish a list whose introduction ends a passage

    def answer(self, assessment: Assessment) -> Answer:
        """The chosen sentences, cited; or the refusal the assessment calls for, saying
        what the documents lack when it is known."""
        evidence, decision = assessment.evidence, assessment.decision
        if decision.verdict is Verdict.REFUSE:
            # Named things the documents never mention, else the asked-for thing they never name.
            lacking = decision.missing_from_corpus
            if not lacking and decision.unknown_focus:
                lacking = [decision.unknown_focus]
            answer = refusal(
                evidence.question,
                evidence.standalone_question,
                evidence.passages,
                missing=lacking,
                blank_field=decision.blank_field,
            )
        else:
            answer = compose(evidence, assessment.chosen, self.following)
            answer.notes.extend(answer_notes(assessment, answer))
            if decision.verdict is Verdict.PARTIAL:
                missing = quoted_names(decision.missing_from_corpus + decision.missing_from_answer)
                answer.answer = (
                    f"{answer.answer}\n\nThe documents do not say anything about {missing} in this "
                    "context; the answer covers the rest."
                )
                answer.partial = True
        answer.relevance = decision.probability
        answer.diagnostics = assessment.diagnostics
        return answer

    def stream(self, assessment: Assessment) -> Iterator[str | Answer]:
        """The answer word by word (it exists whole once its sentences are chosen)."""
        yield from stream_words(self.answer(assessment))


def compose(evidence: Evidence, chosen: list[Candidate], following: FollowingPassage | None = None) -> Answer:
    """The answer text and citations: passages in the order their best sentence ranks,
    sentences in document order, with the sentences needed to read them (and, through
    `following`, the items of a list whose introduction ends its passage)."""
    passages = evidence.passages
    passage_order: list[int] = []
    for candidate in chosen:
        if candidate.passage_index not in passage_order:
            passage_order.append(candidate.passage_index)
    chosen_in = {
        passages[index].chunk_id: [c.sentence_index for c in chosen if c.passage_index == index]
        for index in passage_order
    }
    blocks: dict[str, tuple[Passage, list[int]]] = {}  # by chunk id, in answer order
    for index in passage_order:
        passage = passages[index]
        if passage.chunk_id in blocks:  # already placed as the continuation of a list
            continue
        used = with_context(passage, sorted(chosen_in[passage.chunk_id]))
        blocks[passage.chunk_id] = (passage, used)
        continuation = list_continuation(passage, used, following)
        if continuation and continuation[0].chunk_id not in blocks:
            following_passage, items = continuation
            # Its own chosen sentences, if it was retrieved too, join the list: one citation.
            also = chosen_in.get(following_passage.chunk_id, [])
            blocks[following_passage.chunk_id] = (
                following_passage,
                with_context(following_passage, sorted(set(items) | set(also))),
            )
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    for number, (passage, used) in enumerate(blocks.values(), start=1):
        citation = Citation.from_passage(number, passage)
        citations.append(citation)
        for sentence_index in used:
            start, end = passage.sentences[sentence_index]
            citation.highlights.append((passage.start + start, passage.start + end))
            sentences.append(AnswerSentence(passage.text[start:end], [citation.n]))
    return Answer(
        answer=render(sentences),
        refused=False,
        citations=citations,
        question=evidence.question,
        standalone_question=evidence.standalone_question,
        sentences=sentences,
    )


def with_list_continuations(passages: list[Passage], following: FollowingPassage | None) -> list[Passage]:
    """`passages`, then the next passage of each one that ends by introducing a list: an
    LLM reads whole passages, and "... may qualify for additional financing flexibilities:"
    without the bullets that start the next chunk leaves it nothing to say."""
    if following is None:
        return passages
    extra: list[Passage] = []
    seen = {passage.chunk_id for passage in passages}
    for passage in passages:
        continuation = list_continuation(passage, [len(passage.sentences) - 1], following)
        if continuation and continuation[0].chunk_id not in seen:
            extra.append(continuation[0])
            seen.add(continuation[0].chunk_id)
    return passages + extra


def list_continuation(
    passage: Passage, used: list[int], following: FollowingPassage | None
) -> tuple[Passage, list[int]] | None:
    """The next passage of the document and its leading list items, when the last
    sentence used ends `passage` and introduces a list ("... may qualify for additional
    financing flexibilities:"): chunks break between blocks, so the items may start the
    next chunk, and the introduction alone answers nothing."""
    texts = passage.sentence_texts()
    if following is None or not used or used[-1] != len(texts) - 1 or not _introduces(texts[-1]):
        return None
    nxt = following(passage)
    if nxt is None:
        return None
    items = _list_items(nxt.sentence_texts(), 0)[:MAX_LIST_ITEMS]
    return (nxt, items) if items else None


def _introduces(text: str) -> bool:
    """A sentence ending in a colon introduces what follows it ("... including by:")."""
    return text.rstrip().endswith(":")


def _list_items(texts: list[str], start: int) -> list[int]:
    """The indexes of the list items that run on from `start`."""
    items: list[int] = []
    for index in range(start, len(texts)):
        if not LIST_MARKER.match(texts[index]):
            break
        items.append(index)
    return items


def with_context(passage: Passage, used: list[int]) -> list[int]:
    """Sentences needed to read the chosen ones: the sentence a "He ..." or "This ..."
    refers back to, and the items of a list that a chosen sentence introduces."""
    expanded: list[int] = []
    texts = passage.sentence_texts()
    for index in used:
        if index in expanded:
            continue
        previous = index - 1
        leans_back = ANAPHOR.match(texts[index]) and previous >= 0
        if leans_back and previous not in expanded and previous not in passage.headings:
            expanded.append(previous)
        expanded.append(index)
        if _introduces(texts[index]):
            for item in _list_items(texts, index + 1):
                if len(expanded) >= len(used) + MAX_LIST_ITEMS:
                    break
                if item not in expanded:
                    expanded.append(item)
    return sorted(expanded)


def render(sentences: list[AnswerSentence]) -> str:
    """Answer text: each sentence followed by its markers; list items on their own lines."""
    parts: list[str] = []
    previous = ""
    for sentence in sentences:
        markers = "".join(f"[{n}]" for n in sentence.citations)
        text = f"{sentence.text} {markers}".strip()
        if not parts:
            parts.append(text)
        elif LIST_MARKER.match(sentence.text) or LIST_MARKER.match(previous):
            parts.append("\n" + text)
        else:
            parts.append(" " + text)
        previous = sentence.text
    return "".join(parts)
