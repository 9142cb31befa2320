"""The staff Quality tab: its handlers (feedback rows, report summary, promoting feedback)
and, against real servers, its evaluation runs under the access policy and its link to the
report it wrote, in Chromium too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.config import Settings
from assistant.evaluation import load_golden
from assistant.evaluation.metrics import DEFINITIONS
from assistant.keys import create_key
from assistant.server.api import create_app, show_quality_tab
from assistant.service import Assistant
from assistant.store import Feedback, add_feedback
from assistant.ui.quality_tab import feedback_rows, latest_report, promote_feedback, summary_html
from tests.conftest import CHROMIUM_ARGS, LiveServer, require_chromium, two_document_assistant

# A one-question golden set over the two documents of `two_document_assistant`.
EXPORT_BAN = {
    "id": "q001",
    "type": "date",
    "question": "Since when has Malaysia banned the export of unprocessed rare earth ores?",
    "reference": "Since January 2024.",
    "evidence": ["banned the export of unprocessed rare earth ores"],
    "sources": [],
}


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


def test_promoting_the_same_feedback_twice_adds_it_once(staff: Assistant, bad_answer: int) -> None:
    """A second click (or the same question from another row) says where the question
    already is and leaves the golden set alone; before, it appended q011 as a copy."""
    quote = "the federal government has banned the export of unprocessed rare earth ores"
    assert "Added q010" in promote_feedback(staff, bad_answer, "date", "Since January 2024.", quote)
    again = promote_feedback(staff, bad_answer, "date", "Since January 2024.", quote)
    assert "already in the golden set as q010" in again and "nothing added" in again
    same_question = add_feedback(
        staff.settings, Feedback("down", " since when is RAW rare earth export banned? ", "No.", [], [])
    )
    assert "already in the golden set as q010" in promote_feedback(
        staff, same_question, "out_of_scope", "", ""
    )
    as_follow_up = add_feedback(
        staff.settings,
        Feedback(
            "down",
            "Since when is raw rare earth export banned?",
            "No.",
            [{"role": "user", "content": "Tell me about Malaysia."}, {"role": "assistant", "content": "..."}],
            [],
        ),
    )
    assert "Added q011" in promote_feedback(staff, as_follow_up, "date", "Since January 2024.", quote)
    assert [item.id for item in load_golden(staff.settings.golden_set)] == ["q009", "q010", "q011"]


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
    assert where == staff.settings.reports_dir / "run1"
    page = summary_html(found)
    assert "FAIL" in page and "mia-fail" in page and "≥ 0.8" in page and "–" in page


def test_summary_explains_each_metric_and_the_verdict() -> None:
    """Each metric gets the report's one-sentence definition (shared ones once), the
    verdict says what PASS means, and the summary links to the full report."""
    metrics = {
        "questions": 2,
        "retrieval.recall@5": 1.0,
        "retrieval.mrr": 0.75,
        "citations.recall": 1.0,
        "refusals.false_refusal_rate": 0.0,
        "latency.total.p50_ms": 12.0,
        "latency.total.p95_ms": 30.0,
    }
    report = {
        "created_at": "2026-11-27T10:00:00",
        "metrics": metrics,
        "definitions": dict(DEFINITIONS),
        "thresholds": {"minimum": {"retrieval.mrr": 0.5}, "maximum": {}},
        "gate": {"passed": True, "failures": []},
        "questions": [{"id": "q1", "passed": True}, {"id": "q2", "passed": False, "failed": ["answered"]}],
    }
    page = summary_html(report, "gradio_api/file=evals/reports/run1/report.html")
    for definition in (
        "retrieval.recall@k",
        "retrieval.mrr",
        "citations.recall",
        "refusals.false_refusal_rate",
    ):
        assert DEFINITIONS[definition].replace("'", "&#x27;") in page, definition
    assert page.count(DEFINITIONS["latency"]) == 1
    assert (
        "PASS means every threshold was met" in page and "1 of 2 questions failed at least one check" in page
    )
    assert 'href="gradio_api/file=evals/reports/run1/report.html" target="_blank"' in page
    del report["definitions"]  # reports written before definitions were stored
    assert DEFINITIONS["retrieval.mrr"] in summary_html(report)


def test_quality_tab_only_on_loopback_unless_turned_on() -> None:
    assert show_quality_tab(Settings(), "127.0.0.1")
    assert not show_quality_tab(Settings(), "0.0.0.0")
    assert show_quality_tab(Settings(quality_tab="on"), "0.0.0.0")
    assert not show_quality_tab(Settings(quality_tab="off"), "127.0.0.1")


# --- against real servers -------------------------------------------------------------


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Assistant, str]]:
    """A server that needs keys (bound to 0.0.0.0) with the chat public and the Quality tab
    on, over two documents and a one-question golden set; with a server key allowed one
    request a minute."""
    work = tmp_path_factory.mktemp("quality-server")
    golden = work / "golden.jsonl"
    golden.write_text(json.dumps(EXPORT_BAN) + "\n")
    assistant = two_document_assistant(
        tmp_path_factory,
        quality_tab="on",
        public_chat=True,
        golden_set=golden,
        reports_dir=work / "reports",
        thresholds_file=work / "no-thresholds.toml",
    )
    key = create_key(assistant.settings, "staff", [], allow_server=True, rate_limit=1)
    with LiveServer(create_app(assistant, host="0.0.0.0")) as server:
        yield server, assistant, key


@contextmanager
def chat_client(server: LiveServer, **headers: str) -> Iterator[Any]:
    """The real `gradio_client` on the server's chat, closed after use (its heartbeat
    stream would otherwise hold the server open at shutdown)."""
    from gradio_client import Client

    with closing(Client(server.url, headers=headers or None, verbose=False)) as client:
        yield client


def _run_evaluation(client: Any) -> tuple[str, str]:
    """Press "Run evaluation" through the chat's Gradio API: (status, summary HTML)."""
    status, summary, *_rest = client.predict(api_name="/on_run")
    return status, summary


