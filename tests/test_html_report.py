"""The HTML evaluation report: content, verdict, charts, escaping, comparison, and the
question table's filters and sorting in a real Chromium. All data is made here."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from assistant.evaluation.html_report import (
    chart_images,
    definition_for,
    format_value,
    label_for,
    render_comparison,
    render_report,
    safe_url,
)
from assistant.evaluation.metrics import DEFINITIONS
from tests.conftest import CHROMIUM_ARGS, find_chromium, require_chromium

HOSTILE_QUESTION = "Is <script>alert(1)</script> in the documents?"
HOSTILE_TITLE = 'Evil <img src=x onerror="alert(3)"> brief'


def _question(
    qid: str,
    qtype: str,
    question: str,
    *,
    answer: str,
    refused: bool = False,
    checks: dict[str, bool],
    citations: list[dict[str, Any]] | None = None,
    passages: list[dict[str, Any]] | None = None,
    evidence: list[str] | None = None,
    follows: str | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    failed = [name for name, ok in checks.items() if not ok]
    return {
        "id": qid,
        "type": qtype,
        "question": question,
        "follows": follows,
        "reference": f"Reference answer of {qid}.",
        "evidence": evidence or [],
        "answer": answer,
        "refused": refused,
        "standalone_question": question,
        "citations": citations or [],
        "sentences": [],
        "relevance": 0.5,
        "passages": passages or [],
        "evidence_ranks": [1] if evidence else [],
        "metrics": metrics
        or {
            "recall@5": None,
            "reciprocal_rank": None,
            "evidence_in_answer": None,
            "token_f1": None,
            "semantic_similarity": None,
            "citation_recall": None,
            "citation_precision": None,
        },
        "checks": checks,
        "failed": failed,
        "passed": not failed,
        "timings_ms": {"condense": 0.1, "retrieve": 12.0, "answer": 30.0, "total": 42.5},
    }


def make_report(passed: bool = True) -> dict[str, Any]:
    """Three questions: one passed, one failed, one out of scope and refused."""
    quote = "Tin exports rose 12% in 2025. Rare earths stayed flat."
    good = _question(
        "q001",
        "factoid",
        "How much did tin exports rise?",
        answer="Tin exports rose 12% in 2025. [1]",
        checks={"retrieved": True, "answered": True, "evidence_in_answer": True},
        evidence=["Tin exports rose 12%"],
        citations=[
            {
                "n": 1,
                "title": "Mining review 2025",
                "source": "https://example.org/review",
                "publisher": "Ministry",
                "date": "2025-06-01",
                "page": 3,
                "quote": quote,
                "start": 100,
                "end": 100 + len(quote),
                "score": 0.61,
                "path": "/corpus/review.md",
                "chunk_id": "c1",
                "highlights": [[100, 129]],
            }
        ],
        passages=[
            {
                "rank": 1,
                "title": "Mining review 2025",
                "path": "/corpus/review.md",
                "text": quote,
                "score": 0.03,
            },
            {
                "rank": 2,
                "title": "Other <b>doc</b>",
                "path": "/corpus/other.md",
                "text": "Nothing here.",
                "score": 0.02,
            },
        ],
        metrics={
            "recall@5": 1.0,
            "reciprocal_rank": 1.0,
            "evidence_in_answer": True,
            "token_f1": 0.83,
            "semantic_similarity": 0.91,
            "citation_recall": 1.0,
            "citation_precision": 1.0,
        },
    )
    bad = _question(
        "q002",
        "factoid",
        HOSTILE_QUESTION,
        answer="Something unrelated <img src=x onerror=alert(2)>. [1]",
        checks={"retrieved": True, "answered": True, "evidence_in_answer": False},
        evidence=["the consortium refines magnets"],
        follows="q001",
        citations=[
            {
                "n": 1,
                "title": HOSTILE_TITLE,
                "source": "javascript:alert(4)",
                "publisher": "Nobody",
                "date": "2026-01-01",
                "page": None,
                "quote": "A <b>bold</b> claim. Another.",
                "start": 0,
                "end": 29,
                "score": 0.4,
                "path": "/corpus/evil.md",
                "chunk_id": "c2",
                "highlights": [[0, 20]],
            }
        ],
        metrics={
            "recall@5": 1.0,
            "reciprocal_rank": 0.5,
            "evidence_in_answer": False,
            "token_f1": 0.12,
            "semantic_similarity": None,
            "citation_recall": None,
            "citation_precision": None,
        },
    )
    refused = _question(
        "q003",
        "out_of_scope",
        "What is the weather in Penang tomorrow?",
        answer="The documents do not answer this question.",
        refused=True,
        checks={"refusal_correct": True},
    )
    metrics = {
        "questions": 3,
        "answerable": 2,
        "out_of_scope": 1,
        "retrieval.recall@5": 0.8123,
        "retrieval.mrr": 0.75,
        "answers.evidence_in_answer": 0.5,
        "answers.token_f1": 0.4567,
        "answers.semantic_similarity": None,
        "citations.recall": 1.0,
        "refusals.recall": 1.0,
        "refusals.false_refusal_rate": 0.0,
        "latency.total.p50_ms": 123.45,
        "latency.total.p95_ms": 456.7,
    }
    by_type = {
        "factoid": {
            **metrics,
            "questions": 2,
            "answerable": 2,
            "out_of_scope": 0,
            "refusals.recall": None,
        },
        "out_of_scope": {
            **{name: None for name in metrics},
            "questions": 1,
            "answerable": 0,
            "out_of_scope": 1,
            "refusals.recall": 1.0,
            "latency.total.p50_ms": 40.0,
        },
    }
    thresholds = {
        "minimum": {"retrieval.recall@5": 0.9 if not passed else 0.8},
        "maximum": {"refusals.false_refusal_rate": 0.05},
    }
    failures = [] if passed else [{"metric": "retrieval.recall@5", "value": 0.8123, "minimum": 0.9}]
    return {
        "version": 1,
        "created_at": "2026-03-01T10:20:30+0000",
        "golden_set": "evals/golden.jsonl",
        "settings": {
            "embedding_model": "mini",
            "answerer": "extractive",
            "chunk_size": 900,
            "k": 5,
            "refusal_threshold": 0.45,
        },
        "corpus": {"documents": 4, "chunks": 17},
        "definitions": dict(DEFINITIONS),
        "metrics": metrics,
        "by_type": by_type,
        "latency_samples": {
            "condense": [0.1, 0.1, 0.2],
            "retrieve": [10.0, 12.0, 30.0],
            "answer": [20.0, 30.0, 1.0],
            "total": [31.0, 42.5, 31.2],
        },
        "thresholds": thresholds,
        "gate": {"passed": passed, "failures": failures},
        "questions": [good, bad, refused],
    }


def make_comparison() -> dict[str, Any]:
    settings = make_report()["settings"]
    return {
        "old": {
            "created_at": "2026-02-01T09:00:00+0000",
            "settings": {**settings, "chunk_size": 550},
        },
        "new": {"created_at": "2026-03-01T10:20:30+0000", "settings": settings},
        "deltas": [
            {
                "metric": "retrieval.recall@5",
                "old": 0.7,
                "new": 0.8123,
                "delta": 0.1123,
                "direction": "better",
            },
            {
                "metric": "answers.token_f1",
                "old": 0.6,
                "new": 0.4567,
                "delta": -0.1433,
                "direction": "worse",
            },
            {
                "metric": "latency.total.p50_ms",
                "old": 100.0,
                "new": 123.45,
                "delta": 23.45,
                "direction": "worse",
            },
        ],
        "worse": [
            {
                "id": "q002",
                "type": "factoid",
                "question": HOSTILE_QUESTION,
                "old_answer": "The consortium refines magnets in Penang. [1]",
                "new_answer": "Something unrelated <img src=x onerror=alert(2)>. [1]",
                "old_refused": False,
                "new_refused": False,
                "lost": ["evidence_in_answer", "token F1 0.80 → 0.12"],
                "gained": [],
            },
        ],
        "better": [
            {
                "id": "q003",
                "type": "out_of_scope",
                "question": "What is the weather in Penang tomorrow?",
                "old_answer": "Penang is sunny. [1]",
                "new_answer": "The documents do not answer this question.",
                "old_refused": False,
                "new_refused": True,
                "lost": [],
                "gained": ["refusal_correct"],
            },
        ],
        "added": ["q003"],
        "removed": [],
    }


@pytest.fixture(scope="module")
def page() -> str:
    return render_report(make_report())


@pytest.fixture(scope="module")
def page_with_comparison() -> str:
    return render_report(make_report(), make_comparison())


def _row(html: str, metric: str) -> str:
    match = re.search(rf'<tr class="status-(\w+)" data-metric="{re.escape(metric)}">(.*?)</tr>', html, re.S)
    assert match, metric
    return match.group(1) + "|" + match.group(2)


def _question_row(html: str, qid: str) -> str:
    match = re.search(rf'<tr id="q-{qid}".*?</tr>', html, re.S)
    assert match, qid
    return match.group(0)


class _Resources(HTMLParser):
    """Every attribute value that points at http(s), as (tag, attribute, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.remote: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if value and re.match(r"\s*(https?:)?//", value, re.I):
                self.remote.append((tag, name, value))


def test_every_metric_with_value_threshold_and_definition(page: str) -> None:
    for name in make_report()["metrics"]:
        assert f'<code class="m-name">{name}</code>' in page, name
    for shown in ("0.8123", "0.4567", "123.45 ms", "456.70 ms", ">3<", ">2<"):
        assert shown in page, shown
    status, cells = _row(page, "retrieval.recall@5").split("|", 1)
    assert status == "pass" and "≥ 0.80" in cells and '<span class="pill pass">pass</span>' in cells
    status, cells = _row(page, "refusals.false_refusal_rate").split("|", 1)
    assert status == "pass" and "≤ 0.05" in cells
    status, cells = _row(page, "answers.token_f1").split("|", 1)
    assert status == "none" and '<td class="num">–</td>' in cells
    # recall@5 takes the definition of recall@k, latency.* that of latency.
    assert "Share of a question&#39;s evidence quotes found in its top k" in _row(page, "retrieval.recall@5")
    assert DEFINITIONS["latency"] in _row(page, "latency.total.p50_ms")
    for group in ("Retrieval", "Answers", "Citations", "Refusals", "Latency"):
        assert f'<tr class="group"><th colspan="4">{group}</th></tr>' in page


def test_header_shows_run_settings_and_corpus(page: str) -> None:
    assert "<title>Evaluation report" in page
    assert "01 Mar 2026, 10:20:30 UTC" in page
    assert "evals/golden.jsonl" in page
    assert "<dt>Chunk size</dt><dd>900</dd>" in page
    assert "4 documents in 17 chunks" in page


def test_badge_follows_the_gate(page: str) -> None:
    assert 'id="gate-badge">PASS</span>' in page
    assert "All 2 thresholds met" in page
    failing = render_report(make_report(passed=False))
    assert 'id="gate-badge">FAIL</span>' in failing
    assert 'class="verdict fail"' in failing
    assert "is below the minimum 0.90" in failing
    status, cells = _row(failing, "retrieval.recall@5").split("|", 1)
    assert status == "fail" and '<span class="pill fail">fail</span>' in cells


@pytest.fixture
def no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages rendered without their charts (seconds of matplotlib each), for tests about
    the rest of the page."""
    monkeypatch.setattr("assistant.evaluation.html_report._charts", lambda report: [])


def _gate_explanation(html: str) -> str:
    match = re.search(r'<p class="gate-explain" id="gate-explain">(.*?)</p>', html, re.S)
    assert match, "no gate explanation"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def test_verdict_says_pass_is_about_thresholds_not_questions(page: str, no_charts: None) -> None:
    """A PASS next to failed questions reads as a contradiction unless the page says that
    the gate judges the set's metrics; q002 fails a check while every threshold is met."""
    explained = _gate_explanation(page)
    assert explained.startswith("PASS means every threshold was met")
    assert "not each question" in explained
    assert "1 of 3 questions failed at least one check" in explained
    failing = _gate_explanation(render_report(make_report(passed=False)))
    assert failing.startswith("FAIL means at least one metric missed its threshold")
    unbounded = make_report()
    unbounded["thresholds"] = {"minimum": {}, "maximum": {}}
    assert _gate_explanation(render_report(unbounded)).startswith("No thresholds were set")
    for question in unbounded["questions"]:
        question.update(failed=[], passed=True)
    assert "Every question passed its checks." in _gate_explanation(render_report(unbounded))


def test_structured_settings_fold_into_details(no_charts: None) -> None:
    """The fitted models' summaries are a nested dict: shown folded, not as its repr."""
    report = make_report()
    report["settings"]["models"] = {"answerability": {"threshold": 0.26, "sets": ["evals/golden.jsonl"]}}
    report["settings"]["prompt_versions"] = {}
    html = render_report(report)
    assert "{&#39;answerability&#39;" not in html and "{'answerability'" not in html
    assert re.search(r"<details><summary><dt>models</dt><dd>1 entry</dd></summary><pre>\{", html)
    assert "<dt>prompt_versions</dt><dd>–</dd>" in html


def test_failed_question_shows_its_failed_checks(page: str) -> None:
    failed = _question_row(page, "q002")
    assert 'data-passed="0"' in failed and 'class="failed"' in failed
    assert '<span class="pill fail" title="evidence_in_answer">evidence in answer</span>' in failed
    assert 'follows <a href="#q-q001">q001</a>' in failed
    passed = _question_row(page, "q001")
    assert 'data-passed="1"' in passed and '<span class="pill pass">passed</span>' in passed
    refused = _question_row(page, "q003")
    assert 'data-refused="1"' in refused and '<span class="refusal-label">Refused</span>' in refused
    assert "evidence in answer" in page and "the answer contains at least one evidence quote" in page


def test_citations_highlights_and_passages(page: str) -> None:
    row = _question_row(page, "q001")
    assert (
        '<a href="https://example.org/review" target="_blank" rel="noopener noreferrer">'
        "Mining review 2025</a>" in row
    )
    assert "<mark>Tin exports rose 12% in 2025.</mark> Rare earths stayed flat." in row
    assert "Ministry · 2025-06-01 · page 3" in row
    assert '<sup class="cn">[1]</sup>' in row
    assert "Retrieved passages (2) · evidence at rank 1" in row
    assert '<li class="passage evidence">' in row and "Other &lt;b&gt;doc&lt;/b&gt;" in row
    # A highlight inside escaped text keeps the escaping.
    hostile = _question_row(page, "q002")
    assert "<mark>A &lt;b&gt;bold&lt;/b&gt; claim.</mark> Another." in hostile


def test_charts_are_embedded_pngs(page: str) -> None:
    uris = re.findall(r'<img src="(data:image/png;base64,[^"]+)"', page)
    assert len(uris) >= 3
    for uri in uris:
        data = base64.b64decode(uri.split(",", 1)[1])
        assert data.startswith(b"\x89PNG") and len(data) < 150_000
    assert set(chart_images(make_report())) >= {
        "Quality metrics against their thresholds",
        "Latency per stage",
    }


def test_nothing_is_loaded_from_the_network(page_with_comparison: str) -> None:
    parser = _Resources()
    parser.feed(page_with_comparison)
    assert parser.remote == [("a", "href", "https://example.org/review")]
    assert "link" not in parser.tags and "iframe" not in parser.tags
    assert not re.search(r"<script[^>]*\bsrc=", page_with_comparison, re.I)
    assert "@import" not in page_with_comparison and "url(" not in page_with_comparison
    assert "@font-face" not in page_with_comparison


def test_report_content_is_escaped(page_with_comparison: str) -> None:
    html = page_with_comparison
    assert "<script>alert(1)</script>" not in html
    assert "Is &lt;script&gt;alert(1)&lt;/script&gt; in the documents?" in html
    assert html.count("<script") == 1  # the page's own inline script, nothing else
    assert "<img src=x" not in html and 'onerror="alert' not in html
    assert "Evil &lt;img src=x onerror=&#34;alert(3)&#34;&gt; brief" in html
    assert "Something unrelated &lt;img src=x onerror=alert(2)&gt;." in html


def test_javascript_source_is_not_linked(page: str) -> None:
    assert "javascript:" not in page.lower().replace("source: javascript:alert(4)", "")
    assert not re.search(r'href="\s*javascript:', page, re.I)
    row = _question_row(page, "q002")
    assert "source: javascript:alert(4)" in row  # shown as text, for the reviewer
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("JaVaScRiPt:alert(1)") is None
    assert safe_url("/corpus/file.md") is None
    assert safe_url("https://example.org/a b") is None
    assert safe_url("http://example.org/x?y=1") == "http://example.org/x?y=1"


def test_filters_and_sortable_headers_are_present(page: str) -> None:
    assert '<select id="filter-type">' in page
    assert '<option value="factoid">factoid</option>' in page
    assert '<option value="out_of_scope">out_of_scope</option>' in page
    for outcome in ("all", "passed", "failed", "refused"):
        assert f'<option value="{outcome}">{outcome}</option>' in page
    assert 'id="filter-text"' in page
    header = re.search(
        r'<table class="data questions" id="question-table">\s*<thead>(.*?)</thead>', page, re.S
    )
    assert header and header.group(1).count("<button") == header.group(1).count("<th")


def test_comparison_section_lists_the_worse_question(page_with_comparison: str) -> None:
    html = page_with_comparison
    assert 'Compared with <time datetime="2026-02-01T09:00:00+0000">01 Feb 2026, 09:00:00 UTC</time>' in html
    section = html[html.index('<section id="comparison"') :]
    worse = section[section.index('id="worse-q002"') : section.index('id="better-q003"')]
    assert "The consortium refines magnets in Penang." in worse
    assert "Something unrelated &lt;img src=x onerror=alert(2)&gt;." in worse
    assert "lost: evidence_in_answer" in worse and "lost: token F1 0.80 → 0.12" in worse
    assert '<a href="#q-q002">' in worse
    assert '<tr class="better">' in section and '<tr class="worse">' in section
    assert "+0.1123" in section and "−0.1433" in section and "+23.45 ms" in section
    assert "gained: refusal_correct" in section
    assert '<tr class="changed" title="changed"><td>Chunk size</td><td>550</td><td>900</td></tr>' in section
    assert "render_report" not in html


def test_render_comparison_alone() -> None:
    html = render_comparison(make_comparison())
    assert html.lstrip().startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "Comparison of two runs" in html and "Compared with" in html
    assert "The consortium refines magnets in Penang." in html
    assert "Something unrelated &lt;img src=x onerror=alert(2)&gt;." in html
    assert "<script" not in html and "question-table" not in html
    assert '<a href="#q-q002">' not in html  # no question table to link to
    empty = render_comparison({"old": {}, "new": {}, "deltas": [], "worse": [], "better": []})
    assert "No metric both runs have." in empty and "None." in empty


def test_null_metrics_show_a_dash(page: str) -> None:
    status, cells = _row(page, "answers.semantic_similarity").split("|", 1)
    assert '<td class="num value">–</td>' in cells
    failing = make_report()
    failing["thresholds"]["minimum"]["answers.semantic_similarity"] = 0.5
    failing["gate"] = {
        "passed": False,
        "failures": [{"metric": "answers.semantic_similarity", "value": None, "minimum": 0.5}],
    }
    status, cells = _row(render_report(failing), "answers.semantic_similarity").split("|", 1)
    assert status == "fail" and '<td class="num value">–</td>' in cells
    row = _question_row(page, "q002")
    assert '<td class="num" data-sort="">–</td>' in row  # per-question similarity


def test_empty_report_without_thresholds() -> None:
    report = make_report()
    report.update(
        questions=[],
        by_type={},
        thresholds={"minimum": {}, "maximum": {}},
        gate={"passed": True, "failures": []},
        latency_samples={stage: [] for stage in ("condense", "retrieve", "answer", "total")},
        metrics={
            "questions": 0,
            "answerable": 0,
            "out_of_scope": 0,
            "retrieval.recall@5": None,
            "refusals.precision": None,
        },
    )
    html = render_report(report)
    assert "No questions in this report." in html and "No questions to break down." in html
    assert 'id="gate-badge">PASS</span>' in html and "No thresholds were set" in html
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 3
    bare = render_report({"metrics": {}, "questions": []})
    assert "No metrics in this report." in bare


def test_report_does_not_change_its_input() -> None:
    report = make_report()
    before = copy.deepcopy(report)
    render_report(report, make_comparison())
    assert report == before


def test_formatting_helpers() -> None:
    assert format_value("retrieval.mrr", None) == "–"
    assert format_value("retrieval.mrr", 1.0) == "1.00"
    assert format_value("retrieval.mrr", 0.98076) == "0.9808"
    assert format_value("questions", 64) == "64"
    assert format_value("refusals.near_threshold", 1) == "1"  # a count of questions
    assert format_value("latency.total.p95_ms", 1234.5) == "1,234.50 ms"
    assert label_for("retrieval.recall@5") == "Recall@5"
    assert label_for("latency.retrieve.p95_ms") == "Retrieve p95"
    assert definition_for("retrieval.recall@10", DEFINITIONS) == DEFINITIONS["retrieval.recall@k"]
    assert definition_for("latency.answer.p50_ms", DEFINITIONS) == DEFINITIONS["latency"]
    assert definition_for("something.else", DEFINITIONS) == ""


@contextmanager
def chromium_browser() -> Iterator[Any]:
    """Debian's Chromium under Playwright, or a skip when it is not installed."""
    chromium = require_chromium()
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module's browser tests (a launch takes seconds on a busy machine)."""
    with chromium_browser() as launched:
        yield launched


@pytest.mark.browser
def test_filter_and_sort_in_chromium(browser: Any, tmp_path: Path) -> None:
    html_path = tmp_path / "report.html"
    html_path.write_text(render_report(make_report(), make_comparison()), encoding="utf-8")
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("dialog", lambda dialog: errors.append("dialog: " + dialog.message))
    requests: list[str] = []
    tab.on(
        "request",
        lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
    )
    tab.goto(html_path.as_uri())
    visible = "#question-table tbody tr:not([hidden]) td:first-child"

    tab.select_option("#filter-type", "out_of_scope")
    assert tab.locator(visible).all_inner_texts() == ["q003"]
    tab.select_option("#filter-type", "")
    tab.select_option("#filter-outcome", "failed")
    assert tab.locator(visible).all_inner_texts() == ["q002"]
    tab.select_option("#filter-outcome", "refused")
    assert tab.locator(visible).all_inner_texts() == ["q003"]
    tab.select_option("#filter-outcome", "all")
    tab.fill("#filter-text", "TIN EXPORTS")
    assert tab.locator(visible).all_inner_texts() == ["q001"]
    assert tab.inner_text("#shown-count") == "Showing 1 of 3 questions"
    tab.fill("#filter-text", "")

    f1 = tab.locator("#question-table thead th[title^='Token F1'] button")
    f1.click()  # ascending, no value last
    assert tab.locator(visible).all_inner_texts() == ["q002", "q001", "q003"]
    f1.click()  # descending, no value still last
    assert tab.locator(visible).all_inner_texts() == ["q001", "q002", "q003"]
    assert (
        tab.locator("#question-table thead th[title^='Token F1']").get_attribute("aria-sort") == "descending"
    )
    tab.locator("#question-table thead th button", has_text="Type").click()
    types = tab.locator("#question-table tbody tr td:nth-child(2)").all_inner_texts()
    assert types == sorted(types)
    assert errors == [] and requests == []
    assert tab.evaluate("typeof window.alert") == "function"
    tab.close()


LONG_TEXT = (
    "Since January 2024, the federal government has banned the export of unprocessed rare earth "
    "ores and concentrates, to keep processing in Malaysia; see "
    "https://www.trade.gov/market-intelligence/malaysia-critical-minerals-cooperation-rare-earths "
)


def make_long_report() -> dict[str, Any]:
    """Every question type, long answers and references with a long unbroken URL, and a
    question failing every check: the widest content the question table has to fit."""
    report = make_report(passed=True)
    template = report["questions"][0]
    questions = []
    for index, kind in enumerate(
        ("factoid", "number", "date", "list", "why", "multi_doc", "out_of_scope", "follow_up")
    ):
        question = copy.deepcopy(template)
        checks = dict.fromkeys(
            ("retrieved", "answered", "evidence_in_answer", "citations_supported"), index % 2 == 0
        )
        question.update(
            id=f"q{index + 10:03d}",
            type=kind,
            question="What does the export ban on unprocessed rare earth ores cover, and since when? " * 2,
            reference=LONG_TEXT * 2,
            evidence=[LONG_TEXT.strip()],
            answer=(LONG_TEXT + "[1] ") * 4,
            refused=index == 1,
            checks=checks,
            failed=[name for name, ok in checks.items() if not ok],
            passed=all(checks.values()),
        )
        question["timings_ms"]["total"] = 12345.678
        questions.append(question)
    report["questions"] = questions
    return report


@pytest.mark.browser
def test_question_table_fits_a_laptop_screen(browser: Any, tmp_path: Path, no_charts: None) -> None:
    """At 1366 px the question table fits without scrolling sideways (it needed 1,332 px of a
    1,264 px card); at phone width the page does not scroll sideways either: the tables
    scroll inside their cards."""
    html_path = tmp_path / "report.html"
    html_path.write_text(render_report(make_long_report()), encoding="utf-8")
    overflow = """() => {
        const table = document.getElementById("question-table");
        const box = table.parentElement, page = document.documentElement;
        return {page: page.scrollWidth - page.clientWidth, box: box.scrollWidth - box.clientWidth,
                table: Math.round(table.getBoundingClientRect().right - box.getBoundingClientRect().right)};
    }"""
    tab = browser.new_page(viewport={"width": 1366, "height": 900})
    tab.goto(html_path.as_uri())
    assert tab.evaluate(overflow) == {"page": 0, "box": 0, "table": 0}
    tab.set_viewport_size({"width": 390, "height": 844})
    narrow = tab.evaluate(overflow)
    assert narrow["page"] == 0 and narrow["box"] > 0  # the table scrolls, not the page
    tab.close()


def test_chromium_test_is_skipped_without_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README promises browser tests are skipped on a machine without Chromium; here
    Chromium's only candidate is a path that does not exist. The module's browser tests get
    their Chromium from `chromium_browser`."""
    monkeypatch.setattr("tests.conftest.CHROMIUM_CANDIDATES", (str(tmp_path / "no-chromium"),))
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"), chromium_browser():
        pass


def test_find_chromium_wants_an_executable_file(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    assert find_chromium([str(fake)]) is None  # missing
    fake.write_text("#!/bin/sh\n", encoding="utf-8")
    fake.chmod(0o644)
    assert find_chromium([str(fake)]) is None  # not executable, even for root
    fake.chmod(0o755)
    assert find_chromium([str(tmp_path), str(fake)]) == str(fake)  # a directory is not it


def _diagnostics(verdict: str, probability: float) -> dict[str, Any]:
    """Diagnostics shaped as `answerability.diagnose` writes them."""
    pulls = {
        "best_probability": 0.31,
        "top_dense": -1.2,
        "type_unmet": -2.11,
        "named_missing_answer": 1.04,
        "focus_unknown": 0.02,
        "follow_up": -0.55,
        "answer_term_cover": 0.4,
        "asks_amount_or_name": -0.9,
    }
    return {
        "verdict": verdict,
        "answerable_probability": probability,
        "threshold": 0.25,
        "answerability_features": {name: 1.0 if name == "type_unmet" else 0.5 for name in pulls},
        "answerability_contributions": pulls,
        "missing_from_corpus": ["Peru"],
        "missing_from_answer": [],
        "unknown_focus": "",
        "blank_field": ["Last published date", HOSTILE_TITLE],
        "sentences": [
            {
                "text": "Tin exports rose 12% in 2025.",
                "passage": 1,
                "probability": 0.91,
                "contributions": {
                    "semantic_gap": 1.66,
                    "lexical": 0.2,
                    "lexical_gap": 1.49,
                    "log_words": -0.5,
                },
            }
        ],
    }


def test_a_question_shows_why_it_was_refused_or_answered(no_charts: None) -> None:
    """Staff see the verdict against the threshold, what the documents lack, the model's
    strongest inputs (by pull, toward answering or refusing) and each sentence's reasons."""
    report = make_report()
    report["questions"][2]["diagnostics"] = _diagnostics("refuse", 0.15)
    report["questions"][0]["diagnostics"] = _diagnostics("answer", 0.97)
    html = render_report(report)
    refused = _question_row(html, report["questions"][2]["id"])
    why = re.search(r'<details class="why refused">.*?</details>', refused, re.S)
    assert why, "the refused question has a Why block"
    block = why.group(0)
    assert "Refused: answerable probability 0.15 &lt; threshold 0.25" in block
    assert "Named things no document mentions: “Peru”" in block
    assert "leaves its “Last published date” blank" in block and "<img src=x" not in block  # escaped
    factors = [
        (name, toward)
        for toward, name in re.findall(
            r'<span class="why-pull (toward-\w+)">[^<]*</span>[^<]*<code>(\w+)</code>', block
        )
    ]
    assert [name for name, _ in factors] == [
        "type_unmet",
        "top_dense",
        "named_missing_answer",
        "asks_amount_or_name",
        "follow_up",
        "answer_term_cover",
    ]  # the six strongest pulls, strongest first
    assert (
        dict(factors)["type_unmet"] == "toward-refusal"
        and dict(factors)["named_missing_answer"] == "toward-answer"
    )
    assert "The sentences an answer would have quoted" in block
    assert "score 0.91 · semantic_gap +1.66, lexical_gap +1.49, log_words -0.50" in block
    answered = _question_row(html, report["questions"][0]["id"])
    assert "Answered: answerable probability 0.97 ≥ threshold 0.25" in answered
    assert "Why each sentence was quoted" in answered
    # A question whose answer carries no diagnostics (an older report) has no Why block.
    assert 'class="why' not in _question_row(html, report["questions"][1]["id"])


def test_a_verdict_near_the_threshold_says_a_refit_can_flip_it() -> None:
    from assistant.evaluation.why import why_view

    near = why_view({"verdict": "answer", "answerable_probability": 0.351, "threshold": 0.346})
    assert near is not None
    assert near["headline"] == (
        "Answered: answerable probability 0.351 ≥ threshold 0.346 (within 0.05: a refit can flip this verdict)"
    )
    far = why_view({"verdict": "refuse", "answerable_probability": 0.1, "threshold": 0.346})
    assert far is not None and far["headline"] == "Refused: answerable probability 0.10 < threshold 0.35"


def test_a_language_model_refusal_gives_its_reason_before_the_probability() -> None:
    from assistant.evaluation.why import why_view

    view = why_view(
        {
            "verdict": "refuse",
            "reason": "the language model found no answer",
            "answerable_probability": 0.8,
            "threshold": 0.346,
        }
    )
    assert view is not None and view["headline"] == (
        "Refused: the language model found no answer; answerable probability 0.80 ≥ threshold 0.35"
    )


def test_every_answerability_input_has_words_for_the_report() -> None:
    from assistant.answering.answerability import ANSWERABILITY_FEATURES
    from assistant.evaluation.why import FEATURE_LABELS

    assert set(FEATURE_LABELS) == set(ANSWERABILITY_FEATURES)
