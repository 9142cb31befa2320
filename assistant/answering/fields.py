"""Field lines ("Last published date: 2021-11-06", "Author: ...", "Source: ...") and
whether a question asks for one.

A field is a short label, a colon and a value. The chunker takes a short line without a
full stop for a heading, and a heading never stands in an answer; but users ask for
these values ("When was ITA's trade financing chapter last updated?", "Where does the
SCRI explainer get its data from?"), and such a line is the only place that says. So a
field line whose label the question asks about is a candidate answer like any sentence
(`field_asked`, a feature of the fitted sentence scorer), and only then: a byline or a
"Source:" line in an answer to another question would be noise.
"""

from __future__ import annotations

import re

from assistant.text import terms

# "Last published date: 2021-11-06": up to three words of label, then a value ("Note
# that tariffs vary: ..." is a sentence).
_FIELD = re.compile(r"^\W*([A-Z][A-Za-z]*(?:[ -][A-Za-z]+){0,2})\s*:\s+\S")
_BLANK_FIELD = re.compile(r"^\W*([A-Z][A-Za-z]*(?:[ -][A-Za-z]+){0,2})\s*:\s*$")

# Words a question uses for a label it does not name: asking when a page was "updated"
# or how "fresh" it is asks for its published date; "wrote" asks for its author; "data"
# asks where its figures come from. Stemmed, as `terms` writes them.
_LABEL_CUES: dict[str, frozenset[str]] = {
    "publish": frozenset({"publish", "updat", "fresh", "revis", "releas", "post"}),
    "updat": frozenset({"publish", "updat", "fresh", "revis"}),
    "author": frozenset({"author", "wrote", "written", "writer", "bylin"}),
    "sourc": frozenset({"sourc", "data", "figur", "statist"}),
}


def field_label(text: str) -> list[str] | None:
    """The stemmed words of the label when `text` is a field line, else None."""
    match = _FIELD.match(text)
    if not match:
        return None
    return terms(match.group(1)) or None


def field_asked(text: str, question_terms: frozenset[str]) -> bool:
    """Whether `text` is a field line whose label the question asks for."""
    label = field_label(text)
    return label is not None and _asks_for(label, question_terms)


def blank_field_asked(text: str, question_terms: frozenset[str]) -> str:
    """The label (as written) when `text` is one the question asks for with nothing after
    its colon ("Last published date:" on a page that never filled it in: the page has the
    field and does not say its value), else ""."""
    match = _BLANK_FIELD.match(text)
    label = terms(match.group(1)) if match else []
    return match.group(1) if match and label and _asks_for(label, question_terms) else ""


def _asks_for(label: list[str], question_terms: frozenset[str]) -> bool:
    """By the words for the label when it is one of `_LABEL_CUES` ("date" alone does not
    ask for a page's published date: "What date was the ministerial?"), else by one of
    the label's own words ("Industries:" for "which industry")."""
    cues = [_LABEL_CUES[word] for word in label if word in _LABEL_CUES]
    if cues:
        return any(question_terms & cue for cue in cues)
    return bool(question_terms & set(label))
