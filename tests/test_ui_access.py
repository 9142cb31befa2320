"""The Gradio chat under the server's access policy, against real uvicorn servers and the
real `gradio_client`: on a server that needs keys the chat refuses callers without one;
`public_chat` opens it to everyone but each client gets at most the rate limit of
questions; in open mode it answers, within the same per-client limit as the API."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.config import Settings
from assistant.keys import create_key, revoke_key
from assistant.security import AccessPolicy
from assistant.server.api import create_app
from assistant.service import Assistant
from tests.conftest import CHROMIUM_ARGS, CORPUS, LiveServer, free_port, require_chromium

QUESTION = "Can my company export rare earth concentrate from Malaysia?"
ASSISTANT = Path(sys.executable).parent / "assistant"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    """A two-document index with no keys (tests that need a key revoke it afterwards)."""
    corpus = tmp_path_factory.mktemp("access-corpus")
    for name in (
        "trade-gov_malaysia-critical-minerals-cooperation.md",
        "trade-gov_ccg_malaysia-import-tariffs.md",
    ):
        shutil.copy(CORPUS / name, corpus / name)
    loaded = Assistant(Settings(data_dir=tmp_path_factory.mktemp("access-data")))
    loaded.ingest([corpus])
    loaded.warm_up()
    return loaded


@contextmanager
def serving(assistant: Assistant, host: str, **overrides: Any) -> Iterator[LiveServer]:
    """The whole app (chat included) configured as if bound to `host`, with settings
    changed for the duration."""
    settings = assistant.settings
    saved = {name: getattr(settings, name) for name in overrides}
    for name, value in overrides.items():
        setattr(settings, name, value)
    try:
        with LiveServer(create_app(assistant, host=host)) as server:
            yield server
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)


def chat_client(server: LiveServer, **headers: str):  # type: ignore[no-untyped-def]
    from gradio_client import Client

    return Client(server.url, headers=headers or None, verbose=False, download_files=False)


def chat_reply(client, question: str = QUESTION) -> str:  # type: ignore[no-untyped-def]
    """The text of the chat's last message after asking through the chat's API."""
    client.predict(question, api_name="/on_typed")  # the box hands the question on
    chat, *_rest = client.predict(api_name="/on_question")
    return " ".join(part.get("text", "") for part in chat[-1]["content"])


def test_keyed_server_refuses_the_chat_without_a_key(assistant: Assistant) -> None:
    with serving(assistant, "0.0.0.0") as server:
        for path in ("/", "/config", "/gradio_api/info", "/gradio_api/queue/data?session_hash=x"):
            response = httpx.get(server.url + path)
            assert response.status_code == 401, path
            error = response.json()["error"]
            assert error["type"] == "chat_not_public" and "ASSISTANT_PUBLIC_CHAT" in error["message"]
        join = httpx.post(
            f"{server.url}/gradio_api/queue/join",
            json={"data": [QUESTION, []], "fn_index": 0, "session_hash": "s", "event_data": None},
        )
        assert join.status_code == 401
        unknown = httpx.get(f"{server.url}/config", headers={"x-api-key": "mia_made_up"})
        assert unknown.status_code == 401
        from gradio_client.exceptions import AuthenticationError

        with pytest.raises(AuthenticationError):  # gradio_client cannot even read the config
            chat_client(server)
        assert httpx.post(f"{server.url}/api/ask", json={"question": QUESTION}).status_code == 401
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_server_key_opens_the_chat_within_the_keys_limit(assistant: Assistant) -> None:
    key = create_key(assistant.settings, "chat-backend", [], allow_server=True, rate_limit=2)
    try:
        with serving(assistant, "0.0.0.0") as server:
            client = chat_client(server, **{"x-api-key": key})
            replies = [chat_reply(client) for _ in range(3)]
            assert all("January 2024" in reply for reply in replies[:2])
            assert "Rate limit of 2" in replies[2] and "January 2024" not in replies[2]
            # the key's budget is one, whether spent in the chat or on /api
            api = httpx.get(f"{server.url}/api/sources", headers={"x-api-key": key})
            assert api.status_code == 429
    finally:
        revoke_key(assistant.settings, "chat-backend")


def test_public_chat_answers_anyone_but_at_most_the_limit_per_client(assistant: Assistant) -> None:
    """The issue's check, scaled down: 12 questions on 4 threads, a limit of 5 a minute."""
    with serving(assistant, "0.0.0.0", public_chat=True, rate_limit_per_minute=5) as server:
        assert httpx.get(server.url + "/").status_code == 200
        assert httpx.post(f"{server.url}/api/ask", json={"question": QUESTION}).status_code == 401

        def ask_once(_: int) -> str:
            return chat_reply(chat_client(server))

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            replies = list(pool.map(ask_once, range(12)))
        assert time.monotonic() - started < 60  # all within the limit's window
    answered = [reply for reply in replies if "January 2024" in reply]
    refused = [reply for reply in replies if "Rate limit of 5" in reply]
    assert len(answered) == 5 and len(refused) == 7, replies


