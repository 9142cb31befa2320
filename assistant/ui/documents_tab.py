"""The "Documents" tab for staff: the indexed documents, upload, and delete.

Every action is the CLI's own call on the `Assistant`: the list is `sources()` (what
`assistant sources` prints), an upload is `ingest()` (the loaders and limits of
`assistant ingest`) and a delete is `delete()` (`assistant delete`). Those calls rebuild the
BM25 index, so the running server answers from an upload, and stops citing a deleted
document, at once. The server process indexes in-process, through the `Assistant` it
already holds: the data-directory lock it took at start-up (`data_dir_lock`) is not asked
for again, so it cannot refuse its own holder.

Uploaded files are copied to `<data dir>/uploads/`, not into corpus/: `ingest corpus --prune`
(what `make run` does) prunes only files that vanished from the directories it is given,
so it leaves uploads alone, and corpus/ stays the project's own documents under version
control. Deleting an upload here also removes its copy; deleting a document from corpus/
removes it from the index only (its file is not the tab's to delete), so the next ingest of
corpus/ brings it back unless the file is removed too.

Handlers are plain functions (tested directly); `build_documents_tab` only wires them.
"""

from __future__ import annotations

import hashlib
import html
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.config import Settings
from assistant.documents import SUPPORTED_SUFFIXES, DocumentLoadError, LoadError, load_file
from assistant.index import IngestReport, ProgressCallback, SourceInfo, counted
from assistant.security import AccessPolicy, ApiError
from assistant.service import Assistant
from assistant.text import escape_markdown
from assistant.types import public_path

COLUMNS = ["title and file", "date", "publisher", "chunks"]
NOT_STAFF = (
    "Managing documents on a server that needs API keys takes a server key: its chat may be "
    "open to everyone, its documents are not. Use `assistant ingest` and `assistant delete`."
)


def uploads_dir(settings: Settings) -> Path:
    """Where uploaded files are kept (see the module docstring for why not corpus/)."""
    return settings.data_dir / "uploads"


def staff_refusal(policy: AccessPolicy, request: gr.Request | None, count: bool = False) -> str | None:
    """Why this request may not list, upload or delete documents, or None; with `count`
    (an upload or a delete) the action counts against the caller's per-minute limit, shared
    with their questions and API calls, as the Quality tab's actions do.

    In open mode (loopback bind, no keys) the chat's users are this machine's, as for the
    Quality tab. Otherwise a server key is needed, by the API's rule (`authenticate`): a
    public chat (ASSISTANT_PUBLIC_CHAT) lets anyone ask questions, not change what the
    assistant knows, and a widget key is no credential (it sits in public web pages and any
    script can send its Origin). Since a server key never works from a web page, on a server
    that needs keys the tab is for scripts only and browsers do not see it.
    """
    connection = request.request if request is not None else None
    if connection is None:
        return NOT_STAFF
    try:
        caller = policy.authenticate_staff(connection)
        if count:
            policy.admit(caller)
    except ApiError as error:
        return NOT_STAFF if error.kind in ("missing_key", "invalid_key") else str(error.detail)
    return None


def shown_file(settings: Settings, path: str) -> str:
    """A document's file as staff should read it: `uploads/NAME` for uploads, else relative
    to the server's working directory (never an absolute server path)."""
    uploads = uploads_dir(settings).resolve()
    if Path(path).parent == uploads:
        return f"uploads/{Path(path).name}"
    return public_path(path)


def shown_date(date: str) -> str:
    """The date as written, or empty for an undated document (stored as "unknown")."""
    return "" if date.strip().lower() in ("", "unknown") else date


def document_rows(assistant: Assistant) -> list[list[Any]]:
    """The indexed documents, newest first (the list `assistant sources` prints), as rows of
    title, date, publisher, chunks, file and the row's key (`document_key`)."""
    return [
        [
            info.title,
            shown_date(info.date),
            info.publisher,
            info.chunks,
            shown_file(assistant.settings, info.path),
            document_key(info.path),
        ]
        for info in assistant.sources()
    ]


def document_key(path: str) -> str:
    """A row's handle in the page: its delete button names the document by this, so the
    server's absolute path never reaches the browser."""
    return hashlib.sha256(path.encode()).hexdigest()[:16]


