"""Property-based tests of the HTTP request models: whatever JSON a client sends, the
models either refuse it with a pydantic `ValidationError` (the server's 422) or accept a
value the server can use: it round-trips, it encodes as UTF-8 JSON (it is stored and
echoed), and its filters turn into a Chroma `where` and a metadata match without raising.

No server here: the models are what FastAPI runs on each body (tests/test_bad_input.py
sends the hostile bodies to a live one).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from assistant.index import chroma_where
from assistant.retrieval import Filters
from assistant.security import ApiError
from assistant.server.api import AskRequest, FeedbackIn
from assistant.server.openai_compat import ChatCompletionRequest, split_messages

# No example database: each run stands on its own, not on what earlier runs stored.
PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Any text, lone surrogates and NULs included (JSON's "\ud800" becomes one in Python).
TEXT = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(
    ["", " ", "\x00", "\ud800", "2024", "2024-13", "2024-02-30", "²⁰²³", "corpus/a.md", "user", "text"]
)
FIELD_NAMES = [
    "question", "history", "filters", "stream", "role", "content", "sources", "publishers",
    "date_from", "date_to", "include_undated", "messages", "model", "type", "text", "rating",
    "answer", "citations", "refused", "comment",
]  # fmt: skip
KEYS = st.sampled_from(FIELD_NAMES) | TEXT
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)


def text_or_any(strategy: st.SearchStrategy[Any] = TEXT) -> st.SearchStrategy[Any]:
    """Mostly the right kind of value, sometimes any JSON at all."""
    return strategy | JSON


def shaped(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Objects with the model's own keys (so validation gets past the first field), an
    occasional stranger, and now and then any JSON instead of an object."""
    objects = st.fixed_dictionaries(required, optional={**optional, "unexpected": JSON})
    return objects | JSON


TURN = shaped(
    {"role": text_or_any(st.sampled_from(["user", "assistant", "system"])), "content": text_or_any()}, {}
)
FILTERS = shaped(
    {},
    {
        "sources": text_or_any(st.lists(TEXT, max_size=3)),
        "publishers": text_or_any(st.lists(TEXT, max_size=3)),
        "date_from": text_or_any(),
        "date_to": text_or_any(),
        "include_undated": text_or_any(st.booleans()),
    },
)
ASK = shaped(
    {"question": text_or_any()},
    {
        "history": text_or_any(st.lists(TURN, max_size=3)),
        "filters": FILTERS,
        "stream": text_or_any(st.booleans()),
    },
)
PART = shaped({"type": text_or_any(st.sampled_from(["text", "image_url"])), "text": text_or_any()}, {})
MESSAGE = shaped(
    {"role": text_or_any(st.sampled_from(["user", "assistant", "system", "tool"]))},
    {"content": text_or_any(TEXT | st.lists(PART, max_size=3) | st.none())},
)
CHAT = shaped(
    {"messages": text_or_any(st.lists(MESSAGE, max_size=3))},
    {"model": text_or_any(), "stream": text_or_any(st.booleans()), "temperature": JSON},
)
FEEDBACK = shaped(
    {
        "rating": text_or_any(st.sampled_from(["up", "down"])),
        "question": text_or_any(),
        "answer": text_or_any(),
    },
    {
        "history": text_or_any(st.lists(TURN, max_size=2)),
        "citations": text_or_any(st.lists(st.dictionaries(KEYS, JSON, max_size=3), max_size=2)),
        "refused": text_or_any(st.booleans()),
        "comment": text_or_any(),
    },
)
METADATA = {"path": "corpus/a.md", "source": "https://example.org/a", "publisher": "P", "date_sort": 20240102}


