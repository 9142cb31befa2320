"""Loading files into Documents: metadata, main text, pages, and every kind of bad input."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from assistant.chunking import chunk_document
from assistant.documents import DocumentLoadError, load_file, load_paths

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# --- Markdown -------------------------------------------------------------------------


def test_markdown_front_matter_fills_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path / "note.md",
        "---\n"
        'title: "Tin Smelting in Penang"\n'
        "source: https://example.org/tin\n"
        "publisher: Example Trade Office\n"
        "date: 2024-03-15\n"
        "---\n"
        "\n"
        "The tin smelter in Butterworth produced more ingots this year.\n",
    )
    doc = load_file(path)
    assert doc.page_content == "The tin smelter in Butterworth produced more ingots this year."
    assert doc.metadata["title"] == "Tin Smelting in Penang"
    assert doc.metadata["source"] == "https://example.org/tin"
    assert doc.metadata["publisher"] == "Example Trade Office"
    # YAML reads 2024-03-15 as a date; it is kept as the text the user wrote.
    assert doc.metadata["date"] == "2024-03-15"
    assert doc.metadata["date_sort"] == 20240315
    assert doc.metadata["path"] == str(path.resolve())
    assert doc.metadata["doc_type"] == "md"
    assert "---" not in doc.page_content


def test_markdown_without_front_matter_falls_back(tmp_path: Path) -> None:
    path = write(
        tmp_path / "plain_notes.md",
        "# Rubber Gloves\n\nMalaysia makes most of the world's gloves.\n",
    )
    doc = load_file(path)
    assert doc.metadata["title"] == "Rubber Gloves"  # first heading
    assert doc.metadata["source"] == str(path.resolve())  # no URL known: the file path
    assert doc.metadata["publisher"] == ""  # none known: empty, never a placeholder
    assert doc.metadata["date"] == ""
    assert doc.metadata["date_sort"] == 0


@pytest.mark.parametrize("written", ["unknown", "Unknown", "n.d.", "undated", "N/A", "-"])
def test_a_date_that_names_no_year_is_no_date(tmp_path: Path, written: str) -> None:
    doc = load_file(write(tmp_path / "note.md", f'---\ndate: "{written}"\n---\n\nBody text.\n'))
    assert doc.metadata["date"] == "" and doc.metadata["date_sort"] == 0


def test_corpus_documents_load_with_their_front_matter() -> None:
    doc = load_file(CORPUS / "trade-gov_ccg_malaysia-market-challenges.md")
    assert doc.metadata["title"] == "Malaysia - Country Commercial Guide: Market Challenges"
    assert doc.metadata["source"] == "https://www.trade.gov/knowledge-product/malaysia-market-challenges"
    assert doc.metadata["publisher"] == "U.S. International Trade Administration"
    assert doc.metadata["date"] == "2021-11-06"
    assert doc.metadata["date_sort"] == 20211106
    ustr = load_file(CORPUS / "ustr_fact-sheet_us-malaysia-reciprocal-trade.md")
    assert ustr.metadata["date_sort"] == 20251001  # "October 2025 (per URL; ...)"
    assert not ustr.page_content.startswith("---")


# --- HTML -----------------------------------------------------------------------------

ARTICLE = (
    "The Malaysian tin smelter increased output of refined tin ingots this year, and analysts "
    "expect exports to Japan and Korea to keep growing as electronics demand recovers across Asia. "
) * 4


def test_html_keeps_main_text_and_drops_nav_script_footer(tmp_path: Path) -> None:
    html = f"""<!DOCTYPE html>
