"""Figures that are not anomalies: request statistics, acceptance delay, time to consistency."""
from __future__ import annotations

import math
from typing import Any, Sequence

from harness.checker.classify import own_numbers
from harness.checker.fold import Fold

__all__ = ["percentile", "request_stats", "acceptance_delay", "time_to_consistency"]


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (None when empty)."""
    n = len(sorted_values)
    if n == 0:
        return None
    k = max(0, math.ceil(p / 100.0 * n) - 1)
    return sorted_values[min(k, n - 1)]


def request_stats(fold: Fold, load_end_t: float | None) -> dict[str, Any]:
    """Load-proc completions only (`drain`/`final` are the harness's own reads)."""
    total = ok = fail = info = 0
    by_op = {}
    for op in sorted(fold.by_op):
        c = fold.by_op[op]
        by_op[op] = {"total": c[0], "ok": c[1], "fail": c[2], "info": c[3]}
        total += c[0]
        ok += c[1]
        fail += c[2]
        info += c[3]
    lat = sorted(fold.latencies)
    span = None
    if load_end_t is not None and fold.load_first_t is not None:
        span = load_end_t - fold.load_first_t
    return {
        "total": total,
        "rps": round(total / span, 3) if span and span > 0 else 0.0,
        "error_rate": round((fail + info) / total, 6) if total else 0.0,
        "latency_ms": {"p50": percentile(lat, 50), "p95": percentile(lat, 95),
                       "p99": percentile(lat, 99), "max": lat[-1] if lat else None},
        "by_op": by_op,
    }


def acceptance_delay(fold: Fold) -> dict[str, Any]:
    """Per accepted order with an invoice: platform issued_at minus the customer's first
    acceptance `ts`, clamped at 0 (the merchant may say `pending` long before it issues)."""
    delays = []
    for st in fold.orders.values():
        if st.first_accept_ts is None or not st.blues:
            continue
        own = own_numbers(st)
        blue = next((b for b in st.blues if b.invoice_no in own), st.blues[0])
        delays.append(round(max(0.0, blue.issued_at - st.first_accept_ts), 6))
    delays.sort()
    return {"p50": percentile(delays, 50), "p95": percentile(delays, 95),
            "max": delays[-1] if delays else None, "count": len(delays)}


def time_to_consistency(fold: Fold, load_end_t: float | None) -> float | None:
    """Seconds from the end of load until every requested order had its final status
    (issued/failed, with no later pending/not_found) and every invoice number the customer
    was finally given had been seen issued on the platform's read path (a verify).
    None if that never happened, 0 if it was already true when the load ended."""
    latest = float("-inf")
    for st in fold.orders.values():
        if st.invokes == 0:
            continue
        if st.last != "issued" and st.last != "failed":
            return None
        settled = min((d for d in st.defs or () if d >= st.nondef_max), default=None)
        if settled is None:
            return None
        latest = max(latest, settled)
        if st.last == "issued":
            for no in own_numbers(st):
                seen = fold.seen_on_read.get(no)
                if seen is None:
                    return None
                latest = max(latest, seen)
    if load_end_t is None or latest == float("-inf"):
        return 0.0
    return round(max(0.0, latest - load_end_t), 6)
