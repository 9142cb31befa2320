"""The answerer interface and the refusal every answerer gives the same way."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from assistant.types import Answer, Passage

if TYPE_CHECKING:
    from assistant.answering.answerability import Assessment

REFUSAL_TEXT = "The documents do not answer this question."
# Joins a refusal's reason and the topics the documents do cover; surfaces that list the
# topics themselves show only the reason (`refusal_reason`).
TOPICS_INTRO = " The closest topics they cover: "


class Answerer(Protocol):
    """Turns an assessment of the retrieved passages (`assistant.answering.answerability`) into an
    `Answer` whose sentences cite them. The assessment has decided whether to answer;
    an answerer writes the answer, or the refusal, it calls for."""

    name: str

    def answer(self, assessment: Assessment) -> Answer:
        """The complete answer."""
        ...

    def stream(self, assessment: Assessment) -> Iterator[str | Answer]:
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


def quoted_names(names: list[str]) -> str:
    """“A”, “B” or “C”: names for a sentence saying what the documents lack."""
    quoted = [f"“{name}”" for name in dict.fromkeys(names)]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def refusal_reason(answer_text: str) -> str:
    """The part of a refusal that says why ("The documents do not mention “Peru” ...")."""
    return answer_text.split(TOPICS_INTRO, 1)[0] or REFUSAL_TEXT


def refusal(
    question: str,
    standalone_question: str,
    passages: list[Passage],
    missing: list[str] | None = None,
    blank_field: tuple[str, str] | None = None,
) -> Answer:
    """A plain refusal that cites nothing, says what the documents lack when that is
    known ("The documents do not mention Chile.", or a field a page leaves blank), and
    names what they do cover."""
    topics = closest_topics(passages)
    text = REFUSAL_TEXT
    if missing:
        text = f"The documents do not mention {quoted_names(missing)}, so they do not answer this question."
    elif blank_field:
        label, title = blank_field
        text = f"“{title}” leaves its “{label}” blank, so the documents do not answer this question."
    if topics:
        text += TOPICS_INTRO + "; ".join(f"“{t}”" for t in topics) + "."
    return Answer(
        answer=text,
        refused=True,
        citations=[],
        question=question,
        standalone_question=standalone_question,
        closest_topics=topics,
    )
