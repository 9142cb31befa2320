"""Text helpers: data copied from libraries, checked against them, and the quote marking
the chat and the evaluation report share."""

from __future__ import annotations

from pathlib import Path

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from assistant import text


def test_the_stop_words_are_scikit_learns_list_plus_contraction_remnants() -> None:
    # The copy must not drift from the library: every saved index's terms depend on it.
    listed = (Path(text.__file__).parent / "models" / "english_stop_words.txt").read_text(encoding="utf-8")
    copied = {line for line in listed.splitlines() if line and not line.startswith("#")}
    assert copied == ENGLISH_STOP_WORDS
    assert text.stop_words() >= ENGLISH_STOP_WORDS | {"does", "can", "t", "us"}


def test_a_quote_marks_the_used_sentences_and_escapes_the_rest() -> None:
    quote = "Tin rose <12%>. Rare earths & tin stayed flat."
    citation = {"quote": quote, "start": 1000, "highlights": [[1016, 1046], ["x", 2], [1000, 1015]]}
    spans = text.quote_spans(citation)
    assert spans == [(16, 46), (0, 15)]  # document offsets made quote offsets; the bad span skipped
    assert text.marked_html(quote, spans) == (
        "<mark>Tin rose &lt;12%&gt;.</mark> <mark>Rare earths &amp; tin stayed flat.</mark>"
    )


def test_overlapping_or_overlong_spans_are_clipped_not_repeated() -> None:
    assert (
        text.marked_html("abcdef", [(0, 4), (2, 5), (5, 99)])
        == "<mark>abcd</mark><mark>e</mark><mark>f</mark>"
    )
    assert text.marked_html("abc", []) == "abc"


def test_words_typed_without_accents_are_the_documents_words() -> None:
    assert text.terms("Gécamines and Côte d’Ivoire") == text.terms("Gecamines and Cote d’Ivoire")
    assert text.words("Société Générale: 6.1 percent") == ["societe", "generale", "6.1", "percent"]
    assert text.fold("plain ASCII stays as it is") == "plain ASCII stays as it is"
