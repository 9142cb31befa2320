"""The evaluation report as one self-contained HTML page, for people who judge answers.

`render_report` turns a report (see `report.build_report`) into a page with the gate
verdict, every metric against its threshold, charts, a breakdown by question type and a
sortable, filterable table of every question; `render_comparison` renders the comparison
of two runs (see `compare.compare_reports`) alone.

The page works offline: no network references, charts are PNG data URIs drawn with
matplotlib's Agg backend. Everything that comes from the report (questions, answers,
quotes, titles, URLs) is escaped by Jinja2's autoescape; the few fragments built here
(quotes with highlighted spans, answers with citation markers) escape every piece of
text before wrapping it in markup.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from assistant.evaluation.gate import within
from assistant.evaluation.metrics import STAGES, normalise
from assistant.evaluation.why import why_view
from assistant.text import marked_html, quote_spans

COUNTS = ("questions", "answerable", "out_of_scope")
WHOLE_NUMBERS = (*COUNTS, "refusals.near_threshold")  # shown without decimals

GROUPS = (
    ("counts", "Questions"),
    ("retrieval", "Retrieval"),
    ("answers", "Answers"),
    ("citations", "Citations"),
    ("refusals", "Refusals"),
    ("latency", "Latency"),
    ("other", "Other"),
)

LABELS = {
    "questions": "Questions",
    "answerable": "Answerable",
    "out_of_scope": "Out of scope",
    "retrieval.mrr": "Mean reciprocal rank",
    "retrieval.ndcg@10": "nDCG@10",
    "answers.evidence_in_answer": "Evidence in answer",
    "answers.token_f1": "Token F1",
    "answers.semantic_similarity": "Semantic similarity",
    "citations.right_document": "Right document cited",
    "citations.recall": "Citation recall",
    "citations.precision": "Citation precision",
    "refusals.recall": "Refusal recall",
    "refusals.precision": "Refusal precision",
    "refusals.false_refusal_rate": "False refusal rate",
    "refusals.auc": "Answerable vs out-of-scope separation (AUC)",
    "refusals.near_threshold": "Verdicts near the threshold",
}

# Definitions of the counts, which the report's own definitions do not cover.
COUNT_DEFINITIONS = {
    "questions": "Questions in the evaluated set.",
    "answerable": "Questions the documents answer.",
    "out_of_scope": "Questions the documents do not answer: the assistant should refuse them.",
}

# What each per-question check means (see runner.ItemResult.checks).
CHECK_DESCRIPTIONS = {
    "retrieved": "every evidence quote is in the top 5 retrieved passages",
    "answered": "an answerable question was answered, not refused",
    "evidence_in_answer": "the answer contains at least one evidence quote",
    "citations_supported": "every answer sentence is supported by the passages it cites",
    "refusal_correct": "an out-of-scope question was refused",
}

# Per question: (key in question["metrics"], column header, tooltip, checked against 1.0).
QUESTION_METRICS = (
    ("recall@5", "R@5", "Share of the evidence quotes found in the top 5 passages", True),
    ("reciprocal_rank", "RR", "1 / rank of the first passage holding evidence", False),
    ("evidence_in_answer", "Evid.", "Does the answer contain an evidence quote?", True),
    ("token_f1", "F1", "Token F1 against the reference answer", False),
    ("semantic_similarity", "Sim.", "Cosine similarity to the reference answer", False),
    ("citation_recall", "Cit. R", "Share of answer sentences their citations support", True),
    ("citation_precision", "Cit. P", "Share of citations that support their sentence", False),
)

# Per question type, the metrics of the breakdown table and of the grouped bar chart.
TYPE_COLUMNS = (
    ("retrieval.recall@5", "Recall@5"),
    ("retrieval.mrr", "MRR"),
    ("answers.evidence_in_answer", "Evidence in answer"),
    ("answers.token_f1", "Token F1"),
    ("answers.semantic_similarity", "Similarity"),
    ("citations.recall", "Citation recall"),
    ("refusals.recall", "Refusal recall"),
    ("refusals.false_refusal_rate", "False refusals"),
    ("latency.total.p50_ms", "Total p50"),
)
TYPE_CHART_METRICS = (
    ("retrieval.recall@5", "Recall@5"),
    ("answers.evidence_in_answer", "Evidence in answer"),
    ("answers.token_f1", "Token F1"),
    ("refusals.recall", "Refusal recall (out of scope)"),
    ("refusals.false_refusal_rate", "False refusal rate"),
)

SETTING_LABELS = {
    "embedding_model": "Embedding model",
    "answerer": "Answerer",
    "chunk_size": "Chunk size",
    "k": "Passages per answer (k)",
    "refusal_threshold": "Refusal threshold",
}

# Colours shared by the charts and the page's stylesheet.
GREEN, RED, BLUE, GREY, INK = "#2e7d32", "#c62828", "#2f6fb3", "#9aa5b1", "#1f2933"
SERIES = ("#2f6fb3", "#e0892b", "#5aa469", "#8e6cc4", "#c9504d")

_MARKER = re.compile(r"\[(\d+)\]")
_RECALL_AT = re.compile(r"@\d+$")


# --- entry points ------------------------------------------------------------------------------


def render_report(report: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    """The whole report as one self-contained HTML page (with `comparison`, if given)."""
    import matplotlib

    matplotlib.use("Agg")
    questions = [_question_view(q) for q in report.get("questions") or []]
    context = {
        "report": _header_view(report),
        "metric_groups": metric_groups(report),
        "charts": _charts(report),
        "types": _type_rows(report),
        "type_columns": [label for _, label in TYPE_COLUMNS],
        "question_metrics": [
            {"key": key, "label": label, "title": title} for key, label, title, _ in QUESTION_METRICS
        ],
        "questions": questions,
        "question_types": sorted({q["type"] for q in questions}),
        "outcomes": {
            "passed": sum(q["passed"] for q in questions),
            "failed": sum(not q["passed"] for q in questions),
            "refused": sum(q["refused"] for q in questions),
        },
        "checks": _checks_legend(report),
        "comparison": _comparison_view(comparison, link_questions=True) if comparison else None,
    }
    return _environment().get_template("report.html").render(**context)


def render_comparison(comparison: dict[str, Any]) -> str:
    """The comparison of two runs as a standalone page (`assistant eval --compare OLD NEW`)."""
    view = _comparison_view(comparison, link_questions=False)
    return _environment().get_template("compare.html").render(comparison=view)


def chart_images(report: dict[str, Any]) -> dict[str, str]:
    """The report's charts as {title: PNG data URI}."""
    import matplotlib

    matplotlib.use("Agg")
    return {chart["title"]: chart["uri"] for chart in _charts(report)}


