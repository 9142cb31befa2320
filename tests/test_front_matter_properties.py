"""Property-based tests of the front matter parser: whatever the YAML, it either returns
short text values for the keys the index uses or raises `DocumentLoadError`, nothing else."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant.documents import (
    FRONT_MATTER_FIELDS,
    DocumentLoadError,
    load_file,
    split_front_matter,
)

# No example database: each run stands on its own, not on what earlier runs stored.
PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Pieces that YAML treats specially, so that random lines reach the corners of the
# parser (anchors, aliases, merge keys, tags, flow collections, block scalars, dates).
# fmt: off
YAML_PIECES = [
    "title", "source", "publisher", "date", "license", "tags",
    ": ", "\n  ", "- ", "[", "]", "{", "}", ", ", "? ", "|\n  ", ">\n  ",
    "&a ", "&b ", "*a", "*b", "<<: *a", "!!str ", "!!int ", "!!float ", "!!binary ", "!!timestamp ",
    "!!python/object:os.system ", "!!set ", "!!omap ", "!custom ", '"', "'", " #", "%YAML 1.1\n",
    "~", "null", "yes", "no", "1e999", "0x1F", "0o17", "1_000", ".nan", "-.inf", "1:20",
    "2024-02-29", "2024-02-30", "2024-01-01T25:00:00", "2024-01-01 10:00:00 +05:00", "9" * 5000,
    "x" * 400, "\t", "\\u0000", "\x00", "\x85", "\u2028", "\ufeff", "é",
]
# fmt: on
# Printable text: YAML refuses control characters outright, which would hide every other path.
piece = st.one_of(
    st.sampled_from(YAML_PIECES), st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=12)
)
value = st.lists(piece, max_size=5).map("".join)
line = st.tuples(
    st.sampled_from([*FRONT_MATTER_FIELDS, "tags", "- ", "  ", ""]), st.sampled_from([": ", ":", " "]), value
).map("".join)
yaml_like = st.lists(line, max_size=8).map("\n".join)


def assert_clean(metadata: dict) -> None:
    """Only the known keys, each a string no longer than its bound."""
    assert set(metadata) <= set(FRONT_MATTER_FIELDS)
    for key, value in metadata.items():
        assert isinstance(value, str), (key, value)
        assert len(value) <= FRONT_MATTER_FIELDS[key], (key, len(value))


def parse(front_matter: str) -> dict | None:
    """The parser's metadata, or None when it refused the front matter with its own error."""
    text = f"---\n{front_matter}\n---\nBody.\n"
    try:
        metadata, body = split_front_matter(text)
    except DocumentLoadError:
        return None
    assert text.endswith(body)
    return metadata


@PROPERTY
@given(yaml_like)
@example("a: &a [x, x, x]\nb: &b [*a, *a, *a]\ntitle: *b")  # the alias bomb, small
@example("title: !!int ")  # PyYAML raises IndexError for it
@example("date: 2024-02-30")  # ValueError from datetime.date
@example("title: " + "9" * 5000)  # ValueError: Python's limit on digits in int()
@example("title: " + "[" * 100 + "]" * 100)  # deeper than any front matter
def test_yaml_like_text_gives_clean_metadata_or_the_loaders_error(front_matter: str) -> None:
    metadata = parse(front_matter)
    if metadata is not None:
        assert_clean(metadata)


@PROPERTY
@given(st.text(max_size=300))
def test_any_text_gives_clean_metadata_or_the_loaders_error(front_matter: str) -> None:
    metadata = parse(front_matter)
    if metadata is not None:
        assert_clean(metadata)


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.dates() | st.text(max_size=400),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@PROPERTY
@given(st.dictionaries(st.sampled_from([*FRONT_MATTER_FIELDS, "tags", "notes"]), yaml_values))
def test_any_yaml_mapping_gives_clean_metadata_or_the_loaders_error(mapping: dict) -> None:
    metadata = parse(yaml.safe_dump(mapping, allow_unicode=True))
    if metadata is not None:
        assert_clean(metadata)


def _fits(key: str, value: object) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= FRONT_MATTER_FIELDS[key])


@PROPERTY
@given(st.dictionaries(st.sampled_from(list(FRONT_MATTER_FIELDS)), st.none() | st.text(max_size=400)))
def test_good_values_come_back_unchanged_and_only_bad_ones_are_refused(mapping: dict) -> None:
    # Escaped, not raw, Unicode: PyYAML's emitter writes a raw U+0085 that its reader folds.
    metadata = parse(yaml.safe_dump(mapping))
    if all(_fits(key, value) for key, value in mapping.items()):
        assert metadata == {key: value for key, value in mapping.items() if value is not None}
    else:
        assert metadata is None


@PROPERTY
@given(st.dates())
def test_yaml_dates_come_back_as_the_text_written(day: date) -> None:
    assert parse(f"date: {day.isoformat()}") == {"date": day.isoformat()}


@settings(max_examples=60, deadline=None, database=None)
@given(yaml_like, st.text(max_size=200))
def test_the_real_loader_on_real_files_raises_only_its_own_error(front_matter: str, body: str) -> None:
    # A real file through load_file (decoding, front matter, metadata completion).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "note.md"
        path.write_text(f"---\n{front_matter}\n---\n\n{body}\n", encoding="utf-8", errors="surrogatepass")
        try:
            document = load_file(path)
        except DocumentLoadError:
            return
    for key in ("title", "source", "publisher", "date", "license"):
        value = document.metadata[key]
        assert isinstance(value, str) and len(value) <= FRONT_MATTER_FIELDS[key], key
