"""What every `assistant` command shares: the consoles, the settings, error exits, the
data-directory hold, and the command-group class that renders help and errors alike."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup, TyperOption

from assistant.config import Settings
from assistant.data_dir import DataDirError, data_dir_lock
from assistant.service import Assistant

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # one message, one line, whatever the width


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
    """Print `message` as an error and return the exit to raise.

    Soft-wrapped so that a message stays one line when stderr is a pipe or a log (Rich
    would otherwise break it at 80 columns); a terminal still wraps it for the eye.
    """
    errors.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def open_assistant(purpose: str) -> Iterator[Assistant]:
    """An `Assistant` holding the data directory for this process."""
    try:
        with data_dir_lock(state.settings, purpose):
            yield Assistant(state.settings)
    except DataDirError as error:
        raise fail(str(error)) from None


class _FlagOption(TyperOption):
    """A flag as help should show it. Typer's Rich help gives every option a type column,
    so flags read `--json <bool>` as if they took a value; a flag takes none."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _plain_flags(params: list[Any]) -> list[Any]:
    """`params` with every flag shown without a type (see `_FlagOption`).

    Typer builds its options itself (there is no option class to pass it), so the flags
    it made are turned into `_FlagOption`s, which only change how help shows them.
    """
    for param in params:
        if type(param) is TyperOption and param.is_flag:
            param.__class__ = _FlagOption
    return params


class AssistantGroup(TyperGroup):
    """The class of every `assistant` command group (`cls=` of each `typer.Typer`).

    One place for what all commands share, including those defined in other modules:
    help shows flags as flags, and an unusable data directory (read-only, or one that
    cannot be created) ends any command with the one-line error that names the fix
    instead of a traceback.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            # Also makes the command's own --help option, which Click creates on demand.
            _plain_flags(command.get_params(ctx))
        return command

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except DataDirError as error:
            raise fail(str(error)) from None
