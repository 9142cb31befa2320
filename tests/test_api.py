"""The HTTP API against a real server on a loopback port: every endpoint, streaming, the
official `openai` client, keys, origins, rate limits, size limits and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import jsonschema
import pytest

from assistant.documents import load_file
from assistant.keys import ApiKey, create_key, revoke_key
from assistant.server.api import create_app, with_chat
from assistant.service import Assistant
from assistant.store import list_feedback
from tests.conftest import CITATION_KEYS, LiveServer, two_document_assistant

QUESTION = "Can my company export rare earth concentrate from Malaysia?"


@pytest.fixture(scope="module")
def open_server(corpus_assistant: Assistant):
    """The full app (chat included) bound to loopback with no keys: the API is open."""
    app = create_app(corpus_assistant, host="127.0.0.1", with_ui=False)

    @app.get("/api/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    with LiveServer(with_chat(app, corpus_assistant)) as server:
        yield server


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory):
    """An app configured as if bound to all interfaces (keys required), over a small index."""
    assistant = two_document_assistant(tmp_path_factory, rate_limit_per_minute=1000)
    settings = assistant.settings
    keys = {
        "widget": create_key(settings, "site", ["https://shop.example.com"]),
        "server": create_key(settings, "backend", [], allow_server=True),
        "limited": create_key(settings, "tiny", [], allow_server=True, rate_limit=3),
        "revoked": create_key(settings, "old", [], allow_server=True),
    }
    revoke_key(settings, "old")
    with LiveServer(create_app(assistant, host="0.0.0.0", with_ui=False)) as server:
        yield server, keys


def ask(server: LiveServer, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/ask", json=body, headers=headers, timeout=60)


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# --- open mode: endpoints ---------------------------------------------------------------


def test_healthz_reports_what_is_loaded(open_server: LiveServer) -> None:
    health = httpx.get(f"{open_server.url}/healthz").json()
    assert health["status"] == "ok"
    assert health["documents"] == 13 and health["chunks"] > 13
    assert health["answerer"] == "extractive"
    assert "open" in health["access"]


def test_ask_returns_the_answer_with_checkable_citations(open_server: LiveServer) -> None:
    response = ask(open_server, {"question": QUESTION})
    assert response.status_code == 200
    answer = response.json()
    assert "January 2024" in answer["answer"] and not answer["refused"]
    for citation in answer["citations"]:
        assert set(citation) >= CITATION_KEYS
        document = load_file(Path(citation["path"])).page_content
        assert document[citation["start"] : citation["end"]] == citation["quote"]


def test_answer_matches_the_openapi_schema(open_server: LiveServer) -> None:
    schema = httpx.get(f"{open_server.url}/openapi.json").json()
    operation = schema["paths"]["/api/ask"]["post"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    answer_schema = {
        **schema["components"]["schemas"][reference.split("/")[-1]],
        "components": schema["components"],
    }
    jsonschema.validate(ask(open_server, {"question": QUESTION}).json(), answer_schema)
    assert {"/api/sources", "/api/feedback", "/v1/chat/completions", "/v1/models"} <= set(schema["paths"])


def test_streaming_sends_tokens_then_citations_then_done(open_server: LiveServer) -> None:
    response = ask(open_server, {"question": QUESTION, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[-2:] == ["citations", "done"] and set(kinds[:-2]) == {"token"}
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert streamed == events[-1][1]["answer"]
    assert events[-2][1]["citations"] and "total" in events[-1][1]["timings_ms"]


def test_accept_header_also_selects_streaming(open_server: LiveServer) -> None:
    response = ask(open_server, {"question": QUESTION}, accept="text/event-stream")
    assert sse_events(response.text)[-1][0] == "done"


def test_follow_up_uses_history(open_server: LiveServer) -> None:
    history = [
        {"role": "user", "content": "Can I export raw rare earth concentrate from Malaysia?"},
        {"role": "assistant", "content": "Since January 2024 the export is banned. [1]"},
    ]
    answer = ask(open_server, {"question": "When did it start?", "history": history}).json()
    assert "January 2024" in answer["answer"]


def test_sources_and_feedback(open_server: LiveServer, corpus_assistant: Assistant) -> None:
    sources = httpx.get(f"{open_server.url}/api/sources").json()
    assert len(sources) == 13 and all(s["chunks"] > 0 for s in sources)
    body = {"rating": "down", "question": QUESTION, "answer": "wrong", "comment": "missed the date"}
    stored = httpx.post(f"{open_server.url}/api/feedback", json=body).json()
    rows = list_feedback(corpus_assistant.settings, rating="down")
    assert rows[0].id == stored["id"] and rows[0].comment == "missed the date" and rows[0].surface == "api"


# --- open mode: bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"question": "   "}, "empty"),
        ({"question": "x" * 5000}, "refused, not truncated"),
        ({"question": QUESTION, "surprise": 1}, "surprise"),
        ({"history": []}, "question"),
        ({"question": QUESTION, "filters": {"date_from": "last week"}}, "YYYY"),
    ],
)
def test_bad_requests_get_422_with_a_clear_message(
    open_server: LiveServer, body: dict, expected: str
) -> None:
    response = ask(open_server, body)
    assert response.status_code == 422
    assert expected in response.json()["error"]["message"]


def test_bad_json_is_a_clear_422(open_server: LiveServer) -> None:
    response = httpx.post(
        f"{open_server.url}/api/ask",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422 and "not valid JSON" in response.json()["error"]["message"]


def test_big_bodies_get_413(open_server: LiveServer) -> None:
    big = json.dumps({"question": "x" * 100_000}).encode()
    declared = httpx.post(
        f"{open_server.url}/api/ask", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413

    def chunks():
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = httpx.post(
        f"{open_server.url}/api/ask", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and "larger than" in streamed.json()["error"]["message"]


def test_errors_never_leak_stack_traces(open_server: LiveServer) -> None:
    response = httpx.get(f"{open_server.url}/api/boom")
    assert response.status_code == 500
    assert "secret internal detail" not in response.text and "Traceback" not in response.text
    assert response.json()["error"]["type"] == "internal"


def test_open_mode_refuses_foreign_origins_and_allows_loopback_pages(
    open_server: LiveServer,
) -> None:
    foreign = ask(open_server, {"question": QUESTION}, origin="https://evil.example")
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    local_origin = "http://localhost:3000"
    local = ask(open_server, {"question": QUESTION}, origin=local_origin)
    assert local.status_code == 200 and local.headers["access-control-allow-origin"] == local_origin


# --- OpenAI-compatible API with the official client ---------------------------------------


def test_openai_client_non_streaming(open_server: LiveServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{open_server.url}/v1", api_key="unused-in-open-mode", max_retries=0)
    assert client.models.list().data[0].id == "market-intelligence-extractive"
    completion = client.chat.completions.create(
        model="market-intelligence-extractive",
        messages=[{"role": "system", "content": "ignored"}, {"role": "user", "content": QUESTION}],
    )
    message = completion.choices[0].message
    assert "January 2024" in message.content
    annotation = message.annotations[0]
    assert annotation.type == "url_citation" and annotation.url_citation.url.startswith("https://")
    cited = message.content[annotation.url_citation.start_index : annotation.url_citation.end_index]
    assert "banned the export" in cited
    extra = completion.model_extra or {}
    assert extra["citations"][0]["quote"] and extra["refused"] is False


def test_openai_client_streaming_assembles_the_same_answer(open_server: LiveServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{open_server.url}/v1", api_key="x", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    whole = client.chat.completions.create(model="m", messages=[{"role": "user", "content": QUESTION}])
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert (chunks[-1].model_extra or {})["citations"]


def test_openai_follow_up_uses_earlier_messages(open_server: LiveServer) -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "Can I export raw rare earth concentrate from Malaysia?"},
            {"role": "assistant", "content": "No: the export is banned. [1]"},
            {"role": "user", "content": [{"type": "text", "text": "When did it start?"}]},
        ],
    }
    response = httpx.post(f"{open_server.url}/v1/chat/completions", json=body, timeout=60)
    assert "January 2024" in response.json()["choices"][0]["message"]["content"]


def test_openai_streaming_ends_with_done(open_server: LiveServer) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    response = httpx.post(f"{open_server.url}/v1/chat/completions", json=body, timeout=60)
    assert response.text.rstrip().endswith("data: [DONE]")


def test_openai_requires_a_user_message_last(open_server: LiveServer) -> None:
    body = {"model": "m", "messages": [{"role": "assistant", "content": "hi"}]}
    response = httpx.post(f"{open_server.url}/v1/chat/completions", json=body)
    assert response.status_code == 422 and "last message" in response.json()["error"]["message"]


# --- `+sources`: the sources in the reply text, for clients that drop extra fields ---------

SOURCES_MODEL = "market-intelligence-extractive+sources"


def test_models_list_the_model_with_its_sources_in_the_text(open_server: LiveServer) -> None:
    models = httpx.get(f"{open_server.url}/v1/models").json()
    assert [model["id"] for model in models["data"]] == ["market-intelligence-extractive", SOURCES_MODEL]


def test_sources_model_ends_the_reply_with_numbered_titles_and_urls(open_server: LiveServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{open_server.url}/v1", api_key="x", max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    plain = client.chat.completions.create(model="market-intelligence-extractive", messages=messages)
    completion = client.chat.completions.create(model=SOURCES_MODEL, messages=messages)
    text = completion.choices[0].message.content or ""
    answer, listed = text.split("\n\nSources:\n")
    assert answer == plain.choices[0].message.content  # the answer itself is unchanged
    citations = (completion.model_extra or {})["citations"]
    assert listed.splitlines() == [f"- [{c['n']}] {c['title']} — {c['source']}" for c in citations]
    assert listed.startswith("- [1] ") and "https://" in listed
    chunks = client.chat.completions.create(model=SOURCES_MODEL, messages=messages, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks) == text


def test_langchain_chat_openai_sees_the_sources(open_server: LiveServer) -> None:
    # ChatOpenAI keeps only the message text: without +sources it gets "... [1]" and no source.
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{open_server.url}/v1", api_key="x", model=SOURCES_MODEL, max_retries=0)
    reply = chat.invoke(QUESTION)
    assert "January 2024" in reply.content and "\n\nSources:\n- [1] " in reply.content
    assert "https://www.trade.gov/" in reply.content


def test_sources_model_lists_nothing_for_a_refusal(open_server: LiveServer) -> None:
    body = {"model": SOURCES_MODEL, "messages": [{"role": "user", "content": "Who won the 1998 World Cup?"}]}
    response = httpx.post(f"{open_server.url}/v1/chat/completions", json=body, timeout=60).json()
    assert response["refused"] is True and "Sources:" not in response["choices"][0]["message"]["content"]


def test_sources_text_gives_titles_alone_without_a_url() -> None:
    from assistant.server.openai_compat import sources_text
    from assistant.types import Answer, Citation

    def cited(n: int, source: str) -> Citation:
        return Citation(n, f"Title {n}", source, "Publisher", "", None, "quote", 0, 5, 0.5)

    answer = Answer(
        "Text. [1] More. [2]", False, [cited(1, "https://a.example/x"), cited(2, "/srv/corpus/b.md")]
    )
    assert sources_text(answer) == "\n\nSources:\n- [1] Title 1 — https://a.example/x\n- [2] Title 2"


# --- keys, origins and rate limits ------------------------------------------------------------


def test_keys_are_required_when_not_on_loopback(keyed) -> None:
    server, _ = keyed
    response = ask(server, {"question": QUESTION})
    assert response.status_code == 401 and "assistant keys create" in response.json()["error"]["message"]
    assert httpx.get(f"{server.url}/v1/models").status_code == 401
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_widget_key_works_only_from_its_origins(keyed) -> None:
    server, keys = keyed
    allowed = ask(
        server,
        {"question": QUESTION},
        **{"x-api-key": keys["widget"], "origin": "https://shop.example.com"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
    other = ask(
        server,
        {"question": QUESTION},
        **{"x-api-key": keys["widget"], "origin": "https://evil.example"},
    )
    assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
    no_origin = ask(server, {"question": QUESTION}, **{"x-api-key": keys["widget"]})
    assert no_origin.status_code == 403


def test_server_key_works_without_origin_but_not_from_pages(keyed) -> None:
    server, keys = keyed
    bearer = {"authorization": f"Bearer {keys['server']}"}
    assert ask(server, {"question": QUESTION}, **bearer).status_code == 200
    assert ask(server, {"question": QUESTION}, **bearer, origin="https://shop.example.com").status_code == 403


def test_revoked_and_unknown_keys_are_refused(keyed) -> None:
    server, keys = keyed
    assert ask(server, {"question": QUESTION}, **{"x-api-key": keys["revoked"]}).status_code == 401
    assert ask(server, {"question": QUESTION}, **{"x-api-key": "mia_made_up"}).status_code == 401


def test_cors_preflight_follows_the_allowlists(keyed) -> None:
    server, _ = keyed
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-api-key",
    }
    allowed = httpx.options(
        f"{server.url}/api/ask", headers={**preflight, "origin": "https://shop.example.com"}
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert "X-API-Key" in allowed.headers["access-control-allow-headers"]
    refused = httpx.options(f"{server.url}/api/ask", headers={**preflight, "origin": "https://evil.example"})
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers


def test_empty_allowlist_allows_nothing() -> None:
    key = ApiKey(name="nothing", prefix="mia_x", origins=[])
    assert not key.allows_origin("https://shop.example.com") and not key.allows_origin(None)


def test_rate_limit_answers_429_with_retry_after(keyed) -> None:
    server, keys = keyed
    headers = {"x-api-key": keys["limited"]}
    statuses = [httpx.get(f"{server.url}/api/sources", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = httpx.get(f"{server.url}/api/sources", headers=headers)
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "Rate limit" in limited.json()["error"]["message"]
