"""The staff Documents tab: list, upload and delete documents on a running server.

One real server (uvicorn, Gradio, Chroma, the real model) holds its data directory as
`assistant serve` does, and answers from an upload at once and no longer from a deleted
document; the handlers are also called directly (a corrupt file is reported and skipped,
the rest indexed), and on a public chat nobody without a server key reaches the tab."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant.config import Settings
from assistant.data_dir import data_dir_lock
from assistant.keys import create_key
from assistant.server.api import create_app
from assistant.service import Assistant
from assistant.text import escape_markdown
from assistant.ui.documents_tab import delete_document, document_rows, upload_documents, uploads_dir
from tests.conftest import CHROMIUM_ARGS, LiveServer, require_chromium, two_document_assistant

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

ANODE_TITLE = "Kuantan Graphite Anode Plant Briefing"
ANODE_DOCUMENT = f"""---
title: "{ANODE_TITLE}"
source: "https://example.org/kuantan-graphite-anode"
publisher: "Example Trade Office"
date: "2026-03-02"
---

# Kuantan graphite anode plant

The Kuantan graphite anode plant will produce 40,000 tonnes of battery anode material a year
from 2027. It is run by Tembusu Anode Sdn Bhd, a joint venture of a Malaysian refiner and a
Korean battery maker, and buys its flake graphite from Mozambique.
"""
ANODE_QUESTION = "How much battery anode material will the Kuantan graphite anode plant produce?"

PERMIT_TITLE = "Perak Tin Tailings Permit Notice"
PERMIT_DOCUMENT = f"""---
title: "{PERMIT_TITLE}"
publisher: "Example Mines Department"
---

Reprocessing tin tailings in Perak needs a Zorvex permit from the state mines office, issued
within 45 working days of a complete application.
"""
PERMIT_QUESTION = "How long does the Zorvex permit for tin tailings in Perak take?"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Assistant]]:
    """A loopback server over two corpus documents, holding the data directory as
    `assistant serve` does (so an upload must not be refused by its own lock)."""
    reports = tmp_path_factory.mktemp("documents-reports")  # the Quality tab's, kept apart
    assistant = two_document_assistant(tmp_path_factory, reports_dir=reports)
    assistant.warm_up()
    with data_dir_lock(assistant.settings, "serve"), LiveServer(create_app(assistant)) as server:
        yield server, assistant


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def cited_titles(answer) -> set[str]:  # type: ignore[no-untyped-def]
    return {citation.title for citation in answer.citations}


# --- the handlers, called directly ----------------------------------------------------------


def test_upload_reports_a_corrupt_file_and_indexes_the_rest(served, tmp_path: Path) -> None:
    _, assistant = served
    corrupt = tmp_path / "broken.pdf"
    corrupt.write_bytes(b"%PDF-1.4\nthis is not really a PDF\n")
    good = tmp_path / "permit.md"
    good.write_text(PERMIT_DOCUMENT, encoding="utf-8")
    steps: list[tuple[int, int]] = []

    report = upload_documents(
        assistant, [str(corrupt), str(good)], lambda done, total: steps.append((done, total))
    ).replace("\\", "")  # Markdown escapes

    assert "**Skipped** broken.pdf: cannot read PDF (corrupt" in report
    assert "1 added" in report and "1 skipped with errors" in report
    assert steps and steps[-1] == (1, 1)
    copy = uploads_dir(assistant.settings) / "permit.md"
    assert copy.exists() and not (uploads_dir(assistant.settings) / "broken.pdf").exists()
    row = next(row for row in document_rows(assistant) if row[0] == PERMIT_TITLE)
    assert row[1] == "" and row[4] == "uploads/permit.md" and row[3] >= 1  # undated: no date shown
    assert PERMIT_TITLE in cited_titles(assistant.ask(PERMIT_QUESTION))  # BM25 refreshed too

    assert delete_document(assistant, str(copy.resolve())) == f"Deleted **{escape_markdown(PERMIT_TITLE)}**."
    assert not copy.exists()
    assert PERMIT_TITLE not in [row[0] for row in document_rows(assistant)]
    assert PERMIT_TITLE not in cited_titles(assistant.ask(PERMIT_QUESTION))


def test_uploads_obey_the_servers_file_size_limit(served, tmp_path: Path) -> None:
    """The limit is the server's setting, for the tab and for `Assistant.ingest` alike (the
    ingest used to read ASSISTANT_MAX_FILE_BYTES from the environment instead)."""
    _, assistant = served
    large = tmp_path / "large.md"
    large.write_text(PERMIT_DOCUMENT + "More text. " * 200, encoding="utf-8")
    saved = assistant.settings.max_file_bytes
    assistant.settings.max_file_bytes = 1000
    try:
        report = upload_documents(assistant, [str(large)]).replace("\\", "")
        ingested = assistant.ingest([large])
    finally:
        assistant.settings.max_file_bytes = saved
    assert "**Skipped** large.md: large.md is" in report and "over the limit of 1,000 bytes" in report
    assert [error.path for error in ingested.errors] == [large] and not ingested.files_added


# --- the tab in a browser ---------------------------------------------------------------------


def open_page(browser, server: LiveServer, width: int = 1366, height: int = 900):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(server.url + "/")
    page.wait_for_selector("#question textarea")
    return page


def ask(page, question: str) -> str:  # type: ignore[no-untyped-def]
    """Ask in the Chat tab; returns the text of the answer with its sources (open or not)."""
    page.get_by_role("tab", name="Chat").click()
    count = page.locator(".bot-row").count()
    page.fill("#question textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function("n => document.querySelectorAll('.bot-row').length > n", arg=count, timeout=30000)
    answer = page.locator(".bot-row").last
    answer.locator(".mia-refusal, details.mia-sources").first.wait_for(state="attached", timeout=30000)
    page.locator("#question button.submit-button").wait_for(timeout=30000)  # the answer is complete
    return answer.text_content() or ""


def ask_to_delete(page, title: str):  # type: ignore[no-untyped-def]
    """Press the document's Delete… button; returns the confirmation box."""
    page.get_by_role("tab", name="Documents").click()
    page.get_by_role("button", name=f"Delete {title}").click()
    confirm = page.locator("#documents-confirm")
    confirm.get_by_text(f"Delete {title} (").wait_for()
    return confirm


