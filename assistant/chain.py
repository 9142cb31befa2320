"""The conversational chain: condense the follow-up -> retrieve -> answer.

It is a LangChain `Runnable`, so each step can be swapped (an LLM condenser, an LLM
answerer) without touching the others. Each step records its duration in the answer's
`timings_ms`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from assistant.answering import Answerer
from assistant.citations import Answer
from assistant.questions import is_follow_up
from assistant.retrieval import Filters, HybridRetriever

# One turn of a conversation: {"role": "user" | "assistant", "content": str}.
Message = dict[str, str]


Condenser = Callable[[str, list[Message]], str]


def condense_by_rules(question: str, history: list[Message]) -> str:
    """A standalone query for a follow-up, without an LLM.

    A question that leans on the conversation ("When did it start?") is joined with the
    previous user question, so retrieval finds what "it" refers to. A self-contained
    question is left alone, so a change of subject is not polluted by the old one.
    """
    previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
    if not previous or not is_follow_up(question):
        return question
    return f"{question} {previous[-1]}"


def _timed(name: str, step: Callable[[dict[str, Any]], Any]) -> Runnable:
    def run(state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        result = step(state)
        timings = {**state.get("timings_ms", {}), name: (time.perf_counter() - started) * 1000}
        return {**state, name: result, "timings_ms": timings}

    return RunnableLambda(run, name=name)


def build_prepare(condenser: Condenser, retriever: HybridRetriever) -> Runnable:
    """condense -> retrieve: the part of the chain that streaming shares with `invoke`."""

    def condense(state: dict[str, Any]) -> str:
        return condenser(state["question"], state.get("history") or [])

    def retrieve(state: dict[str, Any]) -> list:
        filters: Filters | None = state.get("filters")
        return retriever.retrieve(state["condense"], filters)

    return _timed("condense", condense) | _timed("retrieve", retrieve)


def finish_answer(answer: Answer, timings_ms: dict[str, float], answerer: Answerer) -> Answer:
    """Attach the step timings; the answerer's own label wins when it fell back."""
    answer.timings_ms = {key: round(value, 2) for key, value in timings_ms.items()}
    if not answer.answerer or answer.answerer == "extractive":
        answer.answerer = getattr(answerer, "name", type(answerer).__name__)
    return answer


def build_chain(condenser: Condenser, retriever: HybridRetriever, answerer: Answerer) -> Runnable:
    """condense -> retrieve -> answer, as one Runnable.

    Input: `{"question": str, "history": list[Message], "filters": Filters | None}`.
    Output: an `Answer` with per-step timings.
    """

    def answer(state: dict[str, Any]) -> Answer:
        return answerer.answer(state["question"], state["condense"], state["retrieve"])

    def finish(state: dict[str, Any]) -> Answer:
        return finish_answer(state["answer"], state["timings_ms"], answerer)

    return (
        build_prepare(condenser, retriever) | _timed("answer", answer) | RunnableLambda(finish, name="finish")
    )
