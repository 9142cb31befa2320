"""The change marker replicas poll: its token chain and the deleted chunks it names."""

from __future__ import annotations

from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from assistant import changes
from assistant.changes import Change, ChangeMarker


def marker(tmp_path: Path) -> ChangeMarker:
    client = chromadb.PersistentClient(
        path=str(tmp_path), settings=ChromaSettings(anonymized_telemetry=False)
    )
    return ChangeMarker(client, "chunks")


def test_each_change_names_the_one_before_and_the_chunks_it_deleted(tmp_path: Path) -> None:
    changes_ = marker(tmp_path)
    assert changes_.last() == Change() and changes_.read() == ""
    first = changes_.bump()
    assert changes_.last() == Change(token=first, previous="", removed=None)  # deletions not known
    second = changes_.bump(removed=["a-1", "a-2"])
    assert changes_.last() == Change(token=second, previous=first, removed=["a-1", "a-2"])
    third = changes_.bump(removed=[])
    assert changes_.last() == Change(token=third, previous=second, removed=[])
    fourth = changes_.bump()  # not known: the earlier lists are not left behind
    assert changes_.last() == Change(token=fourth, previous=third, removed=None)
    assert len({first, second, third, fourth}) == 4 and changes_.read() == fourth


def test_too_many_deleted_chunks_are_not_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica then compares ids, as after a change it missed."""
    monkeypatch.setattr(changes, "MAX_REMOVED_LISTED", 2)
    changes_ = marker(tmp_path)
    changes_.bump(removed=["a"])
    changes_.bump(removed=["a", "b", "c"])
    assert changes_.last().removed is None
