"""Evaluation metrics on hand-made cases with known values, and the golden set itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.documents import load_file
from assistant.evaluation import (
    GoldenItem,
    ItemResult,
    evidence_ranks,
    load_golden,
    percentile,
    summarise,
)
from assistant.evaluation.fitting import CrossValidated, Example, choose_threshold, threshold_for
from assistant.types import Answer

ROOT = Path(__file__).resolve().parent.parent


def item(id: str = "x", type: str = "factoid", evidence: list[str] | None = None) -> GoldenItem:
    return GoldenItem(id=id, type=type, question="?", reference="", evidence=evidence or [])


def answer(text: str = "", refused: bool = False, relevance: float = 0.0) -> Answer:
    return Answer(answer=text, refused=refused, citations=[], relevance=relevance)


def result(ranks: list[int | None], **kwargs) -> ItemResult:
    evidence = kwargs.pop("evidence", ["e"] * len(ranks))
    return ItemResult(item(evidence=evidence), answer(**kwargs), ranks, latency_ms=10.0)


# --- evidence_ranks -------------------------------------------------------------------


def test_evidence_ranks_fold_case_and_whitespace() -> None:
    passages = [
        "Nothing relevant here.",
        "The SST is  also applied\nto the IMPORTATION of taxable goods.",
        "A second copy: the sst is also applied to the importation of taxable goods.",
        "Rates of\u00a05 or 10 percent apply.",
    ]
    evidence = [
        "the SST is also applied to the importation",
        "5 or 10 percent",
        "not in any passage",
    ]
    assert evidence_ranks(passages, evidence) == [2, 4, None]


def test_evidence_ranks_edge_cases() -> None:
    assert evidence_ranks([], ["anything"]) == [None]
    assert evidence_ranks(["some text"], []) == []


# --- ItemResult metrics ---------------------------------------------------------------


def test_recall_at_and_reciprocal_rank() -> None:
    r = result([3, None, 1, 7])
    assert r.recall_at(1) == pytest.approx(1 / 4)
    assert r.recall_at(3) == pytest.approx(2 / 4)
    assert r.recall_at(5) == pytest.approx(2 / 4)
    assert r.recall_at(10) == pytest.approx(3 / 4)
    assert r.reciprocal_rank == pytest.approx(1.0)

    assert result([4]).reciprocal_rank == pytest.approx(0.25)
    assert result([None, None]).reciprocal_rank == 0.0
    assert result([None, None]).recall_at(10) == 0.0
    assert result([]).recall_at(5) == 0.0


def test_evidence_in_answer_ignores_markers_case_and_spacing() -> None:
    quote = "The SST applies to imports at 5 or 10 percent"
    found = result([1], evidence=[quote], text="the SST applies [1] to imports at\n5 or 10 percent [2].")
    assert found.evidence_in_answer
    missing = result([1], evidence=[quote], text="The SST applies to exports. [1]")
    assert not missing.evidence_in_answer


def test_summarise_hand_made_results() -> None:
    results = [
        ItemResult(item("a", evidence=["q"]), answer("q [1]", relevance=0.9), [1], 10.0),
        ItemResult(item("b", evidence=["q", "r"]), answer("nothing", relevance=0.7), [3, None], 20.0),
        ItemResult(item("c", evidence=["q"]), answer("", refused=True, relevance=0.3), [None], 30.0),
        ItemResult(item("d", "out_of_scope"), answer("", refused=True, relevance=0.2), [], 40.0),
        ItemResult(item("e", "out_of_scope"), answer("an answer", relevance=0.8), [], 50.0),
    ]
    summary = summarise(results)
    assert summary["questions"] == 5
    assert summary["answerable"] == 3 and summary["out_of_scope"] == 2
    assert summary["retrieval.recall@1"] == pytest.approx(round((1 + 0 + 0) / 3, 4))
    assert summary["retrieval.recall@5"] == pytest.approx(round((1 + 0.5 + 0) / 3, 4))
    assert summary["retrieval.mrr"] == pytest.approx(round((1 + 1 / 3 + 0) / 3, 4))
    assert summary["answers.evidence_in_answer"] == pytest.approx(round(1 / 3, 4))
    assert summary["refusals.recall"] == 0.5
    # Two refusals, one of them on an out-of-scope question.
    assert summary["refusals.precision"] == 0.5
    assert summary["refusals.false_refusal_rate"] == pytest.approx(round(1 / 3, 4))
    # Of the 6 (answerable, out-of-scope) pairs, 4 rank the answerable one higher.
    assert summary["refusals.auc"] == pytest.approx(round(4 / 6, 4))
    assert summarise(results[:3])["refusals.auc"] is None
    assert summary["latency.total.p50_ms"] == 30.0
    assert summary["latency.total.p95_ms"] == 48.0


def test_verdicts_near_the_threshold_are_counted() -> None:
    """A refit moves the threshold by about 0.05: staff should know how many verdicts
    (and so how much of a gate's refusal numbers) such a move could flip."""

    def judged(relevance: float, refused: bool, threshold: float | None = 0.35) -> ItemResult:
        given = answer("", refused=refused, relevance=relevance)
        if threshold is not None:
            given.diagnostics = {"verdict": "refuse" if refused else "answer", "threshold": threshold}
        return ItemResult(item("x", evidence=["q"]), given, [1], 10.0)

    results = [
        judged(0.351, refused=False),  # just above: counted
        judged(0.33, refused=True),  # just below: counted
        judged(0.9, refused=False),
        judged(0.05, refused=True),
        judged(0.36, refused=False, threshold=None),  # no diagnostics (an older report): not counted
    ]
    assert summarise(results)["refusals.near_threshold"] == 2
    # Answers that do not say their threshold (the LLM answerer's) give no count, not 0.
    assert summarise(results[-1:])["refusals.near_threshold"] is None


# --- percentile -----------------------------------------------------------------------


def test_percentile_interpolates() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == pytest.approx(3.0)
    assert percentile(values, 0.95) == pytest.approx(4.8)
    assert percentile(values, 0.25) == pytest.approx(2.0)
    assert percentile([10.0, 20.0], 0.5) == pytest.approx(15.0)
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) == 0.0


