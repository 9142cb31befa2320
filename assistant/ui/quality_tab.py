"""The "Quality" tab for staff: run the evaluation, read the latest report, browse
feedback, and promote a bad answer to the golden set once its right answer is known.

Handlers are plain functions (tested directly); `build_quality_tab` only wires them.

The tab's actions obey the server's access policy (`staff_refusal`): a public chat lets
anyone ask questions, but running an evaluation (every golden question at once) or writing
the golden set needs a key like /api (open mode excepted), and counts against the caller's
rate limit. The reports it links to are served by the chat's own Gradio app, so the same
access rules cover them.
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote

import gradio as gr
from starlette.requests import HTTPConnection
from starlette.routing import Mount

from assistant.evaluation import (
    GoldenItem,
    GoldenSetError,
    append_golden,
    load_golden,
    next_id,
    normalise,
)
from assistant.evaluation.golden import QUESTION_TYPES
from assistant.evaluation.html_report import COUNTS, gate_explanation, metric_groups, readable_time
from assistant.evaluation.metrics import DEFINITIONS
from assistant.evaluation.report import load_report, write_report
from assistant.evaluation.session import EvaluationError, evaluate_golden_set
from assistant.security import AccessPolicy, ApiError, ChatAccessMiddleware
from assistant.service import Assistant
from assistant.store import Feedback, list_feedback
from assistant.text import escape_markdown

# One promotion at a time reads, checks and appends the golden set.
_golden_lock = threading.Lock()


def run_evaluation(assistant: Assistant) -> tuple[dict[str, Any], Path]:
    """Evaluate the golden set with this server's assistant, as `assistant eval` does
    (`evaluate_golden_set`); returns (report, report.html)."""
    settings = assistant.settings
    report = evaluate_golden_set(assistant, settings.golden_set)
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


def publish_report(html_path: Path) -> str:
    """Serve one report page and return its link (relative to the chat's page).

    Gradio serves files registered with `set_static_paths` at `gradio_api/file=PATH`, inline
    (other files it only offers as downloads), from inside the chat's mount, so the page is
    under the chat's access rules (`ChatAccessMiddleware`). Only this file is registered,
    not the reports folder with its JSON.
    """
    path = html_path.resolve()
    gr.set_static_paths([path])
    return "gradio_api/file=" + url_quote(_relative(str(path)))


def report_link(folder: Path | None) -> str | None:
    """The link to the report page in a report folder, if it has one."""
    page = folder / "report.html" if folder else None
    return publish_report(page) if page and page.exists() else None


def summary_html(report: dict[str, Any] | None, href: str | None = None) -> str:
    """The gate verdict with what it means, a link to the full report, and each metric
    against its threshold with the report's one-sentence definition."""
    if report is None:
        return "<p>No evaluation report yet: press <b>Run evaluation</b>.</p>"
    verdict = "PASS" if report["gate"]["passed"] else "FAIL"
    report = {"definitions": DEFINITIONS, **report}  # reports older than the definitions
    rows = []
    for group in metric_groups(report):
        for metric in group["rows"]:
            if metric["name"] in COUNTS:
                continue
            definition = metric["definition"] if metric["show_definition"] else ""
            rows.append(
                f'<tr class="mia-{metric["status"] or "none"}"><td><b>{html.escape(metric["label"])}</b> '
                f"<code>{html.escape(metric['name'])}</code>"
                f'<div class="mia-definition">{html.escape(definition)}</div></td>'
                f"<td>{html.escape(metric['value'])}</td><td>{html.escape(metric['threshold'])}</td>"
                f"<td>{metric['status'] or ''}</td></tr>"
            )
    link = (
        f' · <a href="{html.escape(href)}" target="_blank" rel="noopener" id="eval-report-link">'
        "Open the full report</a>"
        if href
        else ""
    )
    return (
        f'<div class="mia-report"><p><span class="mia-verdict mia-{verdict.lower()}">{verdict}</span> '
        f"{report['metrics']['questions']} questions · {html.escape(readable_time(report['created_at']))}"
        f"{link}</p>"
        f'<p class="mia-gate-explain">{html.escape(gate_explanation(report))}</p>'
        '<div class="mia-table-scroll"><table><thead><tr><th>metric</th><th>value</th><th>threshold</th>'
        f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></div>"
    )


# Scoped by Gradio to the summary component; colours from the chat's stylesheet (ui.css),
# which swaps them in dark mode.
SUMMARY_CSS = """
.mia-definition { font-size: 0.85em; font-weight: normal; color: var(--mia-subdued); max-width: 60ch; }
.mia-gate-explain { color: var(--mia-subdued); margin: 0.3em 0 0.6em; }
.mia-table-scroll { overflow-x: auto; }
a { color: var(--mia-link); }
code { font-size: 0.8em; color: var(--mia-subdued); overflow-wrap: anywhere; }
td { vertical-align: top; }
"""


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
    golden_path = assistant.settings.golden_set
    with _golden_lock:  # a double click must not add the item twice
        try:
            items = load_golden(golden_path) if golden_path.exists() else []
        except GoldenSetError as error:
            return f"The golden set cannot be read: {error}"
        existing = golden_item_for(items, feedback)
        if existing is not None:
            return (
                f"Feedback #{feedback.id} is already in the golden set as {existing.id} "
                "(same question and conversation); nothing added."
            )
        sources = evidence_sources(assistant, quotes, source)
        if isinstance(sources, str):
            return sources
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


def golden_item_for(items: list[GoldenItem], feedback: Feedback) -> GoldenItem | None:
    """The golden item that already asks this feedback's question in the same conversation
    (promoted before, from this row or another user's), if any."""
    question = normalise(feedback.question)
    return next(
        (item for item in items if normalise(item.question) == question and item.history == feedback.history),
        None,
    )


def evidence_sources(assistant: Assistant, quotes: list[str], source: str = "") -> list[str] | str:
    """The document each evidence quote is found in (within `source` if given), or a
    message naming the first quote found nowhere."""
    texts = document_texts(assistant)
    candidates = {path: text for path, text in texts.items() if not source or path == source}
    sources = []
    for quote in quotes:
        found = [path for path, text in candidates.items() if normalise(quote) in normalise(text)]
        if not found:
            where = Path(source).name if source else "any indexed document"
            return f"Evidence not found in {where}: “{quote[:120]}”. Copy it exactly from the document."
        sources.append(_relative(found[0]))
    return sources


def access_policy(connection: HTTPConnection | None) -> AccessPolicy | None:
    """The access policy of the chat this request came through.

    `ui.build_ui` builds this tab without handing it the policy; `mount_ui` keeps it on the
    `ChatAccessMiddleware` that wraps the mounted chat, and Starlette records the server's
    outermost router, whose routes include that mount, in every request's scope.
    """
    router = connection.scope.get("router") if connection is not None else None
    for route in getattr(router, "routes", []):
        if isinstance(route, Mount) and isinstance(route.app, ChatAccessMiddleware):
            return route.app.policy
    return None


def staff_refusal(request: gr.Request | None) -> str | None:
    """Why this caller may not run an evaluation or write the golden set now, or None;
    counts the action against the caller's per-minute limit (shared with their chat
    questions and API calls, as `ui.question_refusal` does for questions).

    Unlike a chat question, a staff action needs a key whenever the API does: a public
    chat (`public_chat`) opens questions to everyone, not an evaluation that asks every
    golden question at once. Without a policy to ask, the action is refused.
    """
    connection = request.request if request is not None else None
    policy = access_policy(connection)
    if connection is None or policy is None:
        return "The server could not tell who is asking; reload the page."
    try:
        policy.admit(policy.authenticate_staff(connection))
    except ApiError as error:
        if error.kind == "missing_key":
            return (
                "The chat on this server is public, its Quality tab's actions are not: running the "
                "evaluation or promoting feedback needs a server key (`Authorization: Bearer KEY`). "
                "Or run `assistant eval` on the server."
            )
        return str(error.detail)
    return None


def _relative(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def source_choices(assistant: Assistant) -> list[tuple[str, str]]:
    """The "Evidence is in" choices: any document, or one of those indexed now."""
    return [("any indexed document", "")] + [(info.title, info.path) for info in assistant.sources()]


def build_quality_tab(assistant: Assistant, tab: gr.Tab) -> None:
    """The tab's components and events (call inside `tab`); opening the tab refreshes the
    feedback list, and the report summary when a newer report exists (written by another
    page or `assistant eval`), so a reload does not lose the latest run and its link."""
    found = latest_report(assistant.settings.reports_dir)
    report, where = found if found else (None, None)
    with gr.Row():
        run_button = gr.Button("Run evaluation", variant="primary", scale=0, elem_id="run-eval")
    status = gr.Markdown(f"Golden set: `{assistant.settings.golden_set}`", elem_id="eval-status")
    summary = gr.HTML(
        summary_html(report, report_link(where)), css_template=SUMMARY_CSS, elem_id="eval-summary"
    )
    charts = gr.HTML(charts_html(report), elem_id="eval-charts")
    shown = gr.State(str(where) if where else None)  # the report folder this page shows

    def on_run(request: gr.Request):
        refusal = staff_refusal(request)
        if refusal:
            return f"⚠️ {refusal}", gr.update(), gr.update(), gr.update()
        started = time.perf_counter()
        try:
            new_report, html_path = run_evaluation(assistant)
        except (EvaluationError, OSError) as error:
            problems = "".join(f"\n- {escape_markdown(p)}" for p in getattr(error, "problems", [])[:10])
            return (
                f"Evaluation failed: {escape_markdown(str(error))}{problems}",
                gr.update(),
                gr.update(),
                gr.update(),
            )
        seconds = time.perf_counter() - started
        count = new_report["metrics"]["questions"]
        return (
            f"Evaluated {count} question{'' if count == 1 else 's'} in {seconds:.0f} s.",
            summary_html(new_report, publish_report(html_path)),
            charts_html(new_report),
            str(html_path.parent),
        )

    def on_open(current: str | None):
        latest = latest_report(assistant.settings.reports_dir)
        if latest is None or str(latest[1]) == current:
            return gr.update(), gr.update(), current
        newer, folder = latest
        return summary_html(newer, report_link(folder)), charts_html(newer), str(folder)

    # One evaluation at a time, whoever asks: each one answers every golden question.
    run_button.click(
        on_run, None, [status, summary, charts, shown], concurrency_limit=1, concurrency_id="evaluation"
    )
    tab.select(on_open, shown, [summary, charts, shown])

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
            source_choices(assistant),
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
        return row[0], f"Feedback #{row[0]} ({row[2]}): **{escape_markdown(row[3])}**"

    def on_promote(feedback_id, kind, ref, quotes, document, request: gr.Request):
        refusal = staff_refusal(request)
        if refusal:
            return f"⚠️ {refusal}"
        return promote_feedback(assistant, feedback_id, kind, ref, quotes, document)

    rating.change(on_filter, rating, table)
    refresh.click(on_filter, rating, table)
    tab.select(on_filter, rating, table)
    tab.select(lambda: gr.update(choices=source_choices(assistant)), None, source)  # after uploads
    table.select(on_select, table, [selected, chosen])
    promote.click(on_promote, [selected, question_type, reference, evidence, source], promote_status)
