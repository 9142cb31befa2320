"""One FastAPI application: the JSON API, SSE streaming, the OpenAI-compatible API, the
widget's files, health, and the Gradio chat at `/`.

Every route converts its input into a call on the one `Assistant` and renders the
`Answer`; none retrieves or answers on its own.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterator
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as StarletteMessage

from assistant.config import Settings
from assistant.index import SourceInfo
from assistant.retrieval import Filters
from assistant.security import (
    CORS_HEADERS,
    PROTECTED_PREFIXES,
    AccessPolicy,
    ApiError,
    BodyLimitMiddleware,
    Caller,
    HostCheckMiddleware,
)
from assistant.service import Assistant, InvalidQuestion
from assistant.store import Feedback, add_feedback
from assistant.text import is_valid_text
from assistant.types import Answer, StreamEvent, public_path

log = logging.getLogger("assistant.server.api")


# --- request and response models (they are the OpenAPI schema) ------------------------


def valid_text(value: str) -> str:
    """A string field's value, or a 422 for text that is not encodable (a lone surrogate)."""
    if not is_valid_text(value):
        raise ValueError("contains characters that are not text (an unpaired UTF-16 surrogate)")
    return value


# A string field that must be encodable text: every text a request carries is one.
Text = Annotated[str, AfterValidator(valid_text)]


