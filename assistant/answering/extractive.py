"""The offline default: an answer built from verbatim sentences of the retrieved passages.

Each candidate sentence is scored against the (condensed) question by meaning (the
embedding model), by the rare words they share (BM25's idf), by how relevant its whole
passage is, and by whether it holds what the question's type asks for (a date for
"when", a number for "how much", a name for "who"). The best sentences that do not
repeat each other become the answer, each followed by its passage's `[n]`. Since every
sentence is copied verbatim, every citation can be checked character by character.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from assistant.answering.base import refusal, stream_words
from assistant.citations import Answer, AnswerSentence, Citation
from assistant.embeddings import SentenceTransformerEmbeddings
from assistant.questions import question_type, type_match
from assistant.retrieval import Passage
from assistant.text import jaccard, terms

_LIST_ITEM = re.compile(r"^\s*(?:[-*•▪◦]|\d{1,3}[.)]|\(\w\))\s+")
# A sentence that opens like this leans on the one before it ("He spoke alongside ...").
_ANAPHOR = re.compile(
    r"^(He|She|It|They|This|That|These|Those|Its|Their|His|Her|Such|The latter|The former|"
    r"As a result|Therefore|Thus|However|Additionally|In addition|Later that year|Here)\b"
)
MIN_WORDS = 5
MAX_LIST_ITEMS = 8


@dataclass
class Candidate:
    """A sentence of a passage, with its scores."""

    passage_index: int
    sentence_index: int
    text: str
    semantic: float = 0.0  # similarity to the condensed question
    focus: float = 0.0  # mean similarity to the condensed and the literal question
    lexical: float = 0.0
    type_bonus: float = 0.0
    score: float = 0.0
    relevance: float = 0.0  # score without the type bonus: what refusal is judged on


@dataclass(frozen=True)
class ScoreWeights:
    """How much each signal counts; tuned on the golden set, not guessed."""

    semantic: float = 0.5
    passage: float = 0.2
    lexical: float = 0.3
    type_match: float = 0.12
    redundancy: float = 0.5  # term Jaccard above which a sentence repeats a chosen one
    keep_ratio: float = 0.85  # further sentences must score this share of the best
    adjacent_ratio: float = 0.75  # ... or this share, next to a chosen sentence
    context_discount: float = 0.8  # weight of words shared through the previous sentence


class ExtractiveAnswerer:
    """Answers with the passages' own sentences; needs no LLM."""

    name = "extractive"

    def __init__(
        self,
        embeddings: SentenceTransformerEmbeddings,
        idf: Callable[[str], float],
        refusal_threshold: float,
        max_sentences: int = 3,
        weights: ScoreWeights | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.idf = idf
        self.refusal_threshold = refusal_threshold
        self.max_sentences = max_sentences
        self.weights = weights or ScoreWeights()

    def answer(self, question: str, standalone_question: str, passages: list[Passage]) -> Answer:
        """Build the answer, or refuse when no sentence is relevant enough."""
        candidates = self.score(question, standalone_question, passages)
        if not candidates or candidates[0].relevance < self.refusal_threshold:
            best = candidates[0].relevance if candidates else 0.0
            refused = refusal(
                question,
                standalone_question,
                passages,
                reason=f"best sentence relevance {best:.3f} < threshold {self.refusal_threshold:.3f}",
            )
            refused.relevance = round(best, 4)
            return refused
        chosen = self._select(candidates)
        return self._compose(question, standalone_question, passages, chosen, candidates[0].relevance)

    def stream(
        self, question: str, standalone_question: str, passages: list[Passage]
    ) -> Iterator[str | Answer]:
        """The answer word by word (it exists whole once its sentences are chosen)."""
        yield from stream_words(self.answer(question, standalone_question, passages))

    def score(self, question: str, standalone_question: str, passages: list[Passage]) -> list[Candidate]:
        """Every answerable sentence of `passages`, best first."""
        candidates = [
            Candidate(passage_index, sentence_index, text)
            for passage_index, passage in enumerate(passages)
            for sentence_index, text in enumerate(passage.sentence_texts())
            if _answerable_sentence(passage, sentence_index, text)
        ]
        if not candidates:
            return []
        # A follow-up's own words say what is asked; the condensed form says about what.
        queries = list(dict.fromkeys([standalone_question, question]))
        vectors = np.array(self.embeddings.embed_sentences(queries + [c.text for c in candidates]))
        similarities = vectors[len(queries) :] @ vectors[: len(queries)].T
        query_terms = set(terms(standalone_question))
        query_weight = sum(self.idf(term) for term in query_terms) or 1.0
        kind = question_type(question)
        weights = self.weights
        for candidate, similarity in zip(candidates, similarities, strict=True):
            passage = passages[candidate.passage_index]
            candidate.semantic = float(similarity[0])
            candidate.focus = float(similarity.mean())
            candidate.lexical = self._overlap(query_terms, candidate.text) / query_weight
            if _ANAPHOR.match(candidate.text) and candidate.sentence_index > 0:
                start, end = passage.sentences[candidate.sentence_index - 1]
                with_context = f"{passage.text[start:end]} {candidate.text}"
                candidate.lexical = max(
                    candidate.lexical,
                    weights.context_discount * self._overlap(query_terms, with_context) / query_weight,
                )
            candidate.type_bonus = weights.type_match * type_match(kind, candidate.text)
            candidate.relevance = (
                weights.semantic * candidate.semantic
                + weights.passage * passages[candidate.passage_index].dense_score
                + weights.lexical * candidate.lexical
            )
            # Ranking leans on the literal follow-up too ("Which lawmakers ...?"), while
            # relevance, which decides refusal, judges the condensed question alone.
            candidate.score = (
                candidate.relevance
                + weights.semantic * (candidate.focus - candidate.semantic)
                + candidate.type_bonus
            )
        return sorted(candidates, key=lambda c: c.score, reverse=True)

    def _overlap(self, query_terms: set[str], text: str) -> float:
        return sum(self.idf(term) for term in query_terms & set(terms(text)))

    def _select(self, candidates: list[Candidate]) -> list[Candidate]:
        """The best sentence, then others close to it in score that add something new;
        a sentence next to a chosen one needs a little less, since it reads on."""
        best = candidates[0]
        chosen = [best]
        chosen_terms = [set(terms(best.text))]
        for candidate in candidates[1:]:
            if len(chosen) >= self.max_sentences:
                break
            adjacent = any(
                c.passage_index == candidate.passage_index
                and abs(c.sentence_index - candidate.sentence_index) == 1
                for c in chosen
            )
            ratio = self.weights.adjacent_ratio if adjacent else self.weights.keep_ratio
            if candidate.score < ratio * best.score:
                continue
            candidate_terms = set(terms(candidate.text))
            if any(jaccard(candidate_terms, other) >= self.weights.redundancy for other in chosen_terms):
                continue
            chosen.append(candidate)
            chosen_terms.append(candidate_terms)
        return chosen

    def _compose(
        self,
        question: str,
        standalone_question: str,
        passages: list[Passage],
        chosen: list[Candidate],
        relevance: float,
    ) -> Answer:
        # Passages in the order their best sentence ranks; sentences in document order.
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
            for sentence_index in _with_context(passage, used):
                start, end = passage.sentences[sentence_index]
                citation.highlights.append((passage.start + start, passage.start + end))
                sentences.append(AnswerSentence(passage.text[start:end], [citation.n]))
        return Answer(
            answer=render(sentences),
            refused=False,
            citations=citations,
            question=question,
            standalone_question=standalone_question,
            sentences=sentences,
            passages=passages,
            relevance=round(relevance, 4),
        )


def _answerable_sentence(passage: Passage, index: int, text: str) -> bool:
    """Headings and short list items (or what is left of a sentence the source cut
    off with "[...]") are not answers on their own; a list's items join the answer with the sentence that
    introduces them."""
    return index not in passage.headings and len(text.removesuffix("[...]").split()) >= MIN_WORDS


def _with_context(passage: Passage, used: list[int]) -> list[int]:
    """Sentences needed to read the chosen ones: the sentence a "He ..." or "This ..."
    refers back to, and the items of a list that a chosen sentence introduces."""
    expanded: list[int] = []
    texts = passage.sentence_texts()
    for index in used:
        if index in expanded:
            continue
        previous = index - 1
        leans_back = _ANAPHOR.match(texts[index]) and previous >= 0
        if leans_back and previous not in expanded and previous not in passage.headings:
            expanded.append(previous)
        expanded.append(index)
        if texts[index].rstrip().endswith(":"):
            following = index + 1
            while following < len(texts) and len(expanded) < len(used) + MAX_LIST_ITEMS:
                if not _LIST_ITEM.match(texts[following]):
                    break
                if following not in expanded:
                    expanded.append(following)
                following += 1
    return expanded


def render(sentences: list[AnswerSentence]) -> str:
    """Answer text: each sentence followed by its markers; list items on their own lines."""
    parts: list[str] = []
    previous = ""
    for sentence in sentences:
        markers = "".join(f"[{n}]" for n in sentence.citations)
        text = f"{sentence.text} {markers}".strip()
        if not parts:
            parts.append(text)
        elif _LIST_ITEM.match(sentence.text) or _LIST_ITEM.match(previous):
            parts.append("\n" + text)
        else:
            parts.append(" " + text)
        previous = sentence.text
    return "".join(parts)
