"""HTTP benchmarks against a real `assistant serve` process on loopback.

Run: `.venv/bin/python benchmarks/bench_http.py [--seconds 30] [--clients 20]`.
Results go to benchmarks/results/http.json.

- time to first streamed token: POST /api/ask with `stream: true`, time until the first
  `event: token` arrives, golden questions asked one after another (warm server);
- load: N concurrent clients asking golden questions (non-streaming) for S seconds;
  errors, throughput and latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluation import load_golden, percentile  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: str, port: int, timeout: float = 120) -> subprocess.Popen:
    """Ingest the corpus into `data_dir` and start `assistant serve` on `port`, waiting up
    to `timeout` seconds for it to answer (a busy machine needs longer)."""
    env = {
        **os.environ,
        "ASSISTANT_DATA_DIR": data_dir,
        "ASSISTANT_RATE_LIMIT_PER_MINUTE": "100000",
    }
    subprocess.run(
        [BIN / "assistant", "ingest", str(ROOT / "corpus")],
        env=env,
        check=True,
        capture_output=True,
    )
    log = open(Path(data_dir) / "server.log", "w")  # noqa: SIM115 - lives as long as the server
    server = subprocess.Popen(
        [BIN / "assistant", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("server did not start")


def time_to_first_token(url: str, questions: list[str]) -> list[float]:
    timings = []
    with httpx.Client(timeout=60) as client:
        for question in questions:
            started = time.perf_counter()
            first: float | None = None
            with client.stream(
                "POST", f"{url}/api/ask", json={"question": question, "stream": True}
            ) as response:
                for line in response.iter_lines():  # read the whole answer, note the first token
                    if first is None and line == "event: token":
                        first = (time.perf_counter() - started) * 1000
            if first is not None:
                timings.append(first)
    return timings


def load(url: str, questions: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client_loop(offset: int) -> None:
        with httpx.Client(timeout=60) as client:
            index = offset
            while time.monotonic() < stop_at:
                question = questions[index % len(questions)]
                index += 1
                started = time.perf_counter()
                try:
                    response = client.post(f"{url}/api/ask", json={"question": question})
                    ok = response.status_code == 200 and "answer" in response.json()
                    problem = None if ok else f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    problem = repr(error)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if problem:
                        errors.append(problem)
                    else:
                        latencies.append(elapsed)

    threads = [threading.Thread(target=client_loop, args=(i * 7,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "error_examples": errors[:5],
        "throughput_rps": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95), 1) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    questions = [item.question for item in load_golden(ROOT / "evals" / "golden.jsonl")]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(data_dir, port)
        try:
            time_to_first_token(url, questions[:5])  # warm-up: sentence caches, connections
            ttft = time_to_first_token(url, questions)
            results = {
                "time_to_first_token": {
                    "p50_ms": round(statistics.median(ttft), 1),
                    "p95_ms": round(percentile(ttft, 0.95), 1),
                    "n": len(ttft),
                },
                "load": load(url, questions, args.clients, args.seconds),
            }
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "http.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
