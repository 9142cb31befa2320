"""A throwaway PostgreSQL cluster for the tests that share state through it.

Debian's `postgresql` package provides initdb and pg_ctl (`.ci/run` installs it); the
cluster lives in a temporary directory for the session. Without PostgreSQL the tests
that ask for it are skipped, saying how to install it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port

CLUSTER_USER = "assistant"


def _postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian keeps them per version)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parent.parent.name)
    )
    return Path(found[-1]).parent if found else None


def _as_cluster_owner(command: list[str]) -> list[str]:
    """initdb refuses to run as root, so root runs the cluster as Debian's `postgres` user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Callable[[], str]]:
    """A PostgreSQL cluster for this session; yields a function that creates a fresh database
    and returns its SQLAlchemy URL."""
    psycopg = pytest.importorskip(
        "psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')"
    )
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        pytest.skip("running as root needs runuser to start PostgreSQL as the postgres user")
    if os.geteuid() == 0:
        try:
            import pwd

            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root needs the 'postgres' user (created by Debian's postgresql package)")
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    port = free_port()
    subprocess.run(
        _as_cluster_owner(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", CLUSTER_USER, "--auth=trust", "-E", "UTF8"]
            + ["--no-sync", "--no-instructions"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_cluster_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w"])
        + ["start"],
        check=True,
        capture_output=True,
    )

    def create_database() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1", port=port, user=CLUSTER_USER, dbname="postgres", autocommit=True
        ) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://{CLUSTER_USER}@127.0.0.1:{port}/{name}"

    try:
        yield create_database
    finally:
        subprocess.run(
            _as_cluster_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
