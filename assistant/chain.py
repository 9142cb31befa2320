"""The conversational steps: condense the follow-up -> retrieve, then the answerer.

`build_prepare` is a LangChain `Runnable` of the first two; `Assistant.stream` runs it and
then the answerer's stream (the one answer path: `ask` drains it). Each step can be
swapped (an LLM condenser, an LLM answerer) without touching the others, and records its
duration in the answer's `timings_ms`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from assistant.answering import Answerer
from assistant.citations import strip_markers
from assistant.question_analysis import named_things
from assistant.question_parse import pronouns_after_a_name
from assistant.questions import is_follow_up
from assistant.retrieval import Filters, HybridRetriever
from assistant.text import terms
from assistant.types import Answer, Message
from assistant.vocabulary import Vocabulary

Condenser = Callable[[str, list[Message]], str]


def condense_by_rules(question: str, history: list[Message]) -> str:
    """A standalone query for a follow-up, without an LLM.

    A question that leans on the conversation ("Why do those three matter?") is joined
    with the previous user question and the names the previous answer gave (the three
    things "those three" are), so retrieval finds what it refers to. A self-contained
    question is left alone, so a change of subject is not polluted by the old one.
    """
    previous = [m["content"] for m in history if m.get("role") == "user" and m.get("content")]
    if not previous or not leans_on_history(question):
        return question
    answers = [m["content"] for m in history if m.get("role") == "assistant" and m.get("content")]
    names = []
    if answers and _REFERS_TO_ANSWER.search(question):
        asked = set(terms(previous[-1]))
        names = [name for name in answer_names(answers[-1]) if not set(terms(name)) <= asked]
    return " ".join([question, previous[-1], *names])


# "Why do those three matter?", "Where are they mined?": the referent is something the
# previous answer named, not the previous question's topic.
_REFERS_TO_ANSWER = re.compile(r"\b(those|these|they|them|their|both|each of)\b", re.IGNORECASE)


def leans_on_history(question: str) -> bool:
    """Pronouns and ellipsis ("and how fast?"), or a short question that names nothing
    of its own ("anything more concrete on the jobs piece?"). A singular pronoun after a
    name of the question's own refers to that name ("What is CTEP and when did *it*
    start?"), not to the conversation."""
    named = named_things(question, Vocabulary())
    # The parse behind `_without_own_pronouns` (about 3 ms) only when a pronoun could matter.
    if is_follow_up(question) and (not named or is_follow_up(_without_own_pronouns(question))):
        return True
    return not named and len(terms(question)) <= 5


def _without_own_pronouns(question: str) -> str:
    """`question` without the pronouns that refer to a name of its own (see
    `question_parse.pronouns_after_a_name`)."""
    for start, end in reversed(pronouns_after_a_name(question)):
        question = question[:start] + " " + question[end:]
    return question


def answer_names(answer: str, limit: int = 6) -> list[str]:
    """The named things of an answer (its own words, without markers), first ones first."""
    text = strip_markers(answer)[:800]
    names = [thing.surface for thing in named_things(text, Vocabulary(), sentence_starts=True)]
    return list(dict.fromkeys(names))[:limit]


def _timed(name: str, step: Callable[[dict[str, Any]], Any]) -> Runnable:
    def run(state: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        result = step(state)
        timings = {**state.get("timings_ms", {}), name: (time.perf_counter() - started) * 1000}
        return {**state, name: result, "timings_ms": timings}

    return RunnableLambda(run, name=name)


def build_prepare(condenser: Condenser, retriever: HybridRetriever) -> Runnable:
    """condense -> retrieve: the steps before the answerer (`Assistant.stream` runs it)."""

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
