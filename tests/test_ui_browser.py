"""The Gradio chat in a real Chromium: ask, read the cited answer, give a thumbs down and
find it stored, and see a document's <script> payload shown as text, never run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assistant.api import create_app
from assistant.config import Settings
from assistant.service import Assistant
from assistant.store import list_feedback
from tests.conftest import CHROMIUM_ARGS, CORPUS, HOSTILE_DOCUMENT, LiveServer

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory):
    corpus = tmp_path_factory.mktemp("ui-corpus")
    shutil.copy(CORPUS / "trade-gov_malaysia-critical-minerals-cooperation.md", corpus)
    (corpus / "hostile.md").write_text(HOSTILE_DOCUMENT, encoding="utf-8")
    staff_files = tmp_path_factory.mktemp("ui-staff")
    golden = staff_files / "golden.jsonl"
    golden.write_text(
        json.dumps(
            {
                "id": "q001",
                "type": "date",
                "question": "When did Malaysia ban unprocessed rare earth exports?",
                "reference": "January 2024.",
                "evidence": ["banned the export of unprocessed rare earth ores"],
                "sources": [str(corpus / "trade-gov_malaysia-critical-minerals-cooperation.md")],
            }
        )
        + "\n"
    )
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("ui-data"),
        golden_set=golden,
        reports_dir=staff_files / "reports",
        thresholds_file=staff_files / "none.toml",
    )
    assistant = Assistant(settings)
    assistant.ingest([corpus])
    assistant.warm_up()
    with LiveServer(create_app(assistant)) as server:
        yield server, assistant


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, chat_server):
    server, _ = chat_server
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    outside: list[str] = []
    opened.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((server.url, "data:", "blob:"))
            else None
        ),
    )
    opened.goto(server.url + "/")
    opened.wait_for_selector("#question textarea")
    yield opened
    assert outside == [], f"the chat page fetched from elsewhere: {outside}"
    context.close()


def ask(page, question: str) -> None:
    count = page.locator(".message-row.bot-row, .bot-row").count()
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('.bot-row').length > n", arg=count, timeout=30000)
    page.wait_for_timeout(800)  # the stream finishes within a few hundred ms


def test_asking_shows_a_cited_answer_with_sources(page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    ask(page, "Can my company export rare earth concentrate from Malaysia?")
    answer = page.locator(".bot-row").last
    assert "January 2024" in answer.inner_text()
    assert "[1]" in answer.inner_text()
    answer.locator("details.mia-sources summary").click()
    source = answer.locator(".mia-source").first
    assert "Malaysia Critical Minerals Cooperation" in source.inner_text()
    assert source.locator("a").get_attribute("href").startswith("https://www.trade.gov/")
    assert "January 2024" in source.locator("mark").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "chat-answer.png"), full_page=True)


def test_refusals_look_different(page) -> None:
    ask(page, "Who won the 2022 FIFA World Cup?")
    refusal = page.locator(".bot-row").last.locator(".mia-refusal")
    assert "not in the documents" in refusal.inner_text().lower()
    page.screenshot(path=str(ARTIFACTS / "chat-refusal.png"), full_page=True)


def test_thumbs_down_with_a_comment_is_stored(page, chat_server) -> None:
    _, assistant = chat_server
    before = len(list_feedback(assistant.settings))
    ask(page, "Who can U.S. companies contact about rare earth partnerships in Malaysia?")
    page.get_by_label("Dislike").last.click()  # Gradio puts the thumbs below the message row
    page.wait_for_selector("#feedback-comment textarea", state="visible")
    page.fill("#feedback-comment textarea", "Should name the embassy office too")
    page.get_by_role("button", name="Send comment").click()
    page.wait_for_selector("#feedback-comment", state="hidden")
    rows = list_feedback(assistant.settings)
    assert len(rows) == before + 1
    assert rows[0].rating == "down" and rows[0].comment == "Should name the embassy office too"
    assert "Gurusamy" in rows[0].answer and rows[0].citations


def test_document_html_is_shown_as_text_never_run(page) -> None:
    ask(page, "What does the Zorblax consortium refine in Penang?")
    answer = page.locator(".bot-row").last
    text = answer.inner_text()
    assert "<script>window.__pwned = 'script'</script>" in text
    assert "onerror" in text
    answer.locator("details.mia-sources summary").click()
    sources = answer.locator(".mia-source").first.inner_text()
    assert "<img src=x" in sources and "<b>Bold</b> Publisher" in sources
    assert answer.locator(".mia-source a").count() == 0  # javascript: URLs are not links
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(ARTIFACTS / "chat-hostile-document.png"), full_page=True)


def test_new_chat_clears_the_conversation(page) -> None:
    ask(page, "When did Malaysia ban unprocessed rare earth exports?")
    page.click("#new-chat")
    page.wait_for_function("document.querySelectorAll('.bot-row').length === 0")


def test_phone_width_keeps_the_chat_usable(browser, chat_server) -> None:
    server, _ = chat_server
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.goto(server.url + "/")
    phone.wait_for_selector("#question textarea")
    box = phone.locator("#question textarea").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert phone.evaluate("document.documentElement.scrollWidth") <= 400
    phone.screenshot(path=str(ARTIFACTS / "chat-phone.png"))
    context.close()


def test_staff_quality_tab_runs_the_evaluation_and_promotes_feedback(page, chat_server) -> None:
    _, assistant = chat_server
    ask(page, "Who won the 2022 FIFA World Cup?")
    page.get_by_label("Dislike").last.click()
    page.wait_for_selector("#feedback-comment textarea", state="visible")
    page.get_by_role("tab", name="Quality").click()
    page.click("#run-eval")
    page.wait_for_function(
        "document.querySelector('#eval-summary').innerText.includes('PASS')", timeout=60000
    )
    assert "retrieval.mrr" in page.inner_text("#eval-summary")
    assert page.locator("#eval-charts img").count() >= 3
    page.screenshot(path=str(ARTIFACTS / "quality-tab.png"), full_page=True)
    page.locator("#feedback-table").get_by_text("Who won the 2022 FIFA World Cup?").last.click()
    page.wait_for_function("document.querySelector('#promote-chosen').innerText.includes('FIFA')")
    page.locator("#promote-type input").fill("out_of_scope")
    page.keyboard.press("Enter")
    page.click("#promote-button")
    page.wait_for_function("document.querySelector('#promote-status').innerText.includes('Added')")
    added = assistant.settings.golden_set.read_text().splitlines()[-1]
    added_item = json.loads(added)
    assert added_item["type"] == "out_of_scope"
    assert added_item["question"] == "Who won the 2022 FIFA World Cup?"
