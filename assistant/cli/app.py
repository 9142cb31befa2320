"""`assistant ...`: ingest documents, ask questions, list and delete sources, chat.

Every command turns its arguments into calls on `service.Assistant`; option names mirror
the `Settings` fields (and their `ASSISTANT_*` variables).
"""

from __future__ import annotations

import faulthandler
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task
from rich.text import Text

from assistant.cli.common import (
    AssistantGroup,
    console,
    errors,
    fail,
    open_assistant,
    quiet_libraries,
    state,
)
from assistant.cli.evaluate import evaluate, feedback_app
from assistant.cli.remote import Reader, open_reader
from assistant.config import Settings
from assistant.data_dir import DataDirError, announce_server
from assistant.embeddings import Embedder
from assistant.index import DropReport, IndexHealth, IngestReport, counted
from assistant.retrieval import UNDATED_NOTE_START, Filters
from assistant.service import Assistant, InvalidQuestion
from assistant.types import Answer

app = typer.Typer(
    cls=AssistantGroup,
    help="Market-intelligence question answering with checkable citations, offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="ASSISTANT_DATA_DIR",
            help="Where the index and feedback live (default .assistant).",
        ),
    ] = None,
) -> None:
    """Configure logging quietly and read the settings once."""
    quiet_libraries()
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    state.settings = Settings(**overrides)


# --- ingest, sources, delete ------------------------------------------------------------


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or directories (default: corpus/).")
    ] = None,
    prune: Annotated[
        bool, typer.Option(help="Delete indexed files that vanished from the given directories.")
    ] = False,
    strict: Annotated[bool, typer.Option(help="Exit with status 1 if any file was skipped.")] = False,
    rebuild: Annotated[
        bool,
        typer.Option(help="Drop the whole index and its records, then index the files again."),
    ] = False,
) -> None:
    """Index documents incrementally: unchanged chunks are not embedded again.

    Every ingest first repairs an index that disagrees with its records (chunks lost with
    the chroma folder or an interrupted ingest); --rebuild starts over from the files.
    """
    targets = paths or [state.settings.corpus_dir]
    status = IngestStatus()
    dropped: DropReport | None = None
    with open_assistant("ingest") as assistant:
        if rebuild:
            dropped = assistant.corpus.drop()
            console.print(
                f"Rebuilding: dropped the index ({counted(dropped.chunks, 'chunk')}) and its "
                f"{counted(dropped.records, 'record')}; indexing "
                f"{escape(', '.join(_short(str(t)) for t in targets))} again.",
                highlight=False,
                soft_wrap=True,
            )
        with _progress(status) as progress:
            task = progress.add_task("Indexing", total=None)
            status.watch(assistant.corpus.embeddings)  # inside the bar: opening Chroma takes a while

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            report = assistant.ingest(targets, prune=prune, progress=advance)
    print_ingest_report(report)
    if dropped:
        indexed = set(report.files_added + report.files_updated + report.files_unchanged)
        left_out = [path for path in dropped.paths if path not in indexed]
        if left_out:
            errors.print(
                "[yellow]Not indexed again[/] (indexed before, but not under the given paths; "
                "ingest them to bring them back): " + escape(", ".join(_short(path) for path in left_out)),
                soft_wrap=True,
            )
    if strict and report.errors:
        raise typer.Exit(1)


class IngestStatus:
    """What an ingest is doing, for its progress line.

    The embedding model loads when the first changed text is embedded (never when nothing
    changed), which takes 20-30 s on a slow machine: the bar sat at 0/? all that time
    without a word. While the embedder loads its model, the line says so. (It used to
    infer the load from the count of chunks embedded, but a chunk's sentence vectors are
    embedded first and load the model uncounted, so the message showed for a few
    milliseconds after the load, or never.)
    """

    def __init__(self) -> None:
        self.embeddings: Embedder | None = None

    def watch(self, embeddings: Embedder) -> None:
        """Follow `embeddings` from now on."""
        self.embeddings = embeddings

    def describe(self) -> str:
        if self.embeddings is not None and self.embeddings.model_loading:
            return "Loading the embedding model…"
        return "Indexing"


class _StatusColumn(ProgressColumn):
    """The ingest's current status, asked at each refresh (Rich redraws ten times a
    second from its own thread, while the model loads in this one)."""

    def __init__(self, status: IngestStatus) -> None:
        super().__init__()
        self.status = status

    def render(self, task: Task) -> Text:
        return Text(self.status.describe())


