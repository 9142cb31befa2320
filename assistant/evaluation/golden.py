"""Golden question sets: loading, checking and extending them.

A line: `{"id", "type", "question", "reference", "evidence": [exact quotes],
"sources": [corpus paths], "follows"?: id of the previous turn, "history"?: explicit
turns}`. Out-of-scope questions have type `out_of_scope` and no evidence.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OUT_OF_SCOPE = "out_of_scope"
QUESTION_TYPES = (
    "factoid",
    "number",
    "date",
    "list",
    "why",
    "multi_doc",
    OUT_OF_SCOPE,
    "follow_up",
)


@dataclass
class GoldenItem:
    """One question of a golden set."""

    id: str
    type: str
    question: str
    reference: str
    evidence: list[str]
    sources: list[str] = field(default_factory=list)
    follows: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return self.type != OUT_OF_SCOPE

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            key: value
            for key, value in data.items()
            if value not in (None, [], "") or key in ("evidence", "reference")
        }


class GoldenSetError(ValueError):
    """A golden set that cannot be used; the message lists every problem."""


def load_golden(path: Path) -> list[GoldenItem]:
    """Read a golden JSONL file (`GoldenSetError` for lines that are not items)."""
    items = []
    problems = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                known = {key: data[key] for key in GoldenItem.__dataclass_fields__ if key in data}
                items.append(GoldenItem(**known))
            except (json.JSONDecodeError, TypeError) as error:
                problems.append(f"line {number}: not a golden item ({error})")
    if problems:
        raise GoldenSetError("; ".join(problems))
    return items


def _normalise(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split()).lower()


def check_golden(items: list[GoldenItem], documents: dict[str, str]) -> list[str]:
    """Every problem of a golden set: repeated ids, unknown types, follow-ups that point
    at missing or later turns, evidence not found in the corpus, answerable questions
    without evidence. `documents` maps each corpus path to its text."""
    problems: list[str] = []
    seen: set[str] = set()
    corpus = {path: _normalise(text) for path, text in documents.items()}
    for item in items:
        where = f"{item.id}"
        if item.id in seen:
            problems.append(f"{where}: id repeats an earlier one")
        if item.type not in QUESTION_TYPES:
            problems.append(f"{where}: unknown type '{item.type}' (one of {', '.join(QUESTION_TYPES)})")
        if not item.question.strip():
            problems.append(f"{where}: empty question")
        if item.follows is not None and item.follows not in seen:
            problems.append(f"{where}: follows '{item.follows}', which is not an earlier question")
        if item.answerable and not item.evidence:
            problems.append(f"{where}: an answerable question needs at least one evidence quote")
        for index, quote in enumerate(item.evidence):
            source = item.sources[index] if index < len(item.sources) else None
            needle = _normalise(quote)
            if source is not None:
                matches = [
                    text for path, text in corpus.items() if path.endswith(source) or source.endswith(path)
                ]
                if not matches:
                    problems.append(f"{where}: source '{source}' is not in the corpus")
                elif not any(needle in text for text in matches):
                    problems.append(f"{where}: evidence not found in {source}: “{quote[:80]}”")
            elif not any(needle in text for text in corpus.values()):
                problems.append(f"{where}: evidence not found in any document: “{quote[:80]}”")
        seen.add(item.id)
    return problems


def append_golden(path: Path, item: GoldenItem) -> None:
    """Add one item at the end of a golden set."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")


def next_id(items: list[GoldenItem], prefix: str = "q") -> str:
    """The next free `q123`-style id."""
    numbers = [
        int(item.id[len(prefix) :])
        for item in items
        if item.id.startswith(prefix) and item.id[len(prefix) :].isdigit()
    ]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"
