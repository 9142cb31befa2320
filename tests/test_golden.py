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
        ([item("q1", evidence=["  "])], "evidence[0] is empty"),
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
    from assistant.evaluation.session import corpus_documents

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


# --- wrong types in a golden file (issue 10) -------------------------------------------

GOOD_LINE = {
    "id": "q1",
    "type": "factoid",
    "question": "What did Malaysia ban?",
    "reference": "Unprocessed rare earth exports.",
    "evidence": ["banned the export of unprocessed rare earth ores"],
    "sources": ["corpus/a.md"],
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"evidence": "banned the export"}, "evidence must be a list of strings, not a string"),
        ({"evidence": ["banned", 3]}, "evidence[1] must be a string, not a number"),
        ({"sources": "corpus/a.md"}, "sources must be a list of strings, not a string"),
        ({"history": "earlier turn"}, "history must be a list of"),
        ({"history": [{"role": "user"}]}, "history[0] must be"),
        ({"history": [{"role": "system", "content": "x"}]}, "history[0] must be"),
        ({"history": [["user", "hi"]]}, "history[0] must be"),
        ({"follows": ["q0"]}, "follows must be a string or null, not a list"),
        ({"question": None}, "question must be a string, not null"),
        ({"reference": 42}, "reference must be a string, not a number"),
        ({"type": ["factoid"]}, "type must be a string, not a list"),
        ({"evidence": None}, "evidence must be a list of strings, not null"),
    ],
)
def test_wrong_types_are_errors_naming_the_line_and_id(tmp_path: Path, changes: dict, expected: str) -> None:
    path = tmp_path / "golden.jsonl"
    bad = {**GOOD_LINE, "id": "q2", **changes}
    path.write_text(json.dumps(GOOD_LINE) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(GoldenSetError) as info:
        load_golden(path)
    message = str(info.value)
    assert "line 2 (q2)" in message and expected in message, message
    assert "line 1" not in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('["q2", "factoid"]', "line 2: a golden item must be a JSON object, not a list"),
        ('{"id": "q2", "type": "factoid", "question": "?"}', "line 2 (q2): missing evidence, reference"),
        (
            '{"id": 7, "type": "factoid", "question": "?", "reference": "", "evidence": []}',
            "line 2 (7): id must be a string",
        ),
    ],
)
def test_lines_of_the_wrong_shape_are_errors(tmp_path: Path, line: str, expected: str) -> None:
    path = tmp_path / "golden.jsonl"
    path.write_text(json.dumps(GOOD_LINE) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(GoldenSetError) as info:
        load_golden(path)
    assert expected in str(info.value), str(info.value)


def test_every_bad_line_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "golden.jsonl"
    lines = [GOOD_LINE, {**GOOD_LINE, "id": "q2", "evidence": "x"}, {**GOOD_LINE, "id": "q3", "sources": "y"}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    with pytest.raises(GoldenSetError) as info:
        load_golden(path)
    assert "line 2 (q2)" in str(info.value) and "line 3 (q3)" in str(info.value)


def test_check_golden_reports_wrong_types_in_items_built_in_code() -> None:
    problems = check_golden([item("q1", evidence="banned the export")], DOCUMENTS)  # type: ignore[arg-type]
    assert any("q1: evidence must be a list of strings, not a string" in p for p in problems), problems


def test_eval_check_refuses_evidence_given_as_a_string(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    golden = tmp_path / "golden.jsonl"
    line = {**GOOD_LINE, "evidence": "critical minerals", "sources": []}
    golden.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assistant = Path(sys.executable).parent / "assistant"
    result = subprocess.run(
        [str(assistant), "eval", "--check", "--set", str(golden)],
        capture_output=True,
        text=True,
        cwd=ROOT,  # corpus/ is where the default settings look for it
        env={**os.environ, "COLUMNS": "400"},
        timeout=240,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "line 1 (q1): evidence must be a list of strings, not a string" in " ".join(result.stderr.split())
    assert "no problems found" not in result.stdout
