"""KSeF's per-endpoint rate limits (limity/limity-api.md and `x-rate-limits` of open-api.json).

Counted per (context, IP) and per group of endpoints in sliding windows; the per-second,
per-minute and per-hour limits all apply together. A breach is 429 with `Retry-After`: the
seconds until the oldest request of the breached window leaves it. `time_scale` shrinks the
minute and the hour (a test runs faster than a day: with 60, a "minute" lasts one second
and an "hour" one minute) and `Retry-After` with them; `factor` multiplies every limit
(10 = the TEST environment; 0 turns limits off).
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Callable

__all__ = ["LIMITS", "RateLimiter", "group_of"]

# group -> (per second, per minute, per hour); None: no such window
LIMITS: dict[str, tuple[int | None, int | None, int | None]] = {
    "session_open_close": (10, 30, 120),
    "invoice_send": (10, 30, 180),
    "invoice_status": (30, 120, 1200),
    "session_misc": (10, 120, 1200),
    "invoice_download": (8, 16, 64),
    "auth": (60, None, None),
    "default": (10, 30, 120),
}
_WINDOWS = (1.0, 60.0, 3600.0)


def group_of(method: str, route: str) -> str:
    """The limit group of a served route (its path template under /v2)."""
    if route in ("/sessions/online", "/sessions/online/{ref}/close"):
        return "session_open_close"
    if route == "/sessions/online/{ref}/invoices":
        return "invoice_send"
    if route == "/sessions/{ref}/invoices/{inv}":
        return "invoice_status"
    if route.startswith("/sessions/"):
        return "session_misc"
    if route == "/invoices/ksef/{ksef}":
        return "invoice_download"
    if route.startswith("/auth/") or route.startswith("/security/"):
        return "auth"
    return "default"


class RateLimiter:
    def __init__(self, clock: Callable[[], float], factor: float = 1.0,
                 time_scale: float = 1.0) -> None:
        self.clock = clock
        self.factor = factor
        self.time_scale = time_scale
        self._hits: dict[tuple[str, str], list[float]] = {}

    def check(self, who: str, group: str) -> int | None:
        """Count a request of `who` to `group`; None when allowed, else Retry-After (s)."""
        if self.factor <= 0:
            return None
        now = self.clock()
        limits = LIMITS[group]
        spans = [w / (self.time_scale if w > 1.0 else 1.0) for w in _WINDOWS]
        longest = max(s for s, lim in zip(spans, limits) if lim is not None)
        hits = self._hits.setdefault((who, group), [])
        cut = bisect.bisect_right(hits, now - longest)
        if cut:
            del hits[:cut]
        wait = 0.0
        for span, lim in zip(spans, limits):
            if lim is None:
                continue
            allowed = max(1, int(lim * self.factor))
            i = bisect.bisect_right(hits, now - span)
            if len(hits) - i >= allowed:
                wait = max(wait, hits[len(hits) - allowed] + span - now)
        if wait > 0:
            return max(1, math.ceil(wait))
        hits.append(now)
        return None
