"""Shared fixtures: no network, state in tmp_path, one real index of corpus/ per session."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.service import Assistant

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"

# `postgres_server`: a throwaway PostgreSQL cluster, for the tests of shared state.
pytest_plugins = ["tests.postgres"]

# The fields every citation carries (the `Answer` contract).
CITATION_KEYS = {
    "n",
    "title",
    "source",
    "publisher",
    "date",
    "page",
    "quote",
    "start",
    "end",
    "score",
}

# Debian's Chromium, headless, with nothing that reaches for the network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Where browser tests look for Chromium: Debian's path, then names looked up on PATH.
CHROMIUM_CANDIDATES: tuple[str, ...] = ("/usr/bin/chromium", "chromium", "chromium-browser")


def find_chromium(candidates: Iterable[str] | None = None) -> str | None:
    """The first executable file among `candidates` (default `CHROMIUM_CANDIDATES`)."""
    for candidate in CHROMIUM_CANDIDATES if candidates is None else candidates:
        path = candidate if os.sep in candidate else shutil.which(candidate)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def require_chromium() -> str:
    """Chromium's path, or skip the calling test.

    The README promises that browser tests are skipped, not failed, on a machine without
    Chromium, so `make test` passes there (tests/test_widget_browser.py skips the same way).
    """
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    return chromium


# A document that tries to run script wherever its text is shown.
HOSTILE_DOCUMENT = """---
title: "Zorblax <img src=x onerror=\\"window.__pwned='title'\\"> briefing"
source: "javascript:window.__pwned='link'"
publisher: "<b>Bold</b> Publisher"
date: "2026-01-01"
---

The Zorblax consortium <script>window.__pwned = 'script'</script> refines neodymium magnets in Penang <img src=x onerror="window.__pwned='img'"> for export to Japan.
"""

os.environ.update(
    {
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TOKENIZERS_PARALLELISM": "false",
    }
)

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address) -> None:  # type: ignore[no-untyped-def]
    """Tests never touch the network: only loopback and Unix sockets may connect."""
    if isinstance(address, tuple):
        host = address[0]
        try:
            allowed = ipaddress.ip_address(host).is_loopback
        except ValueError:
            allowed = host in ("localhost",)
        if not allowed:
            raise RuntimeError(f"Test tried to reach the network: {address!r}")
    return _real_connect(self, address)


# The fast lane (`pytest -m "not slow"`, under a minute): modules whose tests load no
# embedding model and start no server, browser or database. Every other test is marked
# `slow`; a slow test inside one of these modules says so itself. `make test` runs all.
FAST_MODULES = {
    "test_chunking",
    "test_documents",
    "test_embedding_device",
    "test_evaluation",
    "test_fast_lane",
    "test_front_matter_properties",
    "test_golden",
    "test_html_report",
    "test_layers",
    "test_linear",
    "test_metrics",
    "test_question_parse",
    "test_request_properties",
    "test_sentence_vectors",
    "test_text",
    "test_vocabulary",
    "test_vocabulary_changes",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""
        if module not in FAST_MODULES or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data directory unless it builds its own Settings."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh data directory in tmp_path."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def corpus_index_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A data directory holding an index of corpus/, built once per test run and never
    opened again: tests copy it (`copy_corpus_index`) instead of embedding the corpus.

    Under pytest-xdist every worker needs its own copy (Chroma is not process-safe), but
    embedding the corpus twice costs a minute: the first worker builds it in the run's
    shared temp folder under a file lock.
    """
    if worker_id == "master":  # not under xdist
        template = tmp_path_factory.mktemp("corpus-index-template")
        _ingest_corpus(template)
        return template
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "corpus-index-shared"
    with FileLock(f"{shared}.lock"):
        if not (shared / ".built").exists():
            _ingest_corpus(shared)
            (shared / ".built").touch()
    return shared


def copy_corpus_index(template: Path, data_dir: Path) -> Path:
    """A private copy of the corpus index in `data_dir` (lock files left out): a test or a
    server process of its own can change it. `ingest corpus/` there embeds nothing."""
    shutil.copytree(
        template, data_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("assistant.lock*", ".built")
    )
    return data_dir


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory: pytest.TempPathFactory, corpus_index_template: Path) -> Settings:
    """This worker's own copy of the corpus index, shared by its read-only tests."""
    return Settings(
        data_dir=copy_corpus_index(corpus_index_template, tmp_path_factory.mktemp("corpus-index"))
    )


def _ingest_corpus(data_dir: Path) -> None:
    """Index corpus/ into `data_dir` (Chroma has written it to disk when ingest returns)."""
    report = Assistant(Settings(data_dir=data_dir)).ingest([CORPUS])
    assert not report.errors, report.errors


@pytest.fixture(scope="session")
def corpus_assistant(corpus_settings: Settings) -> Assistant:
    """A warmed `Assistant` over the real corpus/, shared by read-only tests."""
    assistant = Assistant(corpus_settings)
    assistant.warm_up()
    return assistant


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """A real uvicorn server for an ASGI app, on a free loopback port, in a thread."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        import threading

        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def two_document_assistant(tmp_path_factory: pytest.TempPathFactory, **settings: object) -> Assistant:
    """An `Assistant` over two corpus documents in a fresh data directory: for servers
    that need keys, whose keys must not leak into the shared corpus assistant."""
    corpus = tmp_path_factory.mktemp("two-documents")
    for name in (
        "trade-gov_malaysia-critical-minerals-cooperation.md",
        "trade-gov_ccg_malaysia-import-tariffs.md",
    ):
        shutil.copy(CORPUS / name, corpus / name)
    assistant = Assistant(Settings(data_dir=tmp_path_factory.mktemp("two-documents-data"), **settings))
    assistant.ingest([corpus])
    return assistant