def validated(model: type[BaseModel], data: Any) -> BaseModel | None:
    """The model for `data`, or None when pydantic refuses it. Any other exception fails."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def assert_round_trips(value: BaseModel) -> None:
    """The accepted value survives a dump and a reload, as Python and as UTF-8 JSON."""
    model = type(value)
    assert model.model_validate(value.model_dump()) == value
    encoded = value.model_dump_json().encode("utf-8")
    assert model.model_validate_json(encoded) == value


def assert_usable(filters: Filters | None) -> None:
    """What retrieval does with accepted filters must not raise."""
    if filters is None:
        return
    chroma_where(filters.chunk_filter())
    filters.matches(METADATA)
    filters.matches(METADATA, filters.source_keys())


@PROPERTY
@given(ASK)
@example({"question": "tin", "filters": {"sources": ["\ud800"]}})
@example({"question": "tin", "filters": {"sources": ["a\x00b"]}})
@example({"question": "tin", "filters": {"publishers": ["\udfff"]}})
def test_ask_requests_are_refused_or_usable(data: Any) -> None:
    request = validated(AskRequest, data)
    if request is not None:
        assert isinstance(request, AskRequest)
        assert_round_trips(request)
        assert_usable(request.filters)


@PROPERTY
@given(st.text(st.characters(exclude_categories=())) | st.binary())
@example('{"question": "\\ud800"}')
@example(b'{"question": "\xff"}')
@example('{"question": ' + "[" * 3000 + "]" * 3000 + "}")
def test_any_raw_body_is_refused_or_valid(raw: str | bytes) -> None:
    """FastAPI may hand pydantic the raw body: text or bytes of any kind."""
    for model in (AskRequest, FeedbackIn, ChatCompletionRequest, Filters):
        with contextlib.suppress(ValidationError):
            model.model_validate_json(raw)


@PROPERTY
@given(FEEDBACK)
@example({"rating": "up", "question": "q", "answer": "a", "citations": [{"quote": "\ud800"}]})
@example({"rating": "up", "question": "q", "answer": "a", "citations": [{"\ud800": 1}]})
def test_feedback_is_refused_or_storable(data: Any) -> None:
    feedback = validated(FeedbackIn, data)
    if feedback is not None:
        assert isinstance(feedback, FeedbackIn)
        assert_round_trips(feedback)
        json.dumps(feedback.model_dump(), ensure_ascii=False).encode("utf-8")  # how it is stored


@PROPERTY
@given(CHAT)
@example({"messages": [{"role": "user", "content": [{"type": "text", "text": 123}]}]})
@example({"messages": [{"role": "user", "content": [{"type": "text"}]}]})
def test_chat_completions_give_a_question_or_a_422(data: Any) -> None:
    request = validated(ChatCompletionRequest, data)
    if request is None:
        return
    assert isinstance(request, ChatCompletionRequest)
    assert ChatCompletionRequest.model_validate(request.model_dump()) == request
    try:
        question, history = split_messages(request.messages)
    except ApiError as error:
        assert error.status_code == 422
        return
    question.encode("utf-8")
    for turn in history:
        assert turn["role"] in ("user", "assistant")
        turn["content"].encode("utf-8")


@PROPERTY
@given(CHAT)
@example({"model": "\ud800", "messages": [{"role": "user", "content": "tin"}]})
def test_what_v1_echoes_is_text(data: Any) -> None:
    request = validated(ChatCompletionRequest, data)
    if request is not None and isinstance(request, ChatCompletionRequest) and request.model:
        request.model.encode("utf-8")


@PROPERTY
@given(FILTERS)
def test_filters_are_refused_or_round_trip(data: Any) -> None:
    filters = validated(Filters, data)
    if filters is not None:
        assert Filters.model_validate(filters.model_dump()) == filters


@PROPERTY
@given(FILTERS)
@example({"sources": ["a\x00b"]})
@example({"publishers": ["\ud800"]})
def test_filters_accepted_by_themselves_are_usable(data: Any) -> None:
    """The CLI and Python callers build `Filters` directly, without the HTTP checks."""
    filters = validated(Filters, data)
    if filters is not None:
        assert isinstance(filters, Filters)
        assert_round_trips(filters)
        assert_usable(filters)
