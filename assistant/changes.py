"""How replicas learn that the shared index changed, without restarting.

Several `assistant serve` processes can share one Chroma server (`ASSISTANT_CHROMA_URL`).
Dense search then sees every change at once, but each process keeps its own lexical
index and its own cached `/healthz` numbers. So every ingest, delete or rebuild, in any
process, writes a new random token to a one-row collection beside the chunks, and each
server reads that row every few seconds (`ASSISTANT_SYNC_INTERVAL_SECONDS`); when the
token differs from the one it last saw, it brings its lexical index into step with the
store (reading only the chunks it lacks) and forgets its cached numbers.

A token, not a counter: two processes that both read 7 and write 8 would leave a replica
that had already seen 8 behind the second change. Random tokens always differ.

The row also names the token it replaced and the chunks the change deleted (up to
`MAX_REMOVED_LISTED`), so a replica that saw the previous token forgets those chunks
without comparing every id with the store (2.4 s at 300k chunks). It is a hint: a
replica that missed a change, or finds its count still off, compares ids as before.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("assistant.changes")

_ROW_ID = "last-change"
MAX_REMOVED_LISTED = 10_000  # deleted chunk ids the row names (about 450 kB)


@dataclass(frozen=True)
class Change:
    """The last change: its token, the one before it, and the chunks it deleted (None
    when it did not list them)."""

    token: str = ""
    previous: str = ""
    removed: list[str] | None = None


class ChangeMarker:
    """The one-row collection `<collection>-changes` in the same Chroma as the chunks."""

    def __init__(self, client, collection_name: str) -> None:  # type: ignore[no-untyped-def]
        self._client = client
        self._name = f"{collection_name}-changes"
        self._collection = None

    def _rows(self):  # type: ignore[no-untyped-def]
        if self._collection is None:
            # No embedding function: the row carries a fixed one-number vector, so
            # nothing is ever embedded (Chroma's default function would fetch a model).
            self._collection = self._client.get_or_create_collection(self._name, embedding_function=None)
        return self._collection

    def bump(self, removed: list[str] | None = None) -> str:
        """Record that the chunks changed, deleting `removed` (None: not known); returns
        the new token."""
        token = uuid.uuid4().hex
        listed = removed is not None and len(removed) <= MAX_REMOVED_LISTED
        metadata: dict[str, str | float] = {
            "token": token,
            "at": time.time(),
            "previous": self.read(),
            # Always written, "" when not listed: Chroma's upsert keeps the keys a row had
            # and the new metadata lacks, so an omitted key would leave the last list.
            "removed": json.dumps(removed) if listed else "",
        }
        self._rows().upsert(ids=[_ROW_ID], embeddings=[[0.0]], metadatas=[metadata])
        return token

    def read(self) -> str:
        """The token of the last change, or "" before any."""
        return self.last().token

    def last(self) -> Change:
        """The last change, or an empty one before any."""
        rows = self._rows().get(ids=[_ROW_ID], include=["metadatas"])
        metadatas = rows.get("metadatas") or []
        if not metadatas:
            return Change()
        metadata = metadatas[0]
        removed = metadata.get("removed")
        return Change(
            token=str(metadata.get("token", "")),
            previous=str(metadata.get("previous", "")),
            removed=json.loads(str(removed)) if removed else None,
        )

    def forget(self) -> None:
        """Drop the cached collection handle (after the store was reset)."""
        self._collection = None


class Follower:
    """A daemon thread that calls `check` every `interval` seconds until stopped.

    `check` returns whether it found a change; errors (a Chroma server restarting) are
    logged once per run of failures and retried at the next tick, never raised.
    """

    def __init__(self, check: Callable[[], bool], interval: float) -> None:
        self._check = check
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assistant-follower", daemon=True)
        self.changes_seen = 0

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self._interval + 5)

    def _run(self) -> None:
        failing = False
        while not self._stopped.wait(self._interval):
            try:
                if self._check():
                    self.changes_seen += 1
                failing = False
            except Exception as error:  # noqa: BLE001 - a follower must outlive a hiccup
                if not failing:
                    log.warning("Could not check the index for changes (%s); retrying.", error)
                failing = True
