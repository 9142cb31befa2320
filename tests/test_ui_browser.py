"""The Gradio chat in a real Chromium: ask, read the cited answer, give a thumbs down and
find it stored, and see a document's <script> payload shown as text, never run; start over
(trash or "New chat"), copy an answer, follow its [n] to the source, stop a slow answer,
reload the page and find the conversation, and fit on a phone."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.server.api import create_app
from assistant.service import Assistant
from assistant.store import list_feedback
from assistant.ui.chat import STOPPED, Turn, chat_messages, format_sources, header_html, plain_text
from tests.conftest import CHROMIUM_ARGS, CORPUS, HOSTILE_DOCUMENT, LiveServer

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
SLOW_SECONDS = 2  # how long the slow LLM takes to answer, for the stop button


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
        corpus_dir=corpus,  # the golden set is checked against it before a run
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
    # Send comes back (in place of Stop) once the answer is complete.
    page.locator("#question button.submit-button").wait_for(timeout=30000)


def open_sources(answer) -> None:
    """Open an answer's Sources block (a click on its summary would close an open one)."""
    answer.locator("details.mia-sources").evaluate("details => { details.open = true; }")


def test_asking_shows_a_cited_answer_with_sources(page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    ask(page, "Can my company export rare earth concentrate from Malaysia?")
    answer = page.locator(".bot-row").last
    assert "January 2024" in answer.inner_text()
    assert "[1]" in answer.inner_text()
    open_sources(answer)
    source = answer.locator(".mia-source").first
    assert "Malaysia Critical Minerals Cooperation" in source.inner_text()
    # The document's front matter says date: "unknown": no date is shown, no dangling " · ".
    assert source.locator(".mia-meta").inner_text() == "U.S. International Trade Administration"
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
    open_sources(answer)
    sources = answer.locator(".mia-source").first.inner_text()
    assert "<img src=x" in sources and "<b>Bold</b> Publisher · 2026-01-01" in sources
    assert answer.locator(".mia-source a").count() == 0  # javascript: URLs are not links
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(ARTIFACTS / "chat-hostile-document.png"), full_page=True)


def is_restore(response) -> bool:
    """The page load's call that restores the conversation the browser kept (its input is
    that conversation: a list)."""
    body = response.request.post_data or ""
    return response.url.endswith("/gradio_api/run/predict") and '"data":[[' in body.replace(" ", "")


def test_a_conversation_survives_reloads_until_the_trash_or_new_chat(page, chat_server) -> None:
    """A reload brings the conversation back as real turns (a thumb on a restored answer is
    stored with its question). The trash and "New chat" start over: nothing of the old
    conversation is left to answer a follow-up from, to attach a thumb to (the trash kept
    both), or to restore after a reload."""
    _, assistant = chat_server
    ask(page, "When did Malaysia ban unprocessed rare earth exports?")
    page.reload()
    page.wait_for_selector("#chat .bot-row .mia-sources")
    assert "January 2024" in page.locator(".bot-row").last.inner_text()
    page.get_by_label("Dislike").last.click()
    page.wait_for_selector("#feedback-comment textarea", state="visible")
    latest = list_feedback(assistant.settings)[0]
    assert latest.question == "When did Malaysia ban unprocessed rare earth exports?"

    page.locator("#chat").get_by_label("Clear").click()  # Gradio's trash icon
    page.wait_for_function("document.querySelectorAll('#chat .message-row').length === 0")
    page.wait_for_selector("#feedback-comment", state="hidden")
    ask(page, "When did it start?")
    page.get_by_label("Dislike").last.click()
    page.wait_for_selector("#feedback-comment textarea", state="visible")
    latest = list_feedback(assistant.settings)[0]
    assert latest.question == "When did it start?"
    assert latest.history == []  # answered without the old topic

    page.click("#new-chat")
    page.wait_for_function("document.querySelectorAll('#chat .message-row').length === 0")
    with page.expect_response(is_restore) as restore:
        page.reload()
    assert restore.value.json()["data"][0] == []  # no messages came back
    page.wait_for_selector("#question textarea")
    assert page.locator("#chat .message-row").count() == 0