<html><head><title>Tin Market Update</title>
<script>var trackingId = "SCRIPTMARKER";</script></head>
<body>
<nav><ul><li><a href="/">Home NAVMARKER</a></li><li><a href="/about">About us</a></li>
<li><a href="/contact">Contact</a></li></ul></nav>
<main><article><h1>Tin Market Update</h1>
<p>{ARTICLE}</p>
<p>The company plans a new furnace near Butterworth in Penang,
which will double capacity by 2027.</p>
</article></main>
<footer>Copyright FOOTERMARKER. All rights reserved. Privacy policy.</footer>
</body></html>"""
    doc = load_file(write(tmp_path / "page.html", html))
    assert "analysts expect exports to Japan and Korea" in doc.page_content
    assert "double capacity by 2027" in doc.page_content
    for marker in ("NAVMARKER", "SCRIPTMARKER", "FOOTERMARKER", "trackingId"):
        assert marker not in doc.page_content
    assert doc.metadata["title"] == "Tin Market Update"
    assert doc.metadata["doc_type"] == "html"


def test_html_dates_come_from_the_markup_not_the_text(tmp_path: Path) -> None:
    body = f"<main><article><h1>Tin Permits</h1><p>Permits start in 2026. {ARTICLE}</p></article></main>"
    undated = load_file(write(tmp_path / "undated.html", f"<html><head></head><body>{body}</body></html>"))
    assert undated.metadata["date"] == ""  # trafilatura's body-text search said 2026-01-01
    meta = '<meta property="article:published_time" content="2024-05-06">'
    dated = load_file(write(tmp_path / "dated.html", f"<html><head>{meta}</head><body>{body}</body></html>"))
    assert dated.metadata["date"] == "2024-05-06"


# --- PDF ------------------------------------------------------------------------------

PAGE_TEXTS = [
    "The Kemaman tin smelter opened in 2019 and employs three hundred workers.",
    "Its refined ingots are shipped through Kuantan port to buyers in Japan.",
]


def make_pdf(path: Path, pages: list[str], title: str = "", author: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path) as pdf:
        for text in pages:
            figure = plt.figure(figsize=(8.5, 11))
            figure.text(0.05, 0.5, text, fontsize=10)
            pdf.savefig(figure)
            plt.close(figure)
        info = pdf.infodict()
        if title:
            info["Title"] = title
        if author:
            info["Author"] = author
    return path


def test_pdf_pages_are_kept(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "tin.pdf", PAGE_TEXTS, title="Tin Report", author="Tin Council")
    doc = load_file(path)
    assert doc.metadata["doc_type"] == "pdf"
    assert doc.metadata["title"] == "Tin Report"
    assert doc.metadata["publisher"] == "Tin Council"
    starts = json.loads(doc.metadata["page_starts"])
    assert starts[0] == 0 and len(starts) == 2
    assert doc.page_content[: starts[1]].strip() == PAGE_TEXTS[0]
    assert doc.page_content[starts[1] :].strip() == PAGE_TEXTS[1]

    chunks = chunk_document(doc, chunk_size=100)
    pages = {}
    for chunk in chunks:
        body = chunk.page_content[chunk.metadata["text_offset"] :]
        pages[body] = chunk.metadata["page"]
    assert pages == {PAGE_TEXTS[0]: 1, PAGE_TEXTS[1]: 2}


# --- DOCX -----------------------------------------------------------------------------


def test_docx_paragraphs_and_properties(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Palm Oil Brief"
    document.core_properties.author = "Plantation Board"
    document.core_properties.created = datetime(2023, 5, 17, 9, 30)
    document.add_paragraph("Crude palm oil exports rose in the first quarter.")
    document.add_paragraph("   ")
    document.add_paragraph("The export levy is reviewed every month.")
    path = tmp_path / "brief.docx"
    document.save(str(path))

    doc = load_file(path)
    assert doc.page_content == (
        "Crude palm oil exports rose in the first quarter.\n\nThe export levy is reviewed every month."
    )
    assert doc.metadata["title"] == "Palm Oil Brief"
    assert doc.metadata["publisher"] == "Plantation Board"
    assert doc.metadata["date"] == "2023-05-17"
    assert doc.metadata["doc_type"] == "docx"


def test_docx_without_core_properties_gets_none_made_up(tmp_path: Path) -> None:
    """python-docx invents a title "Word Document" (and an author) when a file has no
    docProps/core.xml, as files from some generators do not."""
    import re
    import zipfile

    import docx

    made = tmp_path / "made.docx"
    document = docx.Document()
    document.add_paragraph("Bauxite Note")
    document.add_paragraph("Bauxite mining resumed in Kuantan under new rules.")
    document.save(str(made))
    bare = tmp_path / "bare.docx"
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(bare, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "_rels/.rels":
                data = re.sub(rb"<Relationship [^>]*docProps/core\.xml[^>]*/>", b"", data)
            if item.filename != "docProps/core.xml":
                target.writestr(item, data)
    doc = load_file(bare)
    found = doc.metadata
    assert (found["title"], found["publisher"], found["date"]) == ("Bauxite Note", "", "")


# --- bad input ------------------------------------------------------------------------


def test_nonexistent_path(tmp_path: Path) -> None:
    with pytest.raises(DocumentLoadError, match="cannot read file"):
        load_file(tmp_path / "missing.md")


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(DocumentLoadError, match=r"unsupported file type '\.xyz'") as info:
        load_file(write(tmp_path / "data.xyz", "some text"))
    assert ".md" in str(info.value) and ".pdf" in str(info.value)  # names what is supported


@pytest.mark.parametrize("content", [b"", b"   \n\t\n  \r\n"], ids=["empty", "whitespace"])
def test_empty_files_are_rejected(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(DocumentLoadError, match="empty file"):
        load_file(write(tmp_path / "empty.md", content))


def test_front_matter_only_has_no_text(tmp_path: Path) -> None:
    with pytest.raises(DocumentLoadError, match="no text"):
        load_file(write(tmp_path / "only.md", "---\ntitle: Nothing Else\n---\n\n"))


def test_corrupt_pdf(tmp_path: Path) -> None:
    data = os.urandom(4096)
    with pytest.raises(DocumentLoadError, match="cannot read PDF"):
        load_file(write(tmp_path / "broken.pdf", data))


def test_corrupt_docx(tmp_path: Path) -> None:
    with pytest.raises(DocumentLoadError, match="cannot read DOCX"):
        load_file(write(tmp_path / "broken.docx", os.urandom(512)))


def test_cp1252_text_is_decoded_not_rejected(tmp_path: Path) -> None:
    data = "Café “quoted” is what the old Windows export tool wrote for every row.".encode("cp1252")
    assert b"\x93" in data and b"\xe9" in data
    doc = load_file(write(tmp_path / "legacy.txt", data))
    assert doc.page_content == "Café “quoted” is what the old Windows export tool wrote for every row."


def test_short_cp1252_text_is_decoded_correctly(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "short.txt", b"Caf\xe9 \x93quoted\x94"))
    assert doc.page_content == "Café “quoted”"


def test_binary_with_nul_bytes_is_rejected(tmp_path: Path) -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\xff\xfe\x00\x00binary"
    with pytest.raises(DocumentLoadError, match="not UTF-8"):
        load_file(write(tmp_path / "image.txt", data))


def test_invalid_yaml_front_matter(tmp_path: Path) -> None:
    text = "---\ntitle: [unclosed\ndate: 2024-01-01\n---\n\nBody text.\n"
    with pytest.raises(DocumentLoadError, match="YAML") as info:
        load_file(write(tmp_path / "bad.md", text))
    assert "line 3" in str(info.value)  # the line of the file where YAML gave up


def test_front_matter_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(DocumentLoadError, match="YAML mapping"):
        load_file(write(tmp_path / "list.md", "---\n- a\n- b\n---\n\nBody text.\n"))


def test_load_paths_loads_good_files_and_reports_each_bad_one(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    write(folder / "good.md", "---\ntitle: Good One\n---\n\nRubber exports grew.\n")
    write(folder / "sub" / "good.txt", "Palm oil prices fell in March.\n")
    write(folder / ".hidden.md", "Hidden files are not indexed.\n")
    bad = {
        folder / "empty.md": "empty file",
        folder / "broken.pdf": "cannot read PDF",
        folder / "bad_yaml.md": "YAML",
        folder / "notes.xyz": "unsupported file type",
        folder / "sub" / "binary.txt": "not UTF-8",
    }
    write(folder / "empty.md", b"")
    write(folder / "broken.pdf", os.urandom(1024))
    write(folder / "bad_yaml.md", "---\ntitle: [oops\n---\n\nBody.\n")
    write(folder / "notes.xyz", "whatever")
    write(folder / "sub" / "binary.txt", b"\x00\x01\x02\xff\xfe\x00\x00")
    missing = tmp_path / "does-not-exist"

    result = load_paths([folder, missing])

    assert sorted(Path(d.metadata["path"]).name for d in result.documents) == [
        "good.md",
        "good.txt",
    ]
    reasons = {error.path: error.reason for error in result.errors}
    assert set(reasons) == {*bad, missing}
    for path, expected in bad.items():
        assert expected in reasons[path], (path, reasons[path])
    assert reasons[missing] == "path does not exist"
    assert result.roots == [folder.resolve()]


# --- front matter that is hostile or malformed, and files that are too large (issue 10) ---

# Under 300 bytes that PyYAML's safe_load expands into a 4.8-million-item title (25 MB once str()-ed).
ALIAS_BOMB = (
    "---\n"
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "title: *g\n"
    "---\n\nBody.\n"
)


def test_yaml_alias_bomb_in_front_matter_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "bomb.md", ALIAS_BOMB)
    assert path.stat().st_size < 300  # a few hundred bytes, like the one in the issue
    with pytest.raises(DocumentLoadError, match="alias") as info:
        load_file(path)
    assert "line 3" in str(info.value)  # the first alias, as a line of the file


def test_an_alias_bomb_is_skipped_and_the_other_files_load(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    write(folder / "bomb.md", ALIAS_BOMB)
    write(folder / "good.md", "---\ntitle: Tin Output\n---\n\nThe smelter produced more tin.\n")

    result = load_paths([folder])

    assert [d.metadata["title"] for d in result.documents] == ["Tin Output"]
    assert [(e.path.name, "alias" in e.reason) for e in result.errors] == [("bomb.md", True)]


def test_an_anchor_used_by_no_alias_is_harmless(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "anchor.md", "---\ntitle: &t Tin Output\n---\n\nBody text.\n"))
    assert doc.metadata["title"] == "Tin Output"


def test_deeply_nested_front_matter_is_refused(tmp_path: Path) -> None:
    text = "---\nextra: " + "[" * 5000 + "]" * 5000 + "\ntitle: Deep\n---\n\nBody text.\n"
    with pytest.raises(DocumentLoadError, match="nested"):
        load_file(write(tmp_path / "deep.md", text))


def test_front_matter_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    from assistant.config import Settings

    notes = "n" * 70_000
    path = write(tmp_path / "long.md", f"---\ntitle: Tin\nnotes: {notes}\n---\n\nBody text.\n")
    with pytest.raises(DocumentLoadError, match="ASSISTANT_MAX_FRONT_MATTER_BYTES") as info:
        load_file(path)
    assert "70,018 bytes" in str(info.value) and "65,536" in str(info.value)
    # The setting raises the limit.
    assert load_file(path, Settings(max_front_matter_bytes=100_000)).metadata["title"] == "Tin"


@pytest.mark.parametrize(
    ("front_matter", "expected"),
    [
        (f"title: {'T' * 301}", "title is 301 characters long; at most 300"),
        (f"publisher: {'P' * 301}", "publisher is 301 characters long; at most 300"),
        (f"source: https://example.org/{'u' * 2100}", "source is 2120 characters long; at most 2048"),
        (f"date: {'d' * 201}", "date is 201 characters long; at most 200"),
        ("title: [Tin, Output]", "title must be text, not a list"),
        ("title: {name: Tin}", "title must be text, not a mapping"),
        ("title: 1984", "title must be text, not a number"),
        ("publisher: yes", "publisher must be text, not a boolean"),
        ("source: 2024-01-01", "source must be text, not a date"),
        ("date: [2024]", "date must be text or a YYYY-MM-DD date, not a list"),
        ("date: 2024-13-45", "front matter line 2"),
        ("license: 1.5", "license must be text, not a number"),
    ],
)
def test_front_matter_values_are_checked(tmp_path: Path, front_matter: str, expected: str) -> None:
    path = write(tmp_path / "bad.md", f"---\n{front_matter}\n---\n\nBody text.\n")
    with pytest.raises(DocumentLoadError) as info:
        load_file(path)
    assert expected in str(info.value)


def test_valid_front_matter_values_still_load(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ok.md",
        f"---\ntitle: {'T' * 300}\ndate: 2024-02-29\npublisher:\nlicense: CC-BY\ntags: [tin, 3]\n---\n\nBody.\n",
    )
    doc = load_file(path)
    assert doc.metadata["title"] == "T" * 300
    assert doc.metadata["date"] == "2024-02-29" and doc.metadata["date_sort"] == 20240229
    assert doc.metadata["publisher"] == ""  # empty means unknown, not an error
    assert doc.metadata["license"] == "CC-BY"


def test_a_heading_used_as_title_is_clipped(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path / "heading.md", "# " + "Tin " * 1000 + "\n\nBody text.\n"))
    assert len(doc.metadata["title"]) <= 300 and doc.metadata["title"].startswith("Tin Tin")


def test_a_file_over_max_file_bytes_is_refused_with_the_setting_named(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    line = b"Refined tin output rose in Perak as the smelter added a furnace line.\n"
    path.write_bytes(line * (30 * 1024 * 1024 // len(line) + 1))  # just over 30 MB
    with pytest.raises(DocumentLoadError) as info:
        load_file(path)
    message = str(info.value)
    assert "huge.txt" in message
    assert f"{path.stat().st_size:,} bytes" in message and "30.0 MB" in message
    assert "20.0 MB" in message and "ASSISTANT_MAX_FILE_BYTES" in message


def test_max_file_bytes_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.config import Settings

    path = write(tmp_path / "small.md", "Palm oil prices fell in March. " * 100)
    assert load_file(path).page_content.startswith("Palm oil")
    with pytest.raises(DocumentLoadError, match="ASSISTANT_MAX_FILE_BYTES"):
        load_file(path, Settings(max_file_bytes=1000))
    # load_paths (what `assistant ingest` calls) reads the variable when given no settings.
    monkeypatch.setenv("ASSISTANT_MAX_FILE_BYTES", "1000")
    result = load_paths([tmp_path])
    assert not result.documents
    assert [e.path.name for e in result.errors] == ["small.md"]
    assert "3,100 bytes" in result.errors[0].reason
