"""The embeddable chat widget in a real Chromium, against the real server.

One `assistant serve` subprocess per module (its own data directory, indexed from
corpus/), then Playwright drives /widget-demo: a customer-style page with hostile CSS that
embeds the widget with its one script tag. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from assistant.config import Settings
from assistant.store import list_feedback
from tests.conftest import CHROMIUM_ARGS, HOSTILE_DOCUMENT, copy_corpus_index
from tests.test_contrast_browser import MEASURE_CONTRAST, contrast_failures

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
ARTIFACTS = ROOT / "test-artifacts"
HOST = "127.0.0.1"
ANSWERABLE = "Can I export rare earth concentrate from Malaysia?"
# A document that tries to run script wherever its text is shown.
OFF_TOPIC = "Who won the 2022 FIFA World Cup?"
# The widget's host element; Playwright's CSS selectors pierce its open shadow root.
WIDGET = "market-intelligence-widget"
ASSISTANT_DONE = f"{WIDGET} .miw-msg[data-role=assistant][data-state=done]"
FOLLOW_UP = "What does the policy aim to build?"
# Answered from three passages (two documents), so its sources start folded.
MULTI_SOURCE = "What agreements did the U.S. and Malaysia sign in October 2025?"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

# A slow connection for the page's event streams: each Server-Sent Event reaches the page
# `window.__paceMs` after the previous one (the real server's stream, re-paced in the page
# because Chromium's own throttling delivers the buffered answer in one piece), and
# `window.__paced` records whether the page aborted the request and cancelled the stream.
PACED_EVENT_STREAM = """
(() => {
  const realFetch = window.fetch;
  window.__paceMs = 40;
  window.__paced = {aborted: false, cancelled: false};
  window.fetch = async (...args) => {
    const signal = args[1] && args[1].signal;
    if (signal) signal.addEventListener('abort', () => { window.__paced.aborted = true; });
    const response = await realFetch(...args);
    if (!(response.headers.get('content-type') || '').includes('text/event-stream')) return response;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let events = [];
    const body = new ReadableStream({
      async pull(controller) {
        while (!events.length) {
          const {done, value} = await reader.read();
          if (done) { controller.close(); return; }
          events = decoder.decode(value, {stream: true}).split(/(?<=\\n\\n)/).filter(Boolean);
        }
        await new Promise(resolve => setTimeout(resolve, window.__paceMs));
        controller.enqueue(encoder.encode(events.shift()));
      },
      cancel(reason) { window.__paced.cancelled = true; return reader.cancel(reason); },
    });
    return new Response(body, {status: response.status, headers: response.headers});
  };
})();
"""


def _chromium() -> str | None:
    candidates = ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _assistant_command() -> list[str]:
    script = Path(sys.executable).with_name("assistant")
    return [str(script)] if script.exists() else [sys.executable, "-m", "assistant.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text()[-3000:]
            raise RuntimeError(f"the server exited ({process.returncode}):\n{tail}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    tail = log_path.read_text()[-3000:]
    raise RuntimeError(f"the server was not healthy after {timeout:.0f}s:\n{tail}")


@contextmanager
def _serve(data_dir: Path, sources: list[Path], extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """Ingest `sources` into `data_dir`, run `assistant serve` on a free loopback port; its URL."""
    env = {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(data_dir),
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        **(extra_env or {}),
    }
    command = _assistant_command()
    ingest = subprocess.run(
        [*command, "--data-dir", str(data_dir), "ingest", *map(str, sources)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    port = _free_port()
    log_path = data_dir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir), "serve", "--host", HOST, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://{HOST}:{port}"
    try:
        _wait_healthy(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def server_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of the module's server (its feedback database is read by tests)."""
    return tmp_path_factory.mktemp("widget-data")


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, server_data: Path, corpus_index_template: Path
) -> Iterator[str]:
    """`assistant serve` on a free loopback port over a copy of the corpus index, to which
    the real `assistant ingest` adds one hostile document (corpus/ itself is unchanged,
    so it embeds nothing else); its base URL."""
    if _chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    hostile = tmp_path_factory.mktemp("hostile")
    (hostile / "hostile.md").write_text(HOSTILE_DOCUMENT, encoding="utf-8")
    copy_corpus_index(corpus_index_template, server_data)
    with _serve(server_data, [CORPUS, hostile]) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if _chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Demo:
    """One browser context on /widget-demo, recording every request the page makes."""

    def __init__(self, browser: Any, server: str, viewport: dict[str, int], **options: Any) -> None:
        self.server = server
        self.context = browser.new_context(viewport=viewport, **options)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.asks: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.page.on("request", self._on_request)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._on_dialog)

    def _on_request(self, request: Any) -> None:
        self.requests.append(request.url)
        if request.method == "POST" and urlsplit(request.url).path == "/api/ask":
            body = json.loads(request.post_data or "{}")
            self.asks.append({"body": body, "headers": request.headers})

    def _on_dialog(self, dialog: Any) -> None:
        """An alert() would mean server or user text was run as script."""
        self.errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def open_page(self) -> None:
        self.page.goto(f"{self.server}/widget-demo")
        self.page.wait_for_function("() => window.MarketIntelligenceWidget?.baseUrl")
        self.launcher.wait_for(state="visible")

    @property
    def launcher(self) -> Any:
        return self.page.locator(f"{WIDGET} .miw-launcher")

    @property
    def panel(self) -> Any:
        return self.page.locator(f"{WIDGET} .miw-panel")

    def shadow_eval(self, script: str) -> Any:
        """Evaluate `script` as a function of the widget's shadow root."""
        return self.page.evaluate(f"({script})(document.querySelector('{WIDGET}').shadowRoot)")

    def focused(self) -> str:
        """Class name of the focused element inside the widget ('' if none)."""
        return self.shadow_eval("root => root.activeElement ? root.activeElement.className : ''")

    def ask(self, question: str) -> Any:
        """Type `question`, press Enter, wait for the answer to finish; its message locator."""
        before = self.page.locator(ASSISTANT_DONE).count()
        textarea = self.page.locator(f"{WIDGET} textarea")
        textarea.fill(question)
        textarea.press("Enter")
        self.page.wait_for_function(
            f"n => document.querySelector('{WIDGET}').shadowRoot"
            ".querySelectorAll('.miw-msg[data-role=assistant][data-state=done]').length > n",
            arg=before,
            timeout=60_000,
        )
        return self.page.locator(ASSISTANT_DONE).nth(before)

    def screenshot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"widget-{name}.png"))

    def screenshots_light_and_dark(self, name: str) -> None:
        """`name` in the OS's light and dark settings (the widget follows the OS)."""
        for scheme in ("light", "dark"):
            self.page.emulate_media(color_scheme=scheme)
            self.page.wait_for_timeout(100)
            self.screenshot(f"{name}-{scheme}")
        self.page.emulate_media(color_scheme="light")

    def stored_conversation(self) -> list[dict[str, Any]]:
        """The conversation the widget keeps in sessionStorage."""
        return self.page.evaluate(
            """() => JSON.parse(sessionStorage.getItem(Object.keys(sessionStorage)
                 .find(k => k.startsWith('market-intelligence-widget:'))))"""
        )

    def assert_only_loopback(self) -> None:
        foreign = [url for url in self.requests if urlsplit(url).hostname != HOST]
        assert not foreign, f"the page reached other hosts: {foreign}"
        assert not self.errors, self.errors

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def demo(browser: Any, server: str) -> Iterator[Demo]:
    demo = Demo(browser, server, {"width": 1280, "height": 800})
    demo.open_page()
    yield demo
    demo.close()


