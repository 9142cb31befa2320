"""Loading files into LangChain `Document`s with the metadata every later step relies on.

One `Document` per file. Its `page_content` is the text that chunk spans and citation
spans point into, so a citation can always be checked against `load_file(path)`.

Metadata keys: `title`, `source` (URL, or the file path when none is known), `publisher`,
`date` (as written), `date_sort` (YYYYMMDD, 0 when unknown), `license`, `path` (resolved
file path, the identity of the document in the index), `doc_type`, and for PDFs
`page_starts` (JSON list of the character offset where each page begins).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from langchain_core.documents import Document

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")
PAGE_SEPARATOR = "\n\n"


class DocumentLoadError(Exception):
    """A file that cannot be turned into a document; the message says why and what to do."""


@dataclass
class LoadError:
    """A file that was skipped, and why."""

    path: Path
    reason: str


@dataclass
class LoadResult:
    """What loading a set of paths produced."""

    documents: list[Document] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    # Directories that were walked: files that vanished from them may be pruned.
    roots: list[Path] = field(default_factory=list)


def load_paths(paths: Iterable[Path]) -> LoadResult:
    """Load every supported file under `paths`, reporting (not raising) per-file problems."""
    result = LoadResult()
    for path in paths:
        if not path.exists():
            result.errors.append(LoadError(path, "path does not exist"))
            continue
        if path.is_dir():
            result.roots.append(path.resolve())
        for file_path in iter_files(path):
            try:
                result.documents.append(load_file(file_path))
            except DocumentLoadError as error:
                result.errors.append(LoadError(file_path, str(error)))
    return result


def iter_files(path: Path) -> Iterator[Path]:
    """Yield `path` itself, or the files below a directory in a stable order (hidden ones skipped)."""
    if path.is_file():
        yield path
        return
    for file_path in sorted(path.rglob("*")):
        relative_parts = file_path.relative_to(path).parts
        if file_path.is_file() and not any(part.startswith(".") for part in relative_parts):
            yield file_path


def load_file(path: Path) -> Document:
    """Load one file with the loader its suffix calls for.

    Raises:
        DocumentLoadError: the file is unsupported, empty, corrupt or has bad front matter.
    """
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise DocumentLoadError(f"unsupported file type '{suffix or path.name}' (supported: {supported})")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DocumentLoadError(f"cannot read file: {error.strerror or error}") from error
    if not data.strip():
        raise DocumentLoadError("empty file: there is no text to index")
    try:
        text, metadata = loader(data)
    except DocumentLoadError:
        raise
    except Exception as error:  # a parser bug or odd file must not stop the whole ingest
        raise DocumentLoadError(f"cannot read file ({type(error).__name__}: {error})") from error
    if not text.strip():
        raise DocumentLoadError("no text could be extracted (a scanned PDF or an empty page?)")
    return Document(page_content=text, metadata=_complete_metadata(metadata, path, suffix))


def _complete_metadata(metadata: dict[str, object], path: Path, suffix: str) -> dict:
    """Fill in the metadata every chunk needs, with fallbacks for files that lack it."""
    resolved = path.resolve()
    title = str(metadata.get("title") or "").strip() or path.stem.replace("_", " ")
    date_text = _date_text(metadata.get("date"))
    completed = {
        "title": title,
        "source": str(metadata.get("source") or "").strip() or str(resolved),
        "publisher": str(metadata.get("publisher") or "").strip() or "unknown",
        "date": date_text,
        "date_sort": parse_date_sort(date_text),
        "license": str(metadata.get("license") or "").strip() or "unknown",
        "path": str(resolved),
        "doc_type": suffix.lstrip("."),
    }
    if "page_starts" in metadata:
        completed["page_starts"] = json.dumps(metadata["page_starts"])
    return completed


def _date_text(value: object) -> str:
    """YAML turns `2026-02-04` into a date; keep every date as the text users will see."""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value).strip() if value else "unknown"


def parse_date_sort(date_text: str) -> int:
    """YYYYMMDD for filtering and sorting; 0 when the text holds no recognisable date."""
    match = re.search(r"(\d{4})-(\d{2})-(\d{2})", date_text)
    if match:
        return int("".join(match.groups()))
    match = re.search(
        r"(January|February|March|April|May|June|July|August|September|October|November|December)"
        r"(?:\s+(\d{1,2}),)?\s+(\d{4})",
        date_text,
    )
    if match:
        month = datetime.strptime(match.group(1), "%B").month
        day = int(match.group(2) or 1)
        return int(match.group(3)) * 10000 + month * 100 + day
    return 0


def page_of(metadata: dict, offset: int) -> int | None:
    """The 1-based page that holds character `offset`, for documents that have pages."""
    page_starts = metadata.get("page_starts")
    if not page_starts:
        return None
    starts = json.loads(page_starts) if isinstance(page_starts, str) else page_starts
    page = 1
    for number, start in enumerate(starts, start=1):
        if start <= offset:
            page = number
    return page


# --- loaders: bytes -> (text, metadata) -------------------------------------------------


def decode_text(data: bytes) -> str:
    """Decode UTF-8, or detect the encoding of a legacy file rather than reject it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if b"\x00" not in data and _mostly_ascii(data):
        # Mostly-English legacy files are Windows-1252 far more often than anything else;
        # detectors guess Cyrillic code pages for short ones ("Caf\xe9" -> "Cafщ").
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or b"\x00" in data:
        raise DocumentLoadError(
            "text is not UTF-8 and its encoding could not be detected (a binary file?); save it as UTF-8"
        )
    return str(best)


