"""`assistant ask` and `sources` while `assistant serve` holds the data directory: they ask
the server over HTTP (assistant/remote.py) and print what they print locally.

One real `assistant serve` subprocess for the module (it loads the model, ~20 s) and one
`assistant ask` subprocess (which does not: the server answers); the other commands run
in this process with typer's CliRunner, whose model is already loaded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from assistant.cli import common as cli_common
from assistant.cli.app import app
from assistant.config import Settings
from assistant.data_dir import DataDirHolder, data_dir_lock, read_holder
from assistant.keys import create_key
from tests.conftest import free_port, two_document_assistant

ASSISTANT = Path(sys.executable).parent / "assistant"
QUESTION = "Can my company export rare earth concentrate from Malaysia?"
WIDTH = 100  # the same line width in this process and in the subprocesses
# The server's start counts against the first test's timeout.
pytestmark = pytest.mark.timeout(900)


@dataclass
class Index:
    settings: Settings
    root: Path  # the directory the corpus sits in: the server's working directory

    def cli(self, *args: str, **env: str) -> Result:
        """The `assistant` command in this process, wrapping lines at `WIDTH` (Rich wraps
        at the terminal's width; subprocesses get it as COLUMNS)."""
        with pytest.MonkeyPatch.context() as patch:
            for console in (cli_common.console, cli_common.errors):
                patch.setattr(console, "_width", WIDTH)
            return CliRunner().invoke(app, ["--data-dir", str(self.settings.data_dir), *args], env=env)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Index:
    assistant = two_document_assistant(tmp_path_factory)
    corpus = Path(assistant.sources()[0].path).parent
    return Index(assistant.settings, corpus.parent)


@pytest.fixture(scope="module")
def local(index: Index) -> dict[str, Result]:
    """What the commands print with no server running (before the server starts)."""
    return {
        "ask": index.cli("ask", QUESTION),
        "ask --json": index.cli("ask", "--json", QUESTION),
        "sources": index.cli("sources"),
        "sources --json": index.cli("sources", "--json"),
    }


@pytest.fixture(scope="module")
def server(index: Index, local: dict[str, Result]) -> Iterator[subprocess.Popen]:
    """The real `assistant serve` holding the data directory, once it answers."""
    port = free_port()
    log = index.root / "serve.log"
    process = subprocess.Popen(
        [str(ASSISTANT), "--data-dir", str(index.settings.data_dir), "serve", "--port", str(port)],
        cwd=index.root,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    try:
        deadline = time.monotonic() + 600  # ~20 s, but minutes on a loaded 2-core machine
        while not _answers(f"http://127.0.0.1:{port}/healthz"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"assistant serve did not start: {log.read_text()}")
            time.sleep(0.2)
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def without_timings(output: str) -> dict:
    answer = json.loads(output)
    del answer["timings_ms"]
    return answer


def test_the_server_records_where_it_listens(index: Index, server: subprocess.Popen) -> None:
    holder = read_holder(index.settings.data_dir)
    assert holder is not None and holder.purpose == "serve" and holder.pid == server.pid
    assert holder.url and holder.url.startswith("http://127.0.0.1:") and holder.cwd == str(index.root)


def test_ask_in_a_subprocess_is_answered_by_the_server_as_locally(
    index: Index, local: dict[str, Result], server: subprocess.Popen
) -> None:
    assert local["ask"].exit_code == 0, local["ask"].output
    result = subprocess.run(
        [str(ASSISTANT), "--data-dir", str(index.settings.data_dir), "ask", QUESTION],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": str(WIDTH)},
        cwd=index.root,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr  # refused with "in use by" before
    assert result.stdout == local["ask"].stdout
    assert "January 2024" in result.stdout


def test_ask_json_and_sources_go_through_the_server_with_the_same_output(
    index: Index, local: dict[str, Result], server: subprocess.Popen
) -> None:
    remote_json = index.cli("ask", "--json", QUESTION)
    assert remote_json.exit_code == 0, remote_json.output
    assert without_timings(remote_json.stdout) == without_timings(local["ask --json"].stdout)
    # Absolute paths the user can open, as locally (the server sends them relative).
    citation = json.loads(remote_json.stdout)["citations"][0]
    assert Path(citation["path"]).is_absolute() and Path(citation["path"]).exists()
    for command in ("sources", "sources --json"):
        remote = index.cli(*command.split())
        assert remote.exit_code == 0, remote.output
        assert remote.stdout == local[command].stdout and "chunks" in remote.stdout


def test_ask_file_and_bad_questions_go_through_the_server(
    index: Index, server: subprocess.Popen, tmp_path: Path
) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"id": "q1", "question": QUESTION}) + "\n" + '{"id": "q2", "question": ""}\n'
    )
    result = index.cli("ask", "--json", "--file", str(questions))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 0, result.output
    assert lines[0]["id"] == "q1" and "January 2024" in lines[0]["answer"]
    assert lines[1]["id"] == "q2" and "empty" in lines[1]["error"]
    empty = index.cli("ask", " ")
    assert empty.exit_code == 1 and "The question is empty" in empty.stderr


