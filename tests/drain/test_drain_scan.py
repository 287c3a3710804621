"""The drain's view of the history: which orders are still open after the load."""
from __future__ import annotations

import json
from pathlib import Path

from harness.drain import scan_history


def _ev(t, proc, op, typ, oid, **kw):
    e = {"t": t, "ts": 1000 + t, "proc": proc, "op": op, "type": typ, "order_id": oid, "invoice_no": None,
         "result": None, "status": None, "latency_ms": None, "error": None}
    if op == "issue" and typ == "invoke":
        e["order"] = {"seller_tax_id": "911101017967003199"}
    e.update(kw)
    return e


def test_open_and_settled_orders(tmp_path: Path):
    h = [
        _ev(0.1, "w0.1", "issue", "invoke", "A"), _ev(0.2, "w0.1", "issue", "ok", "A", result="issued", invoice_no="1" * 20),
        _ev(0.1, "w0.2", "issue", "invoke", "B"), _ev(0.2, "w0.2", "issue", "ok", "B", result="pending"),
        _ev(0.1, "w0.3", "issue", "invoke", "C"), _ev(0.2, "w0.3", "issue", "fail", "C", status=422, result="failed"),
        # a retry refused as a request (409) after an acceptance is not the order's word
        _ev(0.1, "w0.4", "issue", "invoke", "D"), _ev(0.2, "w0.4", "issue", "ok", "D", result="pending"),
        _ev(0.3, "w0.4.2", "issue", "invoke", "D"), _ev(0.4, "w0.4.2", "issue", "fail", "D", status=409),
        # never reached the merchant, which does not know it: settled
        _ev(0.1, "w0.5", "issue", "invoke", "E"), _ev(0.2, "w0.5", "issue", "fail", "E", error="ConnectError"),
        _ev(5.0, "final", "query", "invoke", "E"), _ev(5.1, "final", "query", "ok", "E", result="not_found", status=404),
        # accepted, then forgotten: still open (the checker calls it lost)
        _ev(0.1, "w0.6", "issue", "invoke", "F"), _ev(0.2, "w0.6", "issue", "ok", "F", result="pending"),
        _ev(5.0, "drain", "query", "invoke", "F"), _ev(5.1, "drain", "query", "ok", "F", result="not_found", status=404),
    ]
    (tmp_path / "w0.jsonl").write_text("".join(json.dumps(e) + "\n" for e in h))
    orders = scan_history([tmp_path / "w0.jsonl"])
    assert {o for o, s in orders.items() if not s.settled()} == {"B", "D", "F"}
    assert orders["A"].invoice_no == "1" * 20 and orders["A"].seller_tax_id == "911101017967003199"
    assert orders["D"].last_result == "pending" and orders["D"].accepted


def test_refunds_answered_pending_stay_open_until_a_definite_answer(tmp_path: Path):
    no = "1" * 20
    h = []
    for oid in "GHI":
        h += [_ev(0.1, "w1", "issue", "invoke", oid),
              _ev(0.2, "w1", "issue", "ok", oid, result="issued", invoice_no=no)]
    h += [_ev(1.0, "w2", "refund", "invoke", "G"), _ev(1.1, "w2", "refund", "ok", "G", result="pending", status=202),
          _ev(1.0, "w3", "refund", "invoke", "H"), _ev(1.1, "w3", "refund", "ok", "H", result="pending", status=202),
          _ev(2.0, "w3", "refund", "invoke", "H"), _ev(2.1, "w3", "refund", "ok", "H", result="issued", status=201),
          _ev(1.0, "w4", "refund", "invoke", "I"), _ev(1.1, "w4", "refund", "ok", "I", result="pending", status=202),
          _ev(2.0, "w4", "refund", "invoke", "I"), _ev(2.1, "w4", "refund", "fail", "I", status=409)]
    (tmp_path / "w1.jsonl").write_text("".join(json.dumps(e) + "\n" for e in h))
    orders = scan_history([tmp_path / "w1.jsonl"])
    assert {o for o, s in orders.items() if s.refund_open} == {"G"}
