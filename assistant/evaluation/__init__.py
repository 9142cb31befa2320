"""Answer-quality evaluation: golden sets, metrics, reports, comparisons and the gate.

Every question of a golden set goes through the same `Assistant` the users talk to;
the report says, per metric and per question, what passed and what failed.
"""

from assistant.evaluation.golden import (
    OUT_OF_SCOPE,
    GoldenItem,
    GoldenSetError,
    append_golden,
    check_golden,
    load_golden,
    next_id,
)
from assistant.evaluation.metrics import (
    DEFINITIONS,
    citation_scores,
    evidence_ranks,
    ndcg_at,
    normalise,
    percentile,
    recall_at,
    reciprocal_rank,
    token_f1,
)
from assistant.evaluation.runner import (
    ItemResult,
    by_type,
    run,
    summarise,
)

__all__ = [
    "DEFINITIONS",
    "OUT_OF_SCOPE",
    "GoldenItem",
    "GoldenSetError",
    "ItemResult",
    "append_golden",
    "by_type",
    "check_golden",
    "citation_scores",
    "evidence_ranks",
    "load_golden",
    "ndcg_at",
    "next_id",
    "normalise",
    "percentile",
    "recall_at",
    "reciprocal_rank",
    "run",
    "summarise",
    "token_f1",
]
