"""Metric functions on hand-made cases with known values."""

from __future__ import annotations

import math

import pytest

from assistant.citations import SupportChecker
from assistant.embeddings import make_embeddings
from assistant.evaluation import citation_scores, ndcg_at, recall_at, reciprocal_rank, token_f1

PASSAGES = {
    1: "Since January 2024, Malaysia has banned the export of unprocessed rare earth ores.",
    2: "Malaysia's simple average applied tariff is 6.1 percent for industrial goods.",
}


def exact(sentence: str, passages: list[str]) -> bool:
    """A support judge for hand-made cases: the sentence is quoted in the passages."""
    return any(sentence.rstrip(" .") in passage for passage in passages)


def test_ranking_metrics_on_known_ranks() -> None:
    assert recall_at([1, 4], 3) == 0.5 and recall_at([1, 4], 5) == 1.0
    assert reciprocal_rank([None, 3]) == pytest.approx(1 / 3)
    assert ndcg_at([1], 10) == 1.0
    assert ndcg_at([2], 10) == pytest.approx(1 / math.log2(3))
    # Two quotes found at ranks 1 and 3, against an ideal of ranks 1 and 2.
    assert ndcg_at([1, 3], 10) == pytest.approx((1 + 1 / 2) / (1 + 1 / math.log2(3)))
    assert ndcg_at([None, None], 10) == 0.0 and ndcg_at([], 10) == 0.0
    assert ndcg_at([11], 10) == 0.0


def test_token_f1_like_squad() -> None:
    assert token_f1("The tariff is 6.1 percent. [1]", "tariff is 6.1 percent") == 1.0
    assert token_f1("six percent", "6.1 percent") == pytest.approx(0.5)
    assert token_f1("", "") == 1.0 and token_f1("words", "") == 0.0
    assert token_f1("nothing shared", "entirely different") == 0.0


def test_citations_of_a_perfect_answer() -> None:
    sentences = [
        ("Since January 2024, Malaysia has banned the export of unprocessed rare earth ores.", [1]),
        ("Malaysia's simple average applied tariff is 6.1 percent for industrial goods.", [2]),
    ]
    assert citation_scores(sentences, PASSAGES, exact) == (1.0, 1.0)


def test_citations_of_an_empty_answer() -> None:
    assert citation_scores([], PASSAGES, exact) == (0.0, 0.0)


def test_one_wrong_citation() -> None:
    sentences = [
        ("Since January 2024, Malaysia has banned the export of unprocessed rare earth ores.", [1]),
        # Cites the tariff passage for the ban: unsupported, and the citation is irrelevant.
        ("Since January 2024, Malaysia has banned the export of unprocessed rare earth ores.", [2]),
    ]
    recall, precision = citation_scores(sentences, PASSAGES, exact)
    assert recall == 0.5 and precision == 0.5


def test_a_redundant_citation_counts_against_precision_only() -> None:
    sentences = [("Malaysia's simple average applied tariff is 6.1 percent for industrial goods.", [2, 1])]
    recall, precision = citation_scores(sentences, PASSAGES, exact)
    assert recall == 1.0 and precision == 0.5


def test_a_citation_number_without_a_passage_is_not_precise() -> None:
    sentences = [("Malaysia's simple average applied tariff is 6.1 percent for industrial goods.", [2, 7])]
    assert citation_scores(sentences, PASSAGES, exact) == (1.0, 0.5)


@pytest.mark.slow
def test_offline_support_checker_with_the_real_model(settings) -> None:
    checker = SupportChecker(make_embeddings(settings))
    passage = PASSAGES[2]
    assert checker.supports(
        "Malaysia's simple average applied tariff is 6.1 percent for industrial goods. [1]",
        [passage],
    )
    assert checker.supports(
        "The average tariff Malaysia applies to industrial goods is 6.1 percent.", [passage]
    )
    assert not checker.supports("Lynas operates a rare earth refinery in Pahang.", [passage])
    assert not checker.supports("Anything at all.", [])
