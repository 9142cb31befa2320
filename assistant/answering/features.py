"""The evidence an answerer weighs: every sentence of the retrieved passages, with features.

Features are plain numbers with names, computed once per question; fitted models
(`assistant/models/*.json`) turn them into a sentence's probability of answering the
question and the question's probability of being answerable. Keeping the two apart lets
the evaluation refit the models without embedding anything again.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from assistant.answering.fields import blank_field_asked, field_asked
from assistant.embeddings import Embedder
from assistant.question_analysis import QuestionAnalysis, analyse
from assistant.questions import QuestionType, is_follow_up, type_match
from assistant.sentence_vectors import decode
from assistant.text import LIST_MARKER, terms
from assistant.types import Passage
from assistant.vocabulary import Vocabulary

# A sentence that opens like this leans on the one before it ("He spoke alongside ...").
ANAPHOR = re.compile(
    r"^(He|She|It|They|This|That|These|Those|Its|Their|His|Her|Such|The latter|The former|"
    r"As a result|Therefore|Thus|However|Additionally|In addition|Later that year|Here|Together)\b"
)
# Text addressed to an assistant rather than to readers: a document may carry it (by
# accident or as an attack), and quoting it as an answer would pass it on as fact.
INSTRUCTION = re.compile(
    r"^\W*(system|assistant|user|developer)\s*(prompt|message)?\s*:"
    r"|\b(ignore|disregard|forget)\s+(all\s+|any\s+)?(the\s+)?(previous|prior|above|earlier)\s+"
    r"(instructions|prompts?|messages?)"
    r"|\byou\s+(must|should|will)\s+(now\s+)?(reply|respond|answer|say|output)\b"
    r"|\b(as an ai|language model)\b.*\b(must|should)\b",
    re.IGNORECASE,
)
_INCLUDING = re.compile(r"\b(including|such as|namely|as follows|consists? of|comprising)\b", re.I)
MIN_WORDS = 3

SENTENCE_FEATURES = (
    "semantic",
    "semantic_literal",
    "semantic_gap",
    "lexical",
    "lexical_gap",
    "named_share",
    "focus_share",
    "title_lexical",
    "passage_dense",
    "passage_rank",
    "first_in_passage",
    "position",
    "log_words",
    "is_heading",
    "is_list_item",
    "type_match",
    "why_cause",
    "list_intro",
    "enumerates",
    "field_asked",
)


@dataclass
class Candidate:
    """A sentence of a passage, its features and (once scored) its probability."""

    passage_index: int
    sentence_index: int
    text: str
    context: str  # the sentence with the one it leans on, if it opens with "This ..." etc.
    terms: frozenset[str]
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0


@dataclass
class Evidence:
    """Everything the answerer knows about one question before deciding anything."""

    question: str
    standalone_question: str
    analysis: QuestionAnalysis
    passages: list[Passage]
    candidates: list[Candidate]
    passage_terms: list[frozenset[str]]  # per passage, with its title
    vocabulary: Vocabulary
    follow_up: bool = False
    blank_field: tuple[str, str] | None = None  # (label, title) of an asked-for field a passage leaves blank

    def idf(self, term: str) -> float:
        return max(self.vocabulary.idf(term), 0.05)

    def term_weight(self, term_list: list[str]) -> float:
        return sum(self.idf(t) for t in term_list) or 1.0


def gather_evidence(
    question: str,
    standalone_question: str,
    passages: list[Passage],
    embeddings: Embedder,
    vocabulary: Vocabulary,
) -> Evidence:
    """Analyse the question and compute every candidate sentence's features."""
    analysis = analyse(standalone_question, vocabulary, literal=question)
    candidates = _candidates(passages)
    evidence = Evidence(
        question=question,
        standalone_question=standalone_question,
        analysis=analysis,
        passages=passages,
        candidates=candidates,
        passage_terms=[frozenset(terms(f"{p.title} {p.publisher} {p.text}")) for p in passages],
        vocabulary=vocabulary,
        follow_up=question != standalone_question or is_follow_up(question),
    )
    if candidates:
        _add_features(evidence, embeddings)
    evidence.blank_field = _blank_field(evidence)
    return evidence


def _blank_field(evidence: Evidence) -> tuple[str, str] | None:
    """The label and the document title of a field the question asks for that a passage
    leaves blank ("Last published date:" with nothing after it), if there is one."""
    question_terms = frozenset(evidence.analysis.terms)
    for candidate in evidence.candidates:
        if label := blank_field_asked(candidate.text, question_terms):
            return label, evidence.passages[candidate.passage_index].title
    return None