def test_answer_streams_with_numbered_sources(demo: Demo) -> None:
    demo.screenshot("desktop-closed")
    assert demo.launcher.get_attribute("aria-expanded") == "false"
    assert demo.launcher.get_attribute("aria-label")
    demo.launcher.click()
    assert demo.launcher.get_attribute("aria-expanded") == "true"
    assert demo.panel.is_visible()
    assert demo.focused() == "miw-input"
    log = demo.page.locator(f"{WIDGET} [role=log]")
    assert log.get_attribute("aria-live") == "polite"
    assert "Malaysia" in log.inner_text()  # the page's data-greeting

    # Record whether the composer gets disabled while the answer streams.
    demo.shadow_eval(
        """root => {
          window.__composerDisabled = false;
          const textarea = root.querySelector('textarea');
          new MutationObserver(() => { if (textarea.disabled) window.__composerDisabled = true; })
            .observe(textarea, {attributes: true, attributeFilter: ['disabled']});
        }"""
    )
    answer = demo.ask(ANSWERABLE)
    assert demo.page.evaluate("window.__composerDisabled") is True
    assert not demo.page.locator(f"{WIDGET} textarea").is_disabled()

    text = answer.locator(".miw-text").inner_text()
    assert "January 2024" in text
    assert answer.get_attribute("data-refused") is None
    sources = answer.locator(".miw-sources li")
    assert sources.count() >= 1
    first = sources.first
    assert first.locator(".miw-source-n").inner_text() == "[1]"
    links = answer.locator(".miw-sources a[href*='trade.gov']")
    assert links.count() >= 1
    link = links.first
    assert link.get_attribute("href").startswith("https://")
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert link.get_attribute("target") == "_blank"
    assert answer.locator(".miw-quote").first.inner_text().strip()
    demo.screenshot("desktop-answer")

    # The request the widget sent: the SSE contract, no key in open loopback mode.
    assert len(demo.asks) == 1
    sent = demo.asks[0]
    assert sent["body"] == {"question": ANSWERABLE, "history": [], "stream": True}
    assert sent["headers"].get("accept") == "text/event-stream"
    assert sent["headers"].get("content-type") == "application/json"
    assert "x-api-key" not in sent["headers"]

    # A follow-up carries the conversation so far.
    demo.ask(FOLLOW_UP)
    history = demo.asks[1]["body"]["history"]
    assert [turn["role"] for turn in history] == ["user", "assistant"]
    assert history[0]["content"] == ANSWERABLE
    assert "January 2024" in history[1]["content"]

    # The conversation survives a reload (sessionStorage); "New chat" clears it.
    demo.page.reload()
    demo.page.wait_for_function("() => window.MarketIntelligenceWidget")
    demo.page.evaluate("MarketIntelligenceWidget.open()")
    assert demo.page.locator(ASSISTANT_DONE).count() == 2
    assert "January 2024" in demo.page.locator(ASSISTANT_DONE).first.inner_text()
    demo.page.locator(f"{WIDGET} button[aria-label='New chat']").click()
    assert demo.page.locator(f"{WIDGET} .miw-msg[data-role]").count() == 0
    demo.assert_only_loopback()