@functools.lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("assistant", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# --- formatting --------------------------------------------------------------------------------


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_latency(name: str) -> bool:
    return name.startswith("latency") or name.endswith("_ms")


def _decimal(value: float) -> str:
    """Up to 4 decimals, at least 2: 1.0 -> 1.00, 0.95 -> 0.95, 0.98076 -> 0.9808."""
    text = f"{value:.4f}".rstrip("0")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return text + "0" * max(0, 2 - decimals)


def format_value(name: str, value: Any) -> str:
    """A metric's value as shown: "–" for nothing, counts as integers, latencies in ms."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not _is_number(value):
        return str(value)
    if name in WHOLE_NUMBERS:
        return str(int(value))
    if _is_latency(name):
        return f"{value:,.2f} ms"
    return _decimal(float(value))


def _format_delta(name: str, value: Any) -> str:
    if not _is_number(value):
        return "–"
    if value == 0:
        return "0"
    sign = "+" if value > 0 else "−"
    if name in WHOLE_NUMBERS:
        return f"{sign}{abs(int(value))}"
    if _is_latency(name):
        return f"{sign}{abs(value):,.2f} ms"
    return sign + _decimal(abs(float(value)))


def label_for(name: str) -> str:
    """A readable name: retrieval.recall@5 -> Recall@5, latency.total.p95_ms -> Total p95."""
    if name in LABELS:
        return LABELS[name]
    if name.startswith("retrieval.recall@"):
        return "Recall@" + name.rsplit("@", 1)[1]
    parts = name.split(".")
    if parts[0] == "latency" and len(parts) == 3:
        return f"{parts[1].capitalize()} {parts[2].removesuffix('_ms')}"
    return name


def definition_for(name: str, definitions: dict[str, str]) -> str:
    """The report's definition of a metric: recall@5 matches recall@k, latency.* latency."""
    if name in definitions:
        return definitions[name]
    generic = _RECALL_AT.sub("@k", name)
    if generic in definitions:
        return definitions[generic]
    if name.startswith("latency"):
        return definitions.get("latency", "")
    return COUNT_DEFINITIONS.get(name, "")


def _group_of(name: str) -> str:
    if name in COUNTS:
        return "counts"
    prefix = name.split(".", 1)[0]
    return prefix if prefix in dict(GROUPS) else "other"


def readable_time(created_at: Any) -> str:
    """2026-11-27T17:55:25+0000 -> 27 Nov 2026, 17:55:25 UTC+00:00; anything else as is."""
    if not created_at:
        return "–"
    try:
        moment = datetime.strptime(str(created_at), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return str(created_at)
    offset = moment.strftime("%z")
    zone = "UTC" if offset in ("+0000", "-0000") else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{moment.strftime('%d %b %Y, %H:%M:%S')} {zone}"


def safe_url(source: Any) -> str | None:
    """The source if it is an http(s) URL worth linking; None otherwise (javascript:, paths)."""
    if not isinstance(source, str):
        return None
    source = source.strip()
    try:
        parts = urlsplit(source)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in source):
        return None
    return source


def marked(text: str, spans: Iterable[tuple[int, int]]) -> Markup:
    """`text` escaped, with the given character spans wrapped in <mark>."""
    return Markup(marked_html(text, spans))


def _evidence_spans(text: str, evidence: Sequence[str]) -> list[tuple[int, int]]:
    """Where evidence quotes occur in `text`, ignoring case and whitespace like the metrics."""
    spans = []
    for quote in evidence:
        words = quote.split()
        if not words:
            continue
        pattern = re.compile(r"\s+".join(re.escape(word) for word in words), re.IGNORECASE)
        spans += [(m.start(), m.end()) for m in pattern.finditer(text)]
    return spans


def _answer_markup(text: str) -> Markup:
    """The answer escaped, its [n] citation markers as small superscripts."""
    escaped = str(escape(text or ""))
    return Markup(_MARKER.sub(r'<sup class="cn">[\1]</sup>', escaped))


# --- view models -------------------------------------------------------------------------------


def _header_view(report: dict[str, Any]) -> dict[str, Any]:
    gate = report.get("gate") or {}
    thresholds = report.get("thresholds") or {}
    bounds = len(thresholds.get("minimum") or {}) + len(thresholds.get("maximum") or {})
    failures = []
    for failure in gate.get("failures") or []:
        name = str(failure.get("metric", ""))
        value = format_value(name, failure.get("value"))
        if "minimum" in failure:
            text = f"is below the minimum {format_value(name, failure['minimum'])}"
        elif "maximum" in failure:
            text = f"is above the maximum {format_value(name, failure['maximum'])}"
        else:
            text = "failed"
        failures.append({"metric": name, "label": label_for(name), "value": value, "text": text})
    settings = report.get("settings") or {}
    corpus = report.get("corpus") or {}
    metrics = report.get("metrics") or {}
    questions = report.get("questions") or []
    return {
        "created_at": str(report.get("created_at") or ""),
        "when": readable_time(report.get("created_at")),
        "golden_set": str(report.get("golden_set") or "–"),
        "version": report.get("version"),
        "settings": [_setting_view(key, value) for key, value in settings.items()],
        "documents": corpus.get("documents", "–"),
        "chunks": corpus.get("chunks", "–"),
        "questions": metrics.get("questions", len(report.get("questions") or [])),
        "answerable": metrics.get("answerable", "–"),
        "out_of_scope": metrics.get("out_of_scope", "–"),
        "passed": bool(gate.get("passed", not failures)),
        "bounds": bounds,
        "failures": failures,
        "explanation": gate_explanation(report),
        "any_failed": not all(q.get("passed", not q.get("failed")) for q in questions),
    }


def gate_explanation(report: dict[str, Any]) -> str:
    """What the verdict means, in a sentence or two: a PASS next to failed questions reads
    as a contradiction unless it says that the gate judges the set's metrics."""
    gate = report.get("gate") or {}
    thresholds = report.get("thresholds") or {}
    bounded = bool(thresholds.get("minimum") or thresholds.get("maximum"))
    questions = report.get("questions") or []
    failed = sum(not q.get("passed", not q.get("failed")) for q in questions)
    judged = "the gate judges the metrics of the whole set, not each question."
    if not bounded:
        verdict = "No thresholds were set, so the gate cannot fail."
    elif gate.get("passed", not gate.get("failures")):
        verdict = f"PASS means every threshold was met: {judged}"
    else:
        verdict = f"FAIL means at least one metric missed its threshold: {judged}"
    if failed:
        even_so = "Even so, " if bounded and gate.get("passed") else ""
        return f"{verdict} {even_so}{failed} of {len(questions)} questions failed at least one check."
    return f"{verdict} Every question passed its checks." if questions else verdict


def _setting_view(key: str, value: Any) -> dict[str, Any]:
    """A run setting for the header; structured values (the fitted models' summaries,
    prompt hashes) fold into a <details> so they do not fill the page with a dict's repr."""
    label = SETTING_LABELS.get(key, key)
    if isinstance(value, dict | list) and value:
        count = f"{len(value)} {'entry' if len(value) == 1 else 'entries'}"
        return {"label": label, "value": count, "detail": json.dumps(value, indent=1)}
    empty = value is None or value == {} or value == []
    return {"label": label, "value": "–" if empty else str(value), "detail": None}


def _bounds(report: dict[str, Any], name: str) -> tuple[float | None, float | None]:
    thresholds = report.get("thresholds") or {}
    return (thresholds.get("minimum") or {}).get(name), (thresholds.get("maximum") or {}).get(name)


def _status(value: Any, minimum: float | None, maximum: float | None) -> str | None:
    """pass / fail against the bounds (`gate.within`); None when there is no bound."""
    if minimum is None and maximum is None:
        return None
    return "pass" if within(value, minimum, maximum) else "fail"


def metric_groups(report: dict[str, Any]) -> list[dict[str, Any]]:
    metrics = dict(report.get("metrics") or {})
    thresholds = report.get("thresholds") or {}
    for name in [*(thresholds.get("minimum") or {}), *(thresholds.get("maximum") or {})]:
        metrics.setdefault(name, None)  # a bound on a metric the run lacks fails the gate
    gate_failed = {f.get("metric") for f in (report.get("gate") or {}).get("failures") or []}
    definitions = report.get("definitions") or {}
    rows: dict[str, list[dict[str, Any]]] = {key: [] for key, _ in GROUPS}
    shown: set[str] = set()
    for name, value in metrics.items():
        minimum, maximum = _bounds(report, name)
        status = _status(value, minimum, maximum)
        definition = definition_for(name, definitions)
        if name in gate_failed:
            status = "fail"
        bound = []
        if minimum is not None:
            bound.append("≥ " + format_value(name, minimum))
        if maximum is not None:
            bound.append("≤ " + format_value(name, maximum))
        rows[_group_of(name)].append(
            {
                "name": name,
                "label": label_for(name),
                "value": format_value(name, value),
                "threshold": ", ".join(bound) or "–",
                "status": status,
                "definition": definition,
                # Metrics that share a definition (recall@k, latency.*) print it once.
                "show_definition": bool(definition) and definition not in shown,
            }
        )
        shown.add(definition)
    return [{"title": title, "rows": rows[key]} for key, title in GROUPS if rows[key]]


def _type_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    passed: dict[str, list[bool]] = {}
    for question in report.get("questions") or []:
        passed.setdefault(question.get("type", "?"), []).append(bool(question.get("passed")))
    rows = []
    for kind, metrics in (report.get("by_type") or {}).items():
        outcomes = passed.get(kind, [])
        rows.append(
            {
                "type": kind,
                "questions": format_value("questions", metrics.get("questions", len(outcomes))),
                "passed": f"{sum(outcomes)} / {len(outcomes)}" if outcomes else "–",
                "all_passed": bool(outcomes) and all(outcomes),
                "cells": [format_value(name, metrics.get(name)) for name, _ in TYPE_COLUMNS],
            }
        )
    return rows


def _checks_legend(report: dict[str, Any]) -> list[dict[str, str]]:
    names: dict[str, None] = {}
    for question in report.get("questions") or []:
        names.update(dict.fromkeys(question.get("checks") or {}))
        names.update(dict.fromkeys(question.get("failed") or []))
    return [{"name": str(n), "description": CHECK_DESCRIPTIONS.get(str(n), "")} for n in names]


def _citation_view(citation: dict[str, Any]) -> dict[str, Any]:
    quote = str(citation.get("quote") or "")
    page = citation.get("page")
    meta = [str(citation.get(key)) for key in ("publisher", "date") if citation.get(key)]
    if page:
        meta.append(f"page {page}")
    return {
        "n": citation.get("n", "?"),
        "title": str(citation.get("title") or citation.get("source") or "untitled"),
        "url": safe_url(citation.get("source")),
        "source": str(citation.get("source") or ""),
        "meta": " · ".join(meta),
        "quote": marked(quote, quote_spans(citation)),
        "score": format_value("score", citation.get("score")),
    }


def _question_view(question: dict[str, Any]) -> dict[str, Any]:
    evidence = [str(e) for e in question.get("evidence") or []]
    needles = [normalise(e) for e in evidence if e.strip()]
    passages = []
    for passage in question.get("passages") or []:
        text = str(passage.get("text") or "")
        held = normalise(text)
        passages.append(
            {
                "rank": passage.get("rank", "?"),
                "title": str(passage.get("title") or ""),
                "score": format_value("score", passage.get("score")),
                "text": marked(text, _evidence_spans(text, evidence)),
                "evidence": any(needle in held for needle in needles),
            }
        )
    ranks = [r for r in question.get("evidence_ranks") or [] if r is not None]
    if not evidence:
        found = "no evidence to find"
    elif ranks:
        found = "evidence at rank " + ", ".join(str(r) for r in sorted(set(ranks)))
    else:
        found = "evidence not retrieved"
    metrics = question.get("metrics") or {}
    cells = []
    for key, _, _, checked in QUESTION_METRICS:
        value = metrics.get(key)
        if isinstance(value, bool):
            text, sort = ("yes" if value else "no"), float(value)
        elif _is_number(value):
            text, sort = f"{value:.2f}", float(value)
        else:
            text, sort = "–", None
        bad = checked and sort is not None and sort < 1.0
        cells.append({"text": text, "sort": "" if sort is None else f"{sort:.6f}", "bad": bad})
    timings = question.get("timings_ms") or {}
    total = timings.get("total")
    text = str(question.get("question") or "")
    standalone = str(question.get("standalone_question") or "")
    failed = [str(name) for name in question.get("failed") or []]
    return {
        "id": str(question.get("id") or ""),
        "type": str(question.get("type") or ""),
        "question": text,
        "follows": question.get("follows"),
        "standalone": standalone if standalone and standalone.strip() != text.strip() else "",
        "reference": str(question.get("reference") or ""),
        "evidence": evidence,
        "answer": _answer_markup(str(question.get("answer") or "")),
        "answer_text": str(question.get("answer") or ""),
        "refused": bool(question.get("refused")),
        "citations": [_citation_view(c) for c in question.get("citations") or []],
        "passages": passages,
        "found": found,
        "metrics": cells,
        "total_ms": f"{total:,.0f}" if _is_number(total) else "–",
        "total_sort": f"{total:.3f}" if _is_number(total) else "",
        "failed": failed,
        "passed": bool(question.get("passed", not failed)),
        "why": why_view(question.get("diagnostics")),
    }


def _changed_question(entry: dict[str, Any], link: bool) -> dict[str, Any]:
    return {
        "id": str(entry.get("id") or ""),
        "type": str(entry.get("type") or ""),
        "question": str(entry.get("question") or ""),
        "old_answer": _answer_markup(str(entry.get("old_answer") or "")),
        "new_answer": _answer_markup(str(entry.get("new_answer") or "")),
        "old_refused": bool(entry.get("old_refused")),
        "new_refused": bool(entry.get("new_refused")),
        "lost": [str(x) for x in entry.get("lost") or []],
        "gained": [str(x) for x in entry.get("gained") or []],
        "link": link,
    }


def _comparison_view(comparison: dict[str, Any], link_questions: bool) -> dict[str, Any]:
    old, new = comparison.get("old") or {}, comparison.get("new") or {}
    old_settings, new_settings = old.get("settings") or {}, new.get("settings") or {}
    settings = []
    for key in [*new_settings, *(k for k in old_settings if k not in new_settings)]:
        before, after = old_settings.get(key), new_settings.get(key)
        settings.append(
            {
                "label": SETTING_LABELS.get(key, key),
                "old": "–" if before is None else str(before),
                "new": "–" if after is None else str(after),
                "changed": before != after,
            }
        )
    deltas = []
    for delta in comparison.get("deltas") or []:
        name = str(delta.get("metric", ""))
        direction = delta.get("direction") if delta.get("direction") in ("better", "worse") else "same"
        deltas.append(
            {
                "metric": name,
                "label": label_for(name),
                "old": format_value(name, delta.get("old")),
                "new": format_value(name, delta.get("new")),
                "delta": _format_delta(name, delta.get("delta")),
                "direction": direction,
            }
        )
    return {
        "old_created_at": str(old.get("created_at") or "the previous run"),
        "old_when": readable_time(old.get("created_at")),
        "new_when": readable_time(new.get("created_at")),
        "settings": settings,
        "deltas": deltas,
        "counts": {d: sum(x["direction"] == d for x in deltas) for d in ("better", "worse", "same")},
        "worse": [_changed_question(e, link_questions) for e in comparison.get("worse") or []],
        "better": [_changed_question(e, link_questions) for e in comparison.get("better") or []],
        "added": [str(x) for x in comparison.get("added") or []],
        "removed": [str(x) for x in comparison.get("removed") or []],
    }


# --- charts ------------------------------------------------------------------------------------


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight", facecolor="white")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    axes = fig.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(colors=INK, labelsize=9)
    for spine in axes.spines.values():
        spine.set_color("#c5ccd3")
    return fig, axes


def _no_data(axes: Any, message: str) -> None:
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        color="#616e7c",
        fontsize=11,
        transform=axes.transAxes,
    )


