"""Text helpers whose data is copied from libraries, checked against them."""

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
