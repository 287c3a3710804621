"""The platform's clock: epoch seconds from a callable, so tests can move time by hand.

Every time the platform stamps or compares (commit times, the replica's lag, the month of a
quota, uptime) comes from `Platform.clock` / `Store.clock`. The server uses `time.time`;
a test passes a `ManualClock` and calls `advance` instead of sleeping, so what it asserts
about the replica lag does not depend on how fast the machine happens to be.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["Clock", "SYSTEM_CLOCK", "ManualClock"]

#: epoch seconds now
Clock = Callable[[], float]
SYSTEM_CLOCK: Clock = time.time


class ManualClock:
    """A clock that stands still until `advance` moves it (thread-safe: the writer thread
    reads it too)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward; returns the new time."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        with self._lock:
            self._now += seconds
            return self._now
