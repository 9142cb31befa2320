"""Two real `assistant serve` replicas on one real `chroma run` server, changed by the CLI
from a third data directory: both answer about a new document, and stop answering about
it once deleted, without a restart (issue 9). Their lexical indexes are their own, so
`/healthz` shows each one catching up (`lexical_chunks`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from assistant.cli.app import app as cli_app
from tests.conftest import free_port

# A Chroma server, the CLI and two servers loading the model: minutes on a loaded machine.
pytestmark = pytest.mark.timeout(1200)

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 600  # seconds: ~20 s here, minutes on a loaded 2-core machine
FOLLOW_TIMEOUT = 120  # replicas check every second; generous for a loaded machine
NEW_FACT = (
    "---\ntitle: Quarry bulletin\npublisher: Test Desk\ndate: 2026-01-05\n---\n\n"
    "The Zorblat Quarry Company opened a gallium recovery plant in Kuantan in 2026. "
    "The Zorblat plant recovers gallium from bauxite residue for export to Japan.\n"
)
QUESTION = "What does the Zorblat plant in Kuantan recover?"


@dataclass
class Cluster:
    root: Path
    settings: dict[str, str]  # the environment that points every process at the shared state
    replicas: list[str]  # base URLs

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI with its own data directory, on the shared Chroma and database. It runs
        in this process (Click's runner), so it reuses the loaded model: the replicas are
        the separate processes this module is about."""
        command = ["--data-dir", str(self.root / "cli-data"), *args]
        result = CliRunner().invoke(cli_app, command, env={**self.settings, "COLUMNS": "400"})
        return subprocess.CompletedProcess(command, result.exit_code, result.stdout, result.stderr)


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _launch(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))