def _progress(status: IngestStatus) -> Progress:
    return Progress(
        _StatusColumn(status),
        BarColumn(),
        MofNCompleteColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,
    )


def print_ingest_report(report: IngestReport) -> None:
    """What was added, updated, skipped and deleted, and every file that was skipped."""
    for error in report.errors:
        errors.print(f"[yellow]Skipped[/] {escape(str(error.path))}: {escape(error.reason)}")
    console.print(
        f"Files: {len(report.files_added)} added, {len(report.files_updated)} updated, "
        f"{len(report.files_unchanged)} unchanged, {len(report.files_deleted)} deleted, "
        f"{len(report.errors)} skipped with errors."
    )
    console.print(
        f"Chunks: {report.chunks_added} added, {report.chunks_deleted} deleted, "
        f"{report.chunks_skipped} unchanged; {report.texts_embedded} embedded."
    )
    print_repairs(report)


def print_repairs(report: IngestReport) -> None:
    """What the ingest repaired before indexing, and why (see `CorpusIndex.repair`)."""
    if report.records_forgotten:
        console.print(
            f"Repaired: {counted(report.records_forgotten, 'record')} of "
            f"{counted(len(report.files_repaired), 'document')} pointed at chunks missing from the "
            "index (a lost chroma folder or an interrupted ingest); they were forgotten and "
            "their files indexed again.",
            highlight=False,
            soft_wrap=True,
        )
    for path in report.files_lost:
        errors.print(
            f"[yellow]Not repaired[/] {escape(_short(path))}: its chunks were missing and the file "
            "is gone, so its records were forgotten.",
            soft_wrap=True,
        )
    if report.records_regrouped:
        console.print(
            f"Repaired: {counted(report.records_regrouped, 'record')} had lost the document they "
            "belong to (an interrupted ingest); it was given back.",
            highlight=False,
            soft_wrap=True,
        )
    if report.orphans_deleted:
        console.print(
            f"Repaired: deleted {counted(report.orphans_deleted, 'chunk')} that no record knew "
            "of (left by an interrupted ingest).",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def sources(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List indexed documents: title, date, chunks; and whether the index agrees with its
    records (problems go to stderr, so --json stays JSON)."""
    with open_reader(state.settings, "sources") as assistant:
        listed = assistant.sources()
        # Through a server (it holds the directory), its index is not checked from here.
        health = assistant.corpus.check() if isinstance(assistant, Assistant) else IndexHealth()
    for problem in health.problems():
        errors.print(f"[yellow]Index out of step:[/] {escape(problem)}", soft_wrap=True)
    if as_json:
        console.print_json(json.dumps([vars(info) for info in listed]))
        return
    if not listed:
        if health.ok:
            console.print("No documents are indexed yet: run `assistant ingest corpus/`.")
        return
    for info in listed:
        dated = f"{escape(info.date)}, " if info.date else ""
        console.print(f"[bold]{escape(info.title)}[/] — {dated}{info.chunks} chunks", highlight=False)
        console.print(f"    {escape(_short(info.path))}", style="dim", highlight=False, soft_wrap=True)
    console.print(f"{len(listed)} documents, {sum(i.chunks for i in listed)} chunks.")


def _short(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


@app.command()
def delete(
    source: Annotated[str, typer.Argument(help="A path or source URL, as `sources` lists.")],
) -> None:
    """Remove one document and its chunks from the index."""
    with open_assistant("delete") as assistant:
        deleted = assistant.delete(source)
    if not deleted:
        raise fail(f"No indexed document matches '{source}'; `assistant sources` lists them.")
    for path in deleted:
        console.print(f"Deleted {escape(_short(path))}")


# --- ask and chat -----------------------------------------------------------------------


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="JSONL of {id, question, history?}; one JSON answer per line."),
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only this source (path or URL).")] = None,
    publisher: Annotated[list[str] | None, typer.Option(help="Only this publisher.")] = None,
    date_from: Annotated[str | None, typer.Option(help="Only documents dated on or after.")] = None,
    date_to: Annotated[str | None, typer.Option(help="Only documents dated on or before.")] = None,
    include_undated: Annotated[
        bool, typer.Option("--include-undated", help="With a date filter, keep documents that have no date.")
    ] = False,
) -> None:
    """Answer a question from the indexed documents, with numbered sources."""
    filters = make_filters(source or [], publisher or [], date_from, date_to, include_undated)
    if (question is None) == (file is None):
        raise fail("Give either a QUESTION or --file QUESTIONS.jsonl.", code=2)
    with open_reader(state.settings, "ask") as assistant:
        if file is not None:
            if not file.is_file():
                raise fail(f"No such file: {file}" if not file.exists() else f"Not a file: {file}")
            try:
                ask_many(assistant, file, filters)
            except UnicodeDecodeError:
                raise fail(f"{file} is not UTF-8 text (a JSONL file of questions is).") from None
            return
        try:
            answer = assistant.ask(question or "", filters=filters)
        except InvalidQuestion as error:
            raise fail(str(error)) from None
    if as_json:
        sys.stdout.write(json.dumps(answer.to_dict(), ensure_ascii=False) + "\n")
        return
    if any(note.startswith(UNDATED_NOTE_START) for note in answer.notes):  # after that note
        answer.notes.append("Add --include-undated to search them too.")
    print_answer(answer)


DATE_OPTIONS = {"date_from": "--date-from", "date_to": "--date-to"}


def make_filters(
    sources: list[str],
    publishers: list[str],
    date_from: str | None,
    date_to: str | None,
    include_undated: bool = False,
) -> Filters:
    """The retrieval filters the options ask for.

    A bad value is a usage error (exit 2) in one line that names the option; pydantic's own
    message is several lines with a link, written for programmers.
    """
    try:
        return Filters(
            sources=sources,
            publishers=publishers,
            date_from=date_from,
            date_to=date_to,
            include_undated=include_undated,
        )
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else ""
        if field in DATE_OPTIONS:
            option, value = DATE_OPTIONS[field], problem["input"]
            raise fail(
                f'{option}: "{value}" is not a date (use YYYY-MM-DD, YYYY-MM or YYYY).', code=2
            ) from None
        raise fail(f"Bad filter {field}: {problem['msg']}", code=2) from None


def ask_many(assistant: Reader, file: Path, filters: Filters) -> None:
    """Answer every line of a JSONL file in one process; a bad line gets an `error` line."""
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            sys.stdout.write(
                json.dumps(_answer_line(assistant, line, number, filters), ensure_ascii=False) + "\n"
            )
            sys.stdout.flush()


def _answer_line(assistant: Reader, line: str, number: int, filters: Filters) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        return {"id": None, "line": number, "error": f"line {number} is not JSON: {error.msg}"}
    if not isinstance(item, dict):
        return {"id": None, "line": number, "error": f"line {number} is not a JSON object"}
    try:
        history = item.get("history") or []
        if not isinstance(history, list):
            raise InvalidQuestion("`history` must be a list of {role, content} messages")
        answer = assistant.ask(item.get("question") or "", history=history, filters=filters)
    except InvalidQuestion as error:
        return {"id": item.get("id"), "line": number, "error": str(error)}
    return {"id": item.get("id"), **answer.to_dict()}


def print_answer(answer: Answer) -> None:
    """The answer and its notes, then its numbered sources with the quoted passage."""
    style = "yellow" if answer.refused else ""
    console.print(escape(answer.answer), style=style, highlight=False)
    for note in answer.notes:
        console.print(escape(note), style="yellow", highlight=False)
    if not answer.citations:
        return
    console.print()
    console.print("[bold]Sources[/]")
    for citation in answer.citations:
        page = f"page {citation.page}" if citation.page else ""
        about = ", ".join(escape(part) for part in (citation.publisher, citation.date, page) if part)
        console.print(
            f"[bold][{citation.n}][/] {escape(citation.title)}" + (f" — {about}" if about else ""),
            highlight=False,
        )
        console.print(f"    {escape(citation.source)}", style="blue", highlight=False)
        console.print(f"    “{escape(' '.join(citation.quote.split()))}”", style="dim", highlight=False)


@app.command()
def chat() -> None:
    """Talk to the assistant in the terminal; follow-up questions use the conversation."""
    with open_assistant("chat") as assistant:
        assistant.warm_up()
        console.print(
            "[bold]Market Intelligence Assistant[/] — ask about Malaysia's critical minerals, "
            "rare earths and U.S.–Malaysia trade. Empty line or Ctrl-D to quit; /new starts over."
        )
        history: list = []
        while True:
            try:
                question = console.input("[bold green]> [/]").strip()
            except (EOFError, KeyboardInterrupt):
                break
            if not question:
                break
            if question == "/new":
                history = []
                console.print("New conversation.")
                continue
            try:
                answer = assistant.ask(question, history=history)
            except InvalidQuestion as error:
                errors.print(escape(str(error)))
                continue
            print_answer(answer)
            console.print()
            history += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer.answer},
            ]


# --- server and keys ----------------------------------------------------------------------


# How long `serve` may take to exit once stopped before it dumps its stacks and exits.
SHUTDOWN_GRACE_SECONDS = 30


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; loopback keeps the API local.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
) -> None:
    """Start the chat, the JSON and OpenAI-compatible APIs and the widget in one server."""
    import uvicorn

    from assistant.server.api import create_app

    with open_assistant("serve") as assistant:
        assistant.warm_up()
        application = create_app(assistant, host=host)
        stats = assistant.stats()
        console.print(
            f"[bold]Market Intelligence Assistant[/] — {stats['documents']} documents, "
            f"{stats['chunks']} chunks, {stats['answerer']} answerer."
        )
        console.print(f"Chat:        http://{host}:{port}/", soft_wrap=True)
        console.print(f"API docs:    http://{host}:{port}/api/docs", soft_wrap=True)
        console.print(f"Widget demo: http://{host}:{port}/widget-demo", soft_wrap=True)
        console.print(application.state.policy.describe(), soft_wrap=True)
        if not stats["documents"]:
            errors.print("[yellow]No documents are indexed: run `assistant ingest corpus/`.[/]")
        elif state.settings.sentence_vectors and assistant.corpus.lexical.lacks_sentence_vectors():
            errors.print(
                "[yellow]This index was ingested without sentence vectors, so every question "
                "embeds its passages' sentences (0.2 s more a question at scale): "
                "`assistant ingest DIR --rebuild` adds them.[/]"
            )
        announce_server(state.settings, host, port)  # `ask` and `sources` now come here
        # Other processes can change a shared Chroma server's chunks: follow them.
        follower = assistant.follow_changes() if state.settings.chroma_url else None
        try:
            uvicorn.run(application, host=host, port=port, log_level="warning")
        finally:
            # A stop must end the process (a service manager sends SIGKILL otherwise, with
            # no clue why): past the grace time, every thread's stack goes to stderr and the
            # process exits. It exits in about 1.5 s otherwise (most of it garbage collection).
            faulthandler.dump_traceback_later(SHUTDOWN_GRACE_SECONDS, exit=True)
            if follower:
                follower.stop()


keys_app = typer.Typer(
    cls=AssistantGroup, help="API keys for the HTTP API and the widget.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="The site or service this key is for.")],
    origin: Annotated[list[str] | None, typer.Option(help="Allowed web origin (repeat for several).")] = None,
    server: Annotated[bool, typer.Option(help="A secret key for back ends (no browser use).")] = False,
    rate_limit: Annotated[
        int | None,
        typer.Option(help="Requests per minute (default: ASSISTANT_RATE_LIMIT_PER_MINUTE)."),
    ] = None,
) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    from assistant.keys import KeyConfigError, create_key

    try:
        key = create_key(state.settings, name, origin or [], allow_server=server, rate_limit=rate_limit)
    except (KeyConfigError, DataDirError) as error:
        raise fail(str(error)) from None
    console.print(f"Key for '{escape(name)}' (shown once; store it now):")
    sys.stdout.write(key + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """Active keys (names, prefixes and origins; never the keys)."""
    from assistant.keys import list_keys

    listed = list_keys(state.settings)
    if not listed:
        console.print("No keys. On loopback the API is open; elsewhere it needs keys.")
    for key in listed:
        kind = "server" if key.allow_server else "widget"
        origins = ", ".join(key.origins) or "-"
        limit = key.rate_limit or state.settings.rate_limit_per_minute
        console.print(f"{escape(key.name)}  {key.prefix}…  {kind}  origins: {escape(origins)}  {limit}/min")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key at once (running servers notice within seconds)."""
    from assistant.keys import revoke_key

    if not revoke_key(state.settings, name):
        raise fail(f"No active key named '{name}'; `assistant keys list` shows them.")
    console.print(f"Revoked '{escape(name)}'.")


# --- evaluation and feedback --------------------------------------------------------------

app.command("eval")(evaluate)
app.add_typer(feedback_app, name="feedback", cls=AssistantGroup)


if __name__ == "__main__":  # pragma: no cover
    app()