def test_an_answer_copies_as_plain_text_and_its_citations_show_their_sources(page, chat_server) -> None:
    server, _ = chat_server
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    ask(page, "Can my company export rare earth concentrate from Malaysia?")
    answer = page.locator(".bot-row").last
    answer.get_by_role("button", name="Copy").click()
    answer.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    text, sources = copied.split("\n\nSources:\n")
    assert "January 2024" in text and text.endswith("[1]")
    assert "\\" not in copied and "<" not in copied and "unknown" not in copied
    assert sources.startswith(
        "[1] Malaysia Critical Minerals Cooperation (U.S. International Trade Administration) "
        "https://www.trade.gov/market-intelligence/malaysia-critical-minerals-cooperation"
    )

    details = answer.locator("details.mia-sources")
    assert details.get_attribute("open") is not None  # one source: open from the start
    details.evaluate("details => { details.open = false; }")
    page.locator("#chat .bubble-wrap").evaluate("el => { el.scrollTop = 0; }")
    answer.locator("button.mia-cite").last.click()
    source = answer.locator(".mia-source-1")
    page.wait_for_function("() => document.activeElement.classList.contains('mia-source-1')")
    assert details.get_attribute("open") is not None
    shown, chat = source.bounding_box(), page.locator("#chat .bubble-wrap").bounding_box()
    assert shown is not None and chat is not None
    assert chat["y"] <= shown["y"] < chat["y"] + chat["height"]  # scrolled into view


def test_phone_width_keeps_the_chat_usable(browser, chat_server) -> None:
    """At 390x844 everything fits one screen ("New chat" was below the fold) and the trash
    icon sits above the messages (it overlapped the first one)."""
    server, _ = chat_server
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    phone.goto(server.url + "/")
    phone.wait_for_selector("#question textarea")
    ask(phone, "Can my company export rare earth concentrate from Malaysia?")
    box = phone.locator("#question textarea").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert phone.evaluate("document.documentElement.scrollWidth") <= 400
    assert phone.evaluate("document.documentElement.scrollHeight") <= 844
    new_chat = phone.locator("#new-chat").bounding_box()
    assert new_chat is not None and new_chat["y"] + new_chat["height"] <= 844
    trash = phone.locator("#chat").get_by_label("Clear").bounding_box()
    messages = phone.locator("#chat .bubble-wrap").bounding_box()
    assert trash is not None and messages is not None
    assert trash["y"] + trash["height"] <= messages["y"]  # nothing scrolls under it
    phone.locator("#chat .bubble-wrap").evaluate("el => { el.scrollTop = 0; }")
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


def cited(n: int = 1, date: str = "2025-10-26") -> dict:
    return {
        "n": n,
        "title": "T",
        "source": "https://example.org/t",
        "publisher": "P",
        "date": date,
        "page": None,
        "quote": "q",
        "start": 0,
        "highlights": [],
    }


def test_undated_sources_show_no_date() -> None:
    """Front matter says date: "unknown" (the loaders now leave it empty): neither shows."""
    for date in ("", "unknown", "Unknown"):
        answer = {"answer": "A [1]", "refused": False, "citations": [cited(date=date)]}
        assert '<div class="mia-meta">P</div>' in format_sources(answer)
        assert plain_text(answer).endswith("[1] T (P) https://example.org/t")
    assert "dated" not in header_html({"documents": 3, "newest_document_date": None})
    assert "dated" not in header_html({"documents": 3, "newest_document_date": "unknown"})


def test_one_or_two_sources_start_open_more_start_closed() -> None:
    def sources(count: int) -> str:
        return format_sources(
            {"answer": "A", "refused": False, "citations": [cited(n) for n in range(1, count + 1)]}
        )

    assert sources(1).startswith('<details class="mia-sources" open>')
    assert sources(2).startswith('<details class="mia-sources" open>')
    assert sources(3).startswith('<details class="mia-sources">')


