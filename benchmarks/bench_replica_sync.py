"""How long a replica takes to answer from a document another process ingested (issue 9:
"searchable by every replica within 5 s plus its embedding time"), on a large index.

Takes a data directory built by `bench_scale.py` (an embedded Chroma, its records and a
saved lexical index), serves its Chroma with `chroma run`, and starts:
- a replica: `Assistant` with its own data directory (a copy of the saved lexical
  index), following changes every `--interval` seconds as `assistant serve` does;
- a writer in another process, as the CLI would be, that ingests one small document and
  later deletes it.
The replica polls its own dense and lexical search for the new document every 0.1 s and
records when each finds it (and, after the delete, when each stops finding it), measured
from the moment the writer's ingest began. The writer's model is loaded before the clock
starts; its embedding time is reported beside the total.

    python benchmarks/bench_replica_sync.py --data-dir WORK/data3 --work-dir WORK/replica

The data directory's Chroma must not be open in another process while this runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale import NEW_DOCUMENT, NEW_QUESTION, time_embedding  # noqa: E402  (a document no synthetic chunk resembles)

MARKER = "Tanjung Quokka Metals"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(data_dir: Path, own_dir: Path, chroma_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "ASSISTANT_DATA_DIR": str(own_dir),
        "ASSISTANT_CHROMA_URL": chroma_url,
        "ASSISTANT_RECORD_DB_URL": f"sqlite:///{data_dir / 'records.sqlite'}",
    }


def start_chroma(data_dir: Path, port: int) -> subprocess.Popen:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    process = subprocess.Popen(
        [chroma, "run", "--path", str(data_dir / "chroma"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("chroma run did not start")


def writer() -> None:
    """The writer process: load, say READY, then ingest or delete on each command."""
    from assistant.index import CorpusIndex
    from assistant.service import Assistant

    assistant = Assistant()
    corpus: CorpusIndex = assistant.corpus
    corpus.embeddings.embed_query("warm the model up")
    embedded = time_embedding(corpus.embeddings)  # seconds, reset for each command
    announced = [0.0]  # when the change marker was bumped (replicas can see the change)
    bump = corpus.changes.bump

    def timed_bump(removed: list[str] | None = None) -> str:
        announced[0] = time.time()
        return bump(removed)

    corpus.changes.bump = timed_bump  # type: ignore[method-assign]
    print("READY", flush=True)
    for line in sys.stdin:
        command, path = line.split(maxsplit=1)
        embedded[0] = 0.0
        began = time.time()
        if command == "ingest":
            assistant.ingest([Path(path.strip())])
        else:
            assistant.delete(path.strip())
        took = time.time() - began
        done = {"took_s": took, "announced_s": announced[0] - began, "embedding_s": embedded[0]}
        print("DONE " + json.dumps(done), flush=True)


def until_each(checks: dict[str, Any], wanted: bool, began: float, timeout: float = 120.0) -> dict[str, Any]:
    """Seconds from `began` until each check returns `wanted` (polled together every
    0.1 s), or None for a check that never did within `timeout`."""
    found: dict[str, Any] = {name: None for name in checks}
    while time.time() - began < timeout and any(value is None for value in found.values()):
        for name, check in checks.items():
            if found[name] is None and check() == wanted:
                found[name] = round(time.time() - began, 2)
        time.sleep(0.1)
    return found


def measure(data_dir: Path, work_dir: Path, interval: float) -> dict[str, Any]:
    from assistant.config import Settings
    from assistant.service import Assistant

    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    chroma_url = f"http://127.0.0.1:{port}"
    own = {name: work_dir / name for name in ("replica", "writer")}
    for directory in own.values():
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(data_dir / "lexical", directory / "lexical")
    # Written to disk now: else the first commit to a copied chunks.sqlite flushes the whole
    # copy (1.4 s at 300k), which a replica's own data directory never has to.
    os.sync()
    document = (work_dir / "quokkalite.md").resolve()
    document.write_text(NEW_DOCUMENT, encoding="utf-8")
    chroma = start_chroma(data_dir, port)
    try:
        env = environment(data_dir, own["replica"], chroma_url)
        settings = Settings(
            data_dir=own["replica"],
            chroma_url=env["ASSISTANT_CHROMA_URL"],
            record_db_url=env["ASSISTANT_RECORD_DB_URL"],
        )
        replica = Assistant(settings)
        started = time.perf_counter()
        replica.warm_up()
        replica.sync_with_store()  # what a server's first look does
        startup_s = round(time.perf_counter() - started, 1)
        follower = replica.follow_changes(interval)
        retriever = replica.retriever

        def holds(passages: list) -> bool:  # type: ignore[type-arg]
            return any(MARKER in passage.text for passage in passages)

        checks = {  # each search's own candidates (fetch_k), before fusion
            "replica_dense_s": lambda: holds(retriever._dense(NEW_QUESTION, None)),
            "replica_lexical_s": lambda: holds(retriever._lexical(NEW_QUESTION, None)),
        }

        process = subprocess.Popen(
            [sys.executable, __file__, "--writer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=environment(data_dir, own["writer"], chroma_url),
        )
        assert process.stdin is not None and process.stdout is not None
        while process.stdout.readline().strip() != "READY":
            pass
        rows: dict[str, Any] = {"replica_startup_s": startup_s, "interval_s": interval}
        steps = (("ingest", f"ingest {document}", True), ("delete", f"delete {document}", False))
        for step, command, wanted in steps:
            began = time.time()
            process.stdin.write(command + "\n")
            process.stdin.flush()
            seen = until_each(checks, wanted, began)
            line = process.stdout.readline()
            done = json.loads(line.removeprefix("DONE "))
            rows[step] = {
                "writer_s": round(done["took_s"], 2),
                "writer_announced_s": round(done["announced_s"], 2),
                "embedding_s": round(done["embedding_s"], 2),
                **seen,
            }
            print(step, rows[step], flush=True)
        process.stdin.close()
        process.wait(timeout=60)
        follower.stop()
        rows["chunks"] = replica.corpus.count()
        return rows
    finally:
        chroma.terminate()
        chroma.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a data directory built by bench_scale.py")
    parser.add_argument("--work-dir", type=Path, help="where the replica's and writer's directories go")
    parser.add_argument("--interval", type=float, default=2.0, help="the replica's sync interval (s)")
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer()
        return
    result = measure(args.data_dir, args.work_dir, args.interval)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
