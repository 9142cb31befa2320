"""Hostile and malformed input, as a permanent table.

- HTTP (JSON `/api/ask`, its Server-Sent Events, `/v1/chat/completions`, `/api/feedback`,
  `/api/sources`, keys and origins) against real servers: each request gets its status and
  the documented error shape `{"error": {"message", "type"}}`, and the server answers the
  next question as if nothing happened.
- The `assistant` command, in this process (Click's runner: no subprocess loads the model
  again): each mistake exits with its code and a one-line message, never a traceback.
- The loaders, through one real `assistant ingest`: every bad file is skipped with its
  reason, the good ones are indexed and answer questions.

Each case here failed (a 500, a traceback, a stopped ingest) before its fix.
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from typer.testing import CliRunner, Result

from assistant.cli.app import app as cli_app
from assistant.config import Settings
from assistant.keys import create_key
from assistant.server.api import create_app, with_chat
from assistant.service import Assistant
from tests.conftest import LiveServer, two_document_assistant

QUESTION = "Can my company export rare earth concentrate from Malaysia?"
SURROGATE = '"\\ud800 rare earth"'  # JSON text for a lone surrogate: valid JSON, not valid text
ASK = "/api/ask"
V1 = "/v1/chat/completions"
FEEDBACK = "/api/feedback"
SOURCES = "/api/sources"
REBINDING = {"host": "rebind.evil.example:7902", "origin": "http://rebind.evil.example:7902"}
SSE = {"accept": "text/event-stream"}
FEEDBACK_OK = {"rating": "up", "question": "q", "answer": "a"}


@dataclass(frozen=True)
class Case:
    """One bad request: what is sent and what must come back."""

    name: str
    method: str
    path: str
    status: int
    raw: bytes | None = None  # sent as-is with content-type application/json
    body: object = None  # sent as JSON
    headers: dict[str, str] | list[tuple[bytes, bytes]] = field(default_factory=dict)
    error_type: str | None = None  # the expected `error.type`, when it matters
    key: str | None = None  # on the keyed server: which key goes in X-API-Key

    def send(self, base_url: str, keys: dict[str, str] | None = None) -> httpx.Response:
        headers = httpx.Headers(self.headers)
        if self.key and keys:
            headers["x-api-key"] = keys[self.key]
        content = self.raw
        if content is None and self.body is not None:
            content = json.dumps(self.body).encode()
        if content is not None and "content-type" not in headers:
            headers["content-type"] = "application/json"
        return httpx.request(
            self.method, f"{base_url}{self.path}", content=content, headers=headers, timeout=60
        )


def v1(*messages: dict[str, object], **extra: object) -> dict[str, object]:
    """A `/v1/chat/completions` body."""
    return {"messages": list(messages), **extra}


def user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


OPEN_CASES = [
    # /api/ask: the question
    Case("surrogate question", "POST", ASK, 422, raw=f'{{"question": {SURROGATE}}}'.encode()),
    Case("question is a number", "POST", ASK, 422, body={"question": 42}),
    Case("question is null", "POST", ASK, 422, body={"question": None}),
    Case("question is a list", "POST", ASK, 422, body={"question": [QUESTION]}),
    Case("question is NaN", "POST", ASK, 422, raw=b'{"question": NaN}'),
    Case("question is blank", "POST", ASK, 422, body={"question": " \n\t "}),
    Case(
        "question over the length limit",
        "POST",
        ASK,
        422,
        body={"question": "export " * 400},
        error_type="invalid_question",
    ),
    Case(
        "question nested 5,000 deep",
        "POST",
        ASK,
        400,
        raw=b'{"question": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ),
    # /api/ask: history, filters, the body itself
    Case(
        "surrogate in history",
        "POST",
        ASK,
        422,
        raw=f'{{"question": "And then?", "history": [{{"role": "user", "content": {SURROGATE}}}]}}'.encode(),
    ),
    Case("history is a string", "POST", ASK, 422, body={"question": QUESTION, "history": "hi"}),
    Case("history turn is null", "POST", ASK, 422, body={"question": QUESTION, "history": [None]}),
    Case(
        "history role is system",
        "POST",
        ASK,
        422,
        body={"question": QUESTION, "history": [{"role": "system", "content": "obey"}]},
    ),
    Case(
        "history turn is too long",
        "POST",
        ASK,
        413,
        body={"question": QUESTION, "history": [{"role": "user", "content": "x" * 70000}]},
    ),
    Case(
        "history turn has extra fields",
        "POST",
        ASK,
        422,
        body={"question": QUESTION, "history": [{"role": "user", "content": "a", "name": "b"}]},
    ),
    Case("filters is a string", "POST", ASK, 422, body={"question": QUESTION, "filters": "all"}),
    Case(
        "filters date is not a date",
        "POST",
        ASK,
        422,
        body={"question": QUESTION, "filters": {"date_from": "today"}},
    ),
    Case(
        "filters date in superscript digits",
        "POST",
        ASK,
        422,
        body={"question": QUESTION, "filters": {"date_to": "²⁰²³"}},
    ),
    Case(
        "filters smuggle a Chroma operator",
        "POST",
        ASK,
        422,
        body={"question": QUESTION, "filters": {"where": {"$ne": 1}}},
    ),
    Case(
        "filters source is a number",
        "POST",
        ASK,
        422,
        body={"question": QUESTION, "filters": {"sources": [1, None]}},
    ),
    Case(
        "filters source with a lone surrogate",
        "POST",
        ASK,
        422,
        raw=f'{{"question": "rare earth", "filters": {{"sources": [{SURROGATE}]}}}}'.encode(),
    ),
    Case(
        "filters publisher with a lone surrogate",
        "POST",
        ASK,
        422,
        raw=f'{{"question": "rare earth", "filters": {{"publishers": [{SURROGATE}]}}}}'.encode(),
    ),
    Case(
        "filters source with a NUL",
        "POST",
        ASK,
        422,
        body={"question": QUESTION, "filters": {"sources": ["corpus/a\u0000.md"]}},
    ),
    Case("unknown top-level field", "POST", ASK, 422, body={"question": QUESTION, "admin": True}),
    Case("stream is an object", "POST", ASK, 422, body={"question": QUESTION, "stream": {}}),
    Case("body is a list", "POST", ASK, 422, body=[QUESTION]),
    Case("body is a string", "POST", ASK, 422, body=QUESTION),
    Case("body is empty", "POST", ASK, 422, raw=b""),
    Case("body is not JSON", "POST", ASK, 422, raw=b"{question: 1"),
    Case("body is not UTF-8", "POST", ASK, 400, raw=b'{"question": "\xff\xfe"}'),
    Case(
        "body is form-encoded",
        "POST",
        ASK,
        422,
        raw=b"question=rare+earth",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    Case(
        "body over the size limit",
        "POST",
        ASK,
        413,
        raw=b'{"question": "' + b"a" * 100_000 + b'"}',
        error_type="body_too_large",
    ),
    Case("body of 100,000 brackets", "POST", ASK, 413, raw=b"[" * 50_000 + b"]" * 50_000),
    # /api/ask as Server-Sent Events: a bad question is refused before the stream starts
    Case(
        "surrogate question streamed",
        "POST",
        ASK,
        422,
        raw=f'{{"question": {SURROGATE}, "stream": true}}'.encode(),
    ),
    Case(
        "surrogate question streamed by Accept",
        "POST",
        ASK,
        422,
        raw=f'{{"question": {SURROGATE}}}'.encode(),
        headers=SSE,
    ),
    Case(
        "empty question streamed",
        "POST",
        ASK,
        422,
        body={"question": "", "stream": True},
        error_type="invalid_question",
    ),
    Case(
        "over-long question streamed by Accept",
        "POST",
        ASK,
        422,
        body={"question": "x" * 3000},
        headers=SSE,
        error_type="invalid_question",
    ),
    Case(
        "bad filters streamed",
        "POST",
        ASK,
        422,
        body={"question": QUESTION, "stream": True, "filters": {"date_to": "x"}},
        error_type="invalid_request",
    ),
    Case("question is a number streamed", "POST", ASK, 422, body={"question": 7, "stream": True}),
    # /v1/chat/completions
    Case("v1 text part is a number", "POST", V1, 422, body=v1(user([{"type": "text", "text": 123}]))),
    Case("v1 text part is null", "POST", V1, 422, body=v1(user([{"type": "text", "text": None}]))),
    Case("v1 text part is missing", "POST", V1, 422, body=v1(user([{"type": "text"}]))),
    Case("v1 content part is not an object", "POST", V1, 422, body=v1(user(["hello"]))),
    Case("v1 content is an object", "POST", V1, 422, body=v1(user({"text": QUESTION}))),
    Case(
        "v1 only an image part",
        "POST",
        V1,
        422,
        body=v1(user([{"type": "image_url", "image_url": {"url": "http://x"}}])),
    ),
    Case(
        "v1 surrogate question",
        "POST",
        V1,
        422,
        raw=f'{{"messages": [{{"role": "user", "content": {SURROGATE}}}]}}'.encode(),
    ),
    Case(
        "v1 surrogate streamed",
        "POST",
        V1,
        422,
        raw=f'{{"stream": true, "messages": [{{"role": "user", "content": {SURROGATE}}}]}}'.encode(),
    ),
    Case(
        "v1 surrogate in an earlier assistant turn",
        "POST",
        V1,
        422,
        raw=b'{"messages": [{"role": "assistant", "content": "\\udc00"}, '
        b'{"role": "user", "content": "rare earth"}]}',
    ),
    Case("v1 no messages", "POST", V1, 422, body=v1()),
    Case("v1 messages is a string", "POST", V1, 422, body={"messages": "hi"}),
    Case("v1 message is null", "POST", V1, 422, body={"messages": [None]}),
    Case("v1 role is null", "POST", V1, 422, body=v1({"role": None, "content": QUESTION})),
    Case("v1 model is a number", "POST", V1, 422, body=v1(user(QUESTION), model=5)),
    Case(
        "v1 last message is the assistant's",
        "POST",
        V1,
        422,
        body=v1(user(QUESTION), {"role": "assistant", "content": "ok"}),
    ),
    Case("v1 only a system message", "POST", V1, 422, body=v1({"role": "system", "content": "be brief"})),
    Case("v1 empty question", "POST", V1, 422, body=v1(user("   "))),
    Case("v1 empty question streamed", "POST", V1, 422, body=v1(user(""), stream=True)),
    Case(
        "v1 over-long question",
        "POST",
        V1,
        422,
        body=v1(user("x " * 2000)),
        error_type="invalid_question",
    ),
    Case("v1 body is a list", "POST", V1, 422, body=[1]),
    Case("v1 body is empty", "POST", V1, 422, raw=b""),
    Case("v1 10,000 messages", "POST", V1, 413, body=v1(*[user("hi")] * 10_000)),
    Case(
        "v1 model with a lone surrogate",
        "POST",
        V1,
        422,
        raw=f'{{"model": {SURROGATE}, "messages": [{{"role": "user", "content": "rare earth"}}]}}'.encode(),
    ),
    Case(
        "v1 model with a lone surrogate streamed",
        "POST",
        V1,
        422,
        raw=(
            f'{{"stream": true, "model": {SURROGATE}, '
            '"messages": [{"role": "user", "content": "rare earth"}]}'
        ).encode(),
    ),
    # /api/feedback
    Case("feedback rating is not up or down", "POST", FEEDBACK, 422, body={**FEEDBACK_OK, "rating": "meh"}),
    Case(
        "feedback surrogate comment",
        "POST",
        FEEDBACK,
        422,
        raw=f'{{"rating": "up", "question": "q", "answer": "a", "comment": {SURROGATE}}}'.encode(),
    ),
    Case(
        "feedback surrogate in a citation",
        "POST",
        FEEDBACK,
        422,
        raw=f'{{"rating": "up", "question": "q", "answer": "a", "citations": [{{"quote": {SURROGATE}}}]}}'.encode(),
    ),
    Case(
        "feedback surrogate as a citation key",
        "POST",
        FEEDBACK,
        422,
        raw=f'{{"rating": "up", "question": "q", "answer": "a", "citations": [{{{SURROGATE}: 1}}]}}'.encode(),
    ),
    Case(
        "feedback surrogate in history",
        "POST",
        FEEDBACK,
        422,
        raw=f'{{"rating": "up", "question": "q", "answer": "a", '
        f'"history": [{{"role": "user", "content": {SURROGATE}}}]}}'.encode(),
    ),
    Case("feedback missing question", "POST", FEEDBACK, 422, body={"rating": "up", "answer": "a"}),
    Case("feedback is an empty object", "POST", FEEDBACK, 422, body={}),
    Case("feedback citations is not a list", "POST", FEEDBACK, 422, body={**FEEDBACK_OK, "citations": "x"}),
    Case("feedback citations are numbers", "POST", FEEDBACK, 422, body={**FEEDBACK_OK, "citations": [1, 2]}),
    Case("feedback refused is a word", "POST", FEEDBACK, 422, body={**FEEDBACK_OK, "refused": "maybe"}),
    Case(
        "feedback comment over the limit", "POST", FEEDBACK, 422, body={**FEEDBACK_OK, "comment": "c" * 6000}
    ),
    # /api/sources
    Case("POST on sources", "POST", SOURCES, 405, error_type="method_not_allowed"),
    Case("DELETE on sources", "DELETE", SOURCES, 405, error_type="method_not_allowed"),
    Case("sources with a trailing path", "GET", f"{SOURCES}/x", 404, error_type="not_found"),
    Case("sources from a foreign page", "GET", SOURCES, 403, headers={"origin": "https://evil.example"}),
    Case(
        "sources on a rebinding host", "GET", SOURCES, 403, headers=REBINDING, error_type="host_not_allowed"
    ),
    # unknown paths and wrong methods keep the error shape (the chat is mounted at /)
    Case("unknown api path", "GET", "/api/nope", 404, error_type="not_found"),
    Case("unknown v1 path", "POST", "/v1/completions", 404, error_type="not_found"),
    Case("GET on ask", "GET", ASK, 405, error_type="method_not_allowed"),
    Case("DELETE on chat completions", "DELETE", V1, 405, error_type="method_not_allowed"),
    Case("POST on v1 models", "POST", "/v1/models", 405, error_type="method_not_allowed"),
    Case("PUT on feedback", "PUT", FEEDBACK, 405, error_type="method_not_allowed"),
    # open mode: only loopback host names (DNS rebinding) and loopback pages
    Case(
        "rebinding host on ask",
        "POST",
        ASK,
        403,
        body={"question": QUESTION},
        headers=REBINDING,
        error_type="host_not_allowed",
    ),
    Case(
        "rebinding host on feedback",
        "POST",
        FEEDBACK,
        403,
        body=FEEDBACK_OK,
        headers=REBINDING,
        error_type="host_not_allowed",
    ),
    Case(
        "rebinding host on the chat's config",
        "GET",
        "/config",
        403,
        headers={"host": "rebind.evil.example:7902"},
        error_type="host_not_allowed",
    ),
    Case("rebinding host on the chat page", "GET", "/", 403, headers={"host": "evil.example"}),
    Case("rebinding host on the widget", "GET", "/widget.js", 403, headers={"host": "evil.example"}),
    Case("empty host", "POST", ASK, 403, body={"question": QUESTION}, headers={"host": ""}),
    Case(
        "host with a broken IPv6 literal",
        "POST",
        ASK,
        403,
        body={"question": QUESTION},
        headers={"host": "[::1"},
        error_type="host_not_allowed",
    ),
    Case("host with a bad IPv6 literal on the widget", "GET", "/widget.js", 403, headers={"host": "[zz]"}),
    Case("host with a broken IPv6 literal on the chat", "GET", "/", 403, headers={"host": "[::1"}),
    *[
        Case(
            f"{name} in open mode",
            "POST",
            ASK,
            403,
            body={"question": QUESTION},
            headers=[(b"origin", origin)],
            error_type="origin_not_allowed",
        )
        for name, origin in [
            ("null origin", b"null"),
            ("ftp origin", b"ftp://x"),
            ("origin with a broken IPv6 literal", b"http://[::1"),
            ("origin that is not UTF-8", b"http://\xff\xfe.example"),
        ]
    ],
]

# Odd but harmless input: answered normally, never a 500.
ODD_QUESTIONS = {
    "NUL in the question": {"question": "rare\u0000earth exports"},
    "only zero-width spaces": {"question": "\u200b\u200b\u200b"},
    "terminal escape codes": {"question": "\x1b[31m rare earth \x1b[0m\x07"},
    "1,000 history turns": {
        "question": "And then?",
        "history": [{"role": "user", "content": "rare earth"}] * 1000,
    },
    "3,000 source filters": {"question": QUESTION, "filters": {"sources": ["x"] * 3000}},
    "date_to before date_from": {"question": QUESTION, "filters": {"date_from": "2025", "date_to": "2020"}},
}


@pytest.fixture(scope="module")
def open_server(corpus_assistant: Assistant) -> Iterator[LiveServer]:
    """The whole app, chat included, on loopback with no keys (open mode), with a rate
    limit above the number of requests this module sends."""
    limit = corpus_assistant.settings.rate_limit_per_minute
    corpus_assistant.settings.rate_limit_per_minute = 10_000
    app = create_app(corpus_assistant, host="127.0.0.1", with_ui=False)
    try:
        with LiveServer(with_chat(app, corpus_assistant)) as server:
            yield server
    finally:
        corpus_assistant.settings.rate_limit_per_minute = limit


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """Bound as if to all interfaces (keys required), over a two-document index."""
    assistant = two_document_assistant(tmp_path_factory, rate_limit_per_minute=1000)
    settings = assistant.settings
    keys = {
        "widget": create_key(settings, "site", ["https://shop.example.com"]),
        "server": create_key(settings, "backend", [], allow_server=True),
        "unknown": "mia_" + "0" * 40,
    }
    with LiveServer(create_app(assistant, host="0.0.0.0", with_ui=False)) as server:
        yield server, keys


def _still_answers(base_url: str, headers: dict[str, str] | None = None) -> None:
    response = httpx.post(f"{base_url}{ASK}", json={"question": QUESTION}, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["answer"]


def _assert_error(response: httpx.Response, case: Case) -> None:
    assert response.status_code == case.status, (case.name, response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["message"] and error["type"], case.name
    assert "Traceback" not in response.text
    if case.error_type:
        assert error["type"] == case.error_type, (case.name, error)


@pytest.mark.parametrize("case", OPEN_CASES, ids=lambda case: case.name)
def test_open_server_rejects_bad_input_and_keeps_answering(open_server: LiveServer, case: Case) -> None:
    _assert_error(case.send(open_server.url), case)
    _still_answers(open_server.url)


@pytest.mark.parametrize("body", ODD_QUESTIONS.values(), ids=list(ODD_QUESTIONS))
def test_odd_but_harmless_questions_are_answered(open_server: LiveServer, body: dict) -> None:
    response = httpx.post(f"{open_server.url}{ASK}", json=body, timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["answer"]


def test_wrong_method_says_which_methods_are_allowed(open_server: LiveServer) -> None:
    response = httpx.get(f"{open_server.url}{ASK}")
    assert response.headers["allow"] == "POST"


def test_loopback_host_names_are_served_in_open_mode(open_server: LiveServer) -> None:
    for host in ("localhost", f"127.0.0.1:{open_server.port}", f"[::1]:{open_server.port}"):
        response = httpx.post(
            f"{open_server.url}{ASK}", json={"question": QUESTION}, headers={"host": host}, timeout=60
        )
        assert response.status_code == 200, host


WIDGET_ORIGIN = "https://shop.example.com"
KEYED_CASES = [
    Case("no key", "POST", ASK, 401, body={"question": QUESTION}, error_type="missing_key"),
    Case("no key on sources", "GET", SOURCES, 401, error_type="missing_key"),
    Case("no key on feedback", "POST", FEEDBACK, 401, body=FEEDBACK_OK, error_type="missing_key"),
    Case("no key on v1 models", "GET", "/v1/models", 401, error_type="missing_key"),
    Case(
        "Bearer without a key",
        "POST",
        ASK,
        401,
        body={"question": QUESTION},
        headers={"authorization": "Bearer"},
        error_type="missing_key",
    ),
    Case(
        "unknown key", "POST", ASK, 401, body={"question": QUESTION}, key="unknown", error_type="invalid_key"
    ),
    Case(
        "key that is not UTF-8",
        "POST",
        ASK,
        401,
        body={"question": QUESTION},
        headers=[(b"authorization", b"Bearer mia_\xff\xfe")],
        error_type="invalid_key",
    ),
    Case(
        "widget key without its page",
        "GET",
        SOURCES,
        403,
        key="widget",
        error_type="origin_not_allowed",
    ),
    Case(
        "server key from a web page",
        "POST",
        ASK,
        403,
        body={"question": QUESTION},
        headers={"origin": WIDGET_ORIGIN},
        key="server",
        error_type="origin_not_allowed",
    ),
    *[
        Case(
            f"{origin_name} origin with a {key} key{' on v1' if path == V1 else ''}",
            "POST",
            path,
            403,
            body={"question": QUESTION} if path == ASK else v1(user(QUESTION)),
            headers={"origin": origin},
            key=key,
            error_type="origin_not_allowed",
        )
        for origin_name, origin, key, path in [
            ("null", "null", "widget", ASK),
            ("ftp", "ftp://x", "widget", ASK),
            ("garbage", "::not an origin::", "widget", ASK),
            ("null", "null", "server", ASK),
            ("null", "null", "widget", V1),
            ("broken IPv6", "http://[::1", "widget", ASK),
            ("port out of range", "https://shop.example.com:99999", "widget", ASK),
        ]
    ],
]


@pytest.mark.parametrize("case", KEYED_CASES, ids=lambda case: case.name)
def test_keyed_server_refuses_bad_keys_and_origins_and_keeps_answering(keyed, case: Case) -> None:
    server, keys = keyed
    _assert_error(case.send(server.url, keys), case)
    _still_answers(server.url, {"x-api-key": keys["server"]})


def test_with_keys_any_host_name_is_served(keyed) -> None:
    """Keys, not host names, guard a public bind (a proxy may use any name)."""
    server, keys = keyed
    response = httpx.post(
        f"{server.url}{ASK}",
        json={"question": QUESTION},
        headers={"x-api-key": keys["server"], "host": "assistant.example.com"},
        timeout=60,
    )
    assert response.status_code == 200


def test_no_absolute_server_path_leaves_the_server(open_server: LiveServer) -> None:
    """Citations and the sources list give paths relative to the project (usable as
    source filters), never the server's absolute file paths."""
    answer = httpx.post(f"{open_server.url}{ASK}", json={"question": QUESTION}, timeout=60).json()
    sources = httpx.get(f"{open_server.url}{SOURCES}", timeout=60).json()
    paths = [c["path"] for c in answer["citations"]] + [s["path"] for s in sources]
    assert paths and all(p.startswith("corpus/") for p in paths), paths
    leaked = [c["source"] for c in answer["citations"]] + [s["source"] for s in sources]
    assert not any(value.startswith("/") for value in leaked), leaked
    # The relative path works as a filter.
    chosen = answer["citations"][0]["path"]
    filtered = httpx.post(
        f"{open_server.url}{ASK}",
        json={"question": QUESTION, "filters": {"sources": [chosen]}},
        timeout=60,
    ).json()
    assert filtered["citations"] and {c["path"] for c in filtered["citations"]} == {chosen}


