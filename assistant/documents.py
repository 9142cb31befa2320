"""Loading files into LangChain `Document`s with the metadata every later step relies on.

One `Document` per file. Its `page_content` is the text that chunk spans and citation
spans point into, so a citation can always be checked against `load_file(path)`.

Metadata keys: `title`, `source` (URL, or the file path when none is known), `publisher`,
`date` (as written), `date_sort` (YYYYMMDD, 0 when unknown), `license`, `path` (resolved
file path, the identity of the document in the index), `doc_type`, and for PDFs
`page_starts` (JSON list of the character offset where each page begins).

`date` and `publisher` come from the document's own metadata or are empty: "unknown" on a
citation tells the reader nothing, and a guessed value misleads (a year in the body text
is not the page's date; python-docx's template values are not the document's).

Files are untrusted input: a file larger than `max_file_bytes` is refused before it is
read, and YAML front matter is parsed without aliases, with bounded size and nesting, and
its values checked, so that a few hundred hostile bytes cannot expand into gigabytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from langchain_core.documents import Document
from yaml.nodes import Node

from assistant.config import Settings
from assistant.text import MONTHS, is_valid_text

PAGE_SEPARATOR = "\n\n"

# The front matter keys the index uses, and the longest value each may have: every chunk
# carries them and every citation shows them, so a runaway value is copied thousands of times.
FRONT_MATTER_FIELDS: dict[str, int] = {
    "title": 300,
    "source": 2048,  # a URL; browsers and servers commonly stop at about 2,000 characters
    "publisher": 300,
    "date": 200,  # as written, e.g. "October 2025 (per URL; signed October 26, 2025)"
    "license": 300,
}
# Real front matter is flat; nesting deeper than this is an attack on the parser's recursion.
MAX_FRONT_MATTER_DEPTH = 20


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
    # Files that `load_paths`'s `skip` turned away after reading (unchanged since indexed).
    skipped: list[Path] = field(default_factory=list)


def load_paths(
    paths: Iterable[Path],
    settings: Settings | None = None,
    skip: Callable[[Path, bytes], bool] | None = None,
) -> LoadResult:
    """Load every supported file under `paths`, reporting (not raising) per-file problems.

    Without `settings` the limits are read from the `ASSISTANT_*` variables, so that callers
    that predate the limits still honour them. `skip(path, data)` sees each file's bytes
    before they are parsed (the parse is the slow part); a file it returns True for is
    listed in `skipped` instead of loaded.
    """
    settings = settings or Settings()
    result = LoadResult()
    for path in paths:
        if not path.exists():
            result.errors.append(LoadError(path, "path does not exist"))
            continue
        if path.is_dir():
            result.roots.append(path.resolve())
        for file_path in iter_files(path):
            if not is_valid_text(str(file_path)):  # ids, records and Chroma need text paths
                result.errors.append(LoadError(file_path, "the file name is not valid UTF-8: rename it"))
                continue
            try:
                data = read_file(file_path, settings)
                if skip is not None and skip(file_path, data):
                    result.skipped.append(file_path)
                    continue
                result.documents.append(parse_file(file_path, data, settings))
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


def load_file(path: Path, settings: Settings | None = None) -> Document:
    """Load one file with the loader its suffix calls for.

    `settings` gives the size limits (read from the `ASSISTANT_*` variables when omitted).

    Raises:
        DocumentLoadError: the file is unsupported, too large, empty, corrupt or has bad
            front matter.
    """
    settings = settings or Settings()
    return parse_file(path, read_file(path, settings), settings)


def read_file(path: Path, settings: Settings) -> bytes:
    """The bytes of a file of a supported type within the size limit.

    Raises:
        DocumentLoadError: the file is unsupported, too large or unreadable.
    """
    suffix = path.suffix.lower()
    if suffix not in LOADERS:
        supported = ", ".join(SUPPORTED_SUFFIXES)
        raise DocumentLoadError(f"unsupported file type '{suffix or path.name}' (supported: {supported})")
    return _read_bounded(path, settings.max_file_bytes)


def parse_file(path: Path, data: bytes, settings: Settings) -> Document:
    """The Document of a file's bytes (from `read_file`), by the loader its suffix calls for.

    Raises:
        DocumentLoadError: the file is empty, corrupt or has bad front matter.
    """
    suffix = path.suffix.lower()
    loader = LOADERS[suffix]
    if not data.strip():
        raise DocumentLoadError("empty file: there is no text to index")
    try:
        text, metadata = loader(data, settings)
    except DocumentLoadError:
        raise
    except Exception as error:  # a parser bug or odd file must not stop the whole ingest
        raise DocumentLoadError(f"cannot read file ({type(error).__name__}: {error})") from error
    if not text.strip():
        raise DocumentLoadError("no text could be extracted (a scanned PDF or an empty page?)")
    return Document(page_content=text, metadata=_complete_metadata(metadata, path, suffix))


def _read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refused before reading when over `max_bytes`: a 30 MB text file
    never finished ingesting, and reading a huge file only to refuse it wastes the memory."""
    try:
        size = path.stat().st_size
        if size <= max_bytes:
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)  # +1: a file that grew since stat() is caught too
            size = max(size, len(data))
    except OSError as error:
        raise DocumentLoadError(f"cannot read file: {error.strerror or error}") from error
    if size > max_bytes:
        raise DocumentLoadError(
            f"{path.name} is {size:,} bytes ({_megabytes(size)}), over the limit of {max_bytes:,} bytes "
            f"({_megabytes(max_bytes)}); set ASSISTANT_MAX_FILE_BYTES higher to index it, or split it"
        )
    return data


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _complete_metadata(metadata: dict[str, object], path: Path, suffix: str) -> dict:
    """Fill in the metadata every chunk needs, with fallbacks for files that lack it.

    Values are clipped to the front matter bounds: titles from headings, HTML and PDF
    properties are not checked like front matter, yet every chunk copies them."""
    resolved = path.resolve()
    title = _clipped(metadata.get("title"), "title") or path.stem.replace("_", " ")
    date_text = _clipped(_date_text(metadata.get("date")), "date")
    source = str(metadata.get("source") or "").strip()
    completed = {
        "title": title,
        # A clipped URL would point somewhere else: fall back to the file instead.
        "source": source if 0 < len(source) <= FRONT_MATTER_FIELDS["source"] else str(resolved),
        "publisher": _clipped(metadata.get("publisher"), "publisher"),
        "date": date_text,
        "date_sort": parse_date_sort(date_text),
        "license": _clipped(metadata.get("license"), "license") or "unknown",
        "path": str(resolved),
        "doc_type": suffix.lstrip("."),
    }
    if "page_starts" in metadata:
        completed["page_starts"] = json.dumps(metadata["page_starts"])
    return completed


