"""`/v1`: the OpenAI chat-completions protocol over the same `Assistant`.

The last user message is the question, earlier user/assistant messages are the history,
system messages are ignored (the assistant answers only from its documents). Citations
travel as OpenAI `url_citation` annotations (for sources with a URL) and in full in an
extra `citations` field.

Plain OpenAI clients (LangChain's `ChatOpenAI`, the `llm` command) drop both and show only
the `[n]` markers, so a second model id, `<model>+sources`, also ends the reply text with a
"Sources:" list of the numbered titles and URLs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from assistant.security import ApiError, Caller
from assistant.service import Assistant, InvalidQuestion
from assistant.text import is_valid_text
from assistant.types import Answer, StreamEvent


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """The fields this server reads; other OpenAI parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(None, max_length=200)
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False

    @field_validator("model")
    @classmethod
    def _echoable(cls, value: str | None) -> str | None:
        """The model name is echoed in every reply, so it must be encodable text."""
        if value is not None and ("\x00" in value or not is_valid_text(value)):
            raise ValueError("must be text without NUL characters or unpaired surrogates")
        return value


SOURCES_SUFFIX = "+sources"


def model_id(assistant: Assistant) -> str:
    return f"market-intelligence-{assistant.settings.answerer}"


def model_ids(assistant: Assistant) -> list[str]:
    """The models `/v1/models` lists: the answer alone, and with its sources in the text."""
    return [model_id(assistant), model_id(assistant) + SOURCES_SUFFIX]


def sources_text(answer: Answer) -> str:
    """The end of a `+sources` reply: a blank line, "Sources:" and one line per citation,
    `- [n] Title — URL` (a Markdown list, so that chat front ends keep the lines apart). A
    source without a URL gets its title alone: server file paths stay on the server."""
    if not answer.citations:
        return ""
    lines = ["", "", "Sources:"]
    for citation in answer.citations:
        url = citation.source if citation.source.startswith(("http://", "https://")) else ""
        lines.append(f"- [{citation.n}] {citation.title}" + (f" — {url}" if url else ""))
    return "\n".join(lines)


def _text(content: str | list[dict[str, Any]] | None) -> str:
    """Message content as text: a string, or the text parts of a content list. A text
    part whose `text` is not a string is the caller's error (422), not ours."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if part.get("type") != "text":
            continue
        text = part.get("text")
        if not isinstance(text, str):
            raise ApiError(
                422,
                "Invalid request: a content part of type 'text' needs a string 'text'.",
                "invalid_request",
            )
        texts.append(text)
    return "".join(texts)


def split_messages(messages: list[OpenAIMessage]) -> tuple[str, list[dict[str, str]]]:
    """(question, history) from OpenAI messages."""
    turns = [(m.role, _text(m.content)) for m in messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user":
        raise ApiError(422, "The last message must be a user message with the question.", "invalid_request")
    if not all(is_valid_text(content) for _, content in turns):
        raise ApiError(
            422,
            "Invalid request: a message contains characters that are not text "
            "(an unpaired UTF-16 surrogate).",
            "invalid_request",
        )
    history = [{"role": role, "content": content} for role, content in turns[:-1]]
    return turns[-1][1], history


def url_annotations(answer: Answer) -> list[dict[str, Any]]:
    """`url_citation` annotations: each spans the answer sentence that carries `[n]`."""
    by_number = {c.n: c for c in answer.citations}
    found: list[dict[str, Any]] = []
    cursor = 0
    for sentence in answer.sentences:
        start = answer.answer.find(sentence.text, cursor)
        if start < 0:
            continue
        end = start + len(sentence.text)
        cursor = end
        for n in sentence.citations:
            citation = by_number.get(n)
            if citation and citation.source.startswith(("http://", "https://")):
                found.append(
                    {
                        "type": "url_citation",
                        "url_citation": {
                            "url": citation.source,
                            "title": citation.title,
                            "start_index": start,
                            "end_index": end,
                        },
                    }
                )
    return found


def completion(answer: Answer, model: str) -> dict[str, Any]:
    """A `chat.completion` object for a finished answer (with "Sources:" for `+sources`)."""
    data = answer.public_dict()
    content = answer.answer + (sources_text(answer) if model.endswith(SOURCES_SUFFIX) else "")
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "annotations": url_annotations(answer),
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": data["citations"],
        "refused": answer.refused,
        "sentences": data["sentences"],
        "notes": data["notes"],
    }


def _chunk(
    completion_id: str, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any
) -> str:
    payload = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def stream_completion(events: Iterator[StreamEvent], model: str) -> Iterator[str]:
    """The answer's events as `chat.completion.chunk` events, then `data: [DONE]`; for
    `+sources` the text ends with the sources, as `completion`'s does."""
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    yield _chunk(completion_id, model, {"role": "assistant", "content": ""})
    try:
        for event in events:
            if event.kind == "token":
                yield _chunk(completion_id, model, {"content": event.data})
            else:
                answer: Answer = event.data
                public = answer.public_dict()
                if model.endswith(SOURCES_SUFFIX) and answer.citations:
                    yield _chunk(completion_id, model, {"content": sources_text(answer)})
                yield _chunk(
                    completion_id,
                    model,
                    {"annotations": url_annotations(answer)},
                    "stop",
                    citations=public["citations"],
                    refused=answer.refused,
                    sentences=public["sentences"],
                    notes=answer.notes,
                )
    except Exception:  # in-band error, as OpenAI-compatible servers do; never a trace
        error = {
            "error": {
                "message": "The answer failed on the server; please retry.",
                "type": "internal",
            }
        }
        yield f"data: {json.dumps(error)}\n\n"
    yield "data: [DONE]\n\n"


def make_router(assistant: Assistant, caller: Callable[[Request], Caller]) -> APIRouter:
    router = APIRouter(tags=["openai"])

    @router.get("/models")
    def models(who: Caller = Depends(caller)) -> dict[str, Any]:
        """The models this server offers: one answerer, with or without the sources in
        the reply text."""
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "assistant"}
                for name in model_ids(assistant)
            ],
        }

    @router.post("/chat/completions")
    def chat_completions(body: ChatCompletionRequest, who: Caller = Depends(caller)) -> Any:
        """OpenAI chat completions, streaming or not; any `model` name is accepted, and one
        ending in `+sources` ends the reply with its sources."""
        question, history = split_messages(body.messages)
        model = body.model or model_id(assistant)
        try:  # both check the question at the call, so a bad one is a 422 before any event
            if body.stream:
                events = assistant.stream(question, history)
            else:
                answer = assistant.ask(question, history=history)
        except InvalidQuestion as error:
            raise ApiError(422, str(error), "invalid_question") from None
        if body.stream:
            return StreamingResponse(
                stream_completion(events, model),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        return completion(answer, model)

    return router
