"""Compose the named sub-checks over a finished fold into a CheckResult.

As Jepsen's `compose` + `check-safe`: each sub-check runs on its own; one that raises
makes the verdict "unknown" with its error text instead of passing silently.
"""
from __future__ import annotations

from typing import Any, Callable

from harness.checker.classes import (Collector, check_orders, check_orphans,
                                      check_reversals, check_stale_reads, count_chances,
                                      link_reds)
from harness.checker.fold import Fold
from harness.checker.result import (ANOMALY_CLASSES, COUNT_KEYS, CheckOptions, CheckResult,
                                    Valid, merge_valid)
from harness.checker.stats import acceptance_delay, request_stats, time_to_consistency
from harness.fault_windows import active_faults

__all__ = ["compose", "list_anomalies"]

Resolver = Callable[[Any], dict[str, Any]]


def list_anomalies(kept: dict[str, list[tuple[Any, str, list[Any], list[Any]]]],
                   opts: CheckOptions, event_at: Resolver,
                   ledger_at: Resolver) -> dict[str, list[dict[str, Any]]]:
    """The evidence of the kept anomalies: their events and invoices read back by ref."""
    anomalies: dict[str, list[dict[str, Any]]] = {}
    for cls, stubs in kept.items():
        listed = []
        for order_id, reason, erefs, lrefs in stubs:
            events = [event_at(r) for r in erefs]
            listed.append({
                "order_id": order_id, "class": cls, "reason": reason, "events": events,
                "invoices": [ledger_at(r) for r in lrefs],
                "faults": active_faults(opts.faults, [e["t"] for e in events]),
            })
        anomalies[cls] = listed
    return anomalies


def compose(fold: Fold, opts: CheckOptions, event_at: Resolver, ledger_at: Resolver) -> CheckResult:
    col = Collector(opts.max_evidence)
    counts: dict[str, int] = {}
    errors: list[str] = []
    valids: list[Valid] = []
    load_end = opts.load_end_t if opts.load_end_t is not None else fold.load_last_t
    figures: dict[str, Any] = {"time_to_consistency_s": None, "acceptance_delay_s":
                               {"p50": None, "p95": None, "max": None, "count": 0},
                               "requests": {}, "chances": {}}

    def safe(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - check-safe: a crash is "unknown", never a pass
            errors.append(f"{name}: {type(e).__name__}: {e}")
            valids.append("unknown")
            return None

    safe("reds", lambda: link_reds(fold))
    if not errors:               # the order classes need every red linked to its blue
        safe("orders", lambda: check_orders(fold, col, counts))
        safe("orphans", lambda: check_orphans(fold, col))
        safe("reversals", lambda: check_reversals(fold, col))
    safe("stale_reads", lambda: check_stale_reads(fold, col, opts.allowed_lag_s, opts.lag_windows()))

    def figure(name: str, fn: Callable[[], Any]) -> None:
        try:
            figures[name] = fn()
        except Exception as e:  # noqa: BLE001
            errors.append(f"{name}: {type(e).__name__}: {e}")
            valids.append("unknown")

    figure("time_to_consistency_s", lambda: time_to_consistency(fold, load_end))
    figure("acceptance_delay_s", lambda: acceptance_delay(fold))
    figure("requests", lambda: request_stats(fold, load_end))
    figure("chances", lambda: count_chances(fold))

    for k in COUNT_KEYS:
        counts.setdefault(k, col.totals.get(k, 0))
    valids.append(False if any(counts[k] for k in ANOMALY_CLASSES) else True)

    anomalies = list_anomalies(col.kept, opts, event_at, ledger_at)
    return CheckResult(
        counts={k: counts[k] for k in COUNT_KEYS},
        anomalies=anomalies,
        totals=dict(col.totals),
        time_to_consistency_s=figures["time_to_consistency_s"],
        acceptance_delay_s=figures["acceptance_delay_s"],
        requests=figures["requests"],
        chances=figures["chances"],
        valid=merge_valid(valids),
        errors=errors,
    )