def _mostly_ascii(data: bytes, share: float = 0.7) -> bool:
    return sum(byte < 0x80 for byte in data) >= share * len(data)


def split_front_matter(text: str) -> tuple[dict, str]:
    """Split YAML front matter (between `---` lines at the top) from the body."""
    match = re.match(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", text, re.DOTALL)
    if not match:
        return {}, text
    try:
        metadata = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 2}" if where is not None else ""
        raise DocumentLoadError(
            f"front matter is not valid YAML{line}: {getattr(error, 'problem', error)}; "
            "fix it or remove the front matter"
        ) from error
    if not isinstance(metadata, dict):
        raise DocumentLoadError("front matter must be a YAML mapping of `key: value` lines")
    return metadata, text[match.end() :]


def load_markdown(data: bytes) -> tuple[str, dict]:
    """Markdown or plain text with optional YAML front matter."""
    metadata, body = split_front_matter(decode_text(data))
    body = body.strip("\n")
    if not metadata.get("title"):
        heading = re.search(r"^#{1,3}\s+(.+)$", body, re.MULTILINE)
        if heading:
            metadata["title"] = heading.group(1).strip()
    return body, metadata


def load_html(data: bytes) -> tuple[str, dict]:
    """Main text of a web page, without menus, scripts and footers."""
    import trafilatura
    from bs4 import BeautifulSoup

    html = decode_text(data)
    soup = BeautifulSoup(html, "html.parser")
    metadata: dict[str, object] = {}
    extracted = trafilatura.bare_extraction(
        html, include_comments=False, include_tables=True, favor_recall=True, with_metadata=True
    )
    text = ""
    if extracted is not None:
        found = extracted if isinstance(extracted, dict) else extracted.as_dict()
        text = (found.get("text") or "").strip()
        metadata = {
            "title": found.get("title"),
            "date": found.get("date"),
            "publisher": found.get("sitename"),
        }
        if found.get("url"):
            metadata["source"] = found["url"]
    if not text:
        # trafilatura drops pages it judges to be boilerplate; short pages still have text.
        for tag in soup(["script", "style", "nav", "header", "footer", "aside", "noscript"]):
            tag.decompose()
        text = "\n\n".join(line.strip() for line in soup.get_text("\n").splitlines() if line.strip())
    canonical = soup.find("link", rel="canonical")
    if canonical and canonical.get("href") and not metadata.get("source"):
        metadata["source"] = canonical["href"]
    if not metadata.get("title") and soup.title and soup.title.string:
        metadata["title"] = soup.title.string.strip()
    return text, metadata


def load_pdf(data: bytes) -> tuple[str, dict]:
    """PDF text page by page; `page_starts` maps offsets back to page numbers."""
    from io import BytesIO

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        info: Any = reader.metadata or {}
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise DocumentLoadError(f"cannot read PDF (corrupt or encrypted?): {error}") from error
    text_parts: list[str] = []
    page_starts: list[int] = []
    offset = 0
    for page_text in pages:
        page_starts.append(offset)
        text_parts.append(page_text)
        offset += len(page_text) + len(PAGE_SEPARATOR)
    metadata: dict[str, object] = {"page_starts": page_starts}
    if info.get("/Title"):
        metadata["title"] = str(info["/Title"])
    if info.get("/Author"):
        metadata["publisher"] = str(info["/Author"])
    return PAGE_SEPARATOR.join(text_parts), metadata


def load_docx(data: bytes) -> tuple[str, dict]:
    """Paragraph text of a Word document, one paragraph per block."""
    from io import BytesIO
    from zipfile import BadZipFile

    import docx

    try:
        document = docx.Document(BytesIO(data))
    except (BadZipFile, KeyError, ValueError) as error:
        raise DocumentLoadError(f"cannot read DOCX (corrupt?): {error}") from error
    paragraphs = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    metadata: dict[str, object] = {}
    properties = document.core_properties
    if properties.title:
        metadata["title"] = properties.title
    elif paragraphs:
        metadata["title"] = paragraphs[0]
    if properties.author:
        metadata["publisher"] = properties.author
    if properties.created:
        metadata["date"] = properties.created.date()
    return "\n\n".join(paragraphs), metadata


_LOADERS: dict[str, Callable[[bytes], tuple[str, dict]]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}
