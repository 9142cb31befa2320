"""The staff Quality tab's handlers: feedback rows, report summary, promoting feedback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.api import show_quality_tab
from assistant.config import Settings
from assistant.evaluation import load_golden
from assistant.quality_ui import feedback_rows, latest_report, promote_feedback, summary_html
from assistant.service import Assistant
from assistant.store import Feedback, add_feedback


@pytest.fixture
def staff(corpus_assistant: Assistant, tmp_path: Path) -> Assistant:
    """The shared index, with the golden set, reports and feedback in tmp_path."""
    corpus_settings = corpus_assistant.settings
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        json.dumps(
            {
                "id": "q009",
                "type": "factoid",
                "question": "?",
                "reference": "r",
                "evidence": ["Lynas"],
                "sources": [],
            }
        )
        + "\n"
    )
    return Assistant(
        corpus_settings.model_copy(update={"golden_set": golden, "reports_dir": tmp_path / "reports"})
    )


@pytest.fixture
def bad_answer(staff: Assistant) -> int:
    return add_feedback(
        staff.settings,
        Feedback(
            "down",
            "Since when is raw rare earth export banned?",
            "Wrong. [1]",
            [],
            [],
            comment="no date",
        ),
    )


def test_feedback_rows_newest_first_and_filtered(staff: Assistant, bad_answer: int) -> None:
    add_feedback(staff.settings, Feedback("up", "A good one", "Yes", [], []))
    rows = feedback_rows(staff, "all")
    assert rows[0][3] == "A good one" and rows[1][0] == bad_answer
    assert all(row[2] == "down" for row in feedback_rows(staff, "down"))


def test_promoting_needs_evidence_found_in_the_documents(staff: Assistant, bad_answer: int) -> None:
    message = promote_feedback(staff, bad_answer, "date", "January 2024", "banned the import of cheese", "")
    assert "Evidence not found" in message
    assert len(load_golden(staff.settings.golden_set)) == 1
    assert "Select a feedback row" in promote_feedback(staff, None, "date", "x", "y")
    assert "needs the right answer" in promote_feedback(staff, bad_answer, "date", "", "")


def test_promoting_appends_a_valid_golden_item(staff: Assistant, bad_answer: int) -> None:
    quote = "the federal government has banned the export of unprocessed rare earth ores"
    message = promote_feedback(staff, bad_answer, "date", "Since January 2024.", quote, "")
    assert "Added q010" in message
    added = load_golden(staff.settings.golden_set)[-1]
    assert added.id == "q010" and added.type == "date" and added.evidence == [quote]
    assert added.sources[0].endswith("trade-gov_malaysia-critical-minerals-cooperation.md")


def test_summary_without_and_with_a_report(staff: Assistant, tmp_path: Path) -> None:
    assert "No evaluation report yet" in summary_html(None)
    assert latest_report(staff.settings.reports_dir) is None
    report = {
        "created_at": "2026-11-27T10:00:00",
        "metrics": {"questions": 3, "retrieval.mrr": 0.5, "citations.recall": None},
        "thresholds": {"minimum": {"retrieval.mrr": 0.8}, "maximum": {}},
        "gate": {
            "passed": False,
            "failures": [{"metric": "retrieval.mrr", "value": 0.5, "minimum": 0.8}],
        },
    }
    (staff.settings.reports_dir / "run1").mkdir(parents=True)
    (staff.settings.reports_dir / "run1" / "report.json").write_text(json.dumps(report))
    found, where = latest_report(staff.settings.reports_dir)
    page = summary_html(found, where)
    assert "FAIL" in page and "mia-fail" in page and "≥ 0.8" in page and "–" in page


def test_quality_tab_only_on_loopback_unless_turned_on() -> None:
    assert show_quality_tab(Settings(), "127.0.0.1")
    assert not show_quality_tab(Settings(), "0.0.0.0")
    assert show_quality_tab(Settings(quality_tab="on"), "0.0.0.0")
    assert not show_quality_tab(Settings(quality_tab="off"), "127.0.0.1")