def _report_link(summary: str) -> str:
    start = summary.index('href="') + len('href="')
    return summary[start : summary.index('"', start)]


def test_public_chat_runs_no_evaluation_without_a_key(keyed: tuple[LiveServer, Assistant, str]) -> None:
    """ASSISTANT_PUBLIC_CHAT opens questions to everyone, not evaluation runs; before, anyone
    who reached the chat could run the whole golden set as often as they liked."""
    server, assistant, _key = keyed
    with chat_client(server) as client:
        status, _summary = _run_evaluation(client)
    assert "needs a server key" in status
    assert not assistant.settings.reports_dir.exists()


def test_a_widget_key_runs_no_evaluation(keyed: tuple[LiveServer, Assistant, str]) -> None:
    """A widget key sits in public pages and any script can send its Origin: it may ask
    questions, not run the golden set (it could before)."""
    server, assistant, _key = keyed
    origin = "https://shop.example"
    widget_key = create_key(assistant.settings, "site", [origin], rate_limit=100)
    with chat_client(server, **{"X-API-Key": widget_key, "Origin": origin}) as client:
        status, _summary = _run_evaluation(client)
    assert "needs a server key" in status
    assert not assistant.settings.reports_dir.exists()


def test_evaluation_with_a_key_is_rate_limited_and_links_its_report(
    keyed: tuple[LiveServer, Assistant, str],
) -> None:
    """With a server key the run happens and counts against the key's limit (one a minute
    here); the summary links to the report, which the app serves under the chat's rules."""
    server, assistant, key = keyed
    bearer = {"Authorization": f"Bearer {key}"}
    with chat_client(server, **bearer) as client:
        status, summary = _run_evaluation(client)
        again, _summary = _run_evaluation(client)
    assert "Rate limit of 1 requests per minute" in again
    assert status.startswith("Evaluated 1 question in"), status
    link = server.url + "/" + _report_link(summary)
    page = httpx.get(link, headers=bearer)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "attachment" not in page.headers.get("content-disposition", "")
    assert "<h1>Evaluation report</h1>" in page.text and "Since when has Malaysia banned" in page.text
    assert httpx.get(link).status_code == 200  # the chat is public, so is its report
    assistant.settings.public_chat = False
    try:
        refused = httpx.get(link)
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "chat_not_public"
    finally:
        assistant.settings.public_chat = True
    assert len(list(assistant.settings.reports_dir.glob("*/report.html"))) == 1


@pytest.fixture(scope="module")
def local_server(corpus_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The whole app as `make run` serves it (loopback, open, Quality tab shown) over the
    shared corpus index, with a one-question golden set and its own reports folder."""
    work = tmp_path_factory.mktemp("quality-local")
    golden = work / "golden.jsonl"
    golden.write_text(json.dumps(EXPORT_BAN) + "\n")
    settings = corpus_settings.model_copy(
        update={"golden_set": golden, "reports_dir": work / "reports", "thresholds_file": work / "none.toml"}
    )
    with LiveServer(create_app(Assistant(settings), host="127.0.0.1")) as server:
        yield server


@pytest.mark.browser
def test_quality_tab_links_the_report_it_wrote_in_chromium(local_server: LiveServer) -> None:
    """Run the evaluation from the tab, then follow its link: the report opens in a new
    tab, served by the app (before, the tab only printed a server path); after a reload the
    tab still shows that run."""
    chromium = require_chromium()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(local_server.url)
            page.get_by_role("tab", name="Quality").click()
            page.click("#run-eval")
            link = page.locator("#eval-report-link")
            link.wait_for(timeout=90_000)
            assert page.locator("#eval-summary .mia-definition").first.inner_text().startswith("Share of")
            assert "No thresholds were set" in page.inner_text("#eval-summary")
            with page.expect_popup() as opened:
                link.click()
            report = opened.value
            report.wait_for_load_state()
            assert report.title().startswith("Evaluation report")
            assert "Since when has Malaysia banned" in report.inner_text("#question-table")
            href = link.get_attribute("href")
            page.reload()  # the tab was built before the run; opening it shows the newest report
            page.get_by_role("tab", name="Quality").click()
            assert page.locator("#eval-report-link").get_attribute("href", timeout=30_000) == href
        finally:
            browser.close()
