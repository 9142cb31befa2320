"""Feedback, kept in the application database (assistant/database.py).

Chroma holds the vectors; this database holds what people and sites did. It is SQLite in
the data directory (safe across processes, so `assistant keys create` works while the
server runs) or, with `database_url`, PostgreSQL shared by several replicas.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from assistant.config import Settings
from assistant.database import connect, transaction

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
    with transaction(settings) as db:
        new_id = db.execute(
            text(
                "INSERT INTO feedback (created_at, rating, comment, question, history, answer, "
                "citations, refused, surface) VALUES (:created_at, :rating, :comment, :question, "
                ":history, :answer, :citations, :refused, :surface) RETURNING id"
            ),
            {
                "created_at": time.time(),
                "rating": feedback.rating,
                "comment": feedback.comment,
                "question": feedback.question,
                "history": json.dumps(feedback.history, ensure_ascii=False),
                "answer": feedback.answer,
                "citations": json.dumps(feedback.citations, ensure_ascii=False),
                "refused": int(feedback.refused),
                "surface": feedback.surface,
            },
        ).scalar_one()
    return int(new_id)


def list_feedback(settings: Settings, rating: str | None = None, limit: int = 200) -> list[Feedback]:
    """Newest first, optionally only one rating."""
    query = "SELECT * FROM feedback"
    parameters: dict[str, Any] = {"limit": limit}
    if rating:
        query += " WHERE rating = :rating"
        parameters["rating"] = rating
    query += " ORDER BY created_at DESC, id DESC LIMIT :limit"
    with connect(settings) as db:
        rows = db.execute(text(query), parameters).mappings().all()
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
    with transaction(settings) as db:
        result = db.execute(
            text("UPDATE feedback SET comment = :comment WHERE id = :id"),
            {"comment": comment, "id": feedback_id},
        )
    return result.rowcount > 0
