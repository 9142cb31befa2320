"""Per-client request limits over one minute: in memory, or in the shared database.

Without `database_url` one server process holds the counts (a sliding window in memory).
With it, the counts live in the database's `rate_limits` table, so a key allowed N
requests a minute gets N across all replicas, not N per replica.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy import text

from assistant.config import Settings
from assistant.database import transaction


class RateLimiter:
    """At most `limit` requests per `window` seconds per client id, counted in this process."""

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


# One statement counts the request only while the window is under the limit: a new row
# starts at 1, an existing one goes up by 1 unless it is full, and RETURNING yields a row only
# when the request was counted. The database serialises concurrent upserts on the same key,
# so replicas cannot both take the last place. (PostgreSQL and SQLite >= 3.35 both speak it.)
_COUNT = text(
    """
    INSERT INTO rate_limits (client, window_start, hits) VALUES (:client, :window_start, 1)
    ON CONFLICT (client, window_start) DO UPDATE SET hits = rate_limits.hits + 1
    WHERE rate_limits.hits < :limit
    RETURNING hits
    """
)

_SWEEP = text("DELETE FROM rate_limits WHERE window_start < :start")


class DatabaseRateLimiter:
    """At most `limit` requests per fixed one-minute window per client id, counted in the
    database that every replica shares.

    A fixed window (whole minutes of the Unix clock) needs one row per client and minute and
    one atomic statement per request; the price is that a client can spend its limit at the
    end of one minute and again at the start of the next. Replicas read their own clocks, so
    their clocks should agree (NTP), as they do for anything else time-stamped.
    """

    def __init__(self, settings: Settings, window: int = 60, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.window = window
        self.clock = clock  # Unix seconds; tests pass a fixed one so no test straddles a minute
        self._swept_window: int | None = None

    def check(self, client: str, limit: int) -> float:
        """Record a request; returns 0 when allowed, else seconds until the next window."""
        now = self.clock()
        window_start = int(now // self.window) * self.window
        if self._swept_window != window_start:
            # Once per process and window (in its own transaction, so it never holds up a
            # count): rows of older windows can never count again.
            with transaction(self.settings) as db:
                db.execute(
                    text("DELETE FROM rate_limits WHERE window_start < :start"), {"start": window_start}
                )
            self._swept_window = window_start
        with transaction(self.settings) as db:
            counted = db.execute(
                _COUNT, {"client": client, "window_start": window_start, "limit": limit}
            ).first()
        if counted is not None:
            return 0.0
        return max(window_start + self.window - now, 0.001)

    retry_after_header = staticmethod(RateLimiter.retry_after_header)


def make_rate_limiter(settings: Settings) -> RateLimiter | DatabaseRateLimiter:
    """The shared limiter when a database URL is set, else the in-process one."""
    return DatabaseRateLimiter(settings) if settings.database_url else RateLimiter()
