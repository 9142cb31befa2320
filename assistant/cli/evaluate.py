"""`assistant eval` and `assistant feedback`: what staff use to judge answer quality."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import console, errors, fail, open_assistant, state
from assistant.evaluation import session
from assistant.evaluation.compare import compare_reports
from assistant.evaluation.gate import describe
from assistant.evaluation.report import load_report, write_report
from assistant.evaluation.session import EvaluationError, evaluate_golden_set, thresholds_for


def evaluate(
    golden: Annotated[
        Path | None, typer.Option("--set", help="Golden set (default evals/golden.jsonl).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Report directory (default evals/reports/<time>).")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Compare this run with an earlier report.")] = None,
    compare: Annotated[
        tuple[Path, Path] | None,
        typer.Option(help="Compare two reports (OLD NEW) without running."),
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Only validate the golden set.")] = False,
    calibrate: Annotated[
        bool,
        typer.Option(
            help="Refit the sentence scorer and the answerability model on the fitting sets "
            "(ASSISTANT_FIT_SETS) and print their cross-validated numbers."
        ),
    ] = False,
    gate: Annotated[bool, typer.Option(help="Exit 1 when a metric misses evals/thresholds.toml.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Run a golden set through the assistant and write report.json + report.html."""
    settings = state.settings
    if compare:
        compare_command(*compare, out)
        return
    if calibrate:
        calibrate_command([golden] if golden else settings.fit_sets)
        return
    golden = golden or settings.golden_set
    if check:
        items = validated_golden(golden, settings.corpus_dir)
        console.print(f"{golden}: {len(items)} questions, no problems found.")
        return
    with open_assistant("eval") as assistant:
        try:
            report = evaluate_golden_set(assistant, golden)
        except EvaluationError as error:
            raise refused(error) from None
    comparison = compare_reports(load_report(baseline), report) if baseline else None
    out = out or settings.reports_dir / time.strftime("%Y%m%d-%H%M%S")
    html_path = write_report(report, out, comparison)
    if as_json:
        sys.stdout.write(json.dumps(report["metrics"], indent=2) + "\n")
    else:
        print_metrics(report)
        if comparison:
            print_comparison(comparison)
        console.print(f"Report: {html_path}", soft_wrap=True)
    if report["gate"]["failures"]:
        errors.print("[bold red]Quality gate failed:[/]")
        for line in describe(report["gate"]["failures"]):
            errors.print(f"  {escape(line)}")
        if gate:
            raise typer.Exit(1)
    elif thresholds_for(settings, golden):
        console.print("[green]Quality gate passed[/] (evals/thresholds.toml).")


def calibrate_command(sets: list[Path]) -> None:
    """Refit both models on `sets`, write them into the package, print the CV numbers."""
    from assistant.evaluation.fitting import calibrate
    from assistant.linear import MODELS_DIR

    by_set = {str(path): validated_golden(path, state.settings.corpus_dir) for path in sets}
    with open_assistant("eval") as assistant:
        assistant.warm_up()
        if not assistant.retriever.chunk_count:
            raise fail("No documents are indexed: run `assistant ingest` first.")
        summary = calibrate(
            assistant,
            by_set,
            progress=lambda message: errors.print(f"[dim]{escape(message)}[/]"),
        )
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    console.print(
        f"Wrote {MODELS_DIR / 'sentence_scorer.json'} and {MODELS_DIR / 'answerability.json'} "
        "(cross-validated numbers above; they are also stored in the files).",
        soft_wrap=True,
    )


def validated_golden(path: Path, corpus_dir: Path) -> list:
    """Load and check a golden set; refuse it with every problem listed."""
    try:
        return session.validated_golden(path, corpus_dir)
    except EvaluationError as error:
        raise refused(error) from None


def refused(error: EvaluationError) -> typer.Exit:
    """The CLI's exit for an evaluation that cannot run: its problems, then its message."""
    for problem in error.problems:
        errors.print(f"  {escape(problem)}")
    return fail(str(error))


def print_metrics(report: dict[str, Any]) -> None:
    """The summary table with thresholds and pass/fail."""
    minimum, maximum = report["thresholds"]["minimum"], report["thresholds"]["maximum"]
    failed = {failure["metric"] for failure in report["gate"]["failures"]}
    table = Table("metric", "value", "threshold", "", box=None)
    for name, value in report["metrics"].items():
        bound = f">= {minimum[name]}" if name in minimum else f"<= {maximum[name]}" if name in maximum else ""
        verdict = "[red]FAIL[/]" if name in failed else ("[green]ok[/]" if bound else "")
        table.add_row(name, "–" if value is None else str(value), bound, verdict)
    console.print(table)


def print_comparison(comparison: dict[str, Any]) -> None:
    """Metric deltas, then the questions that moved."""
    table = Table("metric", "old", "new", "delta", box=None)
    for delta in comparison["deltas"]:
        if delta["direction"] == "same":
            continue
        colour = "green" if delta["direction"] == "better" else "red"
        table.add_row(
            delta["metric"],
            str(delta["old"]),
            str(delta["new"]),
            f"[{colour}]{delta['delta']:+}[/]",
        )
    console.print(table)
    for label, entries in (("Worse", comparison["worse"]), ("Better", comparison["better"])):
        console.print(f"[bold]{label}: {len(entries)} question(s)[/]")
        for entry in entries:
            change = ", ".join(entry["lost"] or entry["gained"])
            name = escape(f"{entry['id']} ({entry['type']})")  # golden-set ids are free text
            console.print(f"  {name} {escape(entry['question'])} — {escape(change)}")


def compare_command(old_path: Path, new_path: Path, out: Path | None) -> None:
    """`--compare OLD NEW`: print the comparison and write compare.html."""
    from assistant.evaluation.html_report import render_comparison

    try:
        comparison = compare_reports(load_report(old_path), load_report(new_path))
    except (OSError, ValueError, KeyError) as error:
        raise fail(f"Cannot compare: {error}") from None
    print_comparison(comparison)
    target = out or (new_path if new_path.is_dir() else new_path.parent)
    target.mkdir(parents=True, exist_ok=True)
    (target / "compare.html").write_text(render_comparison(comparison), encoding="utf-8")
    console.print(f"Comparison: {target / 'compare.html'}", soft_wrap=True)


# --- feedback ---------------------------------------------------------------------------------

feedback_app = typer.Typer(help="Thumbs up/down from the chat and the API.", no_args_is_help=True)


@feedback_app.command("list")
def feedback_list(
    rating: Annotated[str | None, typer.Option(help="Only 'up' or 'down'.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """Recent feedback, newest first."""
    from assistant.store import list_feedback

    for row in list_feedback(state.settings, rating=rating, limit=limit):
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.created_at or 0))
        shown_rating = escape(f"[{row.rating}]")  # unescaped, Rich took "[down]" for a style tag
        comment = f" — {escape(row.comment)}" if row.comment else ""
        console.print(f"#{row.id} {when} {shown_rating} {escape(row.question)}{comment}", soft_wrap=True)


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option(help="Candidates file (JSONL).")] = Path("evals/candidates.jsonl"),
    rating: Annotated[str, typer.Option(help="Which thumbs to export.")] = "down",
) -> None:
    """Write feedback as golden-set candidates, with the bad answer attached, for a staff
    member to complete with the type, the right answer and the evidence."""
    from assistant.evaluation.feedback import export_candidates

    count = export_candidates(state.settings, out, rating)
    console.print(
        f"Wrote {count} candidate(s) to {out}. Fill in type, reference and evidence, then "
        "append them to the golden set (`assistant eval --check` validates).",
        soft_wrap=True,
    )