def test_document_html_is_shown_as_text_never_run(demo: Demo) -> None:
    demo.launcher.click()
    answer = demo.ask("What does the Zorblax consortium refine in Penang?")
    text = answer.locator(".miw-text").inner_text()
    assert "<script>window.__pwned = 'script'</script>" in text and "onerror" in text
    sources = answer.locator(".miw-sources").inner_text()
    assert "<img src=x" in sources and "<b>Bold</b> Publisher" in sources
    assert answer.locator(".miw-sources a").count() == 0  # a javascript: source is not a link
    assert demo.page.evaluate("window.__pwned") is None
    demo.screenshot("hostile-document")
    demo.assert_only_loopback()


def test_shadow_dom_isolates_the_page_css(demo: Demo) -> None:
    demo.launcher.click()
    # The page's hostile stylesheet is really in force on the page itself...
    page_font = demo.page.evaluate("getComputedStyle(document.querySelector('h2')).fontFamily")
    assert "comic sans" in page_font.lower()
    # ...and none of it reaches the widget.
    styles = demo.shadow_eval(
        """root => {
          const css = (selector) => getComputedStyle(root.querySelector(selector));
          return {
            sendFont: css('.miw-send').fontFamily,
            textareaFont: css('textarea').fontFamily,
            textareaBackground: css('textarea').backgroundColor,
            titleColor: css('.miw-title').color,
            greetingColor: css('.miw-greeting .miw-text').color,
            sendDisplay: css('.miw-send').display,
            sendBackground: css('.miw-send').backgroundColor,
            iconDisplay: css('.miw-send svg').display,
            logPadding: css('.miw-log').paddingTop,
            accent: css('.miw').getPropertyValue('--miw-accent').trim(),
          };
        }"""
    )
    assert "comic" not in styles["sendFont"].lower()
    assert "comic" not in styles["textareaFont"].lower()
    assert styles["textareaBackground"] == "rgb(255, 255, 255)"
    # The page sets `* { color: #b3001b !important }`.
    assert styles["greetingColor"] != "rgb(179, 0, 27)"
    assert styles["titleColor"] != "rgb(179, 0, 27)"
    assert styles["sendDisplay"] == "flex"  # `button { all: unset }` did not apply
    assert styles["sendBackground"] == "rgb(11, 95, 255)"  # the default accent, not the page's lime
    assert styles["iconDisplay"] != "none"
    assert styles["accent"] == "#0b5fff"
    demo.screenshot("desktop-open")
    demo.assert_only_loopback()