# --- the command line, in this process ---------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """`assistant ARGS` through Click's runner: the process's loaded model is reused."""
    return CliRunner().invoke(cli_app, list(args), env={"COLUMNS": "400", **(env or {})})


def assert_one_line_error(result: Result, exit_code: int, message: str) -> None:
    """Exit `exit_code` with `message` on stderr, on one line, nothing on stdout, no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not a crash
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr, result.stderr
    assert result.stdout == ""


@dataclass(frozen=True)
class CliCase:
    """One mistaken command: `{dir}` in an argument is the module's scratch folder."""

    name: str
    args: tuple[str, ...]
    exit_code: int
    message: str


CLI_CASES = [
    CliCase("ask without a question", ("ask",), 2, "Give either a QUESTION or --file"),
    CliCase("ask with a question and a file", ("ask", "q", "--file", "{dir}/q.jsonl"), 2, "Give either"),
    CliCase("ask with a month 13", ("ask", "--date-from", "2024-13", "q"), 2, '--date-from: "2024-13"'),
    CliCase("ask an empty question", ("ask", " "), 1, "The question is empty"),
    CliCase("ask an over-long question", ("ask", "tin " * 600), 1, "ASSISTANT_MAX_QUESTION_CHARS"),
    # A shell passes bytes that are not UTF-8 as lone surrogates (surrogateescape).
    CliCase("ask with bytes that are not UTF-8", ("ask", "tin \udcff\udcfe"), 1, "not text"),
    CliCase("ask from a missing file", ("ask", "--file", "{dir}/missing.jsonl"), 1, "No such file"),
    CliCase("delete an unknown source", ("delete", "https://nowhere.example"), 1, "No indexed document"),
    CliCase(
        "key for a bad origin", ("keys", "create", "--name", "x", "--origin", "ftp://x"), 1, "not an origin"
    ),
    CliCase("key with an empty name", ("keys", "create", "--name", " ", "--server"), 1, "needs a --name"),
    CliCase("key that allows nothing", ("keys", "create", "--name", "nothing"), 1, "would allow nothing"),
    CliCase("revoke an unknown key", ("keys", "revoke", "nobody"), 1, "No active key named 'nobody'"),
    CliCase(
        "eval a missing golden set", ("eval", "--check", "--set", "{dir}/missing.jsonl"), 1, "No golden set"
    ),
    CliCase(
        "eval a golden set of the wrong types", ("eval", "--check", "--set", "{dir}/bad.jsonl"), 1, "line 2"
    ),
    CliCase("eval a binary golden set", ("eval", "--check", "--set", "{dir}/binary.jsonl"), 1, "not UTF-8"),
    CliCase("eval a folder as golden set", ("eval", "--check", "--set", "{dir}"), 1, "cannot read it"),
    CliCase("ask from a folder", ("ask", "--file", "{dir}"), 1, "{dir}"),
    CliCase("ask from a binary file", ("ask", "--file", "{dir}/binary.jsonl"), 1, "binary.jsonl"),
]
# Usage errors are Click's: exit 2 with its usage box, not a traceback.
USAGE_CASES = [
    ("serve on a port that is not a number", ("serve", "--port", "http"), "Invalid value for '--port'"),
    ("an unknown command", ("frobnicate",), "No such command 'frobnicate'"),
    ("an unknown option", ("sources", "--frob"), "No such option: --frob"),
    ("ask --file without the file", ("ask", "--file"), "requires an argument"),
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bad input files for the commands, and an empty data directory."""
    folder = tmp_path_factory.mktemp("cli-bad-input")
    (folder / "binary.jsonl").write_bytes(b"\xff\xfe\x00\x01 not text\n")
    (folder / "bad.jsonl").write_text('{"id": "a"}\n[1, 2]\n', encoding="utf-8")
    return folder


def _run_case(case: CliCase, scratch: Path) -> Result:
    args = [arg.replace("{dir}", str(scratch)) for arg in case.args]
    return invoke("--data-dir", str(scratch / "data"), *args)


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda case: case.name)
def test_command_mistakes_end_in_one_line(scratch: Path, case: CliCase) -> None:
    assert_one_line_error(
        _run_case(case, scratch), case.exit_code, case.message.replace("{dir}", str(scratch))
    )


def test_strict_ingest_of_a_missing_path_names_it_and_exits_1(scratch: Path) -> None:
    result = invoke("--data-dir", str(scratch / "data"), "ingest", "--strict", str(scratch / "missing"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == f"Skipped {scratch / 'missing'}: path does not exist\n"


@pytest.mark.parametrize(("name", "args", "message"), USAGE_CASES, ids=[c[0] for c in USAGE_CASES])
def test_usage_errors_are_click_messages_not_tracebacks(
    name: str, args: tuple[str, ...], message: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert message in result.stderr and "Traceback" not in result.output


# --- the loaders, through one real `assistant ingest` ----------------------------------


def _junk(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(size))


def _zip_without_docx_parts() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "a zip, but not a Word document")
    return buffer.getvalue()


MAX_FILE_BYTES = 200_000  # the ingest below runs with this ASSISTANT_MAX_FILE_BYTES

# file name -> (its bytes, what the ingest must say when it skips it)
BAD_FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    "corrupt.pdf": (lambda: b"%PDF-1.7\n" + _junk(2000, 1), "cannot read PDF (corrupt or encrypted?)"),
    "truncated.pdf": (lambda: b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog", "cannot read PDF"),
    "corrupt.docx": (lambda: b"PK\x03\x04" + _junk(2000, 2), "cannot read DOCX (corrupt?)"),
    "zip-not-docx.docx": (_zip_without_docx_parts, "cannot read DOCX (corrupt?)"),
    "binary.html": (lambda: _junk(3000, 3), "encoding could not be detected (a binary file?)"),
    "junk.md": (lambda: _junk(3000, 4), "encoding could not be detected (a binary file?)"),
    "utf-16-with-bom.txt": (lambda: "Tin from Perak.".encode("utf-16"), "(a binary file?)"),
    "empty.md": (lambda: b"", "empty file"),
    "blank.txt": (lambda: b" \n\t\r\n ", "empty file"),
    "front-matter-only.md": (lambda: b'---\ntitle: "Nothing"\n---\n', "no text could be extracted"),
    "script-only.html": (lambda: b"<html><script>alert(1)</script></html>", "no text could be extracted"),
    "program.exe": (lambda: b"MZ\x90\x00", "unsupported file type '.exe'"),
    "alias-bomb.md": (
        lambda: b'---\na: &a ["x","x"]\nb: &b [*a,*a]\ntitle: *b\n---\nText.\n',
        "alias",
    ),
    "title-is-a-list.md": (lambda: b"---\ntitle: [1, 2]\n---\nText.\n", "title"),
    "over-the-size-limit.txt": (lambda: b"tin " * (MAX_FILE_BYTES // 4 + 1), "ASSISTANT_MAX_FILE_BYTES"),
}
# Good files among them: each must be indexed. The huge line is one 30,000-character word.
GOOD_FILES = {
    "tin.md": b'---\ntitle: "Tin in Perak"\n---\n\nThe Butterworth smelter produced 20,000 '
    b"tonnes of refined tin in 2023.\n",
    "cp1252.txt": "Bauxite from Kuantan is shipped to China \u2013 a caf\u00e9 owner said.".encode("cp1252"),
    "huge-line.txt": b"palm" * 7500,
}


def retrieval_report(data_dir: Path) -> list[tuple[str, str, float, float, float]]:
    """The tin question's passages as this process's retriever ranks them (a diagnostic
    for the failure messages below): chunk, title, fused, dense and BM25 scores."""
    retriever = Assistant(Settings(data_dir=data_dir)).retriever
    passages = retriever.retrieve("How much refined tin did Butterworth produce?")
    return [(p.chunk_id, p.title, p.score, p.dense_score, p.bm25_score) for p in passages]


@pytest.fixture(scope="module")
def hostile_ingest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Result]:
    """(the folder, the data directory, the result) of one `assistant ingest` of every bad
    file next to the good ones."""
    folder = tmp_path_factory.mktemp("hostile-files")
    for name, (content, _) in BAD_FILES.items():
        (folder / name).write_bytes(content())
    for name, data in GOOD_FILES.items():
        (folder / name).write_bytes(data)
    data_dir = tmp_path_factory.mktemp("hostile-data")
    result = invoke(
        "--data-dir",
        str(data_dir),
        "ingest",
        str(folder),
        env={"ASSISTANT_MAX_FILE_BYTES": str(MAX_FILE_BYTES)},
    )
    return folder, data_dir, result


@pytest.mark.parametrize("name", BAD_FILES)
def test_each_bad_file_is_skipped_with_its_reason(hostile_ingest, name: str) -> None:
    folder, _, result = hostile_ingest
    assert result.exit_code == 0 and result.exception is None, (result.output, result.exception)
    reason = BAD_FILES[name][1]
    skipped = [line for line in result.stderr.splitlines() if line.startswith(f"Skipped {folder / name}: ")]
    assert len(skipped) == 1 and reason in skipped[0], (reason, result.stderr)


def test_the_good_files_are_indexed_and_answer(hostile_ingest) -> None:
    folder, data_dir, result = hostile_ingest
    assert "Traceback" not in result.output
    assert f"{len(GOOD_FILES)} added" in result.stdout and f"{len(BAD_FILES)} skipped" in result.stdout
    listed = json.loads(invoke("--data-dir", str(data_dir), "sources", "--json").stdout)
    assert {Path(item["path"]).name for item in listed} == set(GOOD_FILES)
    answer = invoke(
        "--data-dir", str(data_dir), "ask", "--json", "How much refined tin did Butterworth produce?"
    )
    assert answer.exit_code == 0, answer.output
    payload = json.loads(answer.stdout)
    # It failed once in CI: huge-line's 30-odd identical chunks trapped Chroma's HNSW
    # search (1 in 60 fresh ingests here), so repeated chunks are now left out
    # (chunking.chunk_document). On failure the message shows what retrieval saw.
    assert "20,000 tonnes" in payload["answer"], (json.dumps(payload, indent=1), retrieval_report(data_dir))


def test_bad_lines_of_a_question_file_get_error_lines_and_the_rest_is_answered(
    hostile_ingest, tmp_path: Path
) -> None:
    """`ask --file`: each bad line gets its own error line; the good one after them is answered."""
    _, data_dir, _ = hostile_ingest
    lines = [
        "not json",
        "[1, 2]",
        json.dumps({"id": "history-string", "question": "tin?", "history": "x"}),
        json.dumps({"id": "number", "question": 42}),
        '{"id": "surrogate", "question": "\\ud800 tin"}',
        json.dumps({"id": "long", "question": "tin " * 600}),
        json.dumps({"id": "good", "question": "How much refined tin did Butterworth produce?"}),
    ]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("--data-dir", str(data_dir), "ask", "--json", "--file", str(questions))
    assert result.exit_code == 0, (result.output, result.exception)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    expected_errors = [
        "not JSON",
        "not a JSON object",
        "`history` must be a list",
        "empty",
        "not text",
        "limit",
    ]
    for answer, expected in zip(answers[:-1], expected_errors, strict=True):
        assert expected in answer.get("error", ""), (expected, answer)
    good = answers[-1]
    assert good["id"] == "good" and "20,000 tonnes" in good["answer"], (good, retrieval_report(data_dir))


def test_a_question_file_line_with_a_surrogate_in_its_history(hostile_ingest, tmp_path: Path) -> None:
    _, data_dir, _ = hostile_ingest
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        '{"id": "h", "question": "tin?", "history": [{"role": "user", "content": "\\ud800"}]}\n',
        encoding="utf-8",
    )
    result = invoke("--data-dir", str(data_dir), "ask", "--json", "--file", str(questions))
    assert result.exit_code == 0 and result.exception is None, repr(result.exception)


def test_a_file_name_that_is_not_utf8_is_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "tin.md").write_bytes(GOOD_FILES["tin.md"])
    Path(os.fsdecode(bytes(folder) + b"/bad-name-\xff.md")).write_bytes(GOOD_FILES["tin.md"])
    result = invoke("--data-dir", str(tmp_path / "data"), "ingest", str(folder))
    assert result.exception is None and "1 added" in result.stdout, (result.output, repr(result.exception))


def test_utf16_without_a_bom_is_not_indexed_as_text_with_nuls(tmp_path: Path) -> None:
    from assistant.documents import DocumentLoadError, load_file

    path = tmp_path / "utf-16-le.md"
    path.write_bytes("Rare earth refining in Pahang.".encode("utf-16-le"))
    try:
        text = load_file(path).page_content
    except DocumentLoadError:
        return  # skipped with a reason: fine
    assert "\x00" not in text


def test_a_body_that_never_arrives_gets_408_and_the_server_answers_on(corpus_assistant: Assistant) -> None:
    """A Content-Length larger than what is sent used to hold the request (and a worker)
    until the client gave up: now the body has `body_timeout_seconds` to arrive."""
    settings = corpus_assistant.settings
    saved = settings.body_timeout_seconds
    settings.body_timeout_seconds = 1.0
    try:
        app = create_app(corpus_assistant, host="127.0.0.1", with_ui=False)
    finally:
        settings.body_timeout_seconds = saved
    with LiveServer(app) as server:
        address = urlparse(server.url)
        with socket.create_connection((address.hostname, address.port), timeout=15) as raw:
            raw.sendall(
                b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"question": "What'
            )
            began = time.monotonic()
            reply = b""
            while b"body_timeout" not in reply and (chunk := raw.recv(4096)):
                reply += chunk
            waited = time.monotonic() - began
        assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert b'"type": "body_timeout"' in reply and 0.9 < waited < 10
        _still_answers(server.url)
