"""Load benchmark: a real `assistant serve` on the corpus under 20, then 50, concurrent
clients for 30 s each.

Run: `.venv/bin/python benchmarks/bench_load.py [--seconds 30] [--clients 20 50]`.
Results go to benchmarks/results/load.json.

After one warm-up pass over the golden questions, each client asks them in turn, one
request after another, cycling through the three ways of asking: `POST /api/ask` (JSON),
the same as Server-Sent Events (read to the `done` event), and `POST /v1/chat/completions`.
Recorded per run: requests, errors (anything but a complete 200 answer; must be 0), 429s
counted apart (the server runs in open mode on loopback with a rate limit far above the
load, so there should be none), requests/s, p50/p95 latency overall and per route, and
the server's resident memory (VmRSS, and its peak VmHWM) before and after.

The machine's load average is recorded too: on a shared machine the figures say as
much about the other processes as about the server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_http import free_port, start_server  # noqa: E402

from assistant.evaluation import load_golden, percentile  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def ask_json(client: httpx.Client, url: str, question: str) -> int:
    """One `/api/ask`; the status, or 0 for a 200 without an answer."""
    response = client.post(f"{url}/api/ask", json={"question": question})
    return response.status_code if response.status_code != 200 or "answer" in response.json() else 0


def ask_stream(client: httpx.Client, url: str, question: str) -> int:
    """One streamed `/api/ask`, read to its `done` event; 0 when the stream ends without one."""
    with client.stream("POST", f"{url}/api/ask", json={"question": question, "stream": True}) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code
        done = any(line == "event: done" for line in response.iter_lines())
    return 200 if done else 0


def ask_v1(client: httpx.Client, url: str, question: str) -> int:
    """One `/v1/chat/completions`; 0 for a 200 without a message."""
    response = client.post(
        f"{url}/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]}
    )
    if response.status_code != 200:
        return response.status_code
    return 200 if response.json()["choices"][0]["message"]["content"] else 0


ROUTES: dict[str, Callable[[httpx.Client, str, str], int]] = {
    "api_ask": ask_json,
    "api_ask_stream": ask_stream,
    "v1_chat_completions": ask_v1,
}


@dataclass
class Tally:
    """What the clients saw, shared between their threads."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {route: [] for route in ROUTES})
    errors: list[str] = field(default_factory=list)
    rate_limited: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, route: str, status: int, elapsed_ms: float, problem: str | None) -> None:
        with self.lock:
            if status == 429:
                self.rate_limited += 1
            elif problem or status != 200:
                self.errors.append(problem or f"{route}: HTTP {status or '200 without an answer'}")
            else:
                self.latencies[route].append(elapsed_ms)


def client_loop(url: str, questions: list[str], offset: int, stop_at: float, tally: Tally) -> None:
    """One client: a kept-alive connection, one request after another until `stop_at`."""
    routes = list(ROUTES.items())
    with httpx.Client(timeout=120) as client:
        index = offset
        while time.monotonic() < stop_at:
            route, ask = routes[index % len(routes)]
            question = questions[index % len(questions)]
            index += 1
            started = time.perf_counter()
            problem = None
            try:
                status = ask(client, url, question)
            except (httpx.HTTPError, ValueError, KeyError) as error:  # ValueError: a body that is not JSON
                status, problem = -1, f"{route}: {error!r}"
            tally.record(route, status, (time.perf_counter() - started) * 1000, problem)


def memory_kb(pid: int) -> dict[str, int]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None}
    return {"p50_ms": round(statistics.median(values), 1), "p95_ms": round(percentile(values, 0.95), 1)}


def run_load(url: str, pid: int, questions: list[str], clients: int, seconds: float) -> dict:
    """`clients` concurrent clients for `seconds`; what they saw and the server's memory."""
    tally = Tally()
    load_before = os.getloadavg()[0]
    memory_before = memory_kb(pid)
    stop_at = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client_loop, args=(url, questions, i * 7, stop_at, tally))
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    memory_after = memory_kb(pid)
    answered = [ms for values in tally.latencies.values() for ms in values]
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(answered) + len(tally.errors) + tally.rate_limited,
        "errors": len(tally.errors),
        "error_examples": tally.errors[:5],
        "rate_limited_429": tally.rate_limited,
        "throughput_rps": round(len(answered) / seconds, 1),
        **summary(answered),
        "by_route": {
            route: {"requests": len(values), **summary(values)} for route, values in tally.latencies.items()
        },
        "server_rss_mb_before": round(memory_before["VmRSS"] / 1024, 1),
        "server_rss_mb_after": round(memory_after["VmRSS"] / 1024, 1),
        "server_peak_rss_mb": round(memory_after["VmHWM"] / 1024, 1),
        "load_average_1min_before": round(load_before, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def warm_up(url: str, questions: list[str]) -> None:
    """Ask every question once, one at a time: the first time a passage is retrieved its
    sentences are embedded and cached, which is not what a load test should measure (cold,
    20 clients took over a minute per request here)."""
    with httpx.Client(timeout=300) as client:
        for question in questions:
            ask_json(client, url, question)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, nargs="+", default=[20, 50])
    args = parser.parse_args()
    questions = [item.question for item in load_golden(ROOT / "evals" / "golden.jsonl")]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(data_dir, port, timeout=900)  # open mode on loopback, limit 100,000/min
        try:
            warm_up(url, questions)
            started_rss = round(memory_kb(server.pid)["VmRSS"] / 1024, 1)
            runs = [run_load(url, server.pid, questions, clients, args.seconds) for clients in args.clients]
        finally:
            server.kill()  # nothing to save: the data directory goes with it
            server.wait()
    results = {
        "cpu_cores": os.cpu_count(),
        "note": "shared machine: other engineers' tests ran at the same time (see load averages)",
        "server_rss_mb_after_warm_up": started_rss,
        "runs": runs,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
