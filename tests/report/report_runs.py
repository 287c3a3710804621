"""Hand-built run directories for the report tests: literal files, no services.

A module with a unique name (not conftest) so tests can import its data.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.history import ev

T0 = 1_795_000_000.0
EVIL_ORDER = "O7-<script>alert(1)</script>"


def event(t: float, proc: str, op: str, type_: str, order_id: str, **kw: Any) -> dict[str, Any]:
    """A history line of these runs (support.history's, at this module's T0)."""
    return ev(t, proc, op, type_, order_id, t0=T0, **kw)


ORDER = {"seller_tax_id": "91110108MA01ABCDE1", "buyer": {"name": "北京某某科技有限公司"},
         "lines": [{"name": "咖啡", "quantity": "1", "unit_price": "30.00", "tax_rate": "0.06"}],
         "kind": "normal"}

HISTORY = [
    event(0.2, "w0.1", "issue", "invoke", "O7-1", order=ORDER),
    event(0.5, "w0.1", "issue", "ok", "O7-1", invoice_no="26110000000000000001",
          result="issued", status=201, latency_ms=300),
    event(1.1, "w0.2", "issue", "invoke", EVIL_ORDER, order=ORDER),
    event(3.4, "w0.2", "issue", "ok", EVIL_ORDER, result="pending", status=202,
          latency_ms=2300),
    event(3.5, "w0.3", "issue", "invoke", "O7-3"),
    event(5.6, "w0.3", "issue", "info", "O7-3", latency_ms=2000.5,
          error="ReadTimeout: 读取超时"),
    event(6.0, "w0.4", "query", "invoke", "O7-1"),
    event(6.05, "w0.4", "query", "fail", "O7-1", status=404, result="not_found", latency_ms=50),
    event(12.0, "w0.5", "query", "invoke", EVIL_ORDER),
    event(12.1, "w0.5", "query", "ok", EVIL_ORDER, result="issued",
          invoice_no="26110000000000000002", status=200, latency_ms=100),
]

FAULTS = [
    {"id": "f1", "kind": "latency", "family": "toxic", "target": "merchant->taxplatform",
     "params": {"latency": 1500, "jitter": 500}, "planned_start_s": 1.0, "start_s": 1.02,
     "end_s": 4.0, "ok": True, "error": None},
    {"id": "f2", "kind": "kill", "family": "process", "target": "taxplatform",
     "params": {"restart_after": "5s"}, "planned_start_s": 5.0, "start_s": 5.1,
     "end_s": None, "ok": True, "error": None},
    {"id": "f3", "kind": "errors", "family": "platform", "target": "taxplatform",
     "params": {"status": 503, "rate": 0.3}, "planned_start_s": 7.0, "start_s": 7.0,
     "end_s": 9.0, "ok": False, "error": "admin call refused"},
]

INVOICE_1 = {"invoice_no": "26110000000000000002", "kind": "blue", "request_id": "R-2",
             "order_ref": EVIL_ORDER, "seller_tax_id": "91110108MA01ABCDE1",
             "buyer_tax_id": None, "amount": "28.30", "tax": "1.70", "total": "30.00",
             "issued_at": T0 + 3.0, "original_invoice_no": None}


def summary(**over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "scenario": "smoke", "description": "双十一 零点 smoke test", "seed": 7, "verdict": "fail",
        "run_id": "smoke-20261123T101500Z", "started_at": "2026-11-23T10:15:00Z",
        "duration_s": 42.1, "merchant": {"mode": "robust", "sut_cmd": None},
        "invoices": {"requested": 3, "acknowledged": 2, "failed": 0, "indeterminate": 1,
                     "lost": 3, "duplicated": 0, "phantom": 0, "mismatched": 1, "orphaned": 0,
                     "unresolved": 0, "misreversed": 0, "recovered": 1, "stale_reads": 0},
        "time_to_consistency_s": 8.5,
        "acceptance_delay_s": {"p50": 0.1, "p95": 0.5, "max": 2.0, "count": 2},
        "requests": {"total": 4, "rps": 0.6667, "error_rate": 0.25,
                     "latency_ms": {"p50": 300, "p95": 2300, "p99": 2300, "max": 2300},
                     "by_op": {"issue": {"total": 3, "ok": 2, "fail": 0, "info": 1},
                               "query": {"total": 1, "ok": 0, "fail": 1, "info": 0}}},
        "load": {"arrivals": 3, "unsent": 0, "target_rps_mean": 0.5, "achieved_rps_mean": 0.5,
                 "workers": 1},
        "gates": [{"name": "lost", "limit": "== 0", "value": 3, "passed": False},
                  {"name": "duplicated", "limit": "== 0", "value": 0, "passed": True},
                  {"name": "mismatched", "limit": "== 0", "value": 1, "passed": False},
                  {"name": "p95_ms", "limit": "<= 2000", "value": 2300.0, "passed": True}],
        "faults": FAULTS,
        "anomalies": {
            "lost": [
                {"order_id": "O7-1", "class": "lost", "reason": "told issued 2611…0001; "
                 "platform holds no blue invoice", "events": HISTORY[0:2] + HISTORY[6:8],
                 "invoices": [], "faults": []},
                {"order_id": EVIL_ORDER, "class": "lost", "reason": "number differs <b>",
                 "events": [HISTORY[2], HISTORY[3], HISTORY[8], HISTORY[9]],
                 "invoices": [INVOICE_1], "faults": [FAULTS[0]]},
            ],
            "mismatched": [
                {"order_id": "O7-9", "class": "mismatched", "reason": "amount 30.00 != 31.00",
                 "events": [], "invoices": [INVOICE_1], "faults": []}],
        },
        "anomaly_totals": {"lost": 3, "mismatched": 1},
        "checker": {"valid": False, "errors": []},
        "interrupted": False, "notes": ["replica lag 500ms — 副本延迟"],
    }
    s.update(over)
    return s


def write_run(run_dir: Path, summ: dict[str, Any] | None = None, history=HISTORY,
              faults=FAULTS, load_stats: bool = True, run_json: bool = True) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    summ = summary() if summ is None else summ
    (run_dir / "summary.json").write_text(json.dumps(summ, ensure_ascii=False), "utf-8")
    if history is not None:
        (run_dir / "history.jsonl").write_text(
            "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in history), "utf-8")
    if faults is not None:
        (run_dir / "faults.jsonl").write_text(
            "".join(json.dumps(f) + "\n" for f in faults), "utf-8")
    if load_stats:
        (run_dir / "load-stats.json").write_text(json.dumps(
            {"target": [[t, 0.5] for t in range(10)],
             "achieved": [[t, 1 if t in (0, 1, 3) else 0] for t in range(10)],
             "unsent": 0, "arrivals": 3, "workers": 1}), "utf-8")
    if run_json:
        (run_dir / "run.json").write_text(json.dumps(
            {"run_id": summ.get("run_id"), "scenario": "smoke", "seed": 7, "t0": T0,
             "load_end_t": 10.0, "drain_end_t": 20.0, "interrupted": False,
             "status": "done", "merchant": {"mode": "robust"}, "backend": "local"}), "utf-8")
    return run_dir
