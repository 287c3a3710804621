"""HistoryWriter: appends design.md s.7 events to one per-process JSONL file.

Each line is written and flushed at once, so a Ctrl-C or a killed Locust process
loses at most the line being written. Every process writes its own file
(`history/<proc>.jsonl`); the orchestrator merges them by `t`. The same writer
serves the orchestrator's `drain` and `final` reads (proc_prefix "drain"/"final").

A proc id (`w0.17` = worker 0, journey 17) does one operation at a time: an
`invoke` and then its completion, before its next invoke.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["HistoryWriter"]


class HistoryWriter:
    """Writes events for procs `<proc_prefix>` and `<proc_prefix>.<journey>`."""

    def __init__(self, path: Path | str, proc_prefix: str, t0: float):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.proc_prefix = proc_prefix
        self.t0 = t0
        self._lock = threading.Lock()
        self._f = open(self.path, "a", encoding="utf-8")
        self.lines = 0

    def proc(self, journey: str | int | None = None) -> str:
        return self.proc_prefix if journey is None else f"{self.proc_prefix}.{journey}"

    def _write(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()
            self.lines += 1

    def invoke(self, op: str, order_id: str, *, journey: str | int | None = None,
               invoice_no: str | None = None, order: dict[str, Any] | None = None,
               ts: float | None = None) -> float:
        """Record an invoke; returns its `ts` (epoch seconds) for the latency."""
        ts = time.time() if ts is None else ts
        event: dict[str, Any] = {
            "t": round(ts - self.t0, 6), "ts": round(ts, 6), "proc": self.proc(journey),
            "op": op, "type": "invoke", "order_id": order_id, "invoice_no": invoice_no,
            "result": None, "status": None, "latency_ms": None, "error": None}
        if order is not None:
            event["order"] = order
        self._write(event)
        return ts

    def complete(self, op: str, type: str, order_id: str, *, journey: str | int | None = None,
                 invoice_no: str | None = None, result: str | None = None,
                 status: int | None = None, latency_ms: float | None = None,
                 error: str | None = None, ts: float | None = None) -> None:
        """Record the completion (`ok`/`fail`/`info`) of this proc's open invoke."""
        if type not in ("ok", "fail", "info"):
            raise ValueError(f"completion type must be ok, fail or info, not {type!r}")
        ts = time.time() if ts is None else ts
        self._write({
            "t": round(ts - self.t0, 6), "ts": round(ts, 6), "proc": self.proc(journey),
            "op": op, "type": type, "order_id": order_id, "invoice_no": invoice_no,
            "result": result, "status": status,
            "latency_ms": None if latency_ms is None else round(latency_ms, 3), "error": error})

    def close(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._f.close()

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
