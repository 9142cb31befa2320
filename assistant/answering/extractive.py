"""The offline default: an answer built from verbatim sentences of the retrieved passages.

Each candidate sentence gets a probability of answering the question from a fitted
logistic model over its features (meaning, shared rare words, named things, whether it
holds what the question's type asks for, its place in the passage; see
`features.SENTENCE_FEATURES`). The answerability step then decides whether to answer,
answer in part, or refuse. The best sentences that do not repeat each other become the
answer, each followed by its passage's `[n]`; a sentence that introduces a list brings
its items. Since every sentence is copied verbatim, every citation can be checked
character by character.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from assistant.answerability import Decision, Verdict, judge
from assistant.answering.base import quoted_names, refusal, stream_words
from assistant.answering.features import ANAPHOR, Candidate, Evidence, gather_evidence
from assistant.embeddings import Embedder
from assistant.linear import LinearModel, load_model
from assistant.text import LIST_MARKER, jaccard
from assistant.types import Answer, AnswerSentence, Citation, Passage
from assistant.vocabulary import Vocabulary

MAX_LIST_ITEMS = 8


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


class ExtractiveAnswerer:
    """Answers with the passages' own sentences; needs no LLM."""

    name = "extractive"

    def __init__(
        self,
        embeddings: Embedder,
        vocabulary: Callable[[], Vocabulary],
        max_sentences: int = 4,
        scorer: LinearModel | None = None,
        answerability: LinearModel | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.vocabulary = vocabulary  # a callable: the corpus changes with every ingest
        self.max_sentences = max_sentences
        self.scorer = scorer or load_model("sentence_scorer")
        self.answerability = answerability or load_model("answerability")
        self.selection = Selection.from_model(self.scorer)

    def answer(self, question: str, standalone_question: str, passages: list[Passage]) -> Answer:
        """Build the answer, or refuse when the documents do not answer the question."""
        return self.answer_from(self.gather(question, standalone_question, passages))

    def stream(
        self, question: str, standalone_question: str, passages: list[Passage]
    ) -> Iterator[str | Answer]:
        """The answer word by word (it exists whole once its sentences are chosen)."""
        yield from stream_words(self.answer(question, standalone_question, passages))

    def gather(self, question: str, standalone_question: str, passages: list[Passage]) -> Evidence:
        """The question's analysis and every candidate sentence's features (the costly part)."""
        return gather_evidence(question, standalone_question, passages, self.embeddings, self.vocabulary())

    def decide(self, evidence: Evidence) -> tuple[list[Candidate], Decision]:
        """Score the sentences, choose the answer's, and judge answerability."""
        ranked = rank(evidence, self.scorer)
        judged = select(ranked, evidence, self.selection, self.max_sentences)
        chosen = select(without_headings(ranked), evidence, self.selection, self.max_sentences)
        return chosen, judge(evidence, judged, self.answerability)

    def answer_from(
        self, evidence: Evidence, decided: tuple[list[Candidate], Decision] | None = None
    ) -> Answer:
        """The answer for gathered evidence; `decided` is `decide(evidence)` when the
        caller (the LLM answerer) has already run it."""
        chosen, decision = decided or self.decide(evidence)
        diagnostics = diagnose(evidence, chosen, decision, self.scorer, self.answerability.threshold)
        if decision.verdict is Verdict.REFUSE:
            answer = refusal(
                evidence.question,
                evidence.standalone_question,
                evidence.passages,
                missing=decision.missing_from_corpus,
            )
        else:
            answer = compose(evidence, chosen)
            if decision.verdict is Verdict.PARTIAL:
                missing = quoted_names(decision.missing_from_corpus + decision.missing_from_answer)
                answer.answer = (
                    f"{answer.answer}\n\nThe documents do not say anything about {missing} in this "
                    "context; the answer covers the rest."
                )
                answer.partial = True
        answer.relevance = decision.probability
        answer.diagnostics = diagnostics
        return answer


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
    0.33 without)."""
    return [c for c in ranked if not c.features.get("is_heading")] or ranked


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
        passages=passages,
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


def diagnose(
    evidence: Evidence, chosen: list[Candidate], decision: Decision, scorer: LinearModel, threshold: float
) -> dict:
    """Why the answer is what it is: for the evaluation report and `ask --json`, never
    shown to users as part of the answer."""
    return {
        "verdict": decision.verdict.value,
        "answerable_probability": decision.probability,
        "threshold": threshold,
        "answerability_features": decision.features,
        "answerability_contributions": decision.contributions,
        "missing_from_corpus": decision.missing_from_corpus,
        "missing_from_answer": decision.missing_from_answer,
        "question_type": evidence.analysis.kind.value,
        "named_things": [n.surface for n in evidence.analysis.named],
        "focus": evidence.analysis.focus,
        "sentences": [
            {
                "text": c.text,
                "passage": c.passage_index + 1,
                "probability": round(c.probability, 4),
                "contributions": scorer.contributions(c.features),
            }
            for c in chosen
        ],
    }


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