def screenshots(page, size: str) -> None:  # type: ignore[no-untyped-def]
    """The page light and dark, for a person to look at (Gradio's dark theme is the `dark`
    class on <body>, as ?__theme=dark sets it)."""
    for theme in ("light", "dark"):
        page.evaluate("dark => document.body.classList.toggle('dark', dark)", theme == "dark")
        page.wait_for_timeout(300)  # Gradio's colour transitions
        page.screenshot(path=str(ARTIFACTS / f"documents-{theme}-{size}.png"), full_page=True)
    page.evaluate("() => document.body.classList.remove('dark')")


def test_upload_ask_delete_in_the_browser(browser, served, tmp_path: Path) -> None:
    server, assistant = served
    ARTIFACTS.mkdir(exist_ok=True)
    upload = tmp_path / "kuantan-anode.md"
    upload.write_text(ANODE_DOCUMENT, encoding="utf-8")
    page = open_page(browser, server)
    header = page.locator(".mia-header")
    before = assistant.stats()["documents"]
    header.get_by_text(f"Answers from {before} public documents").wait_for()
    page.get_by_role("tab", name="Documents").click()  # shown by the page's load event
    table = page.locator("#documents-table")
    table.get_by_text("Malaysia Critical Minerals Cooperation").wait_for()

    page.locator("#documents-upload input[type=file]").set_input_files(str(upload))
    page.locator("#documents-status").get_by_text("1 added").wait_for(timeout=30000)
    # What else shows the documents follows: the header's count, the Quality tab's choices.
    header.get_by_text(f"Answers from {before + 1} public documents").wait_for()
    page.get_by_role("tab", name="Quality").click()
    page.locator("#promote-source input").click()
    page.get_by_role("option", name=ANODE_TITLE).wait_for()
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="Documents").click()
    chunks = next(info.chunks for info in assistant.sources() if info.title == ANODE_TITLE)
    row = table.get_by_role("row").filter(has_text=ANODE_TITLE)
    assert [cell.strip() for cell in row.get_by_role("cell").all_inner_texts()][:4] == [
        f"{ANODE_TITLE}\nuploads/kuantan-anode.md",
        "2026-03-02",
        "Example Trade Office",
        str(chunks),
    ]
    answer = ask(page, ANODE_QUESTION)
    assert "40,000 tonnes" in answer and ANODE_TITLE in answer

    phone = open_page(browser, server, 390, 844)  # on a phone: asked, then cancelled
    confirm = ask_to_delete(phone, ANODE_TITLE)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways page scroll
    screenshots(phone, "phone")
    confirm.get_by_role("button", name="Cancel").click()
    confirm.wait_for(state="hidden")
    assert ANODE_TITLE in [info.title for info in assistant.sources()]
    phone.close()

    confirm = ask_to_delete(page, ANODE_TITLE)
    assert (
        f"({chunks} chunk" in confirm.inner_text()
        and "Its uploaded file is removed too." in confirm.inner_text()
    )
    screenshots(page, "desktop")
    confirm.get_by_role("button", name="Delete it").click()
    page.locator("#documents-status").get_by_text(f"Deleted {ANODE_TITLE}").wait_for()
    assert table.get_by_role("row").filter(has_text=ANODE_TITLE).count() == 0
    header.get_by_text(f"Answers from {before} public documents").wait_for()
    assert ANODE_TITLE not in [info.title for info in assistant.sources()]
    assert not (uploads_dir(assistant.settings) / upload.name).exists()

    assert ANODE_TITLE not in ask(page, ANODE_QUESTION)
    page.close()


