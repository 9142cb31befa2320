"""The conversational chain: follow-ups are condensed with the history, new topics are not."""

from __future__ import annotations

import pytest

from assistant.chain import condense_by_rules
from assistant.service import Assistant

FIRST = "Can I export raw rare earth concentrate from Malaysia?"
BAN = "banned the export of unprocessed rare earth ores"


@pytest.fixture(scope="module")
def first_answer(corpus_assistant: Assistant):
    answer = corpus_assistant.ask(FIRST)
    assert not answer.refused
    return answer


def test_follow_up_uses_the_previous_question(corpus_assistant: Assistant, first_answer) -> None:
    history = [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": first_answer.answer},
    ]
    answer = corpus_assistant.ask("When did it start?", history=history)
    assert answer.question == "When did it start?"
    assert answer.standalone_question != answer.question
    assert FIRST in answer.standalone_question
    retrieved = corpus_assistant.retriever.retrieve(answer.standalone_question)
    assert any(BAN in passage.text for passage in retrieved[:3])
    assert not answer.refused
    assert "January 2024" in answer.answer
    assert any(BAN in citation.quote for citation in answer.citations)


def test_follow_up_without_history_is_not_condensed(corpus_assistant: Assistant) -> None:
    answer = corpus_assistant.ask("When did it start?")
    assert answer.standalone_question == "When did it start?"


def test_self_contained_question_after_unrelated_history_is_not_condensed(
    corpus_assistant: Assistant, first_answer
) -> None:
    history = [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": first_answer.answer},
    ]
    question = "What is Malaysia's simple average applied tariff for industrial goods?"
    answer = corpus_assistant.ask(question, history=history)
    assert answer.standalone_question == question
    assert not answer.refused
    assert "6.1 percent" in answer.answer
    assert not any(BAN in citation.quote for citation in answer.citations)


def test_malformed_history_is_ignored(corpus_assistant: Assistant) -> None:
    history = [
        {"role": "system", "content": FIRST},  # not a user turn
        {"role": "user"},  # no content
        "not a message",
        {"role": "user", "content": 42},
    ]
    answer = corpus_assistant.ask("When did it start?", history=history)  # type: ignore[arg-type]
    assert answer.standalone_question == "When did it start?"


def test_timings_cover_every_step(corpus_assistant: Assistant) -> None:
    answer = corpus_assistant.ask("Who is the CEO of DFC?")
    assert set(answer.timings_ms) == {"condense", "retrieve", "answer", "total"}
    assert all(value >= 0 for value in answer.timings_ms.values())
    steps = answer.timings_ms["condense"] + answer.timings_ms["retrieve"] + answer.timings_ms["answer"]
    assert answer.timings_ms["retrieve"] > 0 and answer.timings_ms["answer"] > 0
    assert answer.timings_ms["total"] >= steps - 0.05  # rounding to 0.01 ms per step


def test_condense_by_rules() -> None:
    history = [
        {"role": "user", "content": FIRST},
        {"role": "assistant", "content": "Not since 2024."},
    ]
    assert condense_by_rules("When did it start?", history) == f"When did it start? {FIRST}"
    assert condense_by_rules("And the tariff?", history) == f"And the tariff? {FIRST}"
    standalone = "Which agencies sat on the DFC financing panel?"
    assert condense_by_rules(standalone, history) == standalone
    assert condense_by_rules("When did it start?", []) == "When did it start?"


def test_a_pronoun_for_the_questions_own_name_is_not_a_follow_up() -> None:
    """ "What is CTEP and when did it start?" asked after a question about AFTA was joined
    with it, and the answer opened with AFTA. A subject or possessive pronoun after a name
    of the question's own refers to that name; one as an object still leans on the
    conversation, as do plural ones and a leading "and"."""
    history = [
        {"role": "user", "content": "What's AFTA, in a nutshell?"},
        {"role": "assistant", "content": "The ASEAN Free Trade Area (AFTA) is a trade bloc. [1]"},
    ]
    for own in (
        "What is CTEP and when did it start?",
        "When did DFC issue its letter of interest for the Congo copper deal?",
    ):
        assert condense_by_rules(own, history) == own
    for leaning in (
        "What did EXIM say about it?",
        "How does Malaysia compare with them?",
        "And when did Malaysia join it?",
        "When did it start?",
    ):
        assert condense_by_rules(leaning, history) != leaning


def test_condense_by_rules_takes_the_referent_from_the_previous_answer() -> None:
    history = [
        {"role": "user", "content": "Which rare earths does Malaysia have?"},
        {"role": "assistant", "content": "Neodymium (Nd), Dysprosium (Dy) and Praseodymium (Pr). [1]"},
    ]
    condensed = condense_by_rules("why do those three matter so much?", history)
    assert condensed.startswith("why do those three matter so much? Which rare earths does Malaysia have?")
    for name in ("Neodymium", "Dysprosium", "Praseodymium"):
        assert name in condensed
    # A follow-up about the topic ("it") does not pull in the answer's names.
    assert "Neodymium" not in condense_by_rules("When did it start?", history)
    # A short question that names nothing of its own leans on the conversation too.
    assert condense_by_rules("anything more concrete?", history) != "anything more concrete?"
