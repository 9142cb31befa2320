"""Who may call `/api` and `/v1`, from where, how often and with how much.

Secure by default:
- bound to loopback with no keys configured, the API is open (so `make run` stays two
  commands) and only loopback pages may call it from a browser;
- otherwise every request needs a key; widget keys only work from their allowed origins,
  server keys only without an `Origin` (not from browser pages);
- per-client rate limits answer 429 with `Retry-After`; bodies over the limit get 413;
- the Gradio chat follows the same policy (`ChatAccessMiddleware`): open with the API, and
  otherwise only for requests with a key unless `public_chat` opens it to everyone; every
  question it answers counts against the same per-client limit (`AccessPolicy.admit`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from fastapi import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant.config import Settings
from assistant.keys import ApiKey, allowed_origins, find_key, list_keys, normalise_origin
from assistant.ratelimit import RateLimiter, make_rate_limiter

PROTECTED_PREFIXES = ("/api/", "/v1/")
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
CORS_HEADERS = "Content-Type, Authorization, X-API-Key"


def is_loopback_host(host: str) -> bool:
    """Whether a bind address only accepts local connections."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_origin(origin: str) -> bool:
    return is_loopback_host(_hostname(origin))


def _hostname(url: str) -> str:
    """The host name in `url`, or "" when there is none or it cannot be parsed: headers
    come from anyone, and `urlparse` raises on a broken IPv6 literal (`Host: [::1`)."""
    try:
        return urlparse(url).hostname or ""
    except ValueError:
        return ""


