"""Text helpers whose data is copied from libraries, checked against them."""

from __future__ import annotations

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from assistant.text import stop_words


def test_the_stop_words_are_scikit_learns_list_plus_contraction_remnants() -> None:
    # The copy (assistant/models/english_stop_words.txt) must not drift from the library:
    # every saved index's terms depend on it.
    words = stop_words()
    assert words >= ENGLISH_STOP_WORDS
    assert words - ENGLISH_STOP_WORDS == {
        "does", "did", "doing", "s", "us", "u", "t", "isn", "don", "doesn", "didn",
        "can", "ll", "re", "ve", "d", "m", "won",
    } - ENGLISH_STOP_WORDS  # fmt: skip
