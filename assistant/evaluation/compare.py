"""Comparing two evaluation runs: metric deltas and the questions that moved."""

from __future__ import annotations

from typing import Any

# Metrics where a smaller number is better.
LOWER_IS_BETTER_PREFIXES = ("latency.", "refusals.false_refusal_rate")
F1_DROP = 0.15


def lower_is_better(metric: str) -> bool:
    return metric.startswith(LOWER_IS_BETTER_PREFIXES)


def compare_reports(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Deltas for every metric both runs have, and the questions that got worse or better.

    A question got worse when a check that passed now fails (retrieved, answered,
    evidence in answer, citations supported, refusal correct) or its token F1 fell by
    more than 0.15; better when a failed check now passes and nothing got worse.
    """
    deltas = []
    for name, new_value in new["metrics"].items():
        old_value = old["metrics"].get(name)
        if not isinstance(new_value, int | float) or not isinstance(old_value, int | float):
            continue
        change = round(new_value - old_value, 4)
        improved = change < 0 if lower_is_better(name) else change > 0
        deltas.append(
            {
                "metric": name,
                "old": old_value,
                "new": new_value,
                "delta": change,
                "direction": "same" if change == 0 else ("better" if improved else "worse"),
            }
        )
    old_questions = {q["id"]: q for q in old["questions"]}
    worse, better = [], []
    for question in new["questions"]:
        before = old_questions.get(question["id"])
        if before is None:
            continue
        lost = [c for c, ok in question["checks"].items() if not ok and before["checks"].get(c)]
        gained = [c for c, ok in question["checks"].items() if ok and before["checks"].get(c) is False]
        old_f1, new_f1 = before["metrics"].get("token_f1"), question["metrics"].get("token_f1")
        if old_f1 is not None and new_f1 is not None and old_f1 - new_f1 > F1_DROP:
            lost.append(f"token F1 {old_f1:.2f} → {new_f1:.2f}")
        entry = {
            "id": question["id"],
            "type": question["type"],
            "question": question["question"],
            "old_answer": before["answer"],
            "new_answer": question["answer"],
            "old_refused": before["refused"],
            "new_refused": question["refused"],
            "lost": lost,
            "gained": gained,
        }
        if lost:
            worse.append(entry)
        elif gained:
            better.append(entry)
    return {
        "old": {"created_at": old.get("created_at"), "settings": old.get("settings")},
        "new": {"created_at": new.get("created_at"), "settings": new.get("settings")},
        "deltas": deltas,
        "worse": worse,
        "better": better,
        "added": sorted(set(q["id"] for q in new["questions"]) - set(old_questions)),
        "removed": sorted(set(old_questions) - set(q["id"] for q in new["questions"])),
    }
