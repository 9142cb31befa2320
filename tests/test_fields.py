"""Field lines ("Last published date: ...") answer the questions that ask for them, and
only those (`assistant.answering.fields`)."""

from __future__ import annotations

import pytest

from assistant.answering.fields import blank_field_asked, field_asked, field_label
from assistant.text import terms


def asked(line: str, question: str) -> bool:
    return field_asked(line, frozenset(terms(question)))


@pytest.mark.parametrize(
    ("line", "label"),
    [
        ("Last published date: 2021-11-06", ["publish", "date"]),
        ("Author: EXIM Supply Chain Resiliency Initiative Team.", ["author"]),
        ("• Source: Dept of Transportation", ["sourc"]),
        ("Malaysia has always been a trading nation.", None),
        ("Note that tariffs vary: some goods pay 30 percent.", None),  # a sentence, not a label
        ("https://www.trade.gov/malaysia", None),
    ],
)
def test_a_field_is_a_short_label_a_colon_and_a_value(line: str, label: list[str] | None) -> None:
    assert field_label(line) == label


def test_a_question_asks_for_a_field_by_its_label_or_a_word_for_it() -> None:
    published = "Last published date: 2021-11-06"
    assert asked(published, "When was the trade financing chapter last updated?")
    assert asked(published, "How fresh is the market challenges chapter?")
    assert asked(published, "What's its publish date?")
    assert asked("Author: EXIM SCRI Team.", "Who wrote the SCRI explainer?")
    assert asked("Source: International Energy Agency", "Where does the blog get its data from?")
    assert asked("Industries: Industrial Materials", "Which industry is the report filed under?")


def test_a_question_about_something_else_does_not_ask_for_a_field() -> None:
    """A byline or a source line in an answer to another question is noise; an event's
    date is not a page's published date."""
    assert not asked("Last published date: 2021-11-06", "What date was the ministerial?")
    assert not asked("Author: EXIM SCRI Team.", "Who runs EXIM?")
    assert not asked("Source: Dept of Transportation", "Where do Malaysia's rare earths come from?")
    assert not asked("Malaysia has always been a trading nation.", "When was it published?")


def test_a_blank_field_the_question_asks_for_is_found_by_its_label() -> None:
    asks = frozenset(terms("When was ITA's Malaysia import tariffs page last updated?"))
    assert blank_field_asked("Last published date:", asks) == "Last published date"
    assert blank_field_asked("Last published date: 2021-11-06", asks) == ""  # filled in
    assert blank_field_asked("Author:", asks) == ""  # not what was asked
    # A list's introduction ends in a colon too, but is no label.
    assert blank_field_asked("Projects may qualify for additional financing flexibilities:", asks) == ""
