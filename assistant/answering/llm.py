"""Generative answers through any LangChain chat model, checked before they are shown.

The model sees the question and the retrieved passages, each fenced as untrusted
content, and must cite them as [n]. Its reply streams out as it comes (citation numbers
that point at no source are dropped on the way), then every sentence is checked against
the passages it cites with the same offline support check the evaluation uses; a
sentence that nothing supports is marked unsupported. When the model fails, times out or
returns nothing usable, the user gets the extractive answer with a note saying so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from assistant.answering.answerability import Assessment, Verdict, answer_notes
from assistant.answering.base import refusal, stream_words
from assistant.answering.extractive import ExtractiveAnswerer, with_list_continuations
from assistant.chunking import split_sentences
from assistant.citations import SupportChecker, strip_markers
from assistant.prompts import Prompt, versions
from assistant.text import terms
from assistant.types import Answer, AnswerSentence, Citation, Message, Passage

log = logging.getLogger("assistant.llm")

REFUSAL_MARK = "NOT IN DOCUMENTS"
_MARKER = re.compile(r"\[(\d+)\]")
_ONLY_MARKERS = re.compile(r"^(\s*\[\d+\])+\s*$")


def fence_sources(passages: list[Passage]) -> str:
    """Numbered sources, each inside <source> tags that its own text cannot close."""
    blocks = []
    for n, passage in enumerate(passages, start=1):
        text = re.sub(
            r"</?\s*source",
            lambda m: m.group(0).replace("source", "source\u200b"),
            passage.text,
            flags=re.I,
        )
        title = passage.title.replace('"', "'")
        blocks.append(f'<source n="{n}" title="{title}" date="{passage.date}">\n{text}\n</source>')
    return "\n\n".join(blocks)


def message_text(content: Any) -> str:
    """A chunk's text, whether the model sends a string or content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return ""


def filter_markers(pieces: Iterator[str], sources: int, dropped: list[str]) -> Iterator[str]:
    """Pass text through, holding back `[n...]` until it closes so that a citation of a
    source that does not exist never reaches the user; dropped markers are recorded."""
    held = ""
    for piece in pieces:
        held += piece
        out = ""
        while held:
            start = held.find("[")
            if start < 0:
                out, held = out + held, ""
                break
            out, held = out + held[:start], held[start:]
            match = re.match(r"\[(\d*)(\])?", held)
            if match and match.group(2):  # a complete [n]
                number = int(match.group(1)) if match.group(1) else 0
                if 1 <= number <= sources:
                    out += match.group(0)
                else:
                    dropped.append(match.group(0))
                held = held[match.end() :]
            elif match and len(held) < 8 and held == match.group(0):
                break  # "[1" so far: wait for more
            else:
                out, held = out + held[0], held[1:]
        if out:
            yield out
    if held:
        yield held


class LLMCondenser:
    """Rewrites a follow-up into a standalone question with the LLM; the rules decide
    when the model is unavailable."""

    def __init__(self, model: BaseChatModel, prompt: Prompt, fallback) -> None:  # type: ignore[no-untyped-def]
        self.model = model
        self.prompt = prompt
        self.fallback = fallback

    def __call__(self, question: str, history: list[Message]) -> str:
        if not history:
            return question
        turns = "\n".join(f"{m['role']}: {m['content'][:1000]}" for m in history[-6:])
        try:
            reply = self.model.invoke([HumanMessage(self.prompt.format(history=turns, question=question))])
        except Exception as error:  # the model's failure must not stop the question
            log.warning("condense with the LLM failed (%s); using the rules", error)
            return self.fallback(question, history)
        rewritten = message_text(reply.content).strip().splitlines()
        return (
            rewritten[0].strip() if rewritten and rewritten[0].strip() else self.fallback(question, history)
        )