def _candidates(passages: list[Passage]) -> list[Candidate]:
    found = []
    for passage_index, passage in enumerate(passages):
        texts = passage.sentence_texts()
        for sentence_index, text in enumerate(texts):
            if len(text.removesuffix("[...]").split()) < MIN_WORDS or INSTRUCTION.search(text):
                continue
            context = text
            if ANAPHOR.match(text) and sentence_index > 0:
                context = f"{texts[sentence_index - 1]} {text}"
            found.append(Candidate(passage_index, sentence_index, text, context, frozenset(terms(context))))
    return found


def _add_features(evidence: Evidence, embeddings: Embedder) -> None:
    analysis, candidates, passages = evidence.analysis, evidence.candidates, evidence.passages
    queries = list(dict.fromkeys([evidence.standalone_question, evidence.question]))
    query_vectors = np.array(embeddings.embed_sentences(queries))
    similarities = (
        sentence_vectors(candidates, passages, embeddings, query_vectors.shape[1]) @ query_vectors.T
    )
    query_terms = analysis.terms
    query_weight = evidence.term_weight(query_terms)
    focus = set(analysis.focus)
    question_terms = frozenset(query_terms)
    title_terms = [frozenset(terms(f"{p.title} {p.publisher}")) for p in passages]
    for candidate, similarity in zip(candidates, similarities, strict=True):
        passage = passages[candidate.passage_index]
        words = len(candidate.text.split())
        texts_count = max(len(passage.sentences), 1)
        own_terms = set(terms(candidate.text))
        lexical = sum(evidence.idf(t) for t in query_terms if t in own_terms) / query_weight
        with_context = sum(evidence.idf(t) for t in query_terms if t in candidate.terms) / query_weight
        with_title = candidate.terms | title_terms[candidate.passage_index]
        named = analysis.named
        candidate.features = {
            "semantic": float(similarity[0]),
            "semantic_literal": float(similarity[-1]),
            "lexical": max(lexical, 0.8 * with_context),
            "named_share": (sum(n.covered_by(with_title) for n in named) / len(named)) if named else 1.0,
            "focus_share": (len(focus & candidate.terms) / len(focus)) if focus else 0.0,
            "title_lexical": sum(
                evidence.idf(t) for t in query_terms if t in title_terms[candidate.passage_index]
            )
            / query_weight,
            "passage_dense": passage.dense_score,
            "passage_rank": 1.0 / (1 + candidate.passage_index),
            "first_in_passage": float(
                candidate.sentence_index
                == min((i for i in range(texts_count) if i not in passage.headings), default=0)
            ),
            "position": candidate.sentence_index / texts_count,
            "log_words": math.log(max(words, 1)),
            "is_heading": float(candidate.sentence_index in passage.headings),
            "is_list_item": float(bool(LIST_MARKER.match(candidate.text))),
            "type_match": type_match(analysis.kind, candidate.text),
            "why_cause": float(analysis.kind is QuestionType.WHY)
            * type_match(QuestionType.WHY, candidate.text),
            "list_intro": float(analysis.kind in (QuestionType.LIST, QuestionType.QUANTITY))
            * float(introduces_list(passage, candidate.sentence_index)),
            "enumerates": float(analysis.kind in (QuestionType.LIST, QuestionType.QUANTITY))
            * float(candidate.text.count(",") >= 2 or bool(_INCLUDING.search(candidate.text))),
        }
        candidate.features["field_asked"] = (
            float(field_asked(candidate.text, question_terms)) * candidate.features["title_lexical"]
        )
    best_semantic = max(c.features["semantic"] for c in candidates)
    best_lexical = max(c.features["lexical"] for c in candidates)
    for candidate in candidates:
        candidate.features["semantic_gap"] = candidate.features["semantic"] - best_semantic
        candidate.features["lexical_gap"] = candidate.features["lexical"] - best_lexical


def sentence_vectors(
    candidates: list[Candidate], passages: list[Passage], embeddings: Embedder, dimension: int
) -> np.ndarray:
    """One row per candidate: the vector stored with its passage at ingest, or embedded
    now for a passage stored without them."""
    stored = [
        decode(p.sentence_vectors, len(p.sentences), dimension) if p.sentence_vectors else None
        for p in passages
    ]
    rows: list[np.ndarray | None] = []
    for candidate in candidates:
        vectors = stored[candidate.passage_index]
        rows.append(None if vectors is None else vectors[candidate.sentence_index])
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        embedded = embeddings.embed_sentences([candidates[i].text for i in missing])
        for i, vector in zip(missing, embedded, strict=True):
            rows[i] = np.asarray(vector, dtype=np.float32)
    return np.array(rows, dtype=np.float32)


def introduces_list(passage: Passage, sentence_index: int) -> bool:
    """A sentence ending in ":" followed by list items ("... including by:" then bullets)."""
    texts = passage.sentence_texts()
    if not texts[sentence_index].rstrip().endswith(":"):
        return False
    following = sentence_index + 1
    return following < len(texts) and bool(LIST_MARKER.match(texts[following]))