def test_open_mode_chat_answers_within_the_same_limit_as_the_api(assistant: Assistant) -> None:
    with serving(assistant, "127.0.0.1", rate_limit_per_minute=3) as server:
        client = chat_client(server)
        assert "January 2024" in chat_reply(client)
        assert httpx.get(f"{server.url}/api/sources").status_code == 200
        assert "January 2024" in chat_reply(client)
        over = chat_reply(client)
        assert over.startswith("⚠️") and "Rate limit of 3" in over and "January 2024" not in over
        assert httpx.get(f"{server.url}/api/sources").status_code == 429


@pytest.mark.browser
def test_over_the_limit_the_browser_chat_shows_a_warning_not_an_answer(assistant: Assistant) -> None:
    from playwright.sync_api import sync_playwright

    chromium = require_chromium()
    with (
        serving(assistant, "127.0.0.1", rate_limit_per_minute=1) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(server.url + "/")
        for expected in ("January 2024", "Rate limit of 1"):
            count = page.locator(".bot-row").count()
            page.fill("#question textarea", QUESTION)
            page.keyboard.press("Enter")
            page.wait_for_function(
                "n => document.querySelectorAll('.bot-row').length > n", arg=count, timeout=30000
            )
            page.wait_for_function(
                "text => document.querySelectorAll('.bot-row')[document.querySelectorAll('.bot-row')"
                ".length - 1].innerText.includes(text)",
                arg=expected,
                timeout=30000,
            )
            # Send comes back (in place of Stop) once the answer is complete; a question
            # typed while the previous answer still streams is not sent.
            page.locator("#question button.submit-button").wait_for(timeout=30000)
        last = page.locator(".bot-row").last.inner_text()
        assert "⚠️" in last and "January 2024" not in last
        browser.close()


def test_access_description_says_whether_the_chat_is_public(settings: Settings) -> None:
    assert "Chat open to this machine" in AccessPolicy(settings, "127.0.0.1").describe()
    keyed = AccessPolicy(settings, "0.0.0.0").describe()
    assert "Chat not public" in keyed and "ASSISTANT_PUBLIC_CHAT=true" in keyed
    settings.public_chat = True
    public = AccessPolicy(settings, "0.0.0.0").describe()
    assert "Chat PUBLIC" in public and f"{settings.rate_limit_per_minute} questions a minute" in public


def test_serve_start_up_message_states_that_the_chat_is_public(tmp_path: Path) -> None:
    """The real `assistant serve --host 0.0.0.0` (an empty data dir: nothing to leak)."""
    environment = {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
        "ASSISTANT_PUBLIC_CHAT": "true",
        "COLUMNS": "200",
        "PYTHONFAULTHANDLER": "1",  # SIGABRT then prints every thread's stack (see _stop)
    }
    command = [str(ASSISTANT), "serve", "--host", "0.0.0.0", "--port", str(free_port())]
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watchdog = threading.Timer(120, process.kill)  # readline returns at EOF once killed
    watchdog.start()
    output = ""
    try:
        assert process.stdout is not None
        while "API keys required" not in output:
            line = process.stdout.readline()
            if not line:
                break  # the server exited
            output += line
    finally:
        watchdog.cancel()
        output += _stop(process)
    assert "API keys required" in output, output
    assert "Chat PUBLIC (ASSISTANT_PUBLIC_CHAT is on)" in " ".join(output.split()), output


def _stop(process: subprocess.Popen[str], grace: float = 90) -> str:
    """Stop `serve` as a service manager does (SIGTERM) and return what it printed since.

    The pipe is drained while waiting, so a server printing at exit cannot block on it.
    Once, in CI, a server had not exited 30 s after SIGTERM, and nothing showed where it
    was. `serve` now ends itself past its grace time with every thread's stack, which the
    test passes on as a warning; past `grace` here it gets SIGABRT, which the fault handler
    also turns into the stacks, and the test fails with them.
    """
    process.terminate()
    try:
        output = process.communicate(timeout=grace)[0]
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        stacks = process.communicate(timeout=30)[0]
        pytest.fail(f"serve did not exit within {grace:.0f} s of SIGTERM; its threads:\n{stacks}")
    if "Timeout (" in output:  # serve's own shutdown watchdog fired (SHUTDOWN_GRACE_SECONDS)
        warnings.warn(f"serve hung at shutdown until its watchdog ended it:\n{output}", stacklevel=2)
    return output
