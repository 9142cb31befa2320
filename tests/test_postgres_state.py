"""Shared state on a real PostgreSQL: keys, feedback, rate limits and indexing records that
several replicas see alike once `database_url` is set.

A throwaway cluster (Debian's `postgresql` package: initdb and pg_ctl) runs in a temporary
directory for the session; every test gets a fresh database in it. Without PostgreSQL the
tests are skipped, saying how to install it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.database import DatabaseConfigError, get_engine
from assistant.keys import create_key, find_key, list_keys, revoke_key
from assistant.ratelimit import DatabaseRateLimiter, RateLimiter, make_rate_limiter
from assistant.store import Feedback, add_feedback, list_feedback, set_feedback_comment
from tests.conftest import free_port

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")

ROOT = Path(__file__).resolve().parent.parent
NOON = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC, the start of a minute


@pytest.fixture
def database_url(postgres_server: Callable[[], str]) -> str:
    """A fresh, empty database of the session's cluster."""
    return postgres_server()


def replica(tmp_path: Path, name: str, database_url: str) -> Settings:
    """The settings of one replica: its own data directory, the shared database."""
    return Settings(data_dir=tmp_path / name, database_url=database_url)


def run_cli(args: list[str], data_dir: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    """`assistant ARGS` in its own process, as another replica (or an operator) would run it."""
    env = {**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "ASSISTANT_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_key_created_by_another_process_is_valid_here_and_its_revocation_too(
    tmp_path: Path, database_url: str
) -> None:
    created = run_cli(["keys", "create", "--name", "site-a", "--server"], tmp_path / "cli", database_url)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]

    here = replica(tmp_path, "api", database_url)
    found = find_key(here, key)
    assert found is not None and found.name == "site-a" and found.allow_server
    assert find_key(here, key + "x") is None
    assert not (tmp_path / "api" / "assistant.sqlite").exists()  # nothing went to SQLite

    assert revoke_key(replica(tmp_path, "other", database_url), "site-a")
    assert find_key(here, key) is None
    assert [k.name for k in list_keys(here, include_revoked=True)] == ["site-a"]


def test_a_key_name_is_unique_across_replicas(tmp_path: Path, database_url: str) -> None:
    create_key(replica(tmp_path, "one", database_url), "shop", ["https://shop.example"])
    with pytest.raises(ValueError, match="A key named 'shop' exists"):
        create_key(replica(tmp_path, "two", database_url), "shop", ["https://shop.example"])


def test_feedback_written_here_is_listed_by_another_process(tmp_path: Path, database_url: str) -> None:
    writer = replica(tmp_path, "writer", database_url)
    first = add_feedback(
        writer,
        Feedback(rating="up", question="Who mines bauxite?", answer="Pahang [1]", history=[], citations=[]),
    )
    second = add_feedback(
        writer,
        Feedback(
            rating="down",
            question="When did the export ban start?",
            answer="In 2024 [1].",
            history=[{"role": "user", "content": "Tell me about rare earths"}],
            citations=[{"n": 1, "title": "Malaysia – Critical Minerals"}],
            refused=True,
        ),
    )
    assert second > first
    assert set_feedback_comment(writer, second, "wrong year")
    assert not set_feedback_comment(writer, second + 100, "no such feedback")

    listed = run_cli(["feedback", "list", "--rating", "down"], tmp_path / "cli", database_url)
    assert listed.returncode == 0, listed.stderr
    assert f"#{second}" in listed.stdout and "When did the export ban start? — wrong year" in listed.stdout
    assert "bauxite" not in listed.stdout

    reader = list_feedback(replica(tmp_path, "reader", database_url))
    assert [row.id for row in reader] == [second, first]
    assert reader[0].history == [{"role": "user", "content": "Tell me about rare earths"}]
    assert reader[0].citations == [{"n": 1, "title": "Malaysia – Critical Minerals"}]
    assert reader[0].refused and not reader[1].refused