def test_a_stopped_answer_keeps_what_it_had_said() -> None:
    stopped = Turn(question="Since when?", answer=None, problem=None, partial="Since 2024 the *ban* [1")
    _, reply = chat_messages([stopped])
    assert reply["content"] == f'Since 2024 the \\*ban\\* \\[1\n\n<p class="mia-note">{STOPPED}</p>'


@contextmanager
def chat_through_llm(
    tmp_path_factory: pytest.TempPathFactory, model: str, slow_seconds: float = 5.0
) -> Iterator[LiveServer]:
    """The chat over one document, answering through a local OpenAI-protocol server whose
    `model` picks its behaviour (tests/openai_server.py)."""
    from tests.openai_server import make_app

    corpus = tmp_path_factory.mktemp(f"{model}-corpus")
    shutil.copy(CORPUS / "trade-gov_malaysia-critical-minerals-cooperation.md", corpus)
    with LiveServer(make_app(slow_seconds=slow_seconds)) as llm:
        settings = Settings(
            data_dir=tmp_path_factory.mktemp(f"{model}-data"),
            llm="openai",
            llm_base_url=f"{llm.url}/v1",
            llm_model=model,
        )
        assistant = Assistant(settings)
        report = assistant.ingest([corpus])
        assert not report.errors, report.errors
        assistant.warm_up()
        with LiveServer(create_app(assistant)) as server:
            yield server


@pytest.fixture(scope="module")
def slow_chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The chat answering through an LLM that takes SLOW_SECONDS to answer."""
    with chat_through_llm(tmp_path_factory, "slow", SLOW_SECONDS) as server:
        yield server


def test_stop_ends_a_streaming_answer(browser, slow_chat_server) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(slow_chat_server.url + "/")
    page.wait_for_selector("#question textarea")
    page.fill("#question textarea", "Can my company export rare earth concentrate from Malaysia?")
    page.keyboard.press("Enter")
    asked = time.monotonic()
    page.click("#question button.stop-button", timeout=2000)  # offered while the answer is on its way
    page.wait_for_selector("#chat .bot-row .mia-note")
    assert "Stopped" in page.locator(".bot-row").last.inner_text()
    page.locator("#question button.submit-button").wait_for(timeout=2000)
    page.wait_for_timeout(max(0, SLOW_SECONDS + 0.5 - (time.monotonic() - asked)) * 1000)
    assert page.locator("#chat .mia-sources, #chat .mia-copy").count() == 0  # nothing came late
    assert "Stopped" in page.locator(".bot-row").last.inner_text()
    context.close()


def test_stop_before_the_answer_has_started_keeps_the_question_as_stopped(
    browser, slow_chat_server, monkeypatch
) -> None:
    """On a busy server Stop can come before the answer's first step runs (CI saw it):
    the question must still stay in the conversation, marked as stopped."""
    limiter = slow_chat_server.server.config.app.state.policy.limiter
    counted = limiter.check

    def busy(*args: object) -> float:  # the server takes a while to start on the question
        time.sleep(2)
        return counted(*args)

    monkeypatch.setattr(limiter, "check", busy)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(slow_chat_server.url + "/")
    page.wait_for_selector("#question textarea")
    question = "Who do I contact at the embassy about critical minerals?"
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.click("#question button.stop-button", timeout=5000)
    page.wait_for_selector("#chat .bot-row .mia-note", timeout=5000)
    page.locator("#question button.submit-button").wait_for(timeout=2000)
    page.wait_for_timeout(3000)  # past the held-back start: nothing replaces the stop
    assert question in page.locator(".user-row").last.inner_text()
    assert "Stopped" in page.locator(".bot-row").last.inner_text()
    assert page.locator("#chat .mia-sources, #chat .mia-copy").count() == 0
    context.close()