# What the charts are drawn from.
CHART_INPUTS = ("metrics", "thresholds", "by_type", "latency_samples")


def _charts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's charts; drawn once per report (the Quality tab shows the charts of the
    report it has just written, which drew them already)."""
    key = json.dumps({name: report.get(name) for name in CHART_INPUTS}, default=str)
    return [dict(chart) for chart in _drawn_charts(key)]


@functools.lru_cache(maxsize=4)
def _drawn_charts(chart_inputs: str) -> tuple[dict[str, Any], ...]:
    report = json.loads(chart_inputs)
    from matplotlib import rc_context

    with rc_context(
        {
            "font.size": 9,
            "axes.titlesize": 11,
            "axes.titleweight": "bold",
            "axes.titlelocation": "left",
            "svg.fonttype": "none",
        }
    ):
        return (
            {
                "title": "Quality metrics against their thresholds",
                "uri": _quality_chart(report),
                "alt": "Horizontal bars: each quality metric from 0 to 1, "
                "with its minimum or maximum marked.",
                "wide": False,
            },
            {
                "title": "Latency per stage",
                "uri": _latency_chart(report),
                "alt": "Box plots of the milliseconds each stage took per question.",
                "wide": False,
            },
            {
                "title": "Key metrics by question type",
                "uri": _type_chart(report),
                "alt": "Grouped bars per question type: recall@5, evidence in answer, token F1, "
                "refusal recall and false refusal rate.",
                "wide": True,
            },
        )


def _quality_chart(report: dict[str, Any]) -> str:
    metrics = report.get("metrics") or {}
    names = [n for n in metrics if _group_of(n) in ("retrieval", "answers", "citations", "refusals")]
    fig, axes = _figure(7.6, 0.34 * max(len(names), 3) + 1.0)
    if not names:
        _no_data(axes, "No quality metrics in this report")
        return _png(fig)
    names.reverse()  # first metric on top
    positions = range(len(names))
    used: set[str] = set()
    for y, name in zip(positions, names, strict=True):
        value = metrics.get(name)
        minimum, maximum = _bounds(report, name)
        status = _status(value, minimum, maximum)
        used.add(status or "none")
        colour = {"pass": GREEN, "fail": RED}.get(status or "", BLUE)
        bounds = [b for b in (minimum, maximum) if _is_number(b)]
        if _is_number(value):
            axes.barh(y, min(value, 1.1), height=0.62, color=colour, alpha=0.85)
            axes.text(
                min(max([value, *bounds]), 1.0) + 0.015,
                y,
                format_value(name, value),
                va="center",
                fontsize=8,
                color=INK,
            )
        else:
            axes.text(
                max([0.0, *bounds]) + 0.015,
                y,
                "– (no value)",
                va="center",
                fontsize=8,
                color=RED if status == "fail" else "#616e7c",
            )
        for bound, kind in ((minimum, "minimum"), (maximum, "maximum")):
            if _is_number(bound):
                used.add(kind)
                axes.plot(
                    [bound, bound],
                    [y - 0.42, y + 0.42],
                    color=INK,
                    linewidth=2.2,
                    linestyle="-" if kind == "minimum" else (0, (1.2, 0.8)),
                    solid_capstyle="butt",
                )
    axes.set_yticks(list(positions), [f"{label_for(n)}" for n in names])
    axes.set_xlim(0, 1.12)
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    axes.grid(axis="x", color="#e4e7eb", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.set_xlabel("score (0 – 1)", color="#616e7c")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    legend = [
        (Patch(color=GREEN, alpha=0.85), "meets its threshold", "pass"),
        (Patch(color=RED, alpha=0.85), "misses its threshold", "fail"),
        (Patch(color=BLUE, alpha=0.85), "no threshold", "none"),
        (Line2D([], [], color=INK, linewidth=2.2), "minimum", "minimum"),
        (Line2D([], [], color=INK, linewidth=2.2, linestyle=(0, (1.2, 0.8))), "maximum", "maximum"),
    ]
    shown = [(handle, label) for handle, label, key in legend if key in used]
    axes.legend(
        [h for h, _ in shown],
        [label for _, label in shown],
        loc="lower left",
        bbox_to_anchor=(-0.02, 1.0),
        ncols=3,
        fontsize=8,
        frameon=False,
    )
    return _png(fig)


def _type_chart(report: dict[str, Any]) -> str:
    by_type = report.get("by_type") or {}
    kinds = list(by_type)
    fig, axes = _figure(max(7.6, 1.05 * len(kinds) + 2), 3.4)
    if not kinds:
        _no_data(axes, "No questions to break down by type")
        return _png(fig)
    width = 0.8 / len(TYPE_CHART_METRICS)
    for i, (name, label) in enumerate(TYPE_CHART_METRICS):
        xs, ys = [], []
        for x, kind in enumerate(kinds):
            value = by_type[kind].get(name)
            if _is_number(value):
                xs.append(x - 0.4 + width * (i + 0.5))
                ys.append(value)
        axes.bar(xs, ys, width=width * 0.92, color=SERIES[i % len(SERIES)], label=label)
    counts = [by_type[k].get("questions") for k in kinds]
    axes.set_xticks(
        range(len(kinds)),
        [
            k.replace("_", " ") + (f"\n({n})" if _is_number(n) else "")
            for k, n in zip(kinds, counts, strict=True)
        ],
    )
    axes.set_ylim(0, 1.05)
    axes.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    axes.grid(axis="y", color="#e4e7eb", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncols=3, fontsize=8, frameon=False)
    return _png(fig)


def _latency_chart(report: dict[str, Any]) -> str:
    samples = report.get("latency_samples") or {}
    stages = [s for s in STAGES if s in samples] + [s for s in samples if s not in STAGES]
    data = [[float(v) for v in samples[s] or [] if _is_number(v)] for s in stages]
    fig, axes = _figure(7.6, 0.55 * max(len(stages), 2) + 1.2)
    if not any(data):
        _no_data(axes, "No latency samples")
        return _png(fig)
    stages.reverse()
    data.reverse()
    positions = list(range(1, len(stages) + 1))
    style = {
        "positions": positions,
        "widths": 0.55,
        "patch_artist": True,
        "showfliers": False,
        "medianprops": {"color": INK, "linewidth": 1.6},
        "whiskerprops": {"color": "#7b8794"},
        "capprops": {"color": "#7b8794"},
    }
    try:
        boxes = axes.boxplot([d or [0.0] for d in data], orientation="horizontal", **style)
    except TypeError:  # matplotlib < 3.10
        boxes = axes.boxplot([d or [0.0] for d in data], vert=False, **style)
    for patch in boxes["boxes"]:
        patch.set(facecolor="#cfe0f3", edgecolor=BLUE)
    import numpy

    jitter = numpy.random.default_rng(0)
    for y, values in zip(positions, data, strict=True):
        if values:
            axes.scatter(
                values,
                y + jitter.uniform(-0.18, 0.18, len(values)),
                s=9,
                color=BLUE,
                alpha=0.45,
                linewidths=0,
                zorder=3,
            )
    axes.set_yticks(positions, [s.capitalize() for s in stages])
    axes.set_xlabel("milliseconds per question (box: p25–p75, line: median)", color="#616e7c")
    axes.set_xlim(left=0)
    axes.grid(axis="x", color="#e4e7eb", linewidth=0.8)
    axes.set_axisbelow(True)
    return _png(fig)
