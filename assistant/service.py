"""`Assistant`: the one object every surface (CLI, chat, API, widget, evaluation) talks to."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

from assistant.answering import Answerer
from assistant.answering.answerability import AnswerabilityStep
from assistant.answering.extractive import ExtractiveAnswerer
from assistant.chain import Condenser, build_prepare, condense_by_rules, finish_answer
from assistant.changes import Follower
from assistant.citations import SupportChecker
from assistant.config import Settings
from assistant.embeddings import Embedder
from assistant.index import CorpusIndex, IngestReport, ProgressCallback, SourceInfo
from assistant.retrieval import Filters, HybridRetriever
from assistant.text import is_valid_text
from assistant.types import Answer, Message, Passage, StreamEvent

# How far back a replica re-reads the records at each sync: an ingest that was committing
# while it last looked may have written records stamped just before that look.
RECORDS_MARGIN_SECONDS = 60.0


class InvalidQuestion(ValueError):
    """A question that cannot be answered as given; the message says what to change."""


class Assistant:
    """Holds the index, the retriever and the chain; loads models on first use.

    Construction is cheap. `warm_up()` (or the first question) opens the index, builds the
    BM25 index and loads the embedding model, once per process.
    """

    def __init__(self, settings: Settings | None = None, embeddings: Embedder | None = None) -> None:
        """`embeddings` replaces the configured model (see `CorpusIndex`)."""
        self.settings = settings or Settings()
        self._embeddings = embeddings
        self._corpus: CorpusIndex | None = None
        self._retriever: HybridRetriever | None = None
        self._prepare: Runnable | None = None
        self._assess: AnswerabilityStep | None = None
        self._answerer: Answerer | None = None
        self._stats: dict[str, Any] | None = None
        self._seen_change: str | None = None  # the change marker's token when last synced
        self._records_seen_at: float | None = None  # the record database's clock then
        self._lock = threading.RLock()  # _answer_path builds the corpus while holding it

    # --- set-up -----------------------------------------------------------------------

    @property
    def corpus(self) -> CorpusIndex:
        if self._corpus is None:
            with self._lock:
                if self._corpus is None:
                    self._corpus = CorpusIndex(self.settings, self._embeddings)
        return self._corpus

    @property
    def retriever(self) -> HybridRetriever:
        if self._retriever is None:
            retriever = HybridRetriever(corpus=self.corpus, settings=self.settings)
            retriever.refresh()
            self._retriever = retriever
        return self._retriever

    def warm_up(self) -> None:
        """Load everything a question needs, so the first user does not wait for it."""
        from assistant.question_parse import load_parser

        _ = self.retriever  # opens the saved lexical index
        self.corpus.embeddings.embed_query("warm up")
        load_parser()
        self._answer_path()

    def sync_with_store(self) -> bool:
        """Catch up with changes other processes made to a shared store (see
        `assistant.changes`); returns whether there was one. Cheap when nothing changed:
        one read of the change marker."""
        change = self.corpus.changes.last()
        if change.token == self._seen_change:
            return False
        with self._lock:
            looked_at = self.corpus.record_time()
            if self._records_seen_at is None:
                self.corpus.lexical.sync()  # compares every id, reads only the chunks it lacks
            else:
                # The records written since the last look (with a margin for ingests that
                # were committing then) name the chunks an ingest added; the change marker
                # names the chunks deleted, when this process saw the change before it.
                # Anything else shows in the counts, and the ids are compared then.
                since = self._records_seen_at - RECORDS_MARGIN_SECONDS
                removed = change.removed if change.previous == self._seen_change else None
                self.corpus.lexical.sync_added(self.corpus.recorded_since(since), removed or ())
            self._records_seen_at = looked_at
            self._stats = None
            self._seen_change = change.token
        return True

    def follow_changes(self, interval: float | None = None) -> Follower:
        """Start a thread that runs `sync_with_store` every `interval` seconds
        (`sync_interval_seconds`), so replicas agree without restarts.

        The first look always syncs (it compares ids, ~2 s at 300k chunks, in the thread):
        a replica's saved lexical index only notices at start a change that altered the
        number of chunks, and a document replaced by one of as many chunks while the
        replica was down would otherwise stay stale until the next change."""
        return Follower(self.sync_with_store, interval or self.settings.sync_interval_seconds).start()

    def _answer_path(self) -> tuple[Runnable, AnswerabilityStep, Answerer]:
        """condense -> retrieve (a Runnable), the answerability step and the answerer:
        built once, on first use."""
        if self._prepare is None or self._assess is None or self._answerer is None:
            with self._lock:
                if self._prepare is None or self._assess is None or self._answerer is None:
                    condenser = self.make_condenser()
                    self._answerer = self.make_answerer()
                    self._assess = self.make_answerability_step()
                    self._prepare = build_prepare(condenser, self.retriever)
        return self._prepare, self._assess, self._answerer

    def _chat_model(self):
        if not hasattr(self, "_model"):
            from assistant.llm import make_chat_model

            self._model = make_chat_model(self.settings)
        return self._model

    def prompts(self):
        """The prompt templates (loaded from files when an LLM is configured)."""
        from assistant.prompts import load_prompts

        return load_prompts(self.settings.prompts_dir)

    def make_condenser(self) -> Condenser:
        """The follow-up condenser for these settings (`CONDENSERS`)."""
        return CONDENSERS[self.settings.answerer](self)

    def make_answerability_step(self) -> AnswerabilityStep:
        """The step between retrieval and every answerer: sentence choice and verdict."""
        retriever = self.retriever
        step = AnswerabilityStep(
            embeddings=self.corpus.embeddings,
            vocabulary=lambda: retriever.vocabulary,
            max_sentences=self.settings.answer_max_sentences,
        )
        if self.settings.refusal_threshold is not None:
            step.model = replace(step.model, threshold=self.settings.refusal_threshold)
        return step

    def following_passage(self, passage: Passage) -> Passage | None:
        """The passage that follows `passage` in its document, if any (for lists whose
        introduction ends a passage)."""
        chunk = self.corpus.following_chunk(passage.path, passage.end)
        return Passage.from_chunk(chunk) if chunk is not None else None

    def make_answerer(self) -> Answerer:
        """The answerer for these settings (`ANSWERERS`): extractive, or the LLM with
        extractive fallback."""
        return ANSWERERS[self.settings.answerer](self)

    # --- questions --------------------------------------------------------------------

    def validate_question(self, question: str) -> str:
        """The question stripped, or `InvalidQuestion` saying what is wrong."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidQuestion("The question is empty: type a question about the documents.")
        question = question.strip()
        if not is_valid_text(question):
            raise InvalidQuestion(
                "The question contains characters that are not text (an unpaired UTF-16 surrogate); "
                "send it as UTF-8 text."
            )
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise InvalidQuestion(
                f"The question is {len(question):,} characters long; the limit is {limit:,} "
                "(ASSISTANT_MAX_QUESTION_CHARS). It was refused, not truncated: shorten it to "
                "the question itself."
            )
        return question

    def ask(
        self,
        question: str,
        history: Sequence[Mapping[str, Any]] | None = None,
        filters: Filters | None = None,
    ) -> Answer:
        """Answer one question in the context of `history`: `stream` drained, so a
        surface gets the same answer whether it streams or not."""
        for event in self.stream(question, history, filters):
            if event.kind == "answer":
                answer: Answer = event.data
                return answer
        raise RuntimeError("the answer stream ended without its answer")

    def stream(
        self,
        question: str,
        history: Sequence[Mapping[str, Any]] | None = None,
        filters: Filters | None = None,
    ) -> Iterator[StreamEvent]:
        """Answer as a stream of text pieces, then the complete `Answer` (whose text is
        final: an LLM answer that fell back replaces what was streamed).

        The question is checked here, before the first event is asked for, so a bad one
        raises `InvalidQuestion` at the call, as `ask` does."""
        question = self.validate_question(question)
        return self._stream(question, self._clean_history(history), filters)

    def _stream(
        self, question: str, history: list[Message], filters: Filters | None
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        prepare, step, answerer = self._answer_path()
        state = prepare.invoke({"question": question, "history": history, "filters": filters})
        answering = time.perf_counter()
        assessment = step.assess(question, state["condense"], state["retrieve"])
        for item in answerer.stream(assessment):
            if isinstance(item, str):
                yield StreamEvent("token", item)
                continue
            timings = {**state["timings_ms"], "answer": (time.perf_counter() - answering) * 1000}
            answer = finish_answer(item, timings, answerer)
            answer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 2)
            answer.notes.extend(self.retriever.filter_notes(filters))
            yield StreamEvent("answer", answer)

    def _clean_history(self, history: Sequence[Mapping[str, Any]] | None) -> list[Message]:
        """The last `max_history_messages` well-formed turns, whichever surface sent them
        (the JSON API, `/v1`, the chat or the CLI)."""
        limit = self.settings.max_history_messages
        cleaned = _well_formed(history)
        return cleaned[-limit:] if limit else []

    def stats(self) -> dict[str, Any]:
        """What is loaded: for /healthz and the chat's header. Kept until the next ingest,
        delete or sync with the store (`sync_with_store`)."""
        if self._stats is None:
            self._stats = self._compute_stats()
        return self._stats

    def _compute_stats(self) -> dict[str, Any]:
        sources = self.sources()
        dated = [s.date for s in sources if s.date[:4].isdigit()]
        return {
            "documents": len(sources),
            "chunks": sum(s.chunks for s in sources),
            # The lexical index's own count: equal to `chunks` unless it is out of step.
            "lexical_chunks": self.retriever.chunk_count,
            "newest_document_date": max(dated) if dated else None,
            "embedding_model": self.settings.embedding_model,
            "answerer": self.settings.answerer,
        }

    # --- the corpus -------------------------------------------------------------------

    def ingest(
        self, paths: list[Path], prune: bool = False, progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Index `paths`; the new text is retrievable at once (the index updates its
        lexical index as it goes)."""
        report = self.corpus.ingest(paths, prune=prune, progress=progress)
        self._stats = None
        return report

    def sources(self) -> list[SourceInfo]:
        return self.corpus.sources()

    def delete(self, source: str) -> list[str]:
        deleted = self.corpus.delete(source)
        self._stats = None
        return deleted


def _llm_condenser(assistant: Assistant) -> Condenser:
    from assistant.answering.llm import LLMCondenser

    return LLMCondenser(assistant._chat_model(), assistant.prompts()["condense"], fallback=condense_by_rules)


def _llm_answerer(assistant: Assistant) -> Answerer:
    from assistant.answering.llm import LLMAnswerer

    return LLMAnswerer(
        assistant._chat_model(),
        assistant.prompts(),
        SupportChecker(assistant.corpus.embeddings),
        fallback=ExtractiveAnswerer(following=assistant.following_passage),
    )


# The answerers and their follow-up condensers, by the name `Settings.answerer` gives: a
# new kind of answerer is one entry in each table (and its name in `Settings.answerer`).
ANSWERERS: dict[str, Callable[[Assistant], Answerer]] = {
    "extractive": lambda assistant: ExtractiveAnswerer(following=assistant.following_passage),
    "llm": _llm_answerer,
}
CONDENSERS: dict[str, Callable[[Assistant], Condenser]] = {
    "extractive": lambda _assistant: condense_by_rules,
    "llm": _llm_condenser,
}


def _well_formed(history: Sequence[Mapping[str, Any]] | None) -> list[Message]:
    """Keep well-formed user/assistant turns; anything else (a turn without a role, or
    with text no tokenizer takes, like a lone surrogate) is ignored, not fatal."""
    cleaned: list[Message] = []
    for message in history or []:
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role in ("user", "assistant") and isinstance(content, str) and is_valid_text(content):
            cleaned.append({"role": role, "content": content})
    return cleaned