def test_percentile_at_the_ends_of_its_range() -> None:
    """`share` is documented as 0..1: 0 is the minimum and 1 the maximum."""
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    got: dict[float, object] = {}
    for share in (0.0, 1.0):
        try:
            got[share] = percentile(values, share)
        except IndexError as error:
            got[share] = f"IndexError: {error}"
    assert got == {0.0: 1.0, 1.0: 5.0}


# --- choose_threshold ------------------------------------------------------------------


def test_threshold_separates_cleanly_separable_probabilities() -> None:
    # Midpoint between the best unanswerable (0.3) and the worst answerable (0.5).
    assert choose_threshold([0.5, 0.6, 0.7], [0.2, 0.3], max_false_refusals=0.0) == pytest.approx(0.4)


def test_threshold_respects_the_false_refusal_budget() -> None:
    # One answerable question (0.35) scores below an unanswerable one (0.4).
    answerable, unanswerable = [0.35, 0.6, 0.7, 0.8], [0.1, 0.4]
    assert choose_threshold(answerable, unanswerable, 0.0) == pytest.approx(0.225)  # 0.1 .. 0.35
    assert choose_threshold(answerable, unanswerable, 0.25) == pytest.approx(0.5)  # 0.4 .. 0.6


def test_the_threshold_keeps_every_fitting_sets_false_refusals_within_the_cap() -> None:
    """Questions written with the corpus open score high and would allow a high threshold;
    the independent set's answerable questions score lower, and it is their cap that binds."""

    def example(source: str, answerable: bool) -> Example:
        item = GoldenItem(
            id=f"{source}{answerable}",
            type="factoid" if answerable else "out_of_scope",
            question="?",
            reference="",
            evidence=[],
        )
        return Example(item, evidence=None, answerable=answerable, group=item.id, source=source)  # type: ignore[arg-type]

    examples = (
        [example("golden", True)] * 4 + [example("independent", True)] * 4 + [example("golden", False)] * 2
    )
    probabilities = [0.8, 0.85, 0.9, 0.95] + [0.3, 0.6, 0.7, 0.75] + [0.1, 0.5]
    run = CrossValidated([], [], [], [], probabilities)
    # Golden alone allows the midpoint of 0.5 .. 0.8; the independent 0.3 must pass: 0.1 .. 0.3.
    assert choose_threshold(probabilities[:4], [0.1, 0.5], 0.0) == pytest.approx(0.65)
    assert threshold_for(examples, [run]) == pytest.approx(0.2)


# --- the golden set ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden() -> list[GoldenItem]:
    return load_golden(ROOT / "evals" / "golden.jsonl")


def test_golden_set_loads(golden: list[GoldenItem]) -> None:
    assert len(golden) >= 60
    ids = [g.id for g in golden]
    assert len(set(ids)) == len(ids)
    assert {g.type for g in golden} >= {"factoid", "out_of_scope", "follow_up"}
    assert all(g.question.strip() for g in golden)


def test_golden_evidence_is_verbatim_in_its_sources(golden: list[GoldenItem]) -> None:
    bodies: dict[str, str] = {}
    for g in golden:
        if not g.answerable:
            assert g.evidence == [], g.id
            continue
        assert g.evidence and g.sources, g.id
        for source in g.sources:
            if source not in bodies:
                bodies[source] = load_file(ROOT / source).page_content
        for quote in g.evidence:
            assert any(quote in bodies[source] for source in g.sources), (g.id, quote)


def test_golden_follow_ups_point_to_earlier_items(golden: list[GoldenItem]) -> None:
    seen: set[str] = set()
    follow_ups = 0
    for g in golden:
        if g.follows is not None:
            follow_ups += 1
            assert g.follows in seen, (g.id, g.follows)
        if g.type == "follow_up":
            assert g.follows, g.id
        seen.add(g.id)
    assert follow_ups >= 5
