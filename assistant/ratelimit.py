"""Per-client request limits: a sliding one-minute window in memory.

One server process holds the counts; with several replicas behind a load balancer each
enforces its own share, which is the usual trade-off for a limiter without a shared store.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class RateLimiter:
    """At most `limit` requests per `window` seconds per client id."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str, limit: int) -> float:
        """Record a request; returns 0 when allowed, else seconds until one is allowed."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= limit:
                return max(hits[0] + self.window - now, 0.001)
            hits.append(now)
            return 0.0

    @staticmethod
    def retry_after_header(seconds: float) -> str:
        """Retry-After takes whole seconds."""
        return str(max(1, math.ceil(seconds)))
