"""The one evaluation entry point refuses what it cannot evaluate, for the CLI and the
Quality tab alike (the tab used to skip the golden-set check and the empty-index check)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.evaluation.session import EvaluationError, evaluate_golden_set, validated_golden
from assistant.service import Assistant

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = "corpus/trade-gov_ccg_malaysia-import-tariffs.md"


def golden_line(evidence: str) -> str:
    item = {
        "id": "q001",
        "type": "factoid",
        "question": "What is Malaysia's average applied tariff?",
        "reference": "About 5.6 percent.",
        "evidence": [evidence],
        "sources": [DOCUMENT],
    }
    return json.dumps(item) + "\n"


def test_a_missing_set_and_evidence_the_document_lacks_are_refused_with_the_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # golden sets name documents relative to the project
    with pytest.raises(EvaluationError, match="No golden set at"):
        validated_golden(tmp_path / "absent.jsonl", ROOT / "corpus")

    golden = tmp_path / "golden.jsonl"
    golden.write_text(golden_line("a sentence no document of the corpus contains"))
    with pytest.raises(EvaluationError, match="has 1 problem") as refused:
        validated_golden(golden, ROOT / "corpus")
    assert len(refused.value.problems) == 1 and "q001" in refused.value.problems[0]


def test_an_empty_index_is_refused_before_any_question_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    quote = (ROOT / DOCUMENT).read_text(encoding="utf-8").split("\n\n")[3][:60]
    golden = tmp_path / "golden.jsonl"
    golden.write_text(golden_line(quote))
    assert validated_golden(golden, ROOT / "corpus")  # the set itself is sound
    assistant = Assistant(Settings(data_dir=tmp_path / "data"))
    with pytest.raises(EvaluationError, match="No documents are indexed"):
        evaluate_golden_set(assistant, golden)
