"""HistoryWriter: appends design.md s.7 events to one per-process JSONL file.

Each line goes to the file in one `write(2)` on an O_APPEND descriptor (no user-space
buffer), so a Ctrl-C or a killed Locust process loses at most the line being written; lines
are encoded with orjson (the same JSON, about a fifth of the CPU of `json.dumps`).

`hold_completions=True` (the load driver's writer) makes a completion wait for the next
write instead of taking a `write(2)` of its own: it goes out with the next invoke (one
write, in order) or at the driver's flush every 50 ms, at the end and on close. An invoke
is always written before its request is sent, so a killed process never leaves a request
the system may act on without its invoke (which the checker would call orphaned); what a
kill can lose is the completions of at most the last 50 ms, and their requests then read as
open (`info`, unknown outcome), exactly what a kill during the request gives today. The
write(2) to the file was most of the history's cost (docs/performance.md "Load path").
That writer takes no lock either: the driver is one thread of greenlets and nothing in
these methods yields, so no two of them ever interleave (the lock cost more than the
encoding). Times are rounded to the microsecond with a floor (`_to_us`), not `round`
(a fifth of the writer's CPU under the profiler).

Every process writes its own file
(`history/<proc>.jsonl`); the orchestrator merges them by `t`. The same writer
serves the orchestrator's `drain` and `final` reads (proc_prefix "drain"/"final").

A proc id (`w0.17` = worker 0, journey 17) does one operation at a time: an
`invoke` and then its completion, before its next invoke.
"""
from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

__all__ = ["HistoryWriter", "NullHistory"]

_dumps, _NEWLINE = orjson.dumps, orjson.OPT_APPEND_NEWLINE
_os_write, _time, _floor = os.write, time.time, math.floor
_COMPLETIONS = frozenset(("ok", "fail", "info"))
_US_PER_S, _US_PER_MS = 1e6, 1e3


def _to_us(x: float, us_per_unit: float) -> float:
    """`x` rounded to the microsecond (half up): every time on a history line."""
    return _floor(x * us_per_unit + 0.5) / us_per_unit


class HistoryWriter:
    """Writes events for procs `<proc_prefix>` and `<proc_prefix>.<journey>`."""

    #: completions held back for the next write (`hold_completions`); see the module doc.
    #: A subclass that does not call this __init__ (remote_worker.BatchHistory) holds none.
    _held: Any = ()
    hold_completions = False

    def __init__(self, path: Path | str, proc_prefix: str, t0: float,
                 hold_completions: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.proc_prefix = proc_prefix
        self.t0 = t0
        self._lock = threading.Lock()
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lines = 0
        self.hold_completions = hold_completions
        self._held = []

    def proc(self, journey: str | int | None = None) -> str:
        return self.proc_prefix if journey is None else f"{self.proc_prefix}.{journey}"

    def _write(self, event: dict[str, Any]) -> None:
        line = _dumps(event, option=_NEWLINE)
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path}: the history writer is closed")
            _os_write(self._fd, line)
            self.lines += 1

    def invoke(self, op: str, order_id: str, *, journey: str | int | None = None,
               invoice_no: str | None = None, order: dict[str, Any] | None = None,
               ts: float | None = None) -> float:
        """Record an invoke; returns its `ts` (epoch seconds) for the latency."""
        if ts is None:
            ts = _time()
        event: dict[str, Any] = {
            "t": _to_us(ts - self.t0, _US_PER_S), "ts": _to_us(ts, _US_PER_S),
            "proc": self.proc_prefix if journey is None else f"{self.proc_prefix}.{journey}",
            "op": op, "type": "invoke", "order_id": order_id, "invoice_no": invoice_no,
            "result": None, "status": None, "latency_ms": None, "error": None}
        if order is not None:
            event["order"] = order
        if not self.hold_completions:
            self._write(event)
            return ts
        # the driver's writer: no lock (module doc); held completions go first, one write
        if self._fd is None:
            raise ValueError(f"{self.path}: the history writer is closed")
        line = _dumps(event, option=_NEWLINE)
        held = self._held
        if held:
            held.append(line)
            self._held = []
            _os_write(self._fd, b"".join(held))
            self.lines += len(held)
        else:
            _os_write(self._fd, line)
            self.lines += 1
        return ts

    def flush(self) -> None:
        """Write the held completions now (the driver calls it every 50 ms and at the end)."""
        if self._held and self._fd is not None:
            held, self._held = self._held, []
            _os_write(self._fd, b"".join(held))
            self.lines += len(held)

    def complete(self, op: str, type: str, order_id: str, *, journey: str | int | None = None,
                 invoice_no: str | None = None, result: str | None = None,
                 status: int | None = None, latency_ms: float | None = None,
                 error: str | None = None, ts: float | None = None) -> None:
        """Record the completion (`ok`/`fail`/`info`) of this proc's open invoke."""
        if type not in _COMPLETIONS:
            raise ValueError(f"completion type must be ok, fail or info, not {type!r}")
        if ts is None:
            ts = _time()
        event = {
            "t": _to_us(ts - self.t0, _US_PER_S), "ts": _to_us(ts, _US_PER_S),
            "proc": self.proc_prefix if journey is None else f"{self.proc_prefix}.{journey}",
            "op": op, "type": type, "order_id": order_id, "invoice_no": invoice_no,
            "result": result, "status": status,
            "latency_ms": None if latency_ms is None else _to_us(latency_ms, _US_PER_MS),
            "error": error}
        if self.hold_completions:       # the driver's writer: no lock (module doc)
            if self._fd is None:
                raise ValueError(f"{self.path}: the history writer is closed")
            self._held.append(_dumps(event, option=_NEWLINE))
        else:
            self._write(event)

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullHistory(HistoryWriter):
    """Records nothing: only for measuring what the history costs (benchmarks/bench_load.py,
    `LoadConfig.record_history = False`). A run without history cannot be checked."""

    def __init__(self, proc_prefix: str, t0: float):
        self.path = Path(os.devnull)
        self.proc_prefix = proc_prefix
        self.t0 = t0
        self._lock = threading.Lock()
        self._fd = None
        self.lines = 0
        self._held = []

    def invoke(self, op: str, order_id: str, **kw: Any) -> float:   # type: ignore[override]
        ts = kw.get("ts")
        return time.time() if ts is None else ts

    def complete(self, op: str, type: str, order_id: str, **kw: Any) -> None:  # type: ignore[override]
        return None

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
