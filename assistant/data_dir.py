"""The data directory and the one process that may hold it.

Chroma's embedded store is thread-safe but not process-safe, so a process that writes
the data directory holds it (`data_dir_lock`); a second one is refused with a message
naming the holder, and `assistant ask`/`sources` reach a holding server over HTTP instead
(`announce_server`, `assistant.cli.remote`). Kept apart from the index so that the state
database (keys, feedback, rate limits) can check the directory without loading Chroma.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from assistant.config import Settings


class DataDirError(RuntimeError):
    """The data directory cannot be used; the message names the fix."""


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data directory, or say plainly why it cannot be used."""
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataDirError(
            f"Cannot create data directory {data_dir}: {error.strerror}. "
            "Choose another with --data-dir or ASSISTANT_DATA_DIR."
        ) from error
    # A real write, not os.access: root passes access checks on read-only mounts.
    try:
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as error:
        raise DataDirError(
            f"Data directory {data_dir} is read-only ({error.strerror}). "
            "Choose a writable one with --data-dir or ASSISTANT_DATA_DIR."
        ) from error
    return data_dir


class DataDirInUse(DataDirError):
    """Another process holds the data directory; `holder` says who (None when unknown)."""

    def __init__(self, message: str, holder: DataDirHolder | None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass
class DataDirHolder:
    """Who holds the data directory, as its holder file records it.

    A server also records where it listens (`announce_server`), so that `assistant ask`
    and `sources` can ask it over HTTP instead of being refused (see `assistant.cli.remote`).
    `cwd` is the server's working directory: its answers give document paths relative
    to it.
    """

    purpose: str
    pid: int
    host: str | None = None
    port: int | None = None
    cwd: str | None = None

    @property
    def url(self) -> str | None:
        """Where a process on this machine reaches the server; None before it listens."""
        if self.host is None or self.port is None:
            return None
        # A server bound to every interface is reached on loopback.
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def describe(self) -> str:
        where = f" at {self.url}" if self.url else ""
        return f"'assistant {self.purpose}'{where} (pid {self.pid})"

    def is_alive(self) -> bool:
        """Whether the recorded process still runs (a killed holder leaves its file behind)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, but another user's
            return True
        return True


def _holder_path(data_dir: Path) -> Path:
    return data_dir / "assistant.lock.holder"


def read_holder(data_dir: Path) -> DataDirHolder | None:
    """The holder that `data_dir`'s holder file names, or None (no file, or one written in
    another format, such as the plain sentence of earlier versions)."""
    try:
        data = json.loads(_holder_path(data_dir).read_text(encoding="utf-8"))
        return DataDirHolder(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_holder(data_dir: Path, holder: DataDirHolder) -> None:
    _holder_path(data_dir).write_text(json.dumps(vars(holder)), encoding="utf-8")


def announce_server(settings: Settings, host: str, port: int) -> None:
    """Record in the holder file that this process serves HTTP on `host:port`.

    Called by `assistant serve` once it is ready to listen, while it holds the directory.
    """
    if settings.chroma_url:
        return  # no lock is held: processes share a Chroma server
    holder = read_holder(settings.data_dir)
    if holder is None or holder.pid != os.getpid():
        return
    holder.host, holder.port, holder.cwd = host, port, os.getcwd()
    _write_holder(settings.data_dir, holder)


def _in_use_message(data_dir: Path, holder: DataDirHolder | None) -> str:
    who = holder.describe() if holder else "another process"
    if holder and holder.purpose == "serve":
        starting = "" if holder.url else " It is still starting: try again in a few seconds."
        return (
            f"The data directory {data_dir} is in use by the server {who}.{starting} "
            "`assistant ask` and `sources` go through the server; to ingest or delete, stop "
            "the server (Ctrl-C), run the command, then start it again."
        )
    return (
        f"The data directory {data_dir} is in use by {who}. "
        "Wait for it to finish (an ingest holds it until done), stop it, "
        "or point ASSISTANT_CHROMA_URL at a shared Chroma server."
    )


@contextmanager
def data_dir_lock(settings: Settings, purpose: str) -> Iterator[None]:
    """Hold the data directory for one process.

    Chroma's embedded store is thread-safe but not process-safe: two processes writing one
    directory can corrupt it. A second process is refused at once (`DataDirInUse`) with a
    message naming the holder; several processes must share a Chroma server
    (ASSISTANT_CHROMA_URL). The lock is the operating system's (flock): a killed holder
    releases it, and only its holder file stays behind, to be overwritten.
    """
    if settings.chroma_url:
        yield
        return
    from filelock import FileLock, Timeout

    data_dir = ensure_data_dir(settings)
    lock = FileLock(str(data_dir / "assistant.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = read_holder(data_dir)
        if holder is not None and not holder.is_alive():
            holder = None  # the file of a killed process; the live holder has not written yet
        raise DataDirInUse(_in_use_message(data_dir, holder), holder) from None
    try:
        _write_holder(data_dir, DataDirHolder(purpose=purpose, pid=os.getpid()))
        with _exit_on_sigterm():
            yield
    finally:
        _holder_path(data_dir).unlink(missing_ok=True)
        lock.release()


@contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while the data directory is held, so that `finally`
    blocks run and the holder file goes. Uvicorn shuts `serve` down gracefully on SIGTERM,
    then raises the signal again for the handler it found: the default one ended the
    process at once and left the holder file behind."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def exit_now(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_now)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