def test_refusal_is_marked_and_escape_closes(demo: Demo) -> None:
    demo.launcher.click()
    answer = demo.ask(ANSWERABLE)
    refusal = demo.ask(OFF_TOPIC)
    assert refusal.get_attribute("data-refused") == "true"
    assert "miw-refused" in (refusal.get_attribute("class") or "")
    label = refusal.locator(".miw-refusal-label").inner_text().strip()
    assert label.lower() == "not in the documents"
    assert answer.locator(".miw-refusal-label").count() == 0

    def border(locator: Any) -> str:
        return locator.locator(".miw-bubble").evaluate("el => getComputedStyle(el).borderTopStyle")

    assert border(refusal) != border(answer)
    demo.screenshot("desktop-refusal")

    # Escape closes the panel and gives focus back to the bubble.
    demo.page.locator(f"{WIDGET} textarea").focus()
    demo.page.keyboard.press("Escape")
    assert demo.panel.is_hidden()
    assert demo.launcher.get_attribute("aria-expanded") == "false"
    assert demo.focused() == "miw-launcher"
    demo.assert_only_loopback()


def test_phone_width_takes_the_full_screen(browser: Any, server: str) -> None:
    demo = Demo(browser, server, {"width": 390, "height": 844})
    try:
        demo.open_page()
        demo.screenshot("phone-closed")
        demo.launcher.click()
        demo.panel.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")
        box = demo.panel.bounding_box()
        assert box is not None
        assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
        demo.ask(ANSWERABLE)
        demo.screenshot("phone-answer")
        demo.assert_only_loopback()
    finally:
        demo.close()


def unreadable(demo: Demo, new_text: str) -> dict[str, list[str]]:
    """WCAG AA misses in the open panel, with the OS set to light and to dark; the element
    with class `new_text` must be among those measured."""
    failures = {}
    for scheme in ("light", "dark"):
        demo.page.emulate_media(color_scheme=scheme)
        demo.page.wait_for_timeout(100)
        measured = demo.panel.evaluate(MEASURE_CONTRAST)
        assert any(new_text in item["classes"].split() for item in measured), new_text
        failures[scheme] = contrast_failures(measured)
    demo.page.emulate_media(color_scheme="light")
    return failures


