"""The answerer interface and the refusal every answerer gives the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol

from assistant.citations import Answer
from assistant.retrieval import Passage

REFUSAL_TEXT = "The documents do not answer this question."


class Answerer(Protocol):
    """Turns retrieved passages into an `Answer` whose sentences cite them."""

    name: str

    def answer(self, question: str, standalone_question: str, passages: list[Passage]) -> Answer:
        """Answer `question` (already condensed into `standalone_question`) from `passages`."""
        ...

    def stream(
        self, question: str, standalone_question: str, passages: list[Passage]
    ) -> Iterator[str | Answer]:
        """Text pieces as they are produced, then the complete `Answer`."""
        ...


def stream_words(answer: Answer) -> Iterator[str | Answer]:
    """An answer that exists whole, sent word by word, then itself."""
    yield from re.findall(r"\S+\s*|\s+", answer.answer)
    yield answer


def closest_topics(passages: list[Passage], limit: int = 3) -> list[str]:
    """Titles of the documents nearest to the question, distinct, best first."""
    titles: list[str] = []
    for passage in passages:
        if passage.title not in titles:
            titles.append(passage.title)
    return titles[:limit]


def refusal(question: str, standalone_question: str, passages: list[Passage], reason: str = "") -> Answer:
    """A plain refusal that names what the documents do cover and cites nothing."""
    topics = closest_topics(passages)
    text = REFUSAL_TEXT
    if topics:
        text += " The closest topics they cover: " + "; ".join(f"“{t}”" for t in topics) + "."
    return Answer(
        answer=text,
        refused=True,
        citations=[],
        question=question,
        standalone_question=standalone_question,
        closest_topics=topics,
        notes=[reason] if reason else [],
        passages=passages,
    )
