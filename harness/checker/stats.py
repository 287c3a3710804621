"""Figures that are not anomalies: request statistics, acceptance delay, time to consistency."""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

from harness.checker.classes import own_numbers
from harness.checker.fold import Fold

__all__ = ["percentile", "request_stats", "request_figures", "acceptance_delay",
           "acceptance_delays", "delay_figures", "time_to_consistency", "latest_settled",
           "consistency_figure"]


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending sequence (None when empty)."""
    n = len(sorted_values)
    if n == 0:
        return None
    k = max(0, math.ceil(p / 100.0 * n) - 1)
    return sorted_values[min(k, n - 1)]


def request_stats(fold: Fold, load_end_t: float | None) -> dict[str, Any]:
    """Load-proc completions only (`drain`/`final` are the harness's own reads)."""
    return request_figures(fold.by_op, sorted(fold.latencies), fold.load_first_t, load_end_t)


def request_figures(by_op_counts: dict[str, list[int]], lat: Sequence[float],
                    load_first_t: float | None, load_end_t: float | None) -> dict[str, Any]:
    """The `requests` figure from per-op [total, ok, fail, info] and the ascending
    latencies (the parallel checker merges partitions into these two first)."""
    total = ok = fail = info = 0
    by_op = {}
    for op in sorted(by_op_counts):
        c = by_op_counts[op]
        by_op[op] = {"total": c[0], "ok": c[1], "fail": c[2], "info": c[3]}
        total += c[0]
        ok += c[1]
        fail += c[2]
        info += c[3]
    span = None
    if load_end_t is not None and load_first_t is not None:
        span = load_end_t - load_first_t
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
    delays = acceptance_delays(fold)
    delays.sort()
    return delay_figures(delays)


def acceptance_delays(fold: Fold) -> list[float]:
    """The unsorted delays, in order iteration order."""
    delays = []
    for st in fold.orders.values():
        if st.first_accept_ts is None or not st.blues:
            continue
        blues = st.blues
        if len(blues) == 1:
            blue = blues[0]        # own or not, the first is chosen: skip own_numbers
        else:
            own = own_numbers(st)
            blue = next((b for b in blues if b.invoice_no in own), blues[0])
        delays.append(round(max(0.0, blue.issued_at - st.first_accept_ts), 6))
    return delays


def delay_figures(delays: Sequence[float]) -> dict[str, Any]:
    """`acceptance_delay_s` from the ascending delays."""
    return {"p50": percentile(delays, 50), "p95": percentile(delays, 95),
            "max": delays[-1] if delays else None, "count": len(delays)}


def time_to_consistency(fold: Fold, load_end_t: float | None) -> float | None:
    """Seconds from the end of load until every requested order had its final status
    (issued/failed, with no later pending/not_found) and every invoice number the customer
    was finally given had been seen issued on the platform's read path (a verify).
    None if that never happened, 0 if it was already true when the load ended."""
    return consistency_figure(latest_settled(fold), load_end_t)


def latest_settled(fold: Fold) -> float | None:
    """When the last requested order settled and was seen on the read path (-inf: no
    order; None: some order never did). Partitions merge by max, None winning."""
    latest = float("-inf")
    seen_on_read = fold.seen_on_read
    for st in fold.orders.values():
        if st.invokes == 0:
            continue
        last = st.last
        if last == "not_found" and st.first_accept_ts is None:
            latest = max(latest, st.last_t)      # never accepted, unknown to the merchant: settled
            continue
        if last != "issued" and last != "failed":
            return None
        nondef_max = st.nondef_max
        settled = min((d for d in st.defs or () if d >= nondef_max), default=None)
        if settled is None:
            return None
        latest = max(latest, settled)
        if last == "issued":
            nos: Iterable[str]
            if st.given_more is None:
                nos = () if st.given is None else (st.given,)
            else:
                nos = own_numbers(st)
            for no in nos:
                seen = seen_on_read.get(no)
                if seen is None:
                    return None
                latest = max(latest, seen)
    return latest


def consistency_figure(latest: float | None, load_end_t: float | None) -> float | None:
    """time_to_consistency_s from `latest_settled`."""
    if latest is None:
        return None
    if load_end_t is None or latest == float("-inf"):
        return 0.0
    return round(max(0.0, latest - load_end_t), 6)
