"""Dates and publishers on citations come from a document's own metadata, or are empty;
date filters say how many undated documents they left out, and include them on request.

One real index per module (the real model, Chroma) over files made here: a Markdown file
dated "unknown", an HTML page with no date whose text mentions 2026, a DOCX made from
python-docx's template, a DOCX with its own author and date, and a dated Markdown file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest

from assistant.config import Settings
from assistant.retrieval import Filters
from assistant.server.api import create_app
from assistant.service import Assistant
from tests.conftest import LiveServer
from tests.test_api import sse_events
from tests.test_index_repair import run_cli

QUESTION = "Can I export unrefined gallium ore from Ruritania?"
UNDATED_NOTE = "The date filter left out 3 undated documents."

GALLIUM = """---
title: "Gallium Export Licences"
publisher: "Example Minerals Office"
date: "unknown"
---

Ruritania has banned the export of unrefined gallium ore. Exporters of refined gallium
must hold a licence from the Ruritanian Ministry of Mines, renewed every year.
"""

REFINERY = """---
title: "Portville Gallium Refinery"
publisher: "Example Trade Office"
date: "2024-06-10"
---

The gallium refinery in Portville opened in June 2024 and processes ore from the northern
mines. Its refined gallium is sold to chip makers in Japan.
"""

TIN_PAGE = """<!DOCTYPE html>
<html><head><title>Tin Permit Rules</title></head><body><main><article>
<h1>Tin Permit Rules</h1>
<p>Ruritania will require export permits for tin concentrate starting in 2026, the ministry
said on its website. Smelters in Portville must register every shipment of tin with the
customs department before loading, and the permit covers ore, concentrate and slag.</p>
<p>The ministry expects the permit rule to slow tin shipments at first and to raise the
price that smelters pay for concentrate from small mines in the northern provinces.</p>
</article></main></body></html>
"""


def _docx(path: Path, paragraphs: list[str], author: str = "", created: datetime | None = None) -> None:
    """A Word file made with python-docx from its default template, as scripts make them."""
    import docx

    document = docx.Document()
    if author:
        document.core_properties.author = author
    if created:
        document.core_properties.created = created
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    corpus = tmp_path_factory.mktemp("dates-corpus")
    (corpus / "gallium.md").write_text(GALLIUM, encoding="utf-8")
    (corpus / "refinery.md").write_text(REFINERY, encoding="utf-8")
    (corpus / "tin.html").write_text(TIN_PAGE, encoding="utf-8")
    _docx(corpus / "memo.docx", ["Nickel Memo", "Nickel pig iron keeps nickel prices low this year."])
    _docx(
        corpus / "board.docx",
        ["Nickel Board Minutes", "The board approved a nickel smelter study in Portville."],
        author="Nickel Council",
        created=datetime(2023, 5, 17, 9, 30),
    )
    assistant = Assistant(Settings(data_dir=tmp_path_factory.mktemp("dates-data")))
    report = assistant.ingest([corpus])
    assert not report.errors, report.errors
    return assistant


def _by_file(assistant: Assistant) -> dict[str, tuple[str, str]]:
    return {Path(info.path).name: (info.publisher, info.date) for info in assistant.sources()}


def test_dates_and_publishers_come_from_the_documents_own_metadata(dated_index: Assistant) -> None:
    assert _by_file(dated_index) == {
        "gallium.md": ("Example Minerals Office", ""),  # date "unknown" is no date
        "refinery.md": ("Example Trade Office", "2024-06-10"),
        "tin.html": ("", ""),  # not 2026-01-01 from "starting in 2026" in the text
        "memo.docx": ("", ""),  # not python-docx's template: "python-docx", 2013-12-23
        "board.docx": ("Nickel Council", "2023-05-17"),  # set by its author: kept
    }


def test_a_date_filter_says_how_many_undated_documents_it_left_out(dated_index: Assistant) -> None:
    filtered = dated_index.ask(QUESTION, filters=Filters(date_from="2024-01-01"))
    assert UNDATED_NOTE in filtered.notes
    assert {Path(c.path).name for c in filtered.citations} <= {"refinery.md"}

    included = dated_index.ask(QUESTION, filters=Filters(date_from="2024-01-01", include_undated=True))
    assert not [note for note in included.notes if "undated" in note]
    gallium = [c for c in included.citations if Path(c.path).name == "gallium.md"]
    assert gallium and gallium[0].date == ""
    assert "banned the export of unrefined gallium ore" in included.answer


def test_api_filters_take_include_undated_and_notes_count_the_left_out(dated_index: Assistant) -> None:
    with LiveServer(create_app(dated_index, host="127.0.0.1", with_ui=False)) as server:
        url = f"{server.url}/api/ask"
        included = httpx.post(
            url,
            json={"question": QUESTION, "filters": {"date_from": "2024", "include_undated": True}},
            timeout=60,
        ).json()
        streamed = httpx.post(
            url, json={"question": QUESTION, "filters": {"date_from": "2024"}, "stream": True}, timeout=60
        )
    assert {(c["path"], c["date"]) for c in included["citations"]} >= {("gallium.md", "")}
    citations_event = dict(sse_events(streamed.text))["citations"]
    assert UNDATED_NOTE in citations_event["notes"]


def test_cli_shows_no_date_for_undated_documents_and_counts_what_filters_leave_out(
    dated_index: Assistant,
) -> None:
    data_dir = str(dated_index.settings.data_dir)
    code, listed, _ = run_cli("--data-dir", data_dir, "sources")
    assert code == 0
    assert "Gallium Export Licences — 1 chunks" in listed
    assert "Portville Gallium Refinery — 2024-06-10, 1 chunks" in listed

    code, filtered, _ = run_cli("--data-dir", data_dir, "ask", "--date-from", "2024-01-01", QUESTION)
    assert code == 0
    assert f"{UNDATED_NOTE} Add --include-undated to search them too." in filtered

    code, included, _ = run_cli(
        "--data-dir", data_dir, "ask", "--date-from", "2024-01-01", "--include-undated", QUESTION
    )
    assert code == 0 and "left out" not in included
    # "[1] Title — publisher" and then the source: no date, no "unknown".
    assert "Gallium Export Licences — Example Minerals Office /" in included
