"""`assistant ask` and `sources` while a local server holds the data directory.

Chroma's embedded store is not process-safe, so one process holds the data directory
(`index.data_dir_lock`). When that process is `assistant serve`, it records where it
listens, and these commands ask it over its HTTP API (`/api/ask`, `/api/sources`)
instead of being refused. `RemoteAssistant` answers with the same `Answer` and
`SourceInfo` objects as `service.Assistant`, so the CLI renders both with the same code.
Commands that write (ingest, delete) stay refused while the server runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import httpx

from assistant.cli.common import fail
from assistant.config import Settings
from assistant.data_dir import DataDirHolder, DataDirInUse, data_dir_lock
from assistant.index import SourceInfo
from assistant.retrieval import Filters
from assistant.service import Assistant, InvalidQuestion
from assistant.types import Answer, AnswerSentence, Citation

# Answers can take a while (an LLM answerer); connecting must not (the server is local).
TIMEOUT = httpx.Timeout(300.0, connect=5.0)
# A server announces its address just before it binds: a few connection retries cover that.
CONNECT_RETRIES = 3


class RemoteError(RuntimeError):
    """The server could not be asked; the message says why and what to do."""


class RemoteAssistant:
    """The part of `Assistant` that `ask` and `sources` use, over a local server's API."""

    def __init__(self, holder: DataDirHolder, api_key: str | None = None) -> None:
        if holder.url is None:
            raise ValueError("the holder has no address")
        self.holder = holder
        self.url = holder.url
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=TIMEOUT,
            transport=httpx.HTTPTransport(retries=CONNECT_RETRIES),
        )

    def close(self) -> None:
        self.client.close()

    def ask(
        self,
        question: str,
        history: list[dict[str, str]] | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """`Assistant.ask` by `POST /api/ask`; a question the server rejects raises
        `InvalidQuestion` with its message, as locally."""
        body: dict[str, Any] = {"question": question, "history": history or []}
        if filters is not None and not filters.is_empty():
            # Relative paths are the caller's: send them resolved here, as local filters do.
            data = filters.model_dump(mode="json")
            body["filters"] = {**data, "sources": sorted(filters.source_keys())}
        return answer_from_dict(self._request("POST", "/api/ask", json=body), self.holder.cwd)

    def sources(self) -> list[SourceInfo]:
        """`Assistant.sources` by `GET /api/sources`."""
        listed = self._request("GET", "/api/sources")
        known = {f.name for f in fields(SourceInfo)}
        infos = [SourceInfo(**{k: v for k, v in item.items() if k in known}) for item in listed]
        for info in infos:
            info.path = local_path(info.path, self.holder.cwd)
            info.source = local_path(info.source, self.holder.cwd)
        return infos

    def _request(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = self.client.request(method, path, **options)
        except httpx.HTTPError as error:
            raise RemoteError(
                f"The data directory is held by the server {self.holder.describe()}, which did not "
                f"answer ({error or type(error).__name__}). Wait until it has started, or stop it "
                "to use the directory directly."
            ) from None
        if response.is_success:
            return response.json()
        message = _error_message(response)
        if response.status_code == 422:  # the question or its history, as locally
            raise InvalidQuestion(message)
        if response.status_code == 401:
            sent_key = "authorization" in self.client.headers
            refused = f" It refused ASSISTANT_API_KEY: {message}" if sent_key else ""
            raise RemoteError(
                f"The server {self.holder.describe()} holds the data directory and needs an API key: "
                "set ASSISTANT_API_KEY to a server key (`assistant keys create --name cli --server` "
                f"creates one).{refused}"
            )
        raise RemoteError(f"The server {self.holder.describe()} answered {response.status_code}: {message}")


def _error_message(response: httpx.Response) -> str:
    """The message of an error response in the API's `{"error": {"message", "type"}}` shape."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text.strip()[:200] or response.reason_phrase


def local_path(path: str, server_cwd: str | None) -> str:
    """A document path from the server as the local CLI gives it: the server makes paths
    relative to its working directory (`types.public_path`), the local CLI keeps
    absolute ones its user can open. URLs and paths that name no file are left alone."""
    if not path or "://" in path or server_cwd is None or Path(path).is_absolute():
        return path
    candidate = Path(server_cwd, path)
    return str(candidate) if candidate.exists() else path


def answer_from_dict(data: dict[str, Any], server_cwd: str | None = None) -> Answer:
    """The `Answer` that `Answer.public_dict` sent, with local document paths."""
    citations = [
        Citation(
            **{
                **_known(Citation, item),
                "highlights": [tuple(span) for span in item.get("highlights", [])],
                "path": local_path(item.get("path", ""), server_cwd),
                "source": local_path(item.get("source", ""), server_cwd),
            }
        )
        for item in data.get("citations", [])
    ]
    sentences = [AnswerSentence(**_known(AnswerSentence, item)) for item in data.get("sentences", [])]
    return Answer(**{**_known(Answer, data), "citations": citations, "sentences": sentences})


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The items of `data` that are fields of the dataclass `cls` (a newer server may send
    more)."""
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


# What `ask` and `sources` read from: the local index, or the server that holds it.
Reader = Assistant | RemoteAssistant


@contextmanager
def open_reader(settings: Settings, purpose: str) -> Iterator[Reader]:
    """An `Assistant` holding the data directory, or, when a local server holds it, a
    `RemoteAssistant` that asks that server. Other holders are refused as before
    (`DataDirInUse`, which every command turns into its one-line error)."""
    with ExitStack() as stack:
        try:
            stack.enter_context(data_dir_lock(settings, purpose))
            reader: Reader = Assistant(settings)
        except DataDirInUse as busy:
            holder = busy.holder
            if holder is None or holder.purpose != "serve" or holder.url is None:
                raise
            key = settings.api_key.get_secret_value() if settings.api_key else None
            remote = RemoteAssistant(holder, key)
            stack.callback(remote.close)
            reader = remote
        try:
            yield reader
        except RemoteError as error:
            raise fail(str(error)) from None