@pytest.mark.parametrize("command", [["ingest"], ["delete", "corpus/x.md"]])
def test_commands_that_write_are_refused_with_the_fix(
    index: Index, server: subprocess.Popen, command: list[str]
) -> None:
    result = index.cli(*command)
    message = " ".join(result.stderr.split())
    assert result.exit_code == 1
    assert "in use by the server 'assistant serve' at http://127.0.0.1:" in message
    assert "stop the server" in message and "Traceback" not in result.output


def test_a_server_that_needs_keys_takes_the_key_from_assistant_api_key(
    index: Index, local: dict[str, Result], server: subprocess.Popen
) -> None:
    # Last of the server's tests: from now on the server needs keys.
    key = create_key(index.settings, "cli", [], allow_server=True)
    holder = read_holder(index.settings.data_dir)
    assert holder is not None and holder.url
    deadline = time.monotonic() + 30  # the server re-reads its keys every 2 s
    while httpx.get(f"{holder.url}/api/sources").status_code != 401:
        assert time.monotonic() < deadline, "the server never asked for a key"
        time.sleep(0.2)
    refused = index.cli("sources")
    assert refused.exit_code == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr  # one line
    assert "needs an API key" in refused.stderr and "ASSISTANT_API_KEY" in refused.stderr
    wrong = index.cli("sources", ASSISTANT_API_KEY="mia_made_up")
    assert wrong.exit_code == 1 and "Unknown or revoked API key" in wrong.stderr
    keyed = index.cli("sources", ASSISTANT_API_KEY=key)
    assert keyed.exit_code == 0 and keyed.stdout == local["sources"].stdout


def test_a_killed_server_leaves_a_stale_holder_and_ask_works_locally(
    index: Index, local: dict[str, Result], server: subprocess.Popen
) -> None:
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    stale = read_holder(index.settings.data_dir)
    assert stale is not None and stale.purpose == "serve" and stale.url  # left behind
    result = index.cli("ask", QUESTION)
    assert result.exit_code == 0, result.output
    assert result.stdout == local["ask"].stdout


def test_a_server_still_starting_is_named_and_refused(settings: Settings) -> None:
    # The lock is held, but the server has not announced its address yet.
    with data_dir_lock(settings, "serve"):
        result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "sources"])
    assert result.exit_code == 1
    assert f"'assistant serve' (pid {os.getpid()})" in result.stderr
    assert "still starting" in result.stderr


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:7860"),
        ("0.0.0.0", "http://127.0.0.1:7860"),
        ("::", "http://[::1]:7860"),
        ("::1", "http://[::1]:7860"),
    ],
)
def test_a_server_bound_to_every_interface_is_reached_on_loopback(host: str, url: str) -> None:
    assert DataDirHolder("serve", 1, host, 7860).url == url


def test_sigterm_while_holding_the_directory_exits_and_removes_the_holder_file(
    settings: Settings,
) -> None:
    """`serve` stopped with SIGTERM left its holder file: uvicorn stops gracefully, then
    raises the signal again for the handler it found, and the default one ended the
    process before any `finally`. While held, SIGTERM is a SystemExit (143)."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")  # SIGTERM would end the worker
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exited, data_dir_lock(settings, "serve"):
        assert read_holder(settings.data_dir) is not None
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # interrupted by the handler at once
    assert exited.value.code == 128 + signal.SIGTERM
    assert read_holder(settings.data_dir) is None
    assert signal.getsignal(signal.SIGTERM) == before


# `serve` with a shutdown that never finishes: a thread nobody stops, started as the
# server stops (uvicorn itself is replaced only to start it; the rest is the real command).
_HANGING_SERVE = """
import sys, threading, time
import uvicorn
from assistant.cli import app as cli

def hang_forever():
    time.sleep(3600)

def run(*args, **kwargs):
    threading.Thread(target=hang_forever, name="never-ends").start()  # not a daemon

uvicorn.run = run
cli.SHUTDOWN_GRACE_SECONDS = 2
sys.argv = ["assistant", "serve", "--port", sys.argv[1]]
cli.app()
"""


@pytest.mark.slow
def test_a_server_whose_shutdown_hangs_exits_with_every_threads_stack(tmp_path: Path) -> None:
    """Once stopped, `serve` exits within its grace time even if something hangs, and
    says where: a service manager would otherwise kill it with no clue."""
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(tmp_path / "data")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _HANGING_SERVE, str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr  # faulthandler's exit, not a clean one
    assert "Timeout (0:00:02)!" in done.stderr
    assert "hang_forever" in done.stderr  # the stack of the thread that held it up
    assert time.monotonic() - started < 120
