"""A 4xx other than 422 `failed` (or a connection never made) refuses one *request*: that
attempt issued nothing, but it says nothing of the order's other attempts (design.md s.6).
A correct merchant answering a retried POST with 409 "in progress" must not be judged."""
from __future__ import annotations

from harness.checker import CheckOptions, check
from support.history import ev as event

SELLER = "911101017967003199"
ORDER = {"seller_tax_id": SELLER, "buyer": {"name": "张三"}, "kind": "normal",
         "lines": [{"name": "茶", "quantity": "1", "unit_price": "100.00", "tax_rate": "0.13"}]}
NO = "26117000000000000001"
INVOICE = {"invoice_no": NO, "kind": "blue", "request_id": "r1", "order_ref": "O1", "seller_tax_id": SELLER,
           "buyer_tax_id": None, "amount": "100.00", "tax": "13.00", "total": "113.00", "issued_at": 1000.15,
           "original_invoice_no": None}


def ev(t: float, proc: str, op: str, typ: str, **kw):
    """A line of order O1 (an issue invoke carries its ORDER), t = 0 at epoch 1000."""
    if op == "issue" and typ == "invoke":
        kw.setdefault("order", ORDER)
    return event(t, proc, op, typ, "O1", t0=1000, **kw)


def anomalies(history, ledger) -> dict[str, int]:
    counts = check(history, ledger, CheckOptions()).counts
    return {k: v for k, v in counts.items() if v and k not in ("requested",)}


def test_issued_then_a_retry_refused_409_is_fine():
    h = [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "ok", result="issued", status=201, invoice_no=NO),
         ev(0.3, "w0.1.2", "issue", "invoke"), ev(0.4, "w0.1.2", "issue", "fail", status=409, error="in progress")]
    assert anomalies(h, [INVOICE]) == {"acknowledged": 1}


def test_unknown_then_409_with_one_invoice_is_recovered_not_phantom():
    h = [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "info", error="ReadTimeout"),
         ev(0.3, "w0.1", "issue", "invoke"), ev(0.4, "w0.1", "issue", "fail", status=409)]
    assert anomalies(h, [INVOICE]) == {"recovered": 1}


def test_unknown_then_connection_refused_is_still_unknown():
    h = [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "info", error="ReadTimeout"),
         ev(0.3, "w0.1", "issue", "invoke"), ev(0.4, "w0.1", "issue", "fail", error="ConnectError")]
    assert anomalies(h, []) == {}                      # maybe never issued: nothing to contradict


def test_every_attempt_refused_as_a_request_means_nothing_may_exist():
    h = [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "fail", status=400),
         ev(0.3, "w0.1", "issue", "invoke"), ev(0.4, "w0.1", "issue", "fail", error="ConnectError")]
    assert anomalies(h, []) == {"failed": 1}
    assert anomalies(h, [INVOICE]) == {"failed": 1, "phantom": 1}


def test_a_422_failed_is_the_orders_own_refusal():
    h = [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "fail", status=422, result="failed")]
    assert anomalies(h, [INVOICE]) == {"failed": 1, "phantom": 1}


def test_accepted_then_a_query_says_failed_is_lost():
    h = [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "ok", result="pending", status=202),
         ev(1.0, "w0.1", "query", "invoke"), ev(1.1, "w0.1", "query", "ok", result="failed", status=200)]
    assert anomalies(h, []) == {"acknowledged": 1, "failed": 1, "lost": 1}


def test_the_streaming_reader_agrees(tmp_path):
    import json

    from harness.checker import check_files
    h = [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "ok", result="issued", status=201, invoice_no=NO),
         ev(0.3, "w0.1.2", "issue", "invoke"), ev(0.4, "w0.1.2", "issue", "fail", status=409)]
    (tmp_path / "h.jsonl").write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in h))
    (tmp_path / "l.jsonl").write_text(json.dumps(INVOICE, separators=(",", ":")) + "\n")
    counts = check_files(tmp_path / "h.jsonl", tmp_path / "l.jsonl", CheckOptions()).counts
    assert counts["lost"] == 0 and counts["failed"] == 0 and counts["acknowledged"] == 1


def _verify_miss_history(at: float):
    return [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "ok", result="issued", status=201, invoice_no=NO),
            ev(at, "w0.1", "verify", "invoke", invoice_no=NO),
            ev(at + 0.01, "w0.1", "verify", "ok", invoice_no=NO, result="not_found", status=404)]


def test_a_verify_miss_within_an_injected_replica_lag_is_not_stale():
    """The sync-delay incident is the platform's (injected) lag, not the merchant's stale read."""
    fault = {"kind": "replica_lag", "start_s": 0.0, "end_s": 20.0, "params": {"lag": 10.0}}
    h = _verify_miss_history(5.0)                      # 4.85 s after the invoice was stored
    assert check(h, [INVOICE], CheckOptions(allowed_lag_s=0.5)).counts["stale_reads"] == 1
    assert check(h, [INVOICE], CheckOptions(allowed_lag_s=0.5, faults=[fault], t0=1000.0)).counts["stale_reads"] == 0
    late = _verify_miss_history(25.0)                  # after the fault ended: stale again
    assert check(late, [INVOICE], CheckOptions(allowed_lag_s=0.5, faults=[fault], t0=1000.0)).counts["stale_reads"] == 1


def test_a_never_accepted_order_unknown_to_the_merchant_is_settled_for_consistency():
    h = [ev(0.1, "w0.1", "issue", "invoke"), ev(0.2, "w0.1", "issue", "fail", error="ConnectError"),
         ev(0.3, "w0.1", "issue", "invoke"), ev(0.4, "w0.1", "issue", "info", error="ReadTimeout"),
         ev(5.0, "final", "query", "invoke"), ev(5.1, "final", "query", "ok", result="not_found", status=404)]
    r = check(h, [], CheckOptions(load_end_t=1.0))
    assert {k: v for k, v in r.counts.items() if v} == {"requested": 1}
    assert r.time_to_consistency_s == 4.1
