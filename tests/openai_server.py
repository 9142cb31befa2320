"""A local server that speaks OpenAI's chat-completions protocol, for tests.

The requested `model` picks the behaviour:
- `recorded`: replays tests/fixtures/openai/answer.json (or answer.sse when streaming);
- `echo`: answers with the first sentence of source [1] (works for any question, so the
  evaluation can run end to end), and condenses follow-ups like the rules do;
- `slow`: waits longer than any test timeout before answering;
- `error`: HTTP 500;
- `malformed`: a stream whose third chunk is cut off mid-JSON (tests/fixtures/openai/malformed.sse);
- `empty`: an answer with no text;
- `unsupported`: like `echo`, plus a sentence that no source supports.
Every request body is kept in `requests` for assertions.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "openai"


def _prompt(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def echo_reply(prompt: str) -> str:
    if "Standalone question:" in prompt:
        follow_up = re.search(r"Follow-up question: (.*)", prompt)
        previous = re.findall(r"^user: (.*)$", prompt, re.MULTILINE)
        question = follow_up.group(1).strip() if follow_up else ""
        return f"{question} {previous[-1]}" if previous else question
    source = re.search(r'<source n="1"[^>]*>\n(.*?)\n</source>', prompt, re.DOTALL)
    if not source:
        return "NOT IN DOCUMENTS"
    lines = [line.strip() for line in source.group(1).splitlines() if len(line.split()) >= 6]
    if not lines:
        return "NOT IN DOCUMENTS"
    first = re.split(r"(?<=[.!?])\s", lines[0], maxsplit=1)[0]
    return f"{first.rstrip('.')} [1]."


def completion(content: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chunks(content: str, model: str) -> str:
    base = {
        "id": "chatcmpl-local",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }
    events = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    for start in range(0, len(content), 4):
        events.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": content[start : start + 4]},
                        "finish_reason": None,
                    }
                ],
            }
        )
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"


def make_app(slow_seconds: float = 5.0) -> FastAPI:
    app = FastAPI()
    app.state.requests = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request):  # type: ignore[no-untyped-def]
        body = await request.json()
        app.state.requests.append(body)
        model, stream = body.get("model", ""), bool(body.get("stream"))
        if model == "error":
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, status_code=500)
        if model == "slow":
            await asyncio.sleep(slow_seconds)
        if model == "recorded":
            if stream:
                return StreamingResponse(
                    iter([(FIXTURES / "answer.sse").read_text()]), media_type="text/event-stream"
                )
            return JSONResponse(json.loads((FIXTURES / "answer.json").read_text()))
        if model == "malformed":
            return StreamingResponse(
                iter([(FIXTURES / "malformed.sse").read_text()]), media_type="text/event-stream"
            )
        content = "" if model == "empty" else echo_reply(_prompt(body))
        if model == "unsupported" and "[1]" in content:
            content += " Malaysia also mines most of the world's lithium for electric cars [1]."
        if stream:
            return StreamingResponse(iter([chunks(content, model)]), media_type="text/event-stream")
        return JSONResponse(completion(content, model))

    return app
