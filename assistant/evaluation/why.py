"""Why an answer is what it is, worded for the staff who read the evaluation report.

Every answer carries its diagnostics (`answerability.diagnose`): the verdict, the
answerable probability against the threshold, each input of the answerability model
with its pull on the verdict, what the documents lack, and the sentence scorer's reasons
for each quoted sentence. `report.json` has them raw; this module turns them into the
"Why" block of each question in the HTML report, so a reviewer sees at a glance why a
question was refused, or answered when it should not have been, and which inputs to
look at.
"""

from __future__ import annotations

from typing import Any

from assistant.evaluation.metrics import NEAR_THRESHOLD, near_threshold

# The answerability model's inputs (`answerability.ANSWERABILITY_FEATURES`) in words.
FEATURE_LABELS = {
    "best_probability": "score of the best sentence",
    "best_semantic": "best sentence's similarity to the question",
    "top_dense": "best passage's similarity to the question",
    "passage_term_cover": "question's words found in the passages",
    "answer_term_cover": "question's words found in the answer",
    "unknown_term_share": "question's words no document uses",
    "named_missing_corpus": "named things no document mentions",
    "named_missing_passages": "named things the passages lack",
    "named_missing_answer": "named things the answer lacks",
    "rare_missing_answer": "rarest question word the answer lacks",
    "focus_missing_answer": "asked-for thing missing from the answer",
    "focus_missing_best": "asked-for thing missing from every quoted sentence",
    "focus_unknown": "asked-for words no document uses",
    "type_unmet": "no date, number or name where one is asked for",
    "asks_amount_or_name": "asks for an amount or a name",
    "follow_up": "follow-up question",
}
TOP_FACTORS = 6  # the inputs that pulled hardest; the rest are in report.json
TOP_SENTENCE_REASONS = 3
_VERDICTS = {"answer": "Answered", "partial": "Answered in part", "refuse": "Refused"}


def why_view(diagnostics: dict[str, Any] | None) -> dict[str, Any] | None:
    """The "Why" block of one question, or None when its answer has no diagnostics."""
    if not diagnostics or "verdict" not in diagnostics:
        return None
    return {
        "headline": _headline(diagnostics),
        "refused": diagnostics["verdict"] == "refuse",
        "reasons": _reasons(diagnostics),
        "factors": _factors(diagnostics),
        "sentences": [_sentence(s) for s in diagnostics.get("sentences") or []],
    }


def _headline(diagnostics: dict[str, Any]) -> str:
    """The verdict and why: the answerable probability against the threshold, and the
    reason when something other than the threshold decided (the language model refused a
    question the answerability step let through)."""
    verdict = str(diagnostics["verdict"])
    words = _VERDICTS.get(verdict, verdict)
    comparison = _comparison(diagnostics)
    if reason := diagnostics.get("reason"):
        return f"{words}: {reason}" + (f"; {comparison}" if comparison else "")
    return f"{words}: {comparison}" if comparison else words


def _comparison(diagnostics: dict[str, Any]) -> str:
    """ "answerable probability 0.62 ≥ threshold 0.35", or "" when either is missing."""
    probability, threshold = diagnostics.get("answerable_probability"), diagnostics.get("threshold")
    if not (isinstance(probability, int | float) and isinstance(threshold, int | float)):
        return ""
    side = "<" if probability < threshold else "≥"
    if near_threshold(probability, threshold):  # three decimals: "0.35 ≥ 0.35" reads as a tie
        return (
            f"answerable probability {probability:.3f} {side} threshold {threshold:.3f}"
            f" (within {NEAR_THRESHOLD:.2f}: a refit can flip this verdict)"
        )
    return f"answerable probability {probability:.2f} {side} threshold {threshold:.2f}"


def _reasons(diagnostics: dict[str, Any]) -> list[str]:
    """What the documents lack, as the answerability step found it."""
    reasons = []
    if missing := diagnostics.get("missing_from_corpus"):
        reasons.append("Named things no document mentions: " + _quoted(missing))
    if missing := diagnostics.get("missing_from_answer"):
        reasons.append("Named things the quoted sentences lack: " + _quoted(missing))
    if focus := diagnostics.get("unknown_focus"):
        reasons.append(f"The asked-for thing uses words no document uses: “{focus}”")
    if blank := diagnostics.get("blank_field"):
        label, title = blank
        reasons.append(f"“{title}” leaves its “{label}” blank")
    return reasons


def _factors(diagnostics: dict[str, Any]) -> list[dict[str, str]]:
    """The model's inputs that pulled hardest, with their values and pulls (log-odds)."""
    values = diagnostics.get("answerability_features") or {}
    pulls = diagnostics.get("answerability_contributions") or {}
    strongest = sorted(pulls.items(), key=lambda item: abs(item[1]), reverse=True)[:TOP_FACTORS]
    return [
        {
            "name": name,
            "label": FEATURE_LABELS.get(name, name.replace("_", " ")),
            "value": _number(values.get(name)),
            "pull": f"{pull:+.2f}",
            "direction": "toward-answer" if pull > 0 else "toward-refusal",
        }
        for name, pull in strongest
    ]


def _sentence(sentence: dict[str, Any]) -> dict[str, str]:
    """A quoted sentence, its score and the sentence scorer's strongest reasons."""
    pulls = sentence.get("contributions") or {}
    strongest = sorted(pulls.items(), key=lambda item: abs(item[1]), reverse=True)[:TOP_SENTENCE_REASONS]
    return {
        "text": str(sentence.get("text") or ""),
        "passage": str(sentence.get("passage") or "?"),
        "probability": _number(sentence.get("probability")),
        "reasons": ", ".join(f"{name} {pull:+.2f}" for name, pull in strongest),
    }


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "–"


def _quoted(names: list[str]) -> str:
    return ", ".join(f"“{name}”" for name in names)