class ApiError(HTTPException):
    """An HTTP error with a message meant for the caller (rendered as {"error": ...})."""

    def __init__(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.kind = kind


@dataclass
class Caller:
    """Who is asking: the key (None in open mode) and the client id used for limits."""

    key: ApiKey | None
    client_id: str


class AccessPolicy:
    """Decides, per request, whether it may go on; the key list is re-read every few
    seconds so that `assistant keys create` takes effect on a running server."""

    def __init__(self, settings: Settings, host: str, refresh_seconds: float = 2.0) -> None:
        self.settings = settings
        self.loopback = is_loopback_host(host)
        self.refresh_seconds = refresh_seconds
        self.limiter = make_rate_limiter(settings)
        self._keys_checked = 0.0
        self._has_keys = False
        self._origins: set[str] = set()

    def _refresh(self) -> None:
        if time.monotonic() - self._keys_checked > self.refresh_seconds:
            self._has_keys = bool(list_keys(self.settings))
            self._origins = allowed_origins(self.settings)
            self._keys_checked = time.monotonic()

    @property
    def open_mode(self) -> bool:
        """No key needed: loopback bind and no keys configured."""
        self._refresh()
        return self.loopback and not self._has_keys

    def host_allowed(self, host_header: str) -> bool:
        """In open mode, only requests addressed to a loopback name (or a configured
        allowed host) are served: a page on `evil.example` that re-points its DNS name at
        127.0.0.1 (DNS rebinding) sends `Host: evil.example`, and is refused."""
        if not self.open_mode:
            return True  # keys decide
        hostname = _hostname(f"//{host_header}")
        allowed = LOOPBACK_NAMES | {h.lower() for h in self.settings.allowed_hosts}
        return hostname.lower() in allowed

    @property
    def public_chat(self) -> bool:
        """The chat answers anyone although the API needs keys (`public_chat` setting)."""
        return self.settings.public_chat and not self.open_mode

    def describe(self) -> str:
        """What the start-up message and /healthz say about access, the chat included."""
        limit = self.settings.rate_limit_per_minute
        if self.open_mode:
            return (
                "API open without keys: bound to loopback and no keys configured "
                "(create one with `assistant keys create`). Chat open to this machine; its "
                f"questions count towards the same {limit} requests a minute per client."
            )
        if self.public_chat:
            return (
                "API keys required for /api and /v1. Chat PUBLIC (ASSISTANT_PUBLIC_CHAT is on): "
                f"anyone who reaches this server may ask, {limit} questions a minute per client address."
            )
        return (
            "API keys required for /api and /v1. Chat not public: it answers only requests "
            "with a server key, like /api (set ASSISTANT_PUBLIC_CHAT=true to open it to everyone)."
        )

    def cors_allows(self, origin: str) -> bool:
        """Whether a browser page on `origin` may read responses (answers CORS preflights)."""
        self._refresh()
        try:
            origin = normalise_origin(origin)
        except ValueError:
            return False
        if self.open_mode:
            return is_loopback_origin(origin)
        return origin in self._origins

    def authorize(self, request: HTTPConnection) -> Caller:
        """The caller, or an `ApiError` (401, 403, 429) saying what is wrong."""
        caller = self.authenticate(request)
        self.admit(caller)
        return caller

    def authenticate_staff(self, request: HTTPConnection) -> Caller:
        """The caller of a staff action (an evaluation run, a golden-set or document
        change): open mode, or a server key. A public chat opens questions only, and a
        widget key is no credential here: it sits in public pages, and any script can send
        the Origin it is bound to."""
        caller = self.authenticate(request)
        if not self.open_mode and (caller.key is None or not caller.key.allow_server):
            raise ApiError(401, "A server key is needed for staff actions.", "missing_key")
        return caller

    def authenticate(self, request: HTTPConnection) -> Caller:
        """The caller, or an `ApiError` (401, 403); counts nothing against the rate limit."""
        origin = request.headers.get("origin")
        if self.open_mode:
            if origin and not is_loopback_origin(origin) and not _same_origin(request, origin):
                raise ApiError(403, f"Origin {origin} may not use this server.", "origin_not_allowed")
            return Caller(None, _client_address(request))
        token = _token(request)
        if not token:
            raise ApiError(
                401,
                "An API key is required: send it as `Authorization: Bearer KEY` or `X-API-Key`. "
                "Create one with `assistant keys create`.",
                "missing_key",
            )
        key = find_key(self.settings, token)
        if key is None:
            raise ApiError(401, "Unknown or revoked API key.", "invalid_key")
        if not key.allows_origin(origin):
            if origin is None:
                message = "This is a widget key: it only works from its allowed web pages."
            else:
                message = f"Origin {origin} is not allowed for this key."
            raise ApiError(403, message, "origin_not_allowed")
        return Caller(key, f"key:{key.name}")

    def chat_caller(self, request: HTTPConnection) -> Caller:
        """Who is using the chat, or an `ApiError` (401, 403) when it is not theirs to use:
        the API's rule, except that `public_chat` lets anyone in, counted by address."""
        if self.public_chat:
            return Caller(None, _client_address(request))
        try:
            return self.authenticate(request)
        except ApiError as error:
            if error.kind != "missing_key":
                raise
            raise ApiError(
                401,
                "This chat is not public: the server needs API keys (it is not bound to loopback, "
                "or keys exist). Send a server key as `Authorization: Bearer KEY` or `X-API-Key`, "
                "or open the chat to everyone with ASSISTANT_PUBLIC_CHAT=true (each client address "
                "is then rate-limited).",
                "chat_not_public",
            ) from None

    def admit(self, caller: Caller) -> None:
        """Count one request (or chat question) against the caller's limit; 429 when over."""
        limit = (caller.key.rate_limit if caller.key else None) or self.settings.rate_limit_per_minute
        self._limit(caller, limit)

    def _limit(self, caller: Caller, limit: int) -> None:
        wait = self.limiter.check(caller.client_id, limit)
        if wait:
            raise ApiError(
                429,
                f"Rate limit of {limit} requests per minute reached; retry in "
                f"{RateLimiter.retry_after_header(wait)} s.",
                "rate_limited",
                headers={"Retry-After": RateLimiter.retry_after_header(wait)},
            )


def _client_address(request: HTTPConnection) -> str:
    return f"ip:{request.client.host if request.client else 'unknown'}"


def _token(request: HTTPConnection) -> str | None:
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return request.headers.get("x-api-key") or None


def _same_origin(request: HTTPConnection, origin: str) -> bool:
    host = request.headers.get("host", "")
    try:
        return urlparse(origin).netloc == host
    except ValueError:  # a broken IPv6 literal
        return False


class BodyLimitMiddleware:
    """413 for bodies over `max_bytes`, whether or not they declare Content-Length; 408
    for a body that has not all arrived `timeout` seconds after the request began (a
    Content-Length larger than what is sent held the request, and its worker, until the
    client gave up)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_too_large(send, self.max_bytes)
            return
        received = 0
        refusal: tuple[int, str, str] | None = None  # sent in place of the app's response
        deadline = asyncio.get_running_loop().time() + self.timeout
        body_complete = False

        async def limited_receive() -> Message:
            nonlocal received, refusal, body_complete
            if body_complete:  # after the body, receive only waits for a disconnect
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), deadline - asyncio.get_running_loop().time())
            except TimeoutError:
                refusal = (
                    408,
                    f"The request body did not arrive within {self.timeout:g} seconds.",
                    "body_timeout",
                )
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    refusal = _too_large(self.max_bytes)
                    return {"type": "http.disconnect"}
            return message

        response_started = False

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refusal and not response_started:
                response_started = True
                await send_error(send, *refusal)
                return
            if not refusal:
                response_started = response_started or message["type"] == "http.response.start"
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _too_large(max_bytes: int) -> tuple[int, str, str]:
    return 413, f"Request body is larger than {max_bytes} bytes.", "body_too_large"


async def _send_too_large(send: Send, max_bytes: int) -> None:
    await send_error(send, *_too_large(max_bytes))


async def send_error(send: Send, status: int, message: str, kind: str) -> None:
    """The `{"error": {"message", "type"}}` response, from middleware (before any route)."""
    body = json.dumps({"error": {"message": message, "type": kind}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _GuardMiddleware:
    """Refuses a request (HTTP: the error shape; websocket: close 1008) when `refusal`
    returns an error for it, and passes it on otherwise."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    def refusal(self, scope: Scope) -> ApiError | None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = self.refusal(scope) if scope["type"] in ("http", "websocket") else None
        if error is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await send_error(send, error.status_code, str(error.detail), error.kind)


class HostCheckMiddleware(_GuardMiddleware):
    """403 for every path (API, widget files, the Gradio chat) when the server is open
    without keys and the request's `Host` is not a loopback name (see
    `AccessPolicy.host_allowed`)."""

    def refusal(self, scope: Scope) -> ApiError | None:
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        if self.policy.host_allowed(host):
            return None
        message = (
            f"Host {host!r} is not served: this server is open without API keys, so it only answers "
            "requests addressed to 127.0.0.1, localhost or [::1] (set ASSISTANT_ALLOWED_HOSTS to add names)."
        )
        return ApiError(403, message, "host_not_allowed")


class ChatAccessMiddleware(_GuardMiddleware):
    """Wraps the mounted Gradio app, so that every route of the chat (the page, `/config`,
    `/gradio_api/...`, the queue and its event stream, uploads, assets) is refused (401/403)
    to anyone `AccessPolicy.chat_caller` refuses. Rate limits are counted per question, in
    the chat's handlers, not per request: one page load makes dozens of requests."""

    def refusal(self, scope: Scope) -> ApiError | None:
        try:
            self.policy.chat_caller(HTTPConnection(scope))
        except ApiError as error:
            return error
        return None