def documents_html(rows: list[list[Any]]) -> str:
    """The table of `document_rows`, each row with its delete button; everything from the
    documents is escaped."""
    if not rows:
        return "<p>No documents are indexed yet: upload some above, or run <code>assistant ingest</code>.</p>"
    body = []
    for title, date, publisher, chunks, file, key in rows:
        title = html.escape(title)
        body.append(
            f"<tr><td>{title}<div class='mia-file'>{html.escape(file)}</div></td>"
            f"<td>{html.escape(date)}</td><td>{html.escape(publisher)}</td>"
            f"<td class='mia-chunks'>{chunks}</td><td><button type='button' data-key='{key}' "
            f"aria-label='Delete {title}'>Delete…</button></td></tr>"
        )
    head = "".join(f"<th>{name}</th>" for name in COLUMNS)
    total = sum(row[3] for row in rows)
    return (
        f"<table><thead><tr>{head}<th></th></tr></thead><tbody>{''.join(body)}</tbody></table>"
        f"<p>{counted(len(rows), 'document')}, {counted(total, 'chunk')}.</p>"
    )


# Scoped to the table's component by Gradio; colours are the theme's, so dark mode follows.
TABLE_CSS = """
overflow-x: auto;
contain: inline-size; /* a wide table scrolls here instead of widening the page on a phone */
table { border-collapse: collapse; width: 100%; min-width: 560px; margin: 0; }
table, tr { border: none; }
td:nth-child(2) { white-space: nowrap; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border: none;
         border-bottom: 1px solid var(--border-color-primary); }
.mia-file { font-family: var(--font-mono); font-size: 0.85em; overflow-wrap: anywhere; }
.mia-chunks { text-align: right; }
button { padding: 2px 10px; border-radius: var(--button-small-radius); cursor: pointer;
         font-size: 0.9em; font-weight: normal; border: 1px solid var(--button-secondary-border-color);
         background: var(--button-secondary-background-fill); color: var(--button-secondary-text-color); }
"""
# A delete button reports its row's key to the server as the table's click event.
TABLE_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-key]');
  if (button) trigger('click', {key: button.dataset.key});
});
"""


def _find(assistant: Assistant, path: str) -> SourceInfo | None:
    return next((info for info in assistant.sources() if info.path == path), None)


def path_of(assistant: Assistant, key: str) -> str | None:
    """The indexed document whose `document_key` is `key`."""
    return next((info.path for info in assistant.sources() if document_key(info.path) == key), None)


def upload_documents(
    assistant: Assistant, files: list[str] | None, progress: ProgressCallback | None = None
) -> str:
    """Copy uploaded files to the uploads folder and index them; returns the report (Markdown).

    Each file is loaded first, with the settings' limits, and a file that cannot be
    indexed is reported with the reason and not copied: a corrupt re-upload must not
    replace a good earlier copy. A file named like an earlier upload replaces it.
    """
    if not files:
        return "Choose one or more files to upload."
    folder = uploads_dir(assistant.settings)
    folder.mkdir(parents=True, exist_ok=True)
    skipped: list[LoadError] = []
    copies: list[Path] = []
    for name in files:
        upload = Path(name)
        try:
            load_file(upload, assistant.settings)
        except DocumentLoadError as error:
            skipped.append(LoadError(Path(upload.name), str(error)))
            continue
        copies.append(Path(shutil.copyfile(upload, folder / upload.name)))
    report = assistant.ingest(copies, progress=progress) if copies else IngestReport()
    report.errors = skipped + report.errors
    return ingest_summary(report)


def ingest_summary(report: IngestReport) -> str:
    """What an upload did, as `assistant ingest` reports it: every skipped file with its
    reason, then the counts of files and chunks."""
    lines = [
        f"- **Skipped** {escape_markdown(error.path.name)}: {escape_markdown(error.reason)}"
        for error in report.errors
    ]
    lines.append(
        f"Files: {len(report.files_added)} added, {len(report.files_updated)} updated, "
        f"{len(report.files_unchanged)} unchanged, {len(report.errors)} skipped with errors. "
        f"Chunks: {report.chunks_added} added, {report.chunks_deleted} deleted, "
        f"{report.chunks_skipped} unchanged."
    )
    return "\n\n".join(lines)


def deletion_question(assistant: Assistant, path: str | None) -> str | None:
    """What deleting `path` would do, for the confirmation; None when nothing is chosen."""
    info = _find(assistant, path) if path else None
    if info is None:
        return None
    uploaded = Path(path or "").parent == uploads_dir(assistant.settings).resolve()
    fate = (
        "Its uploaded file is removed too."
        if uploaded
        else "Its file stays where it is, so the next `assistant ingest` of its folder indexes it again."
    )
    return (
        f"Delete **{escape_markdown(info.title)}** ({counted(info.chunks, 'chunk')}) from the index? {fate}"
    )


def delete_document(assistant: Assistant, path: str | None) -> str:
    """Delete one document as `assistant delete` does, and its copy when it was uploaded;
    returns what happened."""
    if not path:
        return "Choose a document to delete."
    info = _find(assistant, path)
    deleted = assistant.delete(path)
    if not deleted:
        return "That document is no longer indexed (deleted meanwhile?)."
    uploads = uploads_dir(assistant.settings).resolve()
    for deleted_path in deleted:
        if Path(deleted_path).parent == uploads:
            Path(deleted_path).unlink(missing_ok=True)
    title = info.title if info else Path(path).name
    return f"Deleted **{escape_markdown(title)}**."


INTRO = (
    "The documents the assistant answers from. Uploads use the loaders and limits of "
    "`assistant ingest` ({suffixes}; at most {size}) and are answered from at once. They are "
    "kept in `uploads/` in the data directory, which `assistant ingest corpus --prune` (what "
    "`make run` does) leaves alone. Deleting an upload removes its file; a document from "
    "elsewhere (such as corpus/) only leaves the index, and the next ingest of its folder "
    "brings it back unless its file is gone."
)


def build_documents_tab(
    assistant: Assistant,
    policy: AccessPolicy,
    blocks: gr.Blocks,
    tab: gr.Tab,
    after_change: tuple[Callable[[], Any], gr.Component] | None = None,
) -> None:
    """The tab's components and events (call inside `tab`, created hidden): each page load
    shows the tab only to staff (`staff_refusal`), and every handler checks again, since
    Gradio's API can be called without the page."""
    settings = assistant.settings
    gr.Markdown(
        INTRO.format(
            suffixes=", ".join(SUPPORTED_SUFFIXES),
            size=f"{settings.max_file_bytes / (1024 * 1024):.0f} MB",
        )
    )
    files = gr.File(label="Upload documents", file_count="multiple", height=150, elem_id="documents-upload")
    status = gr.Markdown(elem_id="documents-status")
    with gr.Column(visible=False, elem_id="documents-confirm") as confirm_box:
        question = gr.Markdown()
        with gr.Row():
            confirm = gr.Button("Delete it", variant="stop", elem_id="documents-confirm-delete")
            cancel = gr.Button("Cancel", elem_id="documents-cancel")
    table = gr.HTML(css_template=TABLE_CSS, js_on_load=TABLE_JS, elem_id="documents-table")
    chosen = gr.State(None)  # the path asked about, kept on the server

    def listing(request: gr.Request) -> str:
        return "" if staff_refusal(policy, request) else documents_html(document_rows(assistant))

    def on_load(request: gr.Request):
        return gr.update(visible=staff_refusal(policy, request) is None), listing(request)

    def on_upload(uploaded, request: gr.Request, progress=gr.Progress()):  # noqa: B008 (Gradio's way)
        refusal = staff_refusal(policy, request, count=True)
        if refusal:
            return f"⚠️ {refusal}", "", None

        def advance(done: int, total: int) -> None:
            progress((done, total), desc="Indexing", unit="files")

        progress(0, desc="Reading the files")
        return upload_documents(assistant, uploaded, advance), listing(request), None

    def on_pick(event: gr.EventData, request: gr.Request):
        refusal = staff_refusal(policy, request)
        path = None if refusal else path_of(assistant, getattr(event, "key", ""))
        asked = deletion_question(assistant, path)
        if refusal or asked is None:
            problem = refusal or "That document is no longer indexed."
            return None, gr.update(), gr.update(visible=False), f"⚠️ {problem}"
        return path, asked, gr.update(visible=True), ""

    def on_delete(path, request: gr.Request):
        refusal = staff_refusal(policy, request, count=True)
        message = f"⚠️ {refusal}" if refusal else delete_document(assistant, path)
        return message, listing(request), None, gr.update(visible=False)

    hidden = {"api_visibility": "undocumented"}
    serial = {"concurrency_limit": 1, "concurrency_id": "documents", **hidden}
    blocks.load(on_load, None, [tab, table], **hidden)  # type: ignore[arg-type]
    tab.select(listing, None, table, **hidden)  # type: ignore[arg-type]
    uploaded = files.upload(on_upload, files, [status, table, files], **serial)  # type: ignore[arg-type]
    table.click(on_pick, None, [chosen, question, confirm_box, status], scroll_to_output=True, **hidden)  # type: ignore[arg-type]
    deleted = confirm.click(on_delete, chosen, [status, table, chosen, confirm_box], **serial)  # type: ignore[arg-type]
    if after_change:  # what else on the page shows the documents (the header's count)
        refresh, shown = after_change
        for event in (uploaded, deleted):
            event.then(refresh, None, shown, **hidden)  # type: ignore[arg-type]
    cancel.click(lambda: (None, gr.update(visible=False)), None, [chosen, confirm_box], **hidden)  # type: ignore[arg-type]
