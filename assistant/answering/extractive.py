"""The offline default: an answer built from verbatim sentences of the retrieved passages.

The answerability step (`assistant.answering.answerability`) has already scored every candidate
sentence, chosen the ones an answer would use and decided whether to answer, answer in
part, or refuse; this answerer quotes the chosen sentences, each followed by its
passage's `[n]`, with the sentences needed to read them (the one a "This ..." leans on,
the items of a list it introduces). Since every sentence is copied verbatim, every
citation can be checked character by character.
"""

from __future__ import annotations

from collections.abc import Iterator

from assistant.answering.answerability import Assessment, Verdict
from assistant.answering.base import quoted_names, refusal, stream_words
from assistant.answering.features import ANAPHOR, Candidate, Evidence
from assistant.text import LIST_MARKER
from assistant.types import Answer, AnswerSentence, Citation, Passage

MAX_LIST_ITEMS = 8


class ExtractiveAnswerer:
    """Answers with the passages' own sentences; needs no LLM."""

    name = "extractive"

    def answer(self, assessment: Assessment) -> Answer:
        """The chosen sentences, cited; or the refusal the assessment calls for, saying
        what the documents lack when it is known."""
        evidence, decision = assessment.evidence, assessment.decision
        if decision.verdict is Verdict.REFUSE:
            # Named things the documents never mention, else the asked-for thing they never name.
            lacking = decision.missing_from_corpus
            if not lacking and decision.unknown_focus:
                lacking = [decision.unknown_focus]
            answer = refusal(evidence.question, evidence.standalone_question, evidence.passages, lacking)
        else:
            answer = compose(evidence, assessment.chosen)
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


def compose(evidence: Evidence, chosen: list[Candidate]) -> Answer:
    """The answer text and citations: passages in the order their best sentence ranks,
    sentences in document order, with the sentences needed to read them."""
    passages = evidence.passages
    passage_order: list[int] = []
    for candidate in chosen:
        if candidate.passage_index not in passage_order:
            passage_order.append(candidate.passage_index)
    numbers = {index: n for n, index in enumerate(passage_order, start=1)}
    citations = [Citation.from_passage(numbers[index], passages[index]) for index in passage_order]
    sentences: list[AnswerSentence] = []
    for index in passage_order:
        passage, citation = passages[index], citations[numbers[index] - 1]
        used = sorted(c.sentence_index for c in chosen if c.passage_index == index)
        for sentence_index in with_context(passage, used):
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
        if texts[index].rstrip().endswith(":"):
            following = index + 1
            while following < len(texts) and len(expanded) < len(used) + MAX_LIST_ITEMS:
                if not LIST_MARKER.match(texts[following]):
                    break
                if following not in expanded:
                    expanded.append(following)
                following += 1
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
