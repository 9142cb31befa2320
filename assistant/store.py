"""Application state in SQLite (feedback, API keys), changed only by numbered migrations.

Chroma holds the vectors; this database holds what people and sites did. SQLite is safe
across processes, so `assistant keys create` works while the server runs.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.index import ensure_data_dir


def _m001_feedback(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at REAL NOT NULL,
            rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
            comment TEXT NOT NULL DEFAULT '',
            question TEXT NOT NULL,
            history TEXT NOT NULL DEFAULT '[]',
            answer TEXT NOT NULL,
            citations TEXT NOT NULL DEFAULT '[]',
            refused INTEGER NOT NULL DEFAULT 0,
            surface TEXT NOT NULL DEFAULT 'chat'
        )
        """
    )
    db.execute("CREATE INDEX feedback_created ON feedback (created_at)")


def _m002_api_keys(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE api_keys (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            origins TEXT NOT NULL DEFAULT '[]',
            allow_server INTEGER NOT NULL DEFAULT 0,
            rate_limit INTEGER,
            created_at REAL NOT NULL,
            revoked_at REAL
        )
        """
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_feedback, _m002_api_keys]


def migrate(db: sqlite3.Connection) -> None:
    """Apply the migrations this database has not seen yet, each in its own transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    applied = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    for migration in MIGRATIONS:
        name = migration.__name__.lstrip("_")
        if name in applied:
            continue
        with db:
            migration(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))


_prepared: set[Path] = set()
_prepare_lock = threading.Lock()


def _database(settings: Settings) -> Path:
    """The database path; the directory check, WAL mode and migrations run once per process
    and database, not on every request that looks up a key."""
    path = settings.data_dir / "assistant.sqlite"
    if path not in _prepared or not path.exists():
        with _prepare_lock:
            ensure_data_dir(settings)
            db = sqlite3.connect(path, timeout=10)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                migrate(db)
            finally:
                db.close()
            _prepared.add(path)
    return path


@contextmanager
def connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    """A short-lived connection (one per operation keeps threads and processes apart)."""
    db = sqlite3.connect(_database(settings), timeout=10)
    db.row_factory = sqlite3.Row
    try:
        yield db
    finally:
        db.close()


# --- feedback -------------------------------------------------------------------------


@dataclass
class Feedback:
    """A thumbs up or down on an answer, with everything needed to replay it."""

    rating: str  # "up" or "down"
    question: str
    answer: str
    history: list[dict[str, Any]]
    citations: list[dict[str, Any]]
    refused: bool = False
    comment: str = ""
    surface: str = "chat"
    id: int | None = None
    created_at: float | None = None


def add_feedback(settings: Settings, feedback: Feedback) -> int:
    """Store feedback; returns its id."""
    with connect(settings) as db, db:
        cursor = db.execute(
            "INSERT INTO feedback (created_at, rating, comment, question, history, answer, "
            "citations, refused, surface) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                feedback.rating,
                feedback.comment,
                feedback.question,
                json.dumps(feedback.history, ensure_ascii=False),
                feedback.answer,
                json.dumps(feedback.citations, ensure_ascii=False),
                int(feedback.refused),
                feedback.surface,
            ),
        )
        return int(cursor.lastrowid or 0)


def list_feedback(settings: Settings, rating: str | None = None, limit: int = 200) -> list[Feedback]:
    """Newest first, optionally only one rating."""
    query = "SELECT * FROM feedback"
    parameters: tuple[Any, ...] = ()
    if rating:
        query += " WHERE rating = ?"
        parameters = (rating,)
    query += " ORDER BY created_at DESC, id DESC LIMIT ?"
    with connect(settings) as db:
        rows = db.execute(query, (*parameters, limit)).fetchall()
    return [
        Feedback(
            id=row["id"],
            created_at=row["created_at"],
            rating=row["rating"],
            comment=row["comment"],
            question=row["question"],
            history=json.loads(row["history"]),
            answer=row["answer"],
            citations=json.loads(row["citations"]),
            refused=bool(row["refused"]),
            surface=row["surface"],
        )
        for row in rows
    ]


def set_feedback_comment(settings: Settings, feedback_id: int, comment: str) -> bool:
    """Attach a comment to stored feedback (the chat asks for it after the thumb)."""
    with connect(settings) as db, db:
        cursor = db.execute("UPDATE feedback SET comment = ? WHERE id = ?", (comment, feedback_id))
    return cursor.rowcount > 0
