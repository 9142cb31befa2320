"""Notes that say which day a quoted "today" is, for "when" questions (`answering/dates.py`)."""

from __future__ import annotations

from assistant.answering.dates import dated_by_its_document, relative_date_notes
from assistant.questions import QuestionType
from assistant.types import AnswerSentence, Citation


def citation(n: int, date: str) -> Citation:
    return Citation(
        n=n, title="t", source="s", publisher="p", date=date, page=None, quote="q", start=0, end=1, score=0.0
    )


def test_a_relative_date_is_read_against_the_documents_date_or_said_to_be_unknown() -> None:
    sentences = [
        AnswerSentence("The Board of Directors today approved a new financing tool.", [1]),
        AnswerSentence("The ministerial took place last week in Washington.", [2]),
        AnswerSentence("Mr. Coleman spoke today.", [3]),
        AnswerSentence("The resolution was signed on July 16, 2018.", [3]),  # [3] dates itself
    ]
    citations = [citation(1, "2026-02-04"), citation(2, "unknown"), citation(3, "")]
    assert relative_date_notes(QuestionType.WHEN, sentences, citations) == [
        "In [1], “today” is the document's date: 2026-02-04.",
        "[2] says “last week” but its document is not dated, so the documents do not say which day that was.",
    ]
    # Only a question asking when needs the day.
    assert relative_date_notes(QuestionType.OTHER, sentences, citations) == []


def test_a_when_answer_from_a_press_release_says_which_day_today_was(corpus_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = corpus_assistant.ask("What date was the State Department's critical minerals ministerial?")
    assert "today" in answer.answer
    number = next(s.citations[0] for s in answer.sentences if "today" in s.text)
    assert f"In [{number}], “today” is the document's date: 2026-02-04." in answer.notes


def test_an_llm_answer_that_says_today_gets_the_same_note(corpus_assistant) -> None:  # type: ignore[no-untyped-def]
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from assistant.answering.llm import LLMAnswerer
    from assistant.citations import SupportChecker
    from assistant.prompts import load_prompts
    from tests.conftest import ROOT

    question = "What date was the State Department's critical minerals ministerial?"
    passages = corpus_assistant.retriever.retrieve(question)
    dfc = next(n for n, p in enumerate(passages, start=1) if "Department of State today" in p.text)
    reply = (
        "Conor Coleman participated in the Critical Minerals Ministerial hosted by U.S. Secretary "
        f"of State Marco Rubio at the U.S. Department of State today [{dfc}]."
    )
    answerer = LLMAnswerer(
        FakeListChatModel(responses=[reply]),
        load_prompts(ROOT / "prompts"),
        SupportChecker(corpus_assistant.corpus.embeddings),
    )
    assessment = corpus_assistant.make_answerability_step().assess(question, question, passages)
    answer = answerer.answer(assessment)
    assert answer.answerer != "extractive (LLM fallback)" and "today" in answer.answer
    (citation,) = answer.citations
    assert f"In [{citation.n}], “today” is the document's date: 2026-02-04." in answer.notes


def test_today_in_a_dated_document_gives_a_date() -> None:
    assert dated_by_its_document("The Board of Directors today approved the tool.", "2026-02-04")
    assert not dated_by_its_document("The Board of Directors today approved the tool.", "")
    assert not dated_by_its_document("The Board of Directors approved the tool.", "2026-02-04")
