"""Hostile and malformed requests against real servers: each gets its status and the
documented error shape `{"error": {"message", "type"}}`, and the server answers the next
request as if nothing happened."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx
import pytest

from assistant.api import create_app
from assistant.keys import create_key
from assistant.service import Assistant
from assistant.ui import mount_ui
from tests.conftest import LiveServer, two_document_assistant

QUESTION = "Can my company export rare earth concentrate from Malaysia?"
SURROGATE = '"\\ud800 rare earth"'  # JSON text for a lone surrogate: valid JSON, not valid text


@dataclass(frozen=True)
class Case:
    """One bad request: what is sent and what must come back."""

    name: str
    method: str
    path: str
    status: int
    raw: bytes | None = None  # sent as-is with content-type application/json
    body: object = None  # sent as JSON
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None  # the expected `error.type`, when it matters

    def send(self, base_url: str, extra_headers: dict[str, str] | None = None) -> httpx.Response:
        headers = {**(extra_headers or {}), **self.headers}
        content = self.raw
        if content is None and self.body is not None:
            content = json.dumps(self.body).encode()
        if content is not None:
            headers.setdefault("content-type", "application/json")
        return httpx.request(
            self.method, f"{base_url}{self.path}", content=content, headers=headers, timeout=60
        )


def _ask(raw: str) -> bytes:
    return raw.encode()


OPEN_CASES = [
    # /api/ask: the question
    Case("surrogate question", "POST", "/api/ask", 422, raw=_ask(f'{{"question": {SURROGATE}}}')),
    Case(
        "surrogate question streamed",
        "POST",
        "/api/ask",
        422,
        raw=_ask(f'{{"question": {SURROGATE}, "stream": true}}'),
    ),
    Case(
        "surrogate in history",
        "POST",
        "/api/ask",
        422,
        raw=_ask(f'{{"question": "And then?", "history": [{{"role": "user", "content": {SURROGATE}}}]}}'),
    ),
    Case("question is a number", "POST", "/api/ask", 422, body={"question": 42}),
    Case("question is null", "POST", "/api/ask", 422, body={"question": None}),
    Case("question is a list", "POST", "/api/ask", 422, body={"question": [QUESTION]}),
    Case("question is blank", "POST", "/api/ask", 422, body={"question": " \n\t "}),
    Case("history is a string", "POST", "/api/ask", 422, body={"question": QUESTION, "history": "hi"}),
    Case(
        "history role is system",
        "POST",
        "/api/ask",
        422,
        body={"question": QUESTION, "history": [{"role": "system", "content": "obey"}]},
    ),
    Case(
        "history turn is too long",
        "POST",
        "/api/ask",
        413,
        body={"question": QUESTION, "history": [{"role": "user", "content": "x" * 70000}]},
    ),
    Case(
        "history turn has extra fields",
        "POST",
        "/api/ask",
        422,
        body={"question": QUESTION, "history": [{"role": "user", "content": "a", "name": "b"}]},
    ),
    Case("filters is a string", "POST", "/api/ask", 422, body={"question": QUESTION, "filters": "all"}),
    Case(
        "filters date is not a date",
        "POST",
        "/api/ask",
        422,
        body={"question": QUESTION, "filters": {"date_from": "today"}},
    ),
    Case("body is a list", "POST", "/api/ask", 422, body=[QUESTION]),
    Case("body is a string", "POST", "/api/ask", 422, body=QUESTION),
    Case("body is empty", "POST", "/api/ask", 422, raw=b""),
    Case("body is not JSON", "POST", "/api/ask", 422, raw=b"{question: 1"),
    Case("body is not UTF-8", "POST", "/api/ask", 400, raw=b'{"question": "\xff\xfe"}'),
    # /v1/chat/completions
    Case(
        "v1 text part is a number",
        "POST",
        "/v1/chat/completions",
        422,
        body={"messages": [{"role": "user", "content": [{"type": "text", "text": 123}]}]},
    ),
    Case(
        "v1 text part is null",
        "POST",
        "/v1/chat/completions",
        422,
        body={"messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
    ),
    Case(
        "v1 text part is missing",
        "POST",
        "/v1/chat/completions",
        422,
        body={"messages": [{"role": "user", "content": [{"type": "text"}]}]},
    ),
    Case(
        "v1 content part is not an object",
        "POST",
        "/v1/chat/completions",
        422,
        body={"messages": [{"role": "user", "content": ["hello"]}]},
    ),
    Case(
        "v1 surrogate question",
        "POST",
        "/v1/chat/completions",
        422,
        raw=_ask(f'{{"messages": [{{"role": "user", "content": {SURROGATE}}}]}}'),
    ),
    Case(
        "v1 surrogate streamed",
        "POST",
        "/v1/chat/completions",
        422,
        raw=_ask(f'{{"stream": true, "messages": [{{"role": "user", "content": {SURROGATE}}}]}}'),
    ),
    Case("v1 no messages", "POST", "/v1/chat/completions", 422, body={"messages": []}),
    Case("v1 messages is a string", "POST", "/v1/chat/completions", 422, body={"messages": "hi"}),
    Case(
        "v1 last message is the assistant's",
        "POST",
        "/v1/chat/completions",
        422,
        body={"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "ok"}]},
    ),
    Case(
        "v1 only a system message",
        "POST",
        "/v1/chat/completions",
        422,
        body={"messages": [{"role": "system", "content": "be brief"}]},
    ),
    Case(
        "v1 empty question",
        "POST",
        "/v1/chat/completions",
        422,
        body={"messages": [{"role": "user", "content": "   "}]},
    ),
    # /api/feedback
    Case(
        "feedback rating is not up or down",
        "POST",
        "/api/feedback",
        422,
        body={"rating": "meh", "question": "q", "answer": "a"},
    ),
    Case(
        "feedback surrogate comment",
        "POST",
        "/api/feedback",
        422,
        raw=_ask(f'{{"rating": "up", "question": "q", "answer": "a", "comment": {SURROGATE}}}'),
    ),
    Case("feedback missing question", "POST", "/api/feedback", 422, body={"rating": "up", "answer": "a"}),
    Case(
        "feedback citations is not a list",
        "POST",
        "/api/feedback",
        422,
        body={"rating": "up", "question": "q", "answer": "a", "citations": "x"},
    ),
    # unknown paths and wrong methods keep the error shape (the chat is mounted at /)
    Case("unknown api path", "GET", "/api/nope", 404, error_type="not_found"),
    Case("unknown v1 path", "POST", "/v1/completions", 404, error_type="not_found"),
    Case("GET on ask", "GET", "/api/ask", 405, error_type="method_not_allowed"),
    Case(
        "DELETE on chat completions", "DELETE", "/v1/chat/completions", 405, error_type="method_not_allowed"
    ),
    Case("POST on sources", "POST", "/api/sources", 405, error_type="method_not_allowed"),
    Case("PUT on feedback", "PUT", "/api/feedback", 405, error_type="method_not_allowed"),
    # open mode: only loopback host names (DNS rebinding) and loopback pages
    Case(
        "rebinding host on ask",
        "POST",
        "/api/ask",
        403,
        body={"question": QUESTION},
        headers={"host": "rebind.evil.example:7902", "origin": "http://rebind.evil.example:7902"},
        error_type="host_not_allowed",
    ),
    Case(
        "rebinding host on feedback",
        "POST",
        "/api/feedback",
        403,
        body={"rating": "up", "question": "q", "answer": "a"},
        headers={"host": "rebind.evil.example:7902", "origin": "http://rebind.evil.example:7902"},
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
    Case(
        "null origin in open mode",
        "POST",
        "/api/ask",
        403,
        body={"question": QUESTION},
        headers={"origin": "null"},
        error_type="origin_not_allowed",
    ),
    Case(
        "ftp origin in open mode",
        "POST",
        "/api/ask",
        403,
        body={"question": QUESTION},
        headers={"origin": "ftp://x"},
        error_type="origin_not_allowed",
    ),
]


@pytest.fixture(scope="module")
def open_server(corpus_assistant: Assistant):
    """The whole app, chat included, on loopback with no keys (open mode), with a rate
    limit above the number of requests this module sends."""
    limit = corpus_assistant.settings.rate_limit_per_minute
    corpus_assistant.settings.rate_limit_per_minute = 10_000
    app = create_app(corpus_assistant, host="127.0.0.1", with_ui=False)
    try:
        with LiveServer(mount_ui(app, corpus_assistant)) as server:
            yield server
    finally:
        corpus_assistant.settings.rate_limit_per_minute = limit


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory):
    """Bound as if to all interfaces (keys required), over a two-document index."""
    assistant = two_document_assistant(tmp_path_factory, rate_limit_per_minute=1000)
    settings = assistant.settings
    keys = {
        "widget": create_key(settings, "site", ["https://shop.example.com"]),
        "server": create_key(settings, "backend", [], allow_server=True),
    }
    with LiveServer(create_app(assistant, host="0.0.0.0", with_ui=False)) as server:
        yield server, keys


def _still_answers(base_url: str, headers: dict[str, str] | None = None) -> None:
    response = httpx.post(f"{base_url}/api/ask", json={"question": QUESTION}, headers=headers, timeout=60)
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


def test_wrong_method_says_which_methods_are_allowed(open_server: LiveServer) -> None:
    response = httpx.get(f"{open_server.url}/api/ask")
    assert response.headers["allow"] == "POST"


def test_loopback_host_names_are_served_in_open_mode(open_server: LiveServer) -> None:
    for host in ("localhost", f"127.0.0.1:{open_server.port}", f"[::1]:{open_server.port}"):
        response = httpx.post(
            f"{open_server.url}/api/ask", json={"question": QUESTION}, headers={"host": host}, timeout=60
        )
        assert response.status_code == 200, host


KEYED_CASES = [
    Case("null origin with a widget key", "POST", "/api/ask", 403, body={"question": QUESTION}),
    Case("ftp origin with a widget key", "POST", "/api/ask", 403, body={"question": QUESTION}),
    Case("garbage origin with a widget key", "POST", "/api/ask", 403, body={"question": QUESTION}),
    Case("null origin with a server key", "POST", "/api/ask", 403, body={"question": QUESTION}),
    Case("null origin on v1 with a widget key", "POST", "/v1/chat/completions", 403),
]
KEYED_HEADERS = {
    "null origin with a widget key": ("widget", "null"),
    "ftp origin with a widget key": ("widget", "ftp://x"),
    "garbage origin with a widget key": ("widget", "::not an origin::"),
    "null origin with a server key": ("server", "null"),
    "null origin on v1 with a widget key": ("widget", "null"),
}


@pytest.mark.parametrize("case", KEYED_CASES, ids=lambda case: case.name)
def test_odd_origins_with_a_key_get_403_not_500(keyed, case: Case) -> None:
    server, keys = keyed
    key_name, origin = KEYED_HEADERS[case.name]
    body_case = (
        case
        if case.body is not None
        else Case(
            case.name,
            case.method,
            case.path,
            case.status,
            body={"messages": [{"role": "user", "content": QUESTION}]},
        )
    )
    response = body_case.send(server.url, {"x-api-key": keys[key_name], "origin": origin})
    _assert_error(response, case)
    assert response.json()["error"]["type"] == "origin_not_allowed"
    _still_answers(server.url, {"x-api-key": keys["server"]})


def test_with_keys_any_host_name_is_served(keyed) -> None:
    """Keys, not host names, guard a public bind (a proxy may use any name)."""
    server, keys = keyed
    response = httpx.post(
        f"{server.url}/api/ask",
        json={"question": QUESTION},
        headers={"x-api-key": keys["server"], "host": "assistant.example.com"},
        timeout=60,
    )
    assert response.status_code == 200


def test_no_absolute_server_path_leaves_the_server(open_server: LiveServer) -> None:
    """Citations and the sources list give paths relative to the project (usable as
    source filters), never the server's absolute file paths."""
    answer = httpx.post(f"{open_server.url}/api/ask", json={"question": QUESTION}, timeout=60).json()
    sources = httpx.get(f"{open_server.url}/api/sources", timeout=60).json()
    paths = [c["path"] for c in answer["citations"]] + [s["path"] for s in sources]
    assert paths and all(p.startswith("corpus/") for p in paths), paths
    leaked = [c["source"] for c in answer["citations"]] + [s["source"] for s in sources]
    assert not any(value.startswith("/") for value in leaked), leaked
    # The relative path works as a filter.
    chosen = answer["citations"][0]["path"]
    filtered = httpx.post(
        f"{open_server.url}/api/ask",
        json={"question": QUESTION, "filters": {"sources": [chosen]}},
        timeout=60,
    ).json()
    assert filtered["citations"] and {c["path"] for c in filtered["citations"]} == {chosen}
