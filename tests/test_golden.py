"""The golden-set validator rejects each kind of bad set, and accepts the real one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.evaluation import (
    GoldenItem,
    GoldenSetError,
    append_golden,
    check_golden,
    load_golden,
    next_id,
)
from tests.conftest import ROOT

DOCUMENTS = {"corpus/a.md": "Malaysia banned the export of unprocessed rare earth ores in January 2024."}


def item(id: str, **fields) -> GoldenItem:
    defaults = {
        "type": "factoid",
        "question": "What did Malaysia ban?",
        "reference": "Unprocessed rare earth exports.",
        "evidence": ["banned the export of unprocessed rare earth ores"],
        "sources": ["corpus/a.md"],
    }
    return GoldenItem(id=id, **{**defaults, **fields})


def test_a_good_set_has_no_problems() -> None:
    items = [
        item("q1"),
        item("q2", type="follow_up", follows="q1", question="When?"),
        item("q3", type="out_of_scope", evidence=[], sources=[]),
    ]
    assert check_golden(items, DOCUMENTS) == []


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([item("q1"), item("q1")], "id repeats"),
        (
            [item("q1", evidence=["banned the import of cheese"])],
            "evidence not found in corpus/a.md",
        ),
        ([item("q1", sources=["corpus/missing.md"])], "not in the corpus"),
        ([item("q1", sources=[], evidence=["quote found nowhere"])], "not found in any document"),
        ([item("q1", type="follow_up", follows="q9")], "not an earlier question"),
        ([item("q2", type="follow_up", follows="q3"), item("q3")], "not an earlier question"),
        ([item("q1", evidence=[], sources=[])], "needs at least one evidence quote"),
        ([item("q1", type="trivia")], "unknown type"),
        ([item("q1", question="  ")], "empty question"),
    ],
)
def test_each_kind_of_bad_set_is_rejected(items: list[GoldenItem], expected: str) -> None:
    problems = check_golden(items, DOCUMENTS)
    assert any(expected in problem for problem in problems), problems


def test_lines_that_are_not_items_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "golden.jsonl"
    path.write_text(
        '{"id": "q1", "type": "factoid", "question": "?", "reference": "", "evidence": []}\nnot json\n'
    )
    with pytest.raises(GoldenSetError, match="line 2"):
        load_golden(path)


def test_append_and_next_id_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "golden.jsonl"
    append_golden(path, item("q007"))
    items = load_golden(path)
    assert next_id(items) == "q008"
    append_golden(path, item(next_id(items), history=[{"role": "user", "content": "earlier"}]))
    loaded = load_golden(path)
    assert [i.id for i in loaded] == ["q007", "q008"] and loaded[1].history[0]["content"] == "earlier"
    assert json.loads(path.read_text().splitlines()[0])["evidence"]


def test_the_real_golden_set_passes_the_validator() -> None:
    from assistant.cli_eval import corpus_documents

    items = load_golden(ROOT / "evals" / "golden.jsonl")
    assert len(items) >= 60
    assert {i.type for i in items} >= {
        "factoid",
        "number",
        "date",
        "list",
        "why",
        "multi_doc",
        "out_of_scope",
        "follow_up",
    }
    assert check_golden(items, corpus_documents(ROOT / "corpus")) == []