class LLMAnswerer:
    """Answers with a chat model, verifies every sentence, falls back when it must."""

    name = "llm"

    def __init__(
        self,
        model: BaseChatModel,
        prompts: dict[str, Prompt],
        checker: SupportChecker,
        fallback: ExtractiveAnswerer | None = None,
    ) -> None:
        self.model = model
        self.prompts = prompts
        self.checker = checker
        self.fallback = fallback or ExtractiveAnswerer()

    def messages(self, question: str, passages: list[Passage]) -> list:
        """System message, then the answer prompt with the fenced sources."""
        return [
            SystemMessage(self.prompts["system"].text),
            HumanMessage(self.prompts["answer"].format(sources=fence_sources(passages), question=question)),
        ]

    def answer(self, assessment: Assessment) -> Answer:
        final = None
        for item in self.stream(assessment):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(self, assessment: Assessment) -> Iterator[str | Answer]:
        """Text pieces as the model writes them, then the checked `Answer`."""
        evidence, decision = assessment.evidence, assessment.decision
        question, standalone_question = evidence.question, evidence.standalone_question
        if decision.verdict is Verdict.REFUSE:
            # The answerability step says the documents do not answer: no model call.
            yield from self._finish_fallback(assessment, note=None)
            return
        passages = with_list_continuations(assessment.passages, self.fallback.following)
        dropped: list[str] = []
        text = ""
        try:
            pieces = (
                message_text(chunk.content)
                for chunk in self.model.stream(self.messages(standalone_question, passages))
            )
            for piece in filter_markers(pieces, len(passages), dropped):
                text += piece
                yield piece
        except Exception as error:  # timeouts, HTTP errors, malformed streams: all fall back
            log.warning("LLM answer failed: %r", error)
            note = _failure_note(error)
            if text:  # part of the reply was already sent: say why the rest is different
                yield f"\n\n— {note}\n\n"
            yield from self._finish_fallback(assessment, note=note)
            return
        answer = self.check(question, standalone_question, passages, text, dropped)
        if answer is None:
            yield from self._finish_fallback(
                assessment,
                note="The language model gave no usable cited answer; "
                "this answer quotes the documents instead.",
            )
            return
        answer.relevance = decision.probability
        if not answer.refused:
            answer.notes.extend(answer_notes(assessment, answer))
            answer.partial = decision.verdict is Verdict.PARTIAL
        answer.diagnostics = llm_diagnostics(assessment, answer.diagnostics)
        yield answer

    def _finish_fallback(self, assessment: Assessment, note: str | None) -> Iterator[str | Answer]:
        """The extractive answer (or refusal) for the same assessment, with `note` saying
        why the model's answer is not shown."""
        answer = self.fallback.answer(assessment)
        if note:
            answer.notes.insert(0, note)
            answer.answerer = "extractive (LLM fallback)"
        answer.prompt_versions = versions(self.prompts)
        yield from stream_words(answer)

    def check(
        self,
        question: str,
        standalone_question: str,
        passages: list[Passage],
        text: str,
        dropped: list[str],
    ) -> Answer | None:
        """Parse the [n] markers and check each sentence; None when nothing usable came."""
        text = text.strip()
        if not text:
            return None
        if text.upper().startswith(REFUSAL_MARK):
            refused = refusal(question, standalone_question, passages)
            refused.diagnostics = {"verdict": "refuse", "reason": "the language model found no answer"}
            refused.prompt_versions = versions(self.prompts)
            return refused
        sentences = self._sentences(text, len(passages))
        if not any(numbers for _, numbers in sentences):
            return None
        cited_order: list[int] = []
        checked: list[AnswerSentence] = []
        for sentence, numbers in sentences:
            for n in numbers:
                if n not in cited_order:
                    cited_order.append(n)
            cited = [passages[n - 1].text for n in numbers]
            supported = bool(cited) and self.checker.supports(sentence, cited)
            checked.append(AnswerSentence(sentence, numbers, supported))
        citations = [Citation.from_passage(n, passages[n - 1]) for n in cited_order]
        by_number = {c.n: c for c in citations}
        for checked_sentence in checked:
            for n in checked_sentence.citations:
                _highlight(by_number[n], passages[n - 1], checked_sentence.text)
        notes = []
        if dropped:
            notes.append(f"Removed citation(s) to sources that do not exist: {', '.join(dropped)}.")
        unsupported = sum(not s.supported for s in checked)
        if unsupported:
            notes.append(f"{unsupported} sentence(s) are not supported by the sources they cite.")
        return Answer(
            answer=text,
            refused=False,
            citations=citations,
            question=question,
            standalone_question=standalone_question,
            sentences=checked,
            notes=notes,
            answerer=self.name,
            prompt_versions=versions(self.prompts),
        )

    @staticmethod
    def _sentences(text: str, sources: int) -> list[tuple[str, list[int]]]:
        """Sentences of the reply, as written, with the valid citation numbers each
        carries; a lone "[1]" that the splitter cut off joins the sentence before it."""
        parts: list[tuple[str, list[int]]] = []
        for sentence in split_sentences(text):
            raw = text[sentence.start : sentence.end]
            numbers = [int(n) for n in _MARKER.findall(raw) if 1 <= int(n) <= sources]
            if _ONLY_MARKERS.match(raw) and parts:
                previous, previous_numbers = parts[-1]
                parts[-1] = (
                    previous,
                    previous_numbers + [n for n in numbers if n not in previous_numbers],
                )
                continue
            if strip_markers(raw):
                # Kept as written (markers and all) so surfaces can find it in the answer;
                # the support check ignores the markers.
                parts.append((raw, list(dict.fromkeys(numbers))))
        return parts


def llm_diagnostics(assessment: Assessment, own: dict[str, Any]) -> dict[str, Any]:
    """Why a model-written answer is what it is: the answerability step's verdict, its
    probability against the threshold and each input's pull (as for an extractive answer,
    so the report's "Why" block and `refusals.near_threshold` read the same), without the
    sentences the step would have quoted (the model wrote its own); then what the model
    added (`own`: its refusal and the reason)."""
    judged = {key: value for key, value in assessment.diagnostics.items() if key != "sentences"}
    return {**judged, "answerer": "llm", **own}


def _highlight(citation: Citation, passage: Passage, sentence: str) -> None:
    """Mark the passage sentence that shares the most words with the answer sentence."""
    wanted = set(terms(sentence))
    best, best_overlap = None, 0
    for start, end in passage.sentences:
        overlap = len(wanted & set(terms(passage.text[start:end])))
        if overlap > best_overlap:
            best, best_overlap = (passage.start + start, passage.start + end), overlap
    if best and best not in citation.highlights:
        citation.highlights.append(best)


def _failure_note(error: Exception) -> str:
    kind = type(error).__name__
    if "No generation chunks" in str(error):  # LangChain's word for an empty stream
        return "The language model returned no usable answer; this answer quotes the documents instead."
    if "Timeout" in kind or "timed out" in str(error).lower():
        reason = "did not answer in time"
    elif "Connection" in kind:
        reason = "could not be reached"
    else:
        reason = "failed"
    return f"The language model {reason}; this answer quotes the documents instead."
