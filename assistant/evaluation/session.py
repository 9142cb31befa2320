"""The one way to evaluate a golden set, for `assistant eval` and the Quality tab alike.

Both check the golden set against the corpus, refuse to run over an empty index, load
the set's thresholds and build the report the same way; each only renders the result
(the CLI prints and may compare with a baseline, the tab shows a summary).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.evaluation.gate import load_thresholds
from assistant.evaluation.golden import GoldenItem, GoldenSetError, check_golden, load_golden
from assistant.evaluation.report import build_report
from assistant.evaluation.runner import run

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.service import Assistant


class EvaluationError(ValueError):
    """The evaluation cannot run as asked; the message (and `problems`) say what to fix."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def corpus_documents(corpus_dir: Path) -> dict[str, str]:
    """Corpus texts keyed by their path as golden sets name them (`corpus/x.md`)."""
    from assistant.documents import load_paths

    documents = {}
    for document in load_paths([corpus_dir]).documents:
        path = Path(document.metadata["path"])
        try:
            key = str(path.relative_to(Path.cwd()))
        except ValueError:
            key = str(path)
        documents[key] = document.page_content
    return documents


def validated_golden(path: Path, corpus_dir: Path) -> list[GoldenItem]:
    """The golden set at `path`, checked against the corpus (every evidence quote must be
    in the document it names)."""
    if not path.exists():
        raise EvaluationError(f"No golden set at {path}.")
    try:
        items = load_golden(path)
    except GoldenSetError as error:
        raise EvaluationError(f"{path}: {error}") from None
    problems = check_golden(items, corpus_documents(corpus_dir))
    if problems:
        raise EvaluationError(f"{path} has {len(problems)} problem(s); fix them before evaluating.", problems)
    return items


def thresholds_for(settings: Settings, golden: Path) -> dict[str, dict[str, float]] | None:
    """The `[minimum]`/`[maximum]` bounds for this set, or None when there are none."""
    if not settings.thresholds_file.exists():
        return None
    return load_thresholds(settings.thresholds_file, golden.stem)


def evaluate_golden_set(assistant: Assistant, golden: Path) -> dict[str, Any]:
    """Run every question of `golden` through `assistant` and build the report (with the
    gate's verdict when the set has thresholds)."""
    settings = assistant.settings
    items = validated_golden(golden, settings.corpus_dir)
    thresholds = thresholds_for(settings, golden)
    assistant.warm_up()
    if not assistant.retriever.chunk_count:
        raise EvaluationError(
            f"No documents are indexed in {settings.data_dir}: run `assistant ingest` first "
            "(or point --data-dir at an index)."
        )
    return build_report(assistant, run(assistant, items), golden, thresholds)
