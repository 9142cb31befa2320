"""Golden question sets: loading, checking and extending them.

A line: `{"id", "type", "question", "reference", "evidence": [exact quotes],
"sources": [corpus paths], "follows"?: id of the previous turn, "history"?: explicit
turns}`. Out-of-scope questions have type `out_of_scope` and no evidence.

Every field's JSON type is checked before anything else reads it: `"evidence": "a quote"`
would otherwise be iterated character by character, and every character is in the corpus.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.evaluation.metrics import normalise

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


REQUIRED_FIELDS = ("id", "type", "question", "reference", "evidence")
HISTORY_ROLES = ("user", "assistant")
_HISTORY_TURN = '{"role": "user" or "assistant", "content": a string}'


def _json_kind(value: object) -> str:
    """How JSON names the type of `value`, for messages about a hand-edited file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _string_list_problems(name: str, value: object) -> list[str]:
    if not isinstance(value, list):
        return [f"{name} must be a list of strings, not {_json_kind(value)}"]
    return [
        f"{name}[{index}] must be a string, not {_json_kind(entry)}"
        for index, entry in enumerate(value)
        if not isinstance(entry, str)
    ]


def _history_problems(value: object) -> list[str]:
    if not isinstance(value, list):
        return [f"history must be a list of {_HISTORY_TURN} turns, not {_json_kind(value)}"]
    problems = []
    for index, turn in enumerate(value):
        if not isinstance(turn, dict):
            problems.append(f"history[{index}] must be {_HISTORY_TURN}, not {_json_kind(turn)}")
        elif turn.get("role") not in HISTORY_ROLES or not isinstance(turn.get("content"), str):
            problems.append(f"history[{index}] must be {_HISTORY_TURN}, not {json.dumps(turn)[:80]}")
    return problems


def field_type_problems(data: dict[str, Any]) -> list[str]:
    """Every field of one golden item that is missing or holds the wrong JSON type.

    Later checks and the runner iterate `evidence`, `sources` and `history`, so a string
    where a list belongs must be caught here, not discovered as a pass.
    """
    missing = sorted(name for name in REQUIRED_FIELDS if name not in data)
    problems = [f"missing {', '.join(missing)}"] if missing else []
    for name in ("id", "type", "question", "reference"):
        if name in data and not isinstance(data[name], str):
            problems.append(f"{name} must be a string, not {_json_kind(data[name])}")
    if "evidence" in data:
        problems += _string_list_problems("evidence", data["evidence"])
    if "sources" in data:
        problems += _string_list_problems("sources", data["sources"])
    if data.get("follows") is not None and not isinstance(data["follows"], str):
        problems.append(f"follows must be a string or null, not {_json_kind(data['follows'])}")
    if "history" in data:
        problems += _history_problems(data["history"])
    return problems


def load_golden(path: Path) -> list[GoldenItem]:
    """Read a golden JSONL file.

    Raises:
        GoldenSetError: naming, by line and id, every line that is not JSON, not an object,
            or has a field of the wrong type.
    """
    items = []
    problems = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise GoldenSetError(f"not UTF-8 text (byte {error.start}); save it as UTF-8 JSONL") from None
    except OSError as error:
        raise GoldenSetError(f"cannot read it: {error.strerror or error}") from None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not a golden item ({error})")
            continue
        if not isinstance(data, dict):
            problems.append(f"line {number}: a golden item must be a JSON object, not {_json_kind(data)}")
            continue
        where = f"line {number} ({data['id']})" if isinstance(data.get("id"), str | int) else f"line {number}"
        line_problems = field_type_problems(data)
        if line_problems:
            problems += [f"{where}: {problem}" for problem in line_problems]
            continue
        items.append(GoldenItem(**{key: data[key] for key in GoldenItem.__dataclass_fields__ if key in data}))
    if problems:
        raise GoldenSetError("; ".join(problems))
    return items


def check_golden(items: list[GoldenItem], documents: dict[str, str]) -> list[str]:
    """Every problem of a golden set: repeated ids, unknown types, follow-ups that point
    at missing or later turns, evidence not found in the corpus, answerable questions
    without evidence. `documents` maps each corpus path to its text."""
    problems: list[str] = []
    seen: set[str] = set()
    corpus = {path: normalise(text) for path, text in documents.items()}
    for item in items:
        where = f"{item.id}"
        # Items built in code (the staff tab) skip load_golden's checks; iterating a string
        # as evidence would report no problems.
        type_problems = field_type_problems(asdict(item))
        if type_problems:
            problems += [f"{where}: {problem}" for problem in type_problems]
            seen.add(str(item.id))
            continue
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
            needle = normalise(quote)
            if not needle:  # an empty quote is "found" in every document
                problems.append(f"{where}: evidence[{index}] is empty; quote the text that answers")
                continue
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