def _wait_up(process: subprocess.Popen, log: Path, ready_url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not _up(ready_url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args[0]} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    chroma_port = free_port()
    settings = {
        "ASSISTANT_CHROMA_URL": f"http://127.0.0.1:{chroma_port}",
        "ASSISTANT_SYNC_INTERVAL_SECONDS": "1",
        **_shared_state(request, root),
    }
    env = {**os.environ, **settings}
    chroma = [str(BIN / "chroma"), "run", "--path", str(root / "chroma"), "--port", str(chroma_port)]
    processes = [_launch(chroma, env, root / "chroma.log")]
    try:
        _wait_up(processes[0], root / "chroma.log", f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat")
        corpus = root / "corpus"
        corpus.mkdir()
        for name in ("trade-gov_malaysia-critical-minerals.md", "exim_scri-board-approval-press-release.md"):
            shutil.copy(ROOT / "corpus" / name, corpus / name)
        cluster = Cluster(root, settings, [])
        ingested = cluster.cli("ingest", str(corpus))
        assert ingested.returncode == 0, ingested.stderr
        starting = []
        for number in (1, 2):  # both start at once
            port = free_port()
            data_dir = root / f"replica-{number}"
            command = [str(BIN / "assistant"), "--data-dir", str(data_dir), "serve", "--port", str(port)]
            log = root / f"replica-{number}.log"
            processes.append(_launch(command, env, log))
            starting.append((processes[-1], log, f"http://127.0.0.1:{port}"))
        for process, log, url in starting:
            _wait_up(process, log, f"{url}/healthz")
            cluster.replicas.append(url)
        yield cluster
    finally:
        for process in processes:
            process.kill()
            process.wait(timeout=30)


def _shared_state(request: pytest.FixtureRequest, root: Path) -> dict[str, str]:
    """Records, keys, feedback and rate limits in one PostgreSQL database, as a replicated
    deployment has them; without PostgreSQL, the records in one SQLite file (the rest of
    this module still runs)."""
    try:
        return {"ASSISTANT_DATABASE_URL": request.getfixturevalue("postgres_server")()}
    except pytest.skip.Exception:
        return {"ASSISTANT_RECORD_DB_URL": f"sqlite:///{root / 'records.sqlite'}"}


def _ask(url: str) -> dict:
    response = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=120)
    response.raise_for_status()
    return response.json()


def _answers_from_new_document(url: str) -> bool:
    answer = _ask(url)
    return not answer["refused"] and any("zorblat" in c["path"] for c in answer["citations"])


def _wait_until(condition, what: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `condition()` held; fails after FOLLOW_TIMEOUT."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > FOLLOW_TIMEOUT:
            pytest.fail(f"not within {FOLLOW_TIMEOUT} s: {what}")
        time.sleep(0.25)
    return time.monotonic() - started


def test_a_document_ingested_elsewhere_is_answered_and_counted_by_every_replica(
    cluster: Cluster,
) -> None:
    before = [httpx.get(f"{url}/healthz").json() for url in cluster.replicas]
    assert all(not _answers_from_new_document(url) for url in cluster.replicas)

    (cluster.root / "zorblat.md").write_text(NEW_FACT, encoding="utf-8")
    ingested = cluster.cli("ingest", str(cluster.root / "zorblat.md"))
    assert ingested.returncode == 0, ingested.stderr

    # Dense search reads the shared Chroma, so a replica can answer from the new chunks
    # before its next look at the change marker; /healthz and the lexical index follow
    # at that look. Both are waited for (and timed).
    for url, old in zip(cluster.replicas, before, strict=True):

        def caught_up(url: str = url, old: dict = old) -> bool:
            health = httpx.get(f"{url}/healthz").json()
            counted = health["documents"] == old["documents"] + 1
            lexical = health["chunks"] == health["lexical_chunks"] > old["chunks"]
            return counted and lexical and _answers_from_new_document(url)

        waited = _wait_until(caught_up, f"{url} answers from and counts the new document")
        print(f"{url}: caught up {waited:.1f} s after the CLI ingest returned")

    answer = _ask(cluster.replicas[0])  # the answer quotes the new document
    assert "gallium" in answer["answer"].lower()


def test_a_document_deleted_elsewhere_is_no_longer_answered_by_any_replica(cluster: Cluster) -> None:
    (cluster.root / "zorblat.md").write_text(NEW_FACT, encoding="utf-8")
    assert cluster.cli("ingest", str(cluster.root / "zorblat.md")).returncode == 0
    for url in cluster.replicas:
        _wait_until(lambda url=url: _answers_from_new_document(url), f"{url} answers")

    deleted = cluster.cli("delete", str(cluster.root / "zorblat.md"))
    assert deleted.returncode == 0, deleted.stderr

    for url in cluster.replicas:

        def forgotten(url: str = url) -> bool:
            health = httpx.get(f"{url}/healthz").json()
            listed = httpx.get(f"{url}/api/sources").json()
            return (
                health["chunks"] == health["lexical_chunks"]
                and not any("zorblat" in source["path"] for source in listed)
                and not _answers_from_new_document(url)
            )

        waited = _wait_until(forgotten, f"{url} forgets the deleted document")
        print(f"{url}: caught up {waited:.1f} s after the CLI delete returned")


def test_keys_feedback_and_rate_limits_are_shared_by_the_replicas(cluster: Cluster) -> None:
    """Last in this module: once a key exists, the replicas need keys."""
    if "ASSISTANT_DATABASE_URL" not in cluster.settings:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    created = cluster.cli("keys", "create", "--name", "replicas", "--server", "--rate-limit", "3")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    for url in cluster.replicas:  # each replica sees the new key and leaves open mode
        _wait_until(
            lambda url=url: httpx.post(f"{url}/api/ask", json={"question": QUESTION}).status_code == 401,
            f"{url} asks for a key",
        )

    while time.time() % 60 > 30:  # the shared limit counts whole minutes: start early in one
        time.sleep(0.5)
    first, second = cluster.replicas
    statuses = [
        httpx.post(f"{url}/api/ask", json={"question": QUESTION}, headers=headers, timeout=120).status_code
        for url in (first, second, first, second)
    ]
    assert statuses == [200, 200, 200, 429]  # 3 a minute across both replicas, not 3 each

    other = cluster.cli("keys", "create", "--name", "feedback", "--server")  # the first is spent
    assert other.returncode == 0, other.stderr
    headers = {"Authorization": f"Bearer {other.stdout.strip().splitlines()[-1]}"}
    feedback = {"rating": "down", "question": "Who runs the Zorblat plant?", "answer": "Nobody knows."}
    posted = httpx.post(f"{second}/api/feedback", json=feedback, headers=headers, timeout=30)
    assert posted.status_code in (200, 201), posted.text
    listed = cluster.cli("feedback", "list")
    assert listed.returncode == 0 and "Zorblat" in listed.stdout, listed.stdout + listed.stderr
