"""The question parse: which question word leads, what kind of answer it wants, and
the noun it asks about. Real spaCy pipeline (the bundled en_core_web_sm)."""

from __future__ import annotations

import pytest

from assistant.question_parse import parse_question
from assistant.questions import QuestionType, type_match


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did Malaysia ban rare earth exports?", QuestionType.WHEN),
        ("Why does EXIM think American factories are exposed when it comes to minerals?", QuestionType.WHY),
        ("When the agencies met at the ministerial, what did they offer?", None),
        ("How does the CEO rate the White House's record?", QuestionType.OTHER),
        ("How many countries sent delegations?", QuestionType.QUANTITY),
        ("What percentage of customers can be in China?", QuestionType.QUANTITY),
        ("What year did Malaysia join the GATT?", QuestionType.WHEN),
        ("Which company runs the plant?", QuestionType.WHO),
        ("What are Malaysia's silica sand reserves worth?", QuestionType.QUANTITY),
        ("Which minerals has Malaysia flagged as strategic?", QuestionType.LIST),
        ("Does Malaysia ban bauxite exports?", None),
        # Charges of trade and finance are amounts, though "tariff" is not a "how much".
        ("What tariff will Malaysian goods face coming into the U.S.?", QuestionType.QUANTITY),
        ("What withholding tax applies when a licensee pays royalties?", QuestionType.QUANTITY),
        ("What's Malaysia's typical import duty on industrial goods?", QuestionType.QUANTITY),
    ],
)
def test_the_main_question_word_decides_the_kind(question: str, kind: QuestionType | None) -> None:
    assert parse_question(question).kind == kind


def test_the_focus_is_the_noun_asked_about_with_its_modifiers() -> None:
    assert parse_question("How many employees does Lynas have?").focus == ["employees"]
    assert parse_question("What royalty rate does Malaysia charge?").focus == ["royalty", "rate"]
    assert parse_question("What's the average tariff on agricultural imports?").focus == [
        "average",
        "tariff",
        "agricultural",
        "imports",
    ]
    # A vague noun gives way to what it is of; a question with no asked-about noun has none.
    assert parse_question("What kinds of China ties would disqualify a project?").focus[-1] == "ties"
    assert parse_question("Why did Malaysia ban exports?").focus == []
    assert parse_question("What does DFC say about the deal?").focus == []


def test_the_noun_right_after_which_is_the_focus_when_the_parse_misses_it() -> None:
    # The small model reads "Which" here as the verb's object, not the noun's determiner.
    parsed = parse_question("Which Malaysian ministry signed the agreement with the US?")
    assert parsed.focus == ["malaysian", "ministry"]
    assert parsed.kind == QuestionType.WHO
    # "What" followed by a verb still has no focus.
    assert parse_question("What does DFC say about the deal?").focus == []


def test_how_much_finds_its_noun_through_a_copula_or_a_comparative() -> None:
    # "How much are the port charges": "much" is the copula's complement, the noun its subject.
    assert parse_question("How much are the port charges in Penang?").focus[:2] == ["port", "charges"]
    # "how much more copper": "much" modifies "more", which modifies the noun.
    assert parse_question("How much more copper will Gecamines ship?").focus == ["copper"]
    # "how much is going into the plant" asks for an amount, with no noun to name it.
    assert parse_question("How much is going into the new plant?").focus == []


def test_an_apostrophe_left_out_of_whats_does_not_hide_the_focus() -> None:
    assert parse_question("whats the minimum wage in Malaysia?").focus == ["minimum", "wage"]
    assert (
        parse_question("whats the minimum wage in Malaysia?").kind
        == parse_question("what's the minimum wage in Malaysia?").kind
    )


@pytest.mark.parametrize(
    ("sentence", "names"),
    [
        ("BNM licenses and regulates commercial banks.", True),  # an organisation's initials
        ("The plant is run by Lynas Rare Earths in Pahang.", True),
        ("Secretary Rubio hosted the ministerial.", True),
        ("The US and the EU signed it in 2024.", False),  # two letters: places, not names
        ("the bank licenses and regulates commercial banks.", False),
    ],
)
def test_a_who_question_is_met_by_a_name_or_an_organisations_initials(sentence: str, names: bool) -> None:
    assert type_match(QuestionType.WHO, sentence) == float(names)