class ChatTurn(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: Text = Field(max_length=20000)


class AskRequest(BaseModel):
    """A question, with the conversation so far and optional filters."""

    model_config = ConfigDict(extra="forbid")

    question: Text = Field(description="The question; empty or over-long questions get 422.")
    history: list[ChatTurn] = Field(default_factory=list, description="Earlier turns, oldest first.")
    filters: Filters | None = None
    stream: bool = Field(False, description="Answer as Server-Sent Events (see the README).")


class FeedbackIn(BaseModel):
    """A thumbs up or down on an answer."""

    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down"]
    question: Text = Field(max_length=20000)
    answer: Text = Field(max_length=50000)
    history: list[ChatTurn] = Field(default_factory=list)
    citations: list[dict[str, Any]] = Field(default_factory=list)
    refused: bool = False
    comment: Text = Field("", max_length=5000)

    @field_validator("citations")
    @classmethod
    def _citations_text_only(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Citations are stored as UTF-8 JSON: a lone surrogate in a key or value is a 422."""
        valid_text(json.dumps(value, ensure_ascii=False))
        return value


class FeedbackOut(BaseModel):
    id: int


class ErrorOut(BaseModel):
    error: dict[str, str]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in {
        401: "Missing or unknown API key.",
        403: "Origin not allowed for this key.",
        413: "Request body too large.",
        422: "Invalid request (e.g. empty or over-long question).",
        429: "Rate limit reached; see Retry-After.",
    }.items()
}


# --- the application ------------------------------------------------------------------


def create_app(
    assistant: Assistant,
    host: str = "127.0.0.1",
    with_ui: bool = True,
) -> FastAPI:
    """The whole server around one loaded `Assistant`."""
    settings = assistant.settings
    policy = AccessPolicy(settings, host)
    app = FastAPI(
        title="Market Intelligence Assistant",
        version="1.0",
        description=(
            "Answers from the indexed documents with sentence-level citations. "
            "`/api` is the native API, `/v1` is OpenAI-compatible."
        ),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.assistant = assistant
    app.state.policy = policy
    _install_error_handlers(app)

    def caller(request: Request) -> Caller:
        return policy.authorize(request)

    @app.get("/healthz", tags=["server"])
    def healthz() -> dict[str, Any]:
        """Liveness, and what is loaded."""
        return {"status": "ok", **assistant.stats(), "access": policy.describe()}

    @app.post(
        "/api/ask",
        tags=["api"],
        response_model=Answer,
        responses={
            **ERROR_RESPONSES,
            200: {
                "description": "The Answer as JSON, or with `stream: true` (or `Accept: "
                "text/event-stream`) Server-Sent Events: `token` {text}, one `citations` "
                "{citations, refused, closest_topics}, then `done` {answer, refused, "
                "timings_ms}; `error` {message} on failure.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
        },
    )
    def ask(body: AskRequest, request: Request, who: Caller = Depends(caller)) -> Any:
        """Answer a question from the documents."""
        history = [turn.model_dump() for turn in body.history]  # the Assistant keeps the last turns
        wants_stream = body.stream or "text/event-stream" in request.headers.get("accept", "")
        try:  # both check the question at the call, so a bad one is a 422 before any event
            if wants_stream:
                events = assistant.stream(body.question, history, body.filters)
            else:
                answer = assistant.ask(body.question, history=history, filters=body.filters)
        except InvalidQuestion as error:
            raise ApiError(422, str(error), "invalid_question") from None
        if wants_stream:
            return StreamingResponse(
                _sse(events),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return answer.public_dict()

    @app.get("/api/sources", tags=["api"], response_model=list[SourceInfo], responses=ERROR_RESPONSES)
    def sources(who: Caller = Depends(caller)) -> list[dict[str, Any]]:
        """Indexed documents, newest first."""
        return [
            {**vars(info), "path": public_path(info.path), "source": public_path(info.source)}
            for info in assistant.sources()
        ]

    @app.post("/api/feedback", tags=["api"], response_model=FeedbackOut, responses=ERROR_RESPONSES)
    def feedback(body: FeedbackIn, who: Caller = Depends(caller)) -> dict[str, int]:
        """Store a thumbs up/down (the evaluation turns thumbs-down into test cases)."""
        surface = "widget" if who.key and not who.key.allow_server else "api"
        feedback_id = add_feedback(
            settings,
            Feedback(
                rating=body.rating,
                question=body.question,
                answer=body.answer,
                history=[turn.model_dump() for turn in body.history],
                citations=body.citations,
                refused=body.refused,
                comment=body.comment,
                surface=surface,
            ),
        )
        return {"id": feedback_id}

    from assistant.server.openai_compat import make_router

    app.include_router(make_router(assistant, caller), prefix="/v1")
    _add_widget_routes(app)
    app.add_middleware(CorsMiddleware, policy=policy)  # type: ignore[arg-type]
    app.add_middleware(
        BodyLimitMiddleware,  # type: ignore[arg-type]
        max_bytes=settings.max_body_bytes,
        timeout=settings.body_timeout_seconds,
    )
    app.add_middleware(HostCheckMiddleware, policy=policy)  # type: ignore[arg-type]  # outermost
    if with_ui:
        app = with_chat(app, assistant, staff=show_quality_tab(settings, host))
    return app


def with_chat(app: FastAPI, assistant: Assistant, staff: bool = False) -> FastAPI:
    """The chat mounted at `/` of an app made by `create_app`. Call it after the last API
    route: the chat takes every path the routes before it do not match, so unknown `/api`
    and `/v1` paths first get routes of their own (`add_unmatched_routes`)."""
    from assistant.ui.chat import mount_ui  # the server composes the chat; the chat never imports the server

    add_unmatched_routes(app)
    return mount_ui(app, assistant, staff=staff)


def add_unmatched_routes(app: FastAPI) -> None:
    """Unknown paths and wrong methods under `/api` and `/v1` answer in the documented
    error shape (404, or 405 with `Allow`). Needed once the chat is mounted at `/`: it would
    otherwise take every path the API does not match and answer `{"detail": ...}`.
    Call it after the last API route is added."""
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    def unmatched(request: Request, rest: str) -> None:
        path = request.url.path
        allowed = [method for method in methods if _route_for(app, request, method, unmatched)]
        if allowed:
            raise ApiError(
                405,
                f"{request.method} is not allowed on {path}; use {', '.join(allowed)}.",
                "method_not_allowed",
                headers={"Allow": ", ".join(allowed)},
            )
        raise ApiError(404, f"No such endpoint: {path}. See /api/docs.", "not_found")

    for prefix in ("/api", "/v1"):
        app.add_api_route(f"{prefix}/{{rest:path}}", unmatched, methods=methods, include_in_schema=False)


def _route_for(app: FastAPI, request: Request, method: str, exclude: Any) -> bool:
    """Whether a route other than `exclude` fully matches this path with `method`."""
    scope = {**request.scope, "method": method}
    for route in app.router.routes:
        if getattr(route, "endpoint", None) is exclude or isinstance(route, Mount):
            continue  # the chat, mounted at /, matches every path
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return True
    return False


def show_quality_tab(settings: Settings, host: str) -> bool:
    """The staff tab exposes everyone's feedback: by default only on a loopback bind."""
    from assistant.security import is_loopback_host

    return settings.quality_tab == "on" or (settings.quality_tab == "auto" and is_loopback_host(host))


def sse_event(event: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _sse(events: Iterator[StreamEvent]) -> Iterator[str]:
    """The answer's events as Server-Sent Events; a failure once they have started is
    reported in-band."""
    try:
        for event in events:
            if event.kind == "token":
                yield sse_event("token", {"text": event.data})
                continue
            answer = event.data.public_dict()
            yield sse_event(
                "citations",
                {
                    "citations": answer["citations"],
                    "refused": answer["refused"],
                    "closest_topics": answer["closest_topics"],
                    "sentences": answer["sentences"],
                    "notes": answer["notes"],
                },
            )
            yield sse_event(
                "done",
                {
                    "answer": answer["answer"],
                    "refused": answer["refused"],
                    "timings_ms": answer["timings_ms"],
                },
            )
    except Exception:  # the stream has started: report in-band, never a stack trace
        log.exception("streamed answer failed")
        yield sse_event("error", {"message": "The answer failed on the server; please retry."})


def _install_error_handlers(app: FastAPI) -> None:
    """Errors are JSON `{"error": {"message", "type"}}`; no stack traces leave the server."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(
            {"error": {"message": error.detail, "type": error.kind}},
            status_code=error.status_code,
            headers=error.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": {"message": str(error.detail), "type": "http_error"}},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            if item.get("type") == "json_invalid":
                problems.append("the body is not valid JSON")
            else:
                problems.append(f"{where or 'body'}: {item.get('msg')}")
        return JSONResponse(
            {
                "error": {
                    "message": "Invalid request: " + "; ".join(problems),
                    "type": "invalid_request",
                }
            },
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(
            {
                "error": {
                    "message": "Internal error; the server log has details.",
                    "type": "internal",
                }
            },
            status_code=500,
        )


class CorsMiddleware:
    """CORS for `/api` and `/v1`: answers preflights and labels responses for origins that
    some key (or, in open mode, loopback) allows; the key's own check happens in the route."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        # Latin-1, as ASGI headers are: anyone may send bytes that are not UTF-8.
        raw_headers = scope.get("headers") or []
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in raw_headers}
        origin = headers.get("origin")
        allowed = bool(origin) and self.policy.cors_allows(origin or "")
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            status = 204 if allowed else 403
            response_headers = [(b"vary", b"Origin")]
            if allowed:
                response_headers += [
                    (b"access-control-allow-origin", origin.encode()),
                    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
                    (b"access-control-allow-headers", CORS_HEADERS.encode()),
                    (b"access-control-max-age", b"600"),
                ]
            await send({"type": "http.response.start", "status": status, "headers": response_headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def labelled_send(message: StarletteMessage) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"vary", b"Origin")]
                if allowed and origin:
                    message["headers"].append((b"access-control-allow-origin", origin.encode()))
                    message["headers"].append((b"access-control-expose-headers", b"Retry-After"))
            await send(message)

        await self.app(scope, receive, labelled_send)


# --- the widget -----------------------------------------------------------------------


def _widget_file(name: str) -> str:
    return resources.files("assistant").joinpath("widget", name).read_text(encoding="utf-8")


def _add_widget_routes(app: FastAPI) -> None:
    """`/widget.js`, `/widget.css` and `/widget-demo` (a page that embeds it)."""

    @app.get("/widget.js", include_in_schema=False)
    def widget_js() -> Response:
        return Response(
            _widget_file("widget.js"),
            media_type="application/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.get("/widget.css", include_in_schema=False)
    def widget_css() -> Response:
        return Response(
            _widget_file("widget.css"),
            media_type="text/css; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    @app.get("/widget-demo", include_in_schema=False)
    def widget_demo(key: str = "") -> HTMLResponse:
        page = _widget_file("demo.html").replace("__WIDGET_KEY__", html.escape(key, quote=True))
        return HTMLResponse(
            page,
            headers={
                "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; connect-src 'self'",
            },
        )