def _clipped(value: object, key: str) -> str:
    """`value` as stripped text of at most the key's bound, ending in an ellipsis when cut."""
    text = str(value or "").strip()
    limit = FRONT_MATTER_FIELDS[key]
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _date_text(value: object) -> str:
    """The date as the text users will see (YAML turns `2026-02-04` into a date), or ""
    when it names no year: "unknown", "n.d." and "undated" are no date, and every surface
    shows nothing rather than a placeholder."""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    text = str(value or "").strip()
    return text if _YEAR.search(text) else ""


_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")


def parse_date_sort(date_text: str) -> int:
    """YYYYMMDD for filtering and sorting; 0 when the text holds no recognisable date."""
    match = re.search(r"(\d{4})-(\d{2})-(\d{2})", date_text)
    if match:
        return int("".join(match.groups()))
    match = re.search(
        rf"{MONTHS}(?:\s+(\d{{1,2}}),)?\s+(\d{{4}})",
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


# --- loaders: (bytes, settings) -> (text, metadata) -------------------------------------


def decode_text(data: bytes) -> str:
    """Decode UTF-8, or detect the encoding of a legacy file rather than reject it."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        if "\x00" not in text:
            return text
        raise DocumentLoadError(
            "the text holds NUL characters: not a text file, or UTF-16 without a byte-order "
            "mark (save it as UTF-8)"
        )
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


class _FrontMatterLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases and with bounded nesting.

    `safe_load` still expands aliases: nine lists of nine aliases, seven deep, are under
    300 bytes of YAML and a 4.8-million-item value. Front matter never needs aliases.
    Values YAML resolves but Python cannot build (2024-13-45, a 5,000-digit integer, an
    empty `!!int`) become errors with their line instead of a bare ValueError or IndexError.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise DocumentLoadError(
                f"front matter line {_front_matter_line(event.start_mark)} uses the YAML alias "
                f"'*{event.anchor}': aliases are not allowed in front matter (a few of them can "
                "expand into gigabytes); write the value out in full"
            )
        self._depth += 1
        try:
            if self._depth > MAX_FRONT_MATTER_DEPTH:
                raise DocumentLoadError(
                    f"front matter line {_front_matter_line(event.start_mark)} is nested more than "
                    f"{MAX_FRONT_MATTER_DEPTH} levels deep; front matter is flat `key: value` lines"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, DocumentLoadError):
            raise
        except Exception as error:  # PyYAML's constructors raise bare built-ins: `!!int ` -> IndexError
            raise DocumentLoadError(
                f"front matter line {_front_matter_line(node.start_mark)}: {str(node.value)[:80]!r} "
                f"cannot be read ({error}); put it in quotes to keep it as text"
            ) from error


def _front_matter_line(mark: yaml.Mark | None) -> int | str:
    """The line of the file: front matter starts on line 2, after the opening `---`."""
    return mark.line + 2 if mark is not None else "?"


def split_front_matter(
    text: str, max_bytes: int = Settings.model_fields["max_front_matter_bytes"].default
) -> tuple[dict[str, str], str]:
    """Split YAML front matter (between `---` lines at the top) from the body.

    Returns the known keys (`FRONT_MATTER_FIELDS`) as text no longer than their bounds;
    other keys are dropped, since nothing reads them. YAML dates come back as YYYY-MM-DD.

    Raises:
        DocumentLoadError: the front matter is over `max_bytes`, is not a YAML mapping,
            uses aliases, nests too deep, or has a known key with a wrong or oversized value.
    """
    match = re.match(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", text, re.DOTALL)
    if not match:
        return {}, text
    size = len(match.group(1).encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise DocumentLoadError(
            f"front matter is {size:,} bytes, over the limit of {max_bytes:,} bytes; keep it to "
            "title, source, publisher, date and license, or raise ASSISTANT_MAX_FRONT_MATTER_BYTES"
        )
    try:
        parsed = yaml.load(match.group(1), Loader=_FrontMatterLoader) or {}  # a SafeLoader subclass
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 2}" if where is not None else ""
        raise DocumentLoadError(
            f"front matter is not valid YAML{line}: {getattr(error, 'problem', error)}; "
            "fix it or remove the front matter"
        ) from error
    if not isinstance(parsed, dict):
        raise DocumentLoadError("front matter must be a YAML mapping of `key: value` lines")
    return _checked_front_matter(parsed), text[match.end() :]


def _checked_front_matter(parsed: dict) -> dict[str, str]:
    """The known keys as bounded text; a wrong type or an oversized value is an error that
    names the key, since a silently dropped title would be worse than a skipped file."""
    metadata: dict[str, str] = {}
    for key, limit in FRONT_MATTER_FIELDS.items():
        value = parsed.get(key)
        if value is None:
            continue
        if key == "date" and isinstance(value, date):  # also datetime
            value = value.isoformat()[:10]
        if not isinstance(value, str):
            wanted = "text or a YYYY-MM-DD date" if key == "date" else "text"
            raise DocumentLoadError(
                f"front matter: {key} must be {wanted}, not {_yaml_kind(value)}; put the value in quotes"
            )
        if len(value) > limit:
            raise DocumentLoadError(
                f"front matter: {key} is {len(value)} characters long; at most {limit} are allowed"
            )
        metadata[key] = value
    return metadata


def _yaml_kind(value: object) -> str:
    """How a YAML author would name the type of `value`."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, set):
        return "a set"
    if isinstance(value, bytes):
        return "binary data"
    return f"a {type(value).__name__}"


def load_markdown(data: bytes, settings: Settings) -> tuple[str, dict]:
    """Markdown or plain text with optional YAML front matter."""
    front_matter, body = split_front_matter(decode_text(data), settings.max_front_matter_bytes)
    metadata: dict[str, object] = dict(front_matter)
    body = body.strip("\n")
    if not metadata.get("title"):
        heading = re.search(r"^#{1,3}\s+(.+)$", body, re.MULTILINE)
        if heading:
            metadata["title"] = heading.group(1).strip()
    return body, metadata


def load_html(data: bytes, settings: Settings) -> tuple[str, dict]:
    """Main text of a web page, without menus, scripts and footers."""
    import trafilatura
    from bs4 import BeautifulSoup
    from trafilatura.settings import set_date_params

    html = decode_text(data)
    soup = BeautifulSoup(html, "html.parser")
    metadata: dict[str, object] = {}
    extracted = trafilatura.bare_extraction(
        html,
        include_comments=False,
        include_tables=True,
        favor_recall=True,
        with_metadata=True,
        # Dates from the page's markup only (meta tags, JSON-LD, <time>): htmldate's
        # extensive search guesses from the body text ("starting in 2026" -> 2026-01-01).
        date_extraction_params=set_date_params(extensive=False),
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


def load_pdf(data: bytes, settings: Settings) -> tuple[str, dict]:
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


def load_docx(data: bytes, settings: Settings) -> tuple[str, dict]:
    """Paragraph text of a Word document, one paragraph per block."""
    from io import BytesIO
    from zipfile import BadZipFile

    import docx

    try:
        document = docx.Document(BytesIO(data))
    except (BadZipFile, KeyError, ValueError) as error:
        raise DocumentLoadError(f"cannot read DOCX (corrupt?): {error}") from error
    paragraphs = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    metadata = _own_core_properties(document)
    if not metadata.get("title") and paragraphs:
        metadata["title"] = paragraphs[0]
    return "\n\n".join(paragraphs), metadata


def _own_core_properties(document: Any) -> dict[str, object]:
    """Title, publisher (author) and date that the document's own core properties give.

    Values python-docx wrote itself are dropped: a document made from its default template
    keeps the template's author "python-docx" and creation date 2013-12-23 unless someone
    set them, and a file without core properties gets made-up ones ("Word Document") the
    moment they are read, which is why their presence is checked first.
    """
    from docx.opc.constants import RELATIONSHIP_TYPE

    package = document.part.package
    if not any(rel.reltype == RELATIONSHIP_TYPE.CORE_PROPERTIES for rel in package.rels.values()):
        return {}
    template = _python_docx_template_properties()
    found = _core_values(document.core_properties)
    # A created datetime becomes its YYYY-MM-DD in `_complete_metadata`.
    return {key: value for key, value in found.items() if value and value != template[key]}


def _core_values(properties: Any) -> dict[str, object]:
    """The core properties this loader reads, under the metadata keys they become."""
    return {"title": properties.title, "publisher": properties.author, "date": properties.created}


@lru_cache(maxsize=1)
def _python_docx_template_properties() -> dict[str, object]:
    """The core properties of python-docx's default template, as `_own_core_properties` keys."""
    import docx

    return _core_values(docx.Document().core_properties)


# The one table of file types: a new format is a loader here (it gets the settings, for
# the limits that apply to its format); everything else derives from this table.
LOADERS: dict[str, Callable[[bytes, Settings], tuple[str, dict]]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}
SUPPORTED_SUFFIXES = tuple(LOADERS)
