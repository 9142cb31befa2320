"""The checks that tie every sentence of an answer to its sources.

The `Answer` (in `assistant.types`) is the contract every surface renders: answer text
with inline `[n]` markers, the numbered citations, `refused`, and timings. A citation's
`quote` is the passage exactly as it stands in its document at `start:end`, so it can
be checked; `SupportChecker` checks, offline, that each sentence is carried by them.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\s*\[(\d+)\]")


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