# --- access -----------------------------------------------------------------------------------


def call(server: LiveServer, name: str, data: list, **headers: str) -> list:
    """The outputs of one of the tab's events, called through Gradio's HTTP API as a script
    (or the page) would; for the load event, they are what a browser is sent."""
    started = httpx.post(f"{server.url}/gradio_api/call/{name}", json={"data": data}, headers=headers)
    events = httpx.get(f"{server.url}/gradio_api/call/{name}/{started.json()['event_id']}", headers=headers)
    return json.loads(events.text.split("data:")[-1])


def test_a_public_chat_does_not_open_the_tab_to_anonymous_visitors(tmp_path: Path) -> None:
    """Keys exist and ASSISTANT_PUBLIC_CHAT is on: anyone may ask, but neither the page nor
    Gradio's API lets them (or a widget key) list, upload or delete documents; a server key
    (a script's, never a web page's) does."""
    document = tmp_path / "permit.md"
    document.write_text(PERMIT_DOCUMENT, encoding="utf-8")
    assistant = Assistant(Settings(data_dir=tmp_path / "data", reports_dir=tmp_path, public_chat=True))
    assistant.ingest([document])
    key = create_key(assistant.settings, "staff", [], allow_server=True)
    # A widget key is public (it sits in the customer's page), and any script can send its Origin.
    widget = create_key(assistant.settings, "shop", ["https://shop.example"])
    with LiveServer(create_app(assistant)) as server:
        for headers in ({}, {"x-api-key": widget, "origin": "https://shop.example"}):
            tab, table = call(server, "on_load", [], **headers)
            assert tab["visible"] is False and table == ""
        tab, table = call(server, "on_load", [], **{"x-api-key": key})
        assert tab["visible"] is True and PERMIT_TITLE in table

        uploaded = httpx.post(
            f"{server.url}/gradio_api/upload", files={"files": ("anode.md", ANODE_DOCUMENT.encode())}
        ).json()
        files = [{"path": path, "meta": {"_type": "gradio.FileData"}} for path in uploaded]
        status, _table, _files = call(server, "on_upload", [files])
        assert "takes a server key" in status
        status, *_ = call(server, "on_delete", [])  # the path to delete is the session's state
        assert "takes a server key" in status
        assert [info.title for info in assistant.sources()] == [PERMIT_TITLE]
