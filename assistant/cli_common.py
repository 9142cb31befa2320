"""What every `assistant` command shares: the consoles, the settings, error exits, and
the data-directory hold."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from assistant.config import Settings
from assistant.index import DataDirError, data_dir_lock
from assistant.service import Assistant

console = Console()
errors = Console(stderr=True)


class State:
    """Options shared by every command."""

    settings: Settings


state = State()


def quiet_libraries() -> None:
    """Offline and silent: no telemetry, no hub calls, no weight-loading progress bars."""
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as an error and return the exit to raise."""
    errors.print(f"[bold red]Error:[/] {escape(message)}")
    return typer.Exit(code)


@contextmanager
def open_assistant(purpose: str) -> Iterator[Assistant]:
    """An `Assistant` holding the data directory for this process."""
    try:
        with data_dir_lock(state.settings, purpose):
            yield Assistant(state.settings)
    except DataDirError as error:
        raise fail(str(error)) from None
