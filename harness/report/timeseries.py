"""Per-second throughput and per-window latency percentiles from `history.jsonl`.

The history of a long peak run has hundreds of thousands of lines, so it is
streamed once: counters per second, latencies kept only per 5 s window (needed
for exact percentiles). Invokes are not completions and are not counted.
Percentiles use the nearest-rank method, so a figure is always a latency that
was actually measured.
"""
from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.checker.history import is_harness_proc
from harness.checker.stats import percentile
from harness.rundir import SkippedLines, fault_end, fault_window, iter_history, iter_jsonl

__all__ = ["compute_timeseries", "timeseries_from_events", "percentile", "write_latency_csv",
           "WINDOW_S", "OUTCOMES"]

WINDOW_S = 5
OUTCOMES = ("ok", "fail", "info")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def timeseries_from_events(events: Iterable[dict[str, Any]], faults: list[dict[str, Any]],
                           skipped: SkippedLines | None = None) -> dict[str, Any]:
    """The timeseries dict of `compute_timeseries`, from any iterable of history events."""
    per_second: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    per_second_op: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    window_lat: dict[int, list[float]] = defaultdict(list)
    spans = [(fault_window(f), f) for f in faults]
    during = [{"ok": 0, "fail": 0, "info": 0, "lat": []} for _ in faults]
    skipped = skipped if skipped is not None else SkippedLines()
    invokes = completions = 0
    for ev in events:
        t = _number(ev.get("t"))
        kind = ev.get("type")
        if t is None or kind not in ("invoke", *OUTCOMES):
            skipped.add(f"event without a numeric 't' or a known 'type': {str(ev)[:80]}")
            continue
        if is_harness_proc(str(ev.get("proc") or "")):
            continue        # the harness's own drain and final read are not customer traffic
        if kind == "invoke":
            invokes += 1
            continue
        completions += 1
        sec = math.floor(t)
        per_second[sec][kind] += 1
        op = str(ev.get("op") or "?")
        by_op = per_second_op[sec].setdefault(op, dict.fromkeys(OUTCOMES, 0))
        by_op[kind] += 1
        latency = _number(ev.get("latency_ms"))
        if latency is not None:
            window_lat[math.floor(t / WINDOW_S) * WINDOW_S].append(latency)
        for (span, _), acc in zip(spans, during):
            if span is not None and span[0] <= t < span[1]:
                acc[kind] += 1
                if latency is not None:
                    acc["lat"].append(latency)

    seconds: list[dict[str, Any]] = []
    if per_second:
        for sec in range(min(per_second), max(per_second) + 1):   # dense: gaps are zeros
            counts = per_second.get(sec, dict.fromkeys(OUTCOMES, 0))
            seconds.append({"t": sec, **counts, "total": sum(counts.values()),
                            "by_op": per_second_op.get(sec, {})})
    windows = []
    for start in sorted(window_lat):
        values = sorted(window_lat[start])
        windows.append({"window_start_s": start, "p50": percentile(values, 50),
                        "p95": percentile(values, 95), "p99": percentile(values, 99),
                        "max": values[-1], "count": len(values)})
    ops = sorted({op for by in per_second_op.values() for op in by})
    fault_stats = []
    for (span, fault), acc in zip(spans, during):
        lat = sorted(acc["lat"])
        fault_stats.append({"id": fault.get("id"), "kind": fault.get("kind"),
                            "target": fault.get("target"),
                            "start_s": span[0] if span else None,
                            "end_s": fault_end(fault),
                            "ok": acc["ok"], "fail": acc["fail"], "info": acc["info"],
                            "p95_ms": percentile(lat, 95)})
    return {"window_s": WINDOW_S, "invokes": invokes, "completions": completions,
            "ops": ops, "seconds": seconds, "latency_windows": windows,
            "during_faults": fault_stats,
            "skipped_lines": skipped.count, "first_skipped": skipped.first}


def compute_timeseries(history_path: Path, faults: list[dict[str, Any]]) -> dict[str, Any]:
    """Stream a history file (or a run directory's history) into per-second figures.

    Returns `{window_s, invokes, completions, ops, seconds: [{t, ok, fail, info, total,
    by_op: {op: {ok, fail, info}}}], latency_windows: [{window_start_s, p50, p95, p99, max,
    count}], during_faults: [{id, kind, target, start_s, end_s, ok, fail, info, p95_ms}],
    skipped_lines, first_skipped}`. A missing history gives empty lists, not an error.
    """
    history_path = Path(history_path)
    skipped = SkippedLines()
    if history_path.is_dir():
        events: Iterable[dict[str, Any]] = iter_history(history_path, skipped)
    else:
        events = iter_jsonl(history_path, strict=False, skipped=skipped)
    return timeseries_from_events(events, faults or [], skipped)


def _csv_number(value: float | None) -> float | int | str:
    if value is None:
        return ""
    return int(value) if float(value).is_integer() else value


def write_latency_csv(path: Path, timeseries: dict[str, Any]) -> Path:
    """`window_start_s,p50,p95,p99,count`, one row per 5 s window that had completions."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["window_start_s", "p50", "p95", "p99", "count"])
        for w in timeseries.get("latency_windows", []):
            out.writerow([w["window_start_s"], *(_csv_number(w[k]) for k in ("p50", "p95", "p99")),
                          w["count"]])
    return Path(path)
