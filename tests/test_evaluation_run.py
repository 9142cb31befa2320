"""The evaluation end to end on the real assistant: report contents, comparison, the gate,
feedback export, and `assistant eval` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.evaluation import check_golden, load_golden, run
from assistant.evaluation.compare import compare_reports
from assistant.evaluation.feedback import export_candidates
from assistant.evaluation.gate import check, load_thresholds, within
from assistant.evaluation.report import build_report, load_report, write_report
from assistant.service import Assistant
from assistant.store import Feedback, add_feedback
from tests.conftest import ROOT

GOLDEN_IDS = {
    "q001",
    "q063",
    "q011",
    "q012",
    "q019",
    "q055",
}  # factoid, out of scope, why + follow-up, number, multi-doc


@pytest.fixture(scope="module")
def items():
    chosen = [item for item in load_golden(ROOT / "evals" / "golden.jsonl") if item.id in GOLDEN_IDS]
    assert len(chosen) == len(GOLDEN_IDS)
    return chosen


@pytest.fixture(scope="module")
def report(corpus_assistant: Assistant, items) -> dict:
    thresholds = load_thresholds(ROOT / "evals" / "thresholds.toml", "golden")
    return build_report(corpus_assistant, run(corpus_assistant, items), Path("golden.jsonl"), thresholds)


def test_report_has_every_metric_overall_and_by_type(report: dict) -> None:
    metrics = report["metrics"]
    for name in (
        "retrieval.recall@1",
        "retrieval.recall@3",
        "retrieval.recall@5",
        "retrieval.recall@10",
        "retrieval.mrr",
        "retrieval.ndcg@10",
        "answers.evidence_in_answer",
        "answers.token_f1",
        "answers.semantic_similarity",
        "citations.precision",
        "citations.recall",
        "refusals.precision",
        "refusals.recall",
        "refusals.false_refusal_rate",
        "refusals.auc",
        "latency.condense.p50_ms",
        "latency.retrieve.p95_ms",
        "latency.answer.p50_ms",
        "latency.total.p95_ms",
    ):
        assert name in metrics, name
    assert metrics["questions"] == len(GOLDEN_IDS) and metrics["out_of_scope"] == 1
    assert set(report["by_type"]) == {
        "factoid",
        "out_of_scope",
        "why",
        "follow_up",
        "number",
        "multi_doc",
    }
    assert report["by_type"]["out_of_scope"]["refusals.recall"] == 1.0
    # The extractive answerer quotes its passages: every sentence is supported.
    assert metrics["citations.recall"] == 1.0 and metrics["citations.precision"] == 1.0
    assert set(report["definitions"]) >= {"retrieval.mrr", "citations.recall", "support"}


def test_follow_ups_are_asked_with_their_history(report: dict) -> None:
    follow_up = next(q for q in report["questions"] if q["id"] == "q012")
    assert follow_up["standalone_question"] != follow_up["question"]
    previous = next(q for q in report["questions"] if q["id"] == follow_up["follows"])
    assert previous["question"] in follow_up["standalone_question"]
    assert not follow_up["refused"] and follow_up["citations"]


def test_report_files_are_written_and_say_what_they_claim(report: dict, tmp_path: Path) -> None:
    html_path = write_report(report, tmp_path / "run")
    assert load_report(tmp_path / "run") == json.loads((tmp_path / "run" / "report.json").read_text())
    page = html_path.read_text()
    assert "retrieval.mrr" in page and "q055" in page and "data:image/png;base64" in page
    assert ("PASS" if report["gate"]["passed"] else "FAIL") in page


def test_compare_finds_the_questions_a_change_made_worse(
    report: dict, corpus_settings: Settings, items
) -> None:
    # A change that breaks answering: a refusal threshold nothing can reach.
    broken = Assistant(corpus_settings.model_copy(update={"refusal_threshold": 0.99}))
    worse_report = build_report(broken, run(broken, items), Path("golden.jsonl"))
    comparison = compare_reports(report, worse_report)
    worse = {entry["id"]: entry for entry in comparison["worse"]}
    assert {"q001", "q019"} <= set(worse)
    assert "answered" in worse["q001"]["lost"] and worse["q001"]["new_refused"]
    assert worse["q001"]["old_answer"] != worse["q001"]["new_answer"]
    assert "q063" not in worse  # the out-of-scope question is still refused
    delta = next(d for d in comparison["deltas"] if d["metric"] == "refusals.false_refusal_rate")
    assert delta["direction"] == "worse"
    assert compare_reports(worse_report, report)["better"]


def test_gate_fails_when_a_threshold_is_raised_above_the_measured_value(report: dict) -> None:
    measured = report["metrics"]["retrieval.mrr"]
    assert check(report["metrics"], {"minimum": {"retrieval.mrr": measured}, "maximum": {}}) == []
    failed = check(report["metrics"], {"minimum": {"retrieval.mrr": measured + 0.01}, "maximum": {}})
    assert failed == [{"metric": "retrieval.mrr", "value": measured, "minimum": measured + 0.01}]
    too_high = check(report["metrics"], {"minimum": {}, "maximum": {"refusals.false_refusal_rate": -0.01}})
    assert too_high[0]["metric"] == "refusals.false_refusal_rate"


@pytest.mark.parametrize(
    ("value", "passes"),
    [(0.5, True), (0.4, True), (0.8, True), (0.39, False), (0.81, False), (None, False)]
    + [(float("nan"), False), (True, False), ("0.5", False), ({}, False)],
)
def test_a_value_passes_only_as_a_number_within_both_bounds(value: object, passes: bool) -> None:
    """The gate, the terminal and the HTML report share `within`: a NaN used to pass the
    gate (every comparison with it is false) while the report marked it failed."""
    assert within(value, minimum=0.4, maximum=0.8) is passes
    bounds = {"minimum": {"m": 0.4}, "maximum": {"m": 0.8}}
    assert (check({"m": value}, bounds) == []) is passes


def test_feedback_export_round_trips_into_the_golden_format(settings: Settings, tmp_path: Path) -> None:
    add_feedback(
        settings,
        Feedback("down", "Who runs Lynas?", "A wrong answer [1]", [], [{"n": 1}], comment="wrong person"),
    )
    add_feedback(settings, Feedback("up", "Fine question", "Fine answer", [], []))
    history = [
        {"role": "user", "content": "Tell me about Lynas"},
        {"role": "assistant", "content": "..."},
    ]
    add_feedback(settings, Feedback("down", "And where?", "Nowhere", history, []))
    out = tmp_path / "candidates.jsonl"
    assert export_candidates(settings, out) == 2
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0]["question"] == "And where?" and lines[0]["history"] == history
    assert lines[1]["bad_answer"] == "A wrong answer [1]" and lines[1]["comment"] == "wrong person"
    candidates = load_golden(out)
    problems = check_golden(candidates, {"corpus/x.md": "Lynas runs a refinery in Pahang."})
    assert any("unknown type" in p for p in problems) and any("evidence" in p for p in problems)
    for candidate in candidates:  # what a staff member fills in
        candidate.type, candidate.reference = "factoid", "Lynas, in Pahang."
        candidate.evidence, candidate.sources = ["runs a refinery in Pahang"], ["corpus/x.md"]
    assert check_golden(candidates, {"corpus/x.md": "Lynas runs a refinery in Pahang."}) == []


def test_eval_command_writes_reports_and_fails_the_gate(tmp_path: Path) -> None:
    """One real `assistant ingest` + `assistant eval` on a two-document corpus."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (
        "trade-gov_ccg_malaysia-import-tariffs.md",
        "trade-gov_malaysia-critical-minerals.md",
    ):
        (corpus / name).write_bytes((ROOT / "corpus" / name).read_bytes())
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        "\n".join(
            json.dumps(line)
            for line in [
                {
                    "id": "t1",
                    "type": "number",
                    "question": "What is Malaysia's average tariff on industrial goods?",
                    "reference": "6.1 percent",
                    "evidence": ["simple average applied tariff of 6.1 percent"],
                    "sources": ["corpus/trade-gov_ccg_malaysia-import-tariffs.md"],
                },
                {
                    "id": "t2",
                    "type": "out_of_scope",
                    "question": "Who won the 2022 FIFA World Cup?",
                    "reference": "The documents do not cover this.",
                    "evidence": [],
                },
            ]
        )
        + "\n"
    )
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text('[minimum]\n"retrieval.recall@5" = 1.0\n"answers.token_f1" = 1.01\n')
    env = {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_CORPUS_DIR": str(corpus),
        "ASSISTANT_THRESHOLDS_FILE": str(thresholds),
    }
    command = [str(Path(sys.executable).with_name("assistant"))]
    subprocess.run([*command, "ingest"], env=env, cwd=tmp_path, check=True, capture_output=True)
    result = subprocess.run(
        [*command, "eval", "--set", str(golden), "--out", str(tmp_path / "report")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "answers.token_f1" in result.stderr and "below the minimum 1.01" in result.stderr
    assert "retrieval.recall@5" not in result.stderr  # that one passed
    report = load_report(tmp_path / "report")
    assert report["metrics"]["retrieval.recall@5"] == 1.0 and report["metrics"]["refusals.recall"] == 1.0
    assert (tmp_path / "report" / "report.html").exists()
