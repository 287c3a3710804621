"""HistoryWriter: appends design.md s.7 events to one per-process JSONL file.

Lines are copied into a shared memory mapping of the file (`_MappedFile`): a copy into
the page cache instead of a `write(2)` per line, which was most of what the history cost
the load driver (docs/performance.md "Load path"). A line is in the kernel's page cache as
soon as it is copied, so a Ctrl-C or a killed process loses at most the line being copied,
and every event is written the moment it happens: an invoke before its request is sent (a
killed process never leaves a request the system may act on without its invoke, which the
checker would call orphaned), a completion as soon as its answer is in. Lines are encoded
with orjson (the same JSON, about a fifth of the CPU of `json.dumps`); times are rounded to
the microsecond with a floor (`_to_us`), not `round` (a fifth of the writer's CPU under the
profiler).

The mapping is extended a chunk at a time (`posix_fallocate` first, so a full disk is an
OSError at the write, never a SIGBUS), and `close()` cuts the file back to what was
written. A killed writer leaves the rest of its last chunk as NUL bytes: `seal_part()` cuts
them off (and a line cut short) (the load runner calls it, through `close_open_invokes`, for every part when the
load ends) and the run directory's readers take NULs for blank (`rundir.BLANK`).

Copying takes no lock: one `mmap.write` is one C call under the GIL, so lines from several
threads (the drain's lanes) never interleave; only extending the mapping does.

Every process writes its own file (`history/<proc>.jsonl`); the orchestrator merges them by
`t`. The same writer serves the orchestrator's `drain` and `final` reads (proc_prefix
"drain"/"final"). A proc id (`w0.17` = worker 0, journey 17) does one operation at a time:
an `invoke` and then its completion, before its next invoke.
"""
from __future__ import annotations

import math
import mmap
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

__all__ = ["HistoryWriter", "NullHistory", "seal_part"]

_dumps, _NEWLINE = orjson.dumps, orjson.OPT_APPEND_NEWLINE
_time, _floor = time.time, math.floor
_COMPLETIONS = frozenset(("ok", "fail", "info"))
_US_PER_S, _US_PER_MS = 1e6, 1e3
#: How much of the file is mapped (and allocated) at a time: about 16,000 lines.
CHUNK = 4 << 20
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)   # (Python 3.11 lacks it)


def _to_us(x: float, us_per_unit: float) -> float:
    """`x` rounded to the microsecond (half up): every time on a history line."""
    return _floor(x * us_per_unit + 0.5) / us_per_unit


def seal_part(path: Path | str) -> int:
    """Cut what follows the last complete line of a part: the NUL bytes a killed writer left
    (the rest of its chunk) and a line it was copying. Returns how many bytes were cut.

    Dropping that line is right: an invoke is copied before its request is sent, so a torn
    invoke's request never went out; a torn completion's request reads as open (`info`).
    Only the tail is read (the padding is at most a chunk), so sealing a large part is cheap."""
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        keep = 0
        start = size
        while start > 0:
            start = max(start - CHUNK, 0)
            fh.seek(start)
            tail = fh.read(min(CHUNK, size - start) + 1)
            nl = tail.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
        if keep < size:
            fh.truncate(keep)
    return size - keep


