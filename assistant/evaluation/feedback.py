"""Feedback becomes test cases: thumbs-down answers as golden-set candidates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.store import Feedback, list_feedback


def candidate(feedback: Feedback) -> dict[str, Any]:
    """A golden-format line with the bad answer attached; type, reference and evidence are
    left for a person to fill in (the validator refuses the line until they are)."""
    return {
        "id": f"fb{feedback.id:04d}",
        "type": "",
        "question": feedback.question,
        "history": feedback.history,
        "reference": "",
        "evidence": [],
        "sources": [],
        "bad_answer": feedback.answer,
        "bad_citations": feedback.citations,
        "refused": feedback.refused,
        "comment": feedback.comment,
        "feedback_id": feedback.id,
        "surface": feedback.surface,
    }


def export_candidates(settings: Settings, out: Path, rating: str = "down", limit: int = 10000) -> int:
    """Write every feedback item with `rating` to `out` (JSONL); returns how many."""
    rows = list_feedback(settings, rating=rating, limit=limit)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(candidate(row), ensure_ascii=False) + "\n")
    return len(rows)
