"""Which day "today" is: a note for answers to "when" questions that quote a relative date.

Press releases say "The Board of Directors *today* approved ..." and carry their date
outside the sentence (in the document's metadata, or nowhere). Quoted verbatim, such a
sentence does not answer "When did the board approve it?". The note says what "today"
means when the document is dated, and that the documents do not say when it is not, so
the reader neither guesses nor trusts a date that is not there.
"""

from __future__ import annotations

import re

from assistant.questions import QuestionType, type_match
from assistant.types import AnswerSentence, Citation

_RELATIVE = re.compile(
    r"\b(today|yesterday|tomorrow|this (?:week|month|year)|last (?:week|month|year))\b", re.IGNORECASE
)


def dated_by_its_document(sentence: str, document_date: str) -> bool:
    """Whether `sentence` gives its date as "today" (or the like) in a document whose date
    is known: with the note that says which day that is, the answer has its date."""
    return bool(_RELATIVE.search(sentence)) and _is_dated(document_date)


def _is_dated(document_date: str) -> bool:
    """Whether a document's date says when (a year or a month; not "" or "unknown")."""
    return bool(type_match(QuestionType.WHEN, document_date or ""))


def relative_date_notes(
    kind: QuestionType, sentences: list[AnswerSentence], citations: list[Citation]
) -> list[str]:
    """For a "when" question, one note per cited document whose quoted sentences give a
    relative date and no date of their own."""
    if kind is not QuestionType.WHEN:
        return []
    notes: list[str] = []
    for citation in citations:
        number = citation.n
        quoted = [s.text for s in sentences if number in s.citations]
        relative = next((m.group(0) for text in quoted if (m := _RELATIVE.search(text))), None)
        if relative is None or any(type_match(QuestionType.WHEN, text) for text in quoted):
            continue
        if _is_dated(citation.date):
            notes.append(f"In [{number}], “{relative}” is the document's date: {citation.date}.")
        else:
            notes.append(
                f"[{number}] says “{relative}” but its document is not dated, so the documents "
                "do not say which day that was."
            )
    return notes