class _MappedFile:
    """Appends bytes to a file through a shared mapping of its current chunk (module doc)."""

    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(self.fd).st_size:
                seal_part(path)             # a killed writer's padding would end up mid-file
            size = os.fstat(self.fd).st_size
            # Continue after what is there (a part is never shared by two live writers).
            self.base = size - size % mmap.ALLOCATIONGRANULARITY
            self._map(size - self.base)
        except BaseException:
            os.close(self.fd)
            raise

    def _chunk(self, base: int) -> mmap.mmap:
        """The chunk of the file at `base`, allocated (ENOSPC here, never a SIGBUS later) and
        its pages made writable at once: one call for the chunk (~6 ms for 4 MiB) instead of
        a page fault every sixteen lines, each slower than the copy in a busy process."""
        os.posix_fallocate(self.fd, base, CHUNK)
        mm = mmap.mmap(self.fd, CHUNK, offset=base)
        try:
            mm.madvise(_MADV_POPULATE_WRITE)
        except OSError:                     # (before Linux 5.14: faulted in as written)
            pass
        return mm

    def _map(self, pos: int) -> None:
        self.mm = self._chunk(self.base)
        self.mm.seek(pos)
        self.write = self.mm.write          # the fast path: one C call (module doc)

    def extend(self, data: bytes) -> None:
        """`data` did not fit: fill this chunk, map the next ones, copy the rest there.
        The next chunk is allocated before anything is copied: a full disk loses the line
        whole, never leaves half of it."""
        mm = self.mm
        if mm.closed:
            raise ValueError("the history file is closed")
        while True:
            room = CHUNK - mm.tell()
            if len(data) <= room:           # (another thread may have extended it meanwhile)
                mm.write(data)
                return
            new = self._chunk(self.base + CHUNK)
            mm.write(data[:room])
            data = data[room:]
            mm.close()
            self.base += CHUNK
            self.mm = mm = new
            self.write = new.write

    def close(self) -> None:
        end = self.base + self.mm.tell()
        self.mm.close()
        os.ftruncate(self.fd, end)
        os.close(self.fd)


class HistoryWriter:
    """Writes events for procs `<proc_prefix>` and `<proc_prefix>.<journey>`."""

    def __init__(self, path: Path | str, proc_prefix: str, t0: float):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.proc_prefix = proc_prefix
        self.t0 = t0
        self._lock = threading.Lock()       # extending the mapping, closing
        self._file: _MappedFile | None = _MappedFile(self.path)
        self._copy = self._file.write
        self.lines = 0

    def proc(self, journey: str | int | None = None) -> str:
        return self.proc_prefix if journey is None else f"{self.proc_prefix}.{journey}"

    def _write(self, event: dict[str, Any]) -> None:
        line = _dumps(event, option=_NEWLINE)
        try:
            self._copy(line)
        except ValueError:                  # the chunk is full (or the writer closed)
            with self._lock:
                if self._file is None:
                    raise ValueError(f"{self.path}: the history writer is closed") from None
                self._file.extend(line)
                self._copy = self._file.write
        self.lines += 1

    def invoke(self, op: str, order_id: str, *, journey: str | int | None = None,
               invoice_no: str | None = None,
               order: dict[str, Any] | orjson.Fragment | None = None,
               ts: float | None = None) -> float:
        """Record an invoke; returns its `ts` (epoch seconds) for the latency. `order` may be
        JSON already encoded (an `orjson.Fragment`: the checkout's body shares it)."""
        if ts is None:
            ts = _time()
        event: dict[str, Any] = {
            "t": _to_us(ts - self.t0, _US_PER_S), "ts": _to_us(ts, _US_PER_S),
            "proc": self.proc_prefix if journey is None else f"{self.proc_prefix}.{journey}",
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
        if type not in _COMPLETIONS:
            raise ValueError(f"completion type must be ok, fail or info, not {type!r}")
        if ts is None:
            ts = _time()
        self._write({
            "t": _to_us(ts - self.t0, _US_PER_S), "ts": _to_us(ts, _US_PER_S),
            "proc": self.proc_prefix if journey is None else f"{self.proc_prefix}.{journey}",
            "op": op, "type": type, "order_id": order_id, "invoice_no": invoice_no,
            "result": result, "status": status,
            "latency_ms": None if latency_ms is None else _to_us(latency_ms, _US_PER_MS),
            "error": error})

    def close(self) -> None:
        """Cut the file back to what was written; later writes raise ValueError."""
        with self._lock:
            if self._file is not None:
                f, self._file = self._file, None
                f.close()

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
        self._file = None
        self.lines = 0

    def invoke(self, op: str, order_id: str, **kw: Any) -> float:   # type: ignore[override]
        ts = kw.get("ts")
        return time.time() if ts is None else ts

    def complete(self, op: str, type: str, order_id: str, **kw: Any) -> None:  # type: ignore[override]
        return None

    def close(self) -> None:
        pass
