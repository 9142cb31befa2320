"""The "Quality" tab for staff: run the evaluation, read the latest report, browse
feedback, and promote a bad answer to the golden set once its right answer is known.

Handlers are plain functions (tested directly); `build_quality_tab` only wires them.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.evaluation import (
    GoldenItem,
    GoldenSetError,
    append_golden,
    load_golden,
    next_id,
    normalise,
    run,
)
from assistant.evaluation.gate import load_thresholds
from assistant.evaluation.golden import QUESTION_TYPES
from assistant.evaluation.report import build_report, load_report, write_report
from assistant.service import Assistant
from assistant.store import list_feedback


def run_evaluation(assistant: Assistant) -> tuple[dict[str, Any], Path]:
    """Evaluate the golden set with this server's assistant; returns (report, report.html)."""
    settings = assistant.settings
    items = load_golden(settings.golden_set)
    thresholds = (
        load_thresholds(settings.thresholds_file, settings.golden_set.stem)
        if settings.thresholds_file.exists()
        else None
    )
    report = build_report(assistant, run(assistant, items), settings.golden_set, thresholds)
    out = settings.reports_dir / time.strftime("%Y%m%d-%H%M%S")
    return report, write_report(report, out)


def latest_report(reports_dir: Path) -> tuple[dict[str, Any], Path] | None:
    """The newest report.json under `reports_dir`, with its directory."""
    candidates = sorted(reports_dir.glob("*/report.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for candidate in candidates:
        try:
            return load_report(candidate), candidate.parent
        except (OSError, ValueError):
            continue
    return None


def summary_html(report: dict[str, Any] | None, where: Path | None = None) -> str:
    """The gate verdict and the metric table, for the tab."""
    if report is None:
        return "<p>No evaluation report yet: press <b>Run evaluation</b>.</p>"
    minimum, maximum = report["thresholds"]["minimum"], report["thresholds"]["maximum"]
    failed = {failure["metric"] for failure in report["gate"]["failures"]}
    verdict = "PASS" if report["gate"]["passed"] else "FAIL"
    rows = []
    for name, value in report["metrics"].items():
        if name in ("questions", "answerable", "out_of_scope"):
            continue
        bound = f"≥ {minimum[name]}" if name in minimum else f"≤ {maximum[name]}" if name in maximum else ""
        status = "fail" if name in failed else ("pass" if bound else "")
        shown = "–" if value is None else value
        rows.append(
            f'<tr class="mia-{status}"><td>{html.escape(name)}</td><td>{shown}</td>'
            f"<td>{html.escape(bound)}</td><td>{status}</td></tr>"
        )
    location = f" · {html.escape(str(where))}/report.html" if where else ""
    return (
        f'<div class="mia-report"><p><span class="mia-verdict mia-{verdict.lower()}">{verdict}</span> '
        f"{report['metrics']['questions']} questions · {html.escape(report['created_at'])}{location}</p>"
        "<table><thead><tr><th>metric</th><th>value</th><th>threshold</th><th></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def charts_html(report: dict[str, Any] | None) -> str:
    """The report's charts as embedded images."""
    if report is None:
        return ""
    from assistant.evaluation.html_report import chart_images

    return "".join(
        f'<img alt="{html.escape(name)}" src="{uri}" style="max-width:100%;margin:6px 0">'
        for name, uri in chart_images(report).items()
    )


FEEDBACK_COLUMNS = ["id", "when", "rating", "question", "comment", "answer"]


def feedback_rows(assistant: Assistant, rating: str = "all", limit: int = 200) -> list[list[Any]]:
    """Feedback newest first, as table rows."""
    chosen = None if rating == "all" else rating
    return [
        [
            row.id,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at or 0)),
            row.rating,
            row.question,
            row.comment,
            row.answer[:300],
        ]
        for row in list_feedback(assistant.settings, rating=chosen, limit=limit)
    ]


def document_texts(assistant: Assistant) -> dict[str, str]:
    """Indexed documents' texts by path, to check evidence against."""
    from assistant.documents import DocumentLoadError, load_file

    texts = {}
    for info in assistant.sources():
        try:
            texts[info.path] = load_file(Path(info.path)).page_content
        except DocumentLoadError:
            continue
    return texts


def promote_feedback(
    assistant: Assistant,
    feedback_id: int | None,
    question_type: str,
    reference: str,
    evidence_text: str,
    source: str = "",
) -> str:
    """Add a feedback item to the golden set once it has a reference answer and evidence
    that is found in the documents; returns a message saying what happened."""
    if feedback_id is None:
        return "Select a feedback row first."
    rows = {row.id: row for row in list_feedback(assistant.settings, limit=100000)}
    feedback = rows.get(int(feedback_id))
    if feedback is None:
        return f"No feedback #{feedback_id}."
    if question_type not in QUESTION_TYPES:
        return "Choose the question's type."
    quotes = [line.strip() for line in evidence_text.splitlines() if line.strip()]
    out_of_scope = question_type == "out_of_scope"
    if not out_of_scope and (not reference.strip() or not quotes):
        return "An answerable question needs the right answer and at least one evidence quote."
    texts = document_texts(assistant)
    candidates = {path: text for path, text in texts.items() if not source or path == source}
    sources = []
    for quote in quotes:
        found = [path for path, text in candidates.items() if normalise(quote) in normalise(text)]
        if not found:
            where = Path(source).name if source else "any indexed document"
            return f"Evidence not found in {where}: “{quote[:120]}”. Copy it exactly from the document."
        sources.append(_relative(found[0]))
    golden_path = assistant.settings.golden_set
    try:
        items = load_golden(golden_path) if golden_path.exists() else []
    except GoldenSetError as error:
        return f"The golden set cannot be read: {error}"
    item = GoldenItem(
        id=next_id(items),
        type=question_type,
        question=feedback.question,
        reference=reference.strip() if not out_of_scope else "The documents do not cover this.",
        evidence=[] if out_of_scope else quotes,
        sources=[] if out_of_scope else sources,
        history=feedback.history,
    )
    append_golden(golden_path, item)
    return f"Added {item.id} to {golden_path} ({len(items) + 1} questions)."


def _relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def build_quality_tab(assistant: Assistant, tab: gr.Tab) -> None:
    """The tab's components and events (call inside `tab`); opening the tab refreshes the
    feedback list, so new thumbs show up without a reload."""
    found = latest_report(assistant.settings.reports_dir)
    report, where = found if found else (None, None)
    with gr.Row():
        run_button = gr.Button("Run evaluation", variant="primary", scale=0, elem_id="run-eval")
        status = gr.Markdown(f"Golden set: `{assistant.settings.golden_set}`")
    summary = gr.HTML(summary_html(report, where), elem_id="eval-summary")
    charts = gr.HTML(charts_html(report), elem_id="eval-charts")

    def on_run():
        started = time.perf_counter()
        try:
            new_report, html_path = run_evaluation(assistant)
        except (GoldenSetError, OSError) as error:
            return f"Evaluation failed: {error}", gr.update(), gr.update()
        seconds = time.perf_counter() - started
        return (
            f"Evaluated {new_report['metrics']['questions']} questions in {seconds:.0f} s → `{html_path}`",
            summary_html(new_report, html_path.parent),
            charts_html(new_report),
        )

    run_button.click(on_run, None, [status, summary, charts])

    gr.Markdown("### Feedback")
    with gr.Row():
        rating = gr.Radio(
            ["all", "down", "up"], value="down", label="Show", scale=1, elem_id="feedback-filter"
        )
        refresh = gr.Button("Refresh", scale=0)
    table = gr.Dataframe(
        value=feedback_rows(assistant, "down"),
        headers=FEEDBACK_COLUMNS,
        column_widths=["6%", "14%", "8%", "32%", "15%", "25%"],
        interactive=False,
        wrap=True,
        elem_id="feedback-table",
    )
    selected = gr.State(None)
    gr.Markdown("#### Promote to the golden set")
    chosen = gr.Markdown("Select a feedback row above.", elem_id="promote-chosen")
    with gr.Row():
        question_type = gr.Dropdown(list(QUESTION_TYPES), label="Question type", elem_id="promote-type")
        source = gr.Dropdown(
            [("any indexed document", "")] + [(info.title, info.path) for info in assistant.sources()],
            value="",
            label="Evidence is in",
            elem_id="promote-source",
        )
    reference = gr.Textbox(label="Right answer (reference)", lines=2, elem_id="promote-reference")
    evidence = gr.Textbox(
        label="Evidence: exact quotes from the document, one per line",
        lines=3,
        elem_id="promote-evidence",
    )
    promote = gr.Button("Promote to golden set", elem_id="promote-button")
    promote_status = gr.Markdown(elem_id="promote-status")

    def on_filter(value):
        return feedback_rows(assistant, value)

    def on_select(event: gr.SelectData, value):
        row = event.row_value if hasattr(event, "row_value") else None
        if not row:
            return None, "Select a feedback row above."
        return row[0], f"Feedback #{row[0]} ({row[2]}): **{_escape(row[3])}**"

    rating.change(on_filter, rating, table)
    refresh.click(on_filter, rating, table)
    tab.select(on_filter, rating, table)
    table.select(on_select, table, [selected, chosen])
    promote.click(
        lambda fid, kind, ref, ev, src: promote_feedback(assistant, fid, kind, ref, ev, src),
        [selected, question_type, reference, evidence, source],
        promote_status,
    )


def _escape(text: str) -> str:
    from assistant.ui import escape_markdown

    return escape_markdown(text)