def test_times_are_stored_as_double_precision(database_url: str, tmp_path: Path) -> None:
    """PostgreSQL's REAL is 4 bytes: a Unix time in it would be off by up to a minute."""
    engine = get_engine(replica(tmp_path, "api", database_url))
    with engine.connect() as connection:
        types = dict(
            connection.exec_driver_sql(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                "WHERE column_name IN ('created_at', 'revoked_at')"
            ).all()
        )
        migrations = [row[0] for row in connection.exec_driver_sql("SELECT name FROM _migrations")]
    assert types == {
        "feedback.created_at": "double precision",
        "api_keys.created_at": "double precision",
        "api_keys.revoked_at": "double precision",
    }
    assert migrations == ["m001_feedback", "m002_api_keys", "m003_rate_limits"]


def test_the_rate_limit_is_shared_by_two_replicas(tmp_path: Path, database_url: str) -> None:
    clock = {"now": NOON + 10}
    replicas = [
        DatabaseRateLimiter(replica(tmp_path, name, database_url), clock=lambda: clock["now"])
        for name in ("a", "b")
    ]
    waits = [replicas[i % 2].check("key:site", 3) for i in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(50.0)  # refused until the next minute
    assert replicas[0].check("key:site", 3) == pytest.approx(50.0)
    assert replicas[1].check("key:other", 3) == 0.0  # clients are counted apart

    clock["now"] = NOON + 61  # the next minute: allowed again, 3 more in total
    assert [replicas[i % 2].check("key:site", 3) == 0.0 for i in range(4)] == [True, True, True, False]


def test_concurrent_requests_on_two_replicas_never_exceed_the_limit(
    tmp_path: Path, database_url: str
) -> None:
    limiters = [
        DatabaseRateLimiter(replica(tmp_path, name, database_url), clock=lambda: NOON + 1)
        for name in ("a", "b")
    ]
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter: DatabaseRateLimiter) -> None:
        for _ in range(15):
            result = limiter.check("key:busy", 10) == 0.0
            with lock:
                allowed.append(result)

    threads = [threading.Thread(target=hammer, args=(limiter,)) for limiter in limiters * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 60 and allowed.count(True) == 10


def test_the_database_url_chooses_the_shared_limiter(tmp_path: Path, database_url: str) -> None:
    assert isinstance(make_rate_limiter(replica(tmp_path, "a", database_url)), DatabaseRateLimiter)
    assert isinstance(make_rate_limiter(Settings(data_dir=tmp_path / "b")), RateLimiter)


def test_the_record_manager_follows_the_database_url(tmp_path: Path, database_url: str) -> None:
    from assistant.index import make_record_manager

    settings = replica(tmp_path, "indexer", database_url)
    assert settings.record_manager_url == database_url
    manager = make_record_manager(settings)  # creates its schema
    assert manager.engine.dialect.name == "postgresql"
    manager.update(["chunk-1", "chunk-2"], group_ids=["corpus/a.md", "corpus/a.md"])
    manager.update(["chunk-3"], group_ids=["corpus/b.md"])

    other = make_record_manager(replica(tmp_path, "api", database_url))
    assert sorted(other.list_keys(group_ids=["corpus/a.md"])) == ["chunk-1", "chunk-2"]
    assert other.exists(["chunk-3", "chunk-4"]) == [True, False]
    assert not (tmp_path / "indexer" / "records.sqlite").exists()


def test_an_unreachable_database_is_one_clear_error(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://someone:secret@127.0.0.1:{free_port()}/assistant"
    with pytest.raises(
        DatabaseConfigError, match="Cannot use the database at .*ASSISTANT_DATABASE_URL"
    ) as error:
        list_keys(replica(tmp_path, "api", url))
    assert "secret" not in str(error.value)

    result = run_cli(["keys", "list"], tmp_path / "cli", url)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Cannot use the database") and "Traceback" not in result.stderr


def test_an_unreachable_record_database_is_one_clear_error(tmp_path: Path) -> None:
    from assistant.index import make_record_manager

    url = f"postgresql+psycopg://someone:secret@127.0.0.1:{free_port()}/assistant"
    with pytest.raises(DatabaseConfigError, match="Cannot use the record database at .*ASSISTANT_") as error:
        make_record_manager(replica(tmp_path, "indexer", url))
    assert "secret" not in str(error.value) and "127.0.0.1" in str(error.value)

    result = run_cli(["ingest", str(tmp_path)], tmp_path / "cli", url)
    assert result.returncode == 1
    assert "Cannot use the record database" in result.stderr and "Traceback" not in result.stderr