def test_inline_citations_open_their_source_and_copy_is_plain_text(browser: Any, server: str) -> None:
    demo = Demo(browser, server, DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    try:
        demo.open_page()
        demo.launcher.click()
        # One source: shown open; the [1] in the text is a button naming it.
        single = demo.ask(ANSWERABLE)
        assert single.locator(".miw-sources-toggle").get_attribute("aria-expanded") == "true"
        assert single.locator(".miw-sources-list").is_visible()
        cite = single.locator(".miw-text .miw-cite").first
        assert cite.inner_text() == "[1]"
        assert cite.get_attribute("aria-label") == "Source 1: Malaysia Critical Minerals Cooperation"

        # Three sources start folded; the last [n] in the text opens the list, scrolls the
        # log to source n and gives it the focus.
        answer = demo.ask(MULTI_SOURCE)
        toggle = answer.locator(".miw-sources-toggle")
        count = answer.locator(".miw-source").count()
        assert count >= 3
        assert toggle.get_attribute("aria-expanded") == "false"
        assert (toggle.text_content() or "").endswith(f"({count})")
        assert answer.locator(".miw-sources-list").is_hidden()
        log = demo.page.locator(f"{WIDGET} .miw-log")
        log.evaluate("log => { log.scrollTop = 0; }")
        last = answer.locator(".miw-text .miw-cite").last
        n = last.inner_text().strip("[]")
        last.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        assert demo.shadow_eval("root => root.activeElement.dataset.n") == n
        shown, log_box = answer.locator(f".miw-source[data-n='{n}']").bounding_box(), log.bounding_box()
        assert shown and log_box and log_box["y"] <= shown["y"] < log_box["y"] + log_box["height"] - 40
        demo.screenshots_light_and_dark("desktop-citation-opened")

        # By keyboard: Enter folds the list, Enter on [1] opens it at source 1.
        toggle.focus()
        demo.page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "false"
        answer.locator(".miw-text .miw-cite").first.focus()
        demo.page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true"
        assert demo.shadow_eval("root => root.activeElement.dataset.n") == "1"

        # Copy: the answer as text with its numbered sources, no markup, no empty dates.
        answer.locator("button[aria-label='Copy answer']").click()
        sync_api.expect(answer.locator(".miw-action-status")).to_have_text("Copied")
        copied = demo.page.evaluate("navigator.clipboard.readText()")
        stored = demo.stored_conversation()[-1]
        assert copied.startswith(stored["content"].strip() + "\n\nSources:\n[1] ")
        for citation in stored["citations"]:
            assert f"[{citation['n']}] {citation['title']} \u2014 {citation['publisher']}" in copied
            assert f"\n    {citation['source']}" in copied
        # The first source is an undated document: no date, no dangling separator.
        assert (
            "[1] Malaysia Critical Minerals Cooperation \u2014 U.S. International Trade Administration\n"
            in copied
        )
        for markup in ("<", "miw", "unknown", " \u00b7 \n", "Copy answer"):
            assert markup not in copied
        demo.assert_only_loopback()
    finally:
        demo.close()


def test_stop_ends_the_stream_keeps_what_was_shown_and_frees_the_input(browser: Any, server: str) -> None:
    demo = Demo(browser, server, DESKTOP)
    demo.context.add_init_script(PACED_EVENT_STREAM)
    try:
        demo.open_page()
        demo.launcher.click()
        textarea = demo.page.locator(f"{WIDGET} textarea")
        textarea.fill(ANSWERABLE)
        textarea.press("Enter")
        stop = demo.page.locator(f"{WIDGET} button[aria-label='Stop answering']")
        stop.wait_for(state="visible")
        assert demo.page.locator(f"{WIDGET} .miw-send").is_hidden()
        assert demo.focused() == "miw-stop"  # the textarea is disabled; Enter stops
        streaming = demo.page.locator(f"{WIDGET} .miw-msg[data-state=streaming] .miw-text")
        demo.page.wait_for_function(
            f"() => document.querySelector('{WIDGET}').shadowRoot"
            ".querySelector('.miw-msg[data-state=streaming] .miw-text')?.textContent.length > 60"
        )
        demo.page.evaluate("window.__paceMs = 600000")  # the connection stalls mid-answer,
        demo.page.wait_for_timeout(200)  # after the event already on its way
        shown = streaming.text_content()
        demo.screenshots_light_and_dark("desktop-streaming")

        demo.page.keyboard.press("Enter")
        stopped = demo.page.locator(f"{WIDGET} .miw-msg[data-role=assistant]").last
        assert stopped.get_attribute("data-state") == "done"
        assert stopped.get_attribute("data-stopped") == "true"
        assert stopped.locator(".miw-text").text_content() == shown
        assert stopped.locator(".miw-stopped").inner_text() == "Stopped"
        assert stopped.locator(".miw-sources").count() == 0  # they had not arrived
        # The request was aborted and its stream cancelled, not left to run on unread.
        assert demo.page.evaluate("window.__paced") == {"aborted": True, "cancelled": True}
        assert not textarea.is_disabled() and demo.focused() == "miw-input"
        assert stop.is_hidden() and demo.page.locator(f"{WIDGET} .miw-send").is_visible()
        assert unreadable(demo, "miw-stopped") == {"light": [], "dark": []}
        demo.screenshots_light_and_dark("desktop-stopped")

        # The conversation goes on from what was shown.
        demo.page.evaluate("window.__paceMs = 0")
        answer = demo.ask(FOLLOW_UP)
        assert demo.asks[1]["body"]["history"] == [
            {"role": "user", "content": ANSWERABLE},
            {"role": "assistant", "content": shown},
        ]
        assert answer.locator(".miw-source").count() >= 1
        demo.assert_only_loopback()
    finally:
        demo.close()


def test_thumbs_are_stored_with_their_conversation_and_undated_sources_show_no_date(
    browser: Any, server: str, server_data: Path
) -> None:
    demo = Demo(browser, server, PHONE)
    statuses: list[int] = []
    demo.page.on(
        "response",
        lambda response: (
            statuses.append(response.status) if urlsplit(response.url).path == "/api/feedback" else None
        ),
    )
    try:
        demo.open_page()
        demo.launcher.click()
        first = demo.ask(ANSWERABLE)
        # The corpus's own undated document (its date is "unknown" or empty): no date shown.
        assert first.locator(".miw-source-meta").inner_text() == "U.S. International Trade Administration"
        second = demo.ask(FOLLOW_UP)
        second.locator("button[aria-label='Good answer']").click()
        sync_api.expect(second.locator(".miw-action-status")).to_have_text("Thanks for the feedback")
        first.locator("button[aria-label='Bad answer']").click()
        sync_api.expect(first.locator(".miw-action-status")).to_have_text("Thanks for the feedback")
        assert statuses == [200, 200]
        assert unreadable(demo, "miw-action-status") == {"light": [], "dark": []}

        conversation = demo.stored_conversation()
        rows = {row.rating: row for row in list_feedback(Settings(data_dir=server_data), limit=2)}
        assert set(rows) == {"up", "down"}
        assert (rows["down"].question, rows["down"].answer) == (ANSWERABLE, conversation[1]["content"])
        assert rows["down"].history == [] and not rows["down"].refused
        assert rows["down"].citations[0]["n"] == 1
        assert rows["down"].citations[0]["title"] == "Malaysia Critical Minerals Cooperation"
        assert (rows["up"].question, rows["up"].answer) == (FOLLOW_UP, conversation[3]["content"])
        assert rows["up"].history == [
            {"role": "user", "content": ANSWERABLE},
            {"role": "assistant", "content": conversation[1]["content"]},
        ]

        # Loaders give undated documents "unknown" or "": neither is shown; a real date is.
        conversation[1]["citations"][0]["date"] = "unknown"
        conversation[3]["citations"] = [
            {**conversation[3]["citations"][0], "n": 1, "date": ""},
            {**conversation[3]["citations"][0], "n": 2, "date": "2025-10-26"},
        ]
        demo.page.evaluate(
            """conversation => sessionStorage.setItem(Object.keys(sessionStorage)
                 .find(k => k.startsWith('market-intelligence-widget:')), JSON.stringify(conversation))""",
            conversation,
        )
        demo.page.reload()
        demo.page.wait_for_function("() => window.MarketIntelligenceWidget")
        demo.page.evaluate("MarketIntelligenceWidget.open()")
        first, second = demo.page.locator(ASSISTANT_DONE).nth(0), demo.page.locator(ASSISTANT_DONE).nth(1)
        publisher = "U.S. International Trade Administration"
        assert first.locator(".miw-source-meta").inner_text() == publisher
        assert second.locator(".miw-source[data-n='1'] .miw-source-meta").inner_text() == publisher
        assert (
            second.locator(".miw-source[data-n='2'] .miw-source-meta").inner_text()
            == f"{publisher} \u00b7 2025-10-26"
        )
        # The ratings survived the reload: shown, and not to be given twice.
        for message, rating in ((first, "Bad answer"), (second, "Good answer")):
            chosen = message.locator(f"button[aria-label='{rating}']")
            assert chosen.get_attribute("aria-pressed") == "true" and chosen.is_disabled()
            assert message.locator(".miw-thumb[aria-pressed='false']").is_disabled()
        first.locator(".miw-text .miw-cite").first.click()
        demo.screenshots_light_and_dark("phone-citation-opened")
        demo.assert_only_loopback()
    finally:
        demo.close()


def test_llm_answers_mark_unsupported_sentences(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The widget over a server whose answers come from an LLM (a local OpenAI-protocol
    server): a sentence no cited source supports is marked, and the note says why."""
    from tests.conftest import LiveServer
    from tests.openai_server import make_app

    with LiveServer(make_app()) as llm:
        llm_env = {
            "ASSISTANT_LLM": "openai",
            "ASSISTANT_LLM_BASE_URL": f"{llm.url}/v1",
            "ASSISTANT_LLM_MODEL": "unsupported",
        }
        sources = [CORPUS / "trade-gov_malaysia-critical-minerals-cooperation.md"]
        with _serve(tmp_path_factory.mktemp("widget-llm"), sources, llm_env) as url:
            demo = Demo(browser, url, {"width": 1280, "height": 800})
            demo.open_page()
            demo.launcher.click()
            answer = demo.ask(ANSWERABLE)
            unsupported = answer.locator(".miw-unsupported")
            assert unsupported.count() == 1 and "lithium" in unsupported.inner_text()
            assert "not supported" in answer.locator(".miw-note").first.inner_text()
            assert answer.locator(".miw-sources li").count() >= 1
            demo.screenshot("llm-unsupported")
            demo.assert_only_loopback()
            demo.close()


def test_without_a_key_visitors_see_a_plain_message_and_the_console_gets_the_fix(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A site embeds the widget from a server that needs keys but forgets data-key: the
    visitor reads a plain sentence; how to fix it goes to the console for the developer."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from assistant.config import Settings
    from assistant.keys import create_key
    from assistant.server.api import create_app
    from assistant.service import Assistant
    from tests.conftest import LiveServer

    served: dict[str, str] = {}

    def host_page(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Acme shop</title></head>"
            "<body><h1>Acme shop</h1><p>Questions? Ask our assistant.</p>"
            f'<script src="{served["assistant"]}/widget.js" data-title="Acme help" async></script>'
            "</body></html>"
        )

    host = LiveServer(Starlette(routes=[Route("/", host_page)]))
    settings = Settings(data_dir=tmp_path_factory.mktemp("widget-keyed"))
    # The site has a widget key for its origin (so the browser may read the server's
    # answers), but its page does not use it. Bound to all interfaces: keys are required.
    create_key(settings, "acme-shop", [host.url])
    keyed = LiveServer(create_app(Assistant(settings), host="0.0.0.0", with_ui=False))
    with keyed, host:
        served["assistant"] = keyed.url
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        console: list[tuple[str, str]] = []
        statuses: list[int] = []
        errors: list[str] = []
        page.on("console", lambda message: console.append((message.type, message.text)))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "response",
            lambda response: (
                statuses.append(response.status)
                if urlsplit(response.url).path == "/api/ask" and response.request.method == "POST"
                else None
            ),
        )
        try:
            page.goto(host.url + "/")
            page.wait_for_function("() => window.MarketIntelligenceWidget?.baseUrl")
            page.locator(f"{WIDGET} .miw-launcher").click()
            textarea = page.locator(f"{WIDGET} textarea")
            textarea.fill(ANSWERABLE)
            textarea.press("Enter")
            failed = page.locator(f"{WIDGET} .miw-msg[data-role=assistant][data-state=error]")
            failed.wait_for(timeout=30_000)
            assert statuses == [401]  # the server really refused the key-less request

            assert failed.inner_text().strip() == "This assistant is not available right now."
            visitor_sees = page.locator(f"{WIDGET} .miw-panel").inner_text()
            for admin_words in ("Authorization", "Bearer", "keys create", "data-key", "API key"):
                assert admin_words not in visitor_sees
            page.screenshot(path=str(ARTIFACTS / "widget-no-key.png"))

            for_developer = [
                text for kind, text in console if kind == "error" and "Market Intelligence" in text
            ]
            assert len(for_developer) == 1, console
            instructions = for_developer[0]
            assert "401" in instructions and "missing_key" in instructions
            assert "Authorization: Bearer KEY" in instructions  # the server's own explanation
            assert "data-key" in instructions
            assert f"assistant keys create --name SITE --origin {host.url}" in instructions
            assert not errors, errors
        finally:
            context.close()
