"""Re-ingesting an unchanged corpus: the file-fingerprint skip (assistant/ingested.py)
against the ingest before it, which parsed and chunked every file before LangChain's
record manager found each chunk unchanged.

Run: `.venv/bin/python benchmarks/bench_reingest.py [--copies 49] [--repeat 3]`.
Results go to benchmarks/results/reingest.json.

The corpus is `corpus/` copied `--copies` times under other file names into a temporary
directory (49 copies of its 47 chunks: about 2.3k chunks; each copy is its own document,
with its own chunk ids). In one process and one data directory:
- the first ingest (everything embedded), timed once;
- then the unchanged re-ingest, `--repeat` times each way, alternating: "after" is today's
  `CorpusIndex.ingest`; "before" is `CorpusIndex.ingest` of `assistant/index.py` as it was
  at `--before-commit` (read with `git show`, run on the same stores).
Wall time and CPU time (this process, every thread) are medians. Each re-ingest must embed
nothing and find every chunk unchanged, or the script stops. The machine's load average is
recorded: on a shared machine it says as much as the figures do.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import Settings  # noqa: E402
from assistant.index import CorpusIndex, IngestReport  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BEFORE_COMMIT = "ee34e9d"  # the last commit before the skip


def old_index_module(commit: str) -> ModuleType:
    """assistant/index.py as it was at `commit`, importable beside today's."""
    source = subprocess.run(
        ["git", "show", f"{commit}:assistant/index.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    spec = importlib.util.spec_from_loader("assistant.index_before", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    exec(compile(source, f"{commit}:assistant/index.py", "exec"), module.__dict__)
    return module


def copy_corpus(target: Path, copies: int) -> None:
    for number in range(copies):
        for path in sorted((ROOT / "corpus").iterdir()):
            if path.is_file():
                shutil.copy(path, target / f"copy{number:03d}_{path.name}")


def timed_ingest(index: Any, corpus: Path) -> tuple[float, float, IngestReport]:
    wall, cpu = time.perf_counter(), time.process_time()
    report = index.ingest([corpus])
    return time.perf_counter() - wall, time.process_time() - cpu, report


def check_unchanged(report: Any, chunks: int, files: int) -> None:
    assert report.texts_embedded == 0 and report.chunks_added == 0, report
    assert report.chunks_skipped == chunks and len(report.files_unchanged) == files, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=49)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before-commit", default=BEFORE_COMMIT)
    parser.add_argument("--out", type=Path, default=RESULTS / "reingest.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        corpus.mkdir()
        copy_corpus(corpus, args.copies)
        files = len(list(corpus.iterdir()))
        settings = Settings(data_dir=Path(scratch) / "data")
        after = CorpusIndex(settings)
        before = old_index_module(args.before_commit).CorpusIndex(settings)

        first_wall, first_cpu, first = timed_ingest(after, corpus)
        chunks = first.chunks_added
        print(f"first ingest: {files} files, {chunks} chunks, {first_wall:.1f} s ({first_cpu:.1f} CPU-s)")

        runs: dict[str, dict[str, list[float]]] = {
            name: {"wall": [], "cpu": []} for name in ("before", "after")
        }
        for repeat in range(args.repeat):
            for name, index in (("after", after), ("before", before)):
                wall, cpu, report = timed_ingest(index, corpus)
                check_unchanged(report, chunks, files)
                runs[name]["wall"].append(wall)
                runs[name]["cpu"].append(cpu)
                print(f"unchanged re-ingest {repeat + 1}, {name}: {wall:.2f} s ({cpu:.2f} CPU-s)")

    median = {
        name: {
            "wall_s": round(statistics.median(times["wall"]), 2),
            "cpu_s": round(statistics.median(times["cpu"]), 2),
            "runs_wall_s": [round(t, 2) for t in times["wall"]],
        }
        for name, times in runs.items()
    }
    results = {
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "files": files,
        "chunks": chunks,
        "first_ingest": {"wall_s": round(first_wall, 1), "cpu_s": round(first_cpu, 1)},
        "unchanged_reingest": {
            "before": {**median["before"], "code": f"assistant/index.py at {args.before_commit}"},
            "after": median["after"],
            "before_over_after_wall": round(median["before"]["wall_s"] / median["after"]["wall_s"], 1),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
