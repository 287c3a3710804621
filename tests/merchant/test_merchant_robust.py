"""The robust merchant against a real platform process: it never duplicates nor loses, under
each of the platform's three de-duplication behaviours."""
from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_issue_replay_query_refund(stack):
    stack.start_platform(dedup="request_id", replica_lag_ms=200)
    stack.start_merchant()
    r = stack.post(stack.order("A1"))
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "issued" and len(first["invoice_no"]) == 20
    again = stack.post(stack.order("A1"))                      # the customer retries
    assert again.status_code == 201 and again.json() == first
    got = stack.get("A1")
    assert got.status_code == 200 and got.json()["invoice_no"] == first["invoice_no"]
    assert stack.get("never-seen").status_code == 404

    ref = stack.refund("A1")
    assert ref.status_code == 201, ref.text
    red_no = ref.json()["red_invoice_no"]
    assert stack.refund("A1").json() == {"order_id": "A1", "red_invoice_no": red_no}  # idempotent
    assert stack.refund("never-seen").status_code == 404

    ledger = [i for i in stack.ledger() if i["order_ref"] == "A1"]
    assert sorted(i["kind"] for i in ledger) == ["blue", "red"]
    blue = next(i for i in ledger if i["kind"] == "blue")
    red = next(i for i in ledger if i["kind"] == "red")
    assert blue["invoice_no"] == first["invoice_no"] and blue["amount"] == "177.60" and blue["tax"] == "23.09"
    assert red["invoice_no"] == red_no and red["original_invoice_no"] == blue["invoice_no"]


def test_bad_requests_are_4xx_json(stack):
    stack.start_platform()
    stack.start_merchant()
    url = stack.merchant.url
    cases = [
        httpx.post(url + "/v1/invoices", content=b"{not json", timeout=5),
        httpx.post(url + "/v1/invoices", json=[1], timeout=5),
        stack.post(stack.order(lines=[{"name": "x", "quantity": 1.5, "unit_price": "1", "tax_rate": "0.13"}])),
        stack.post(stack.order(seller_tax_id="9144030071526726XG")),        # valid code, not ours
        stack.post(stack.order(kind="special")),                               # no buyer tax id
        httpx.delete(url + "/v1/invoices/A1", timeout=5),
    ]
    assert [c.status_code for c in cases] == [400, 400, 400, 422, 422, 405]
    for c in cases:
        assert set(c.json()) >= {"error", "message"}
    assert cases[3].json()["status"] == "failed"
    assert stack.ledger() == []


def test_platform_refusal_is_failed_and_nothing_exists(stack):
    stack.start_platform()
    stack.start_merchant()
    stack.faults(quota_per_seller="1.00")                   # a quota cut: the platform says 403
    r = stack.post(stack.order("Q1"))
    assert r.status_code == 422 and r.json()["status"] == "failed", r.text
    assert stack.get("Q1").json()["status"] == "failed"
    assert stack.refund("Q1").status_code == 409
    assert stack.blue_for("Q1") == []


@pytest.mark.parametrize("dedup", ["request_id", "invoice_number", "none"])
def test_errors_after_commit_never_duplicate(stack, dedup):
    """5xx after the platform committed: the outcome is unknown; the merchant must end with
    exactly the one invoice, and tell the customer its number."""
    stack.start_platform(dedup=dedup, replica_lag_ms=300)
    stack.start_merchant(dedup=dedup, PLATFORM_SETTLE_S="1.0", MERCHANT_SYNC_BUDGET_S="1.5")
    stack.faults(error_rate=1, error_after_commit=1)
    r = stack.post(stack.order("U1"))
    # invoice_number: the re-upload of the same number meets "already exists" (a 4xx, which the
    # fault does not touch) inside the customer's wait, so the answer can already be 201.
    want = (201, 202) if dedup == "invoice_number" else (202,)
    assert r.status_code in want, r.text
    assert len(stack.blue_for("U1")) == 1                    # committed despite the 503
    time.sleep(0.5)                                          # the settler keeps trying meanwhile
    stack.heal()
    final = stack.wait_status("U1", "issued", timeout=15)
    blues = stack.blue_for("U1")
    assert [b["invoice_no"] for b in blues] == [final["invoice_no"]]


def test_settles_after_platform_comes_back(stack):
    platform = stack.start_platform()
    stack.start_merchant()
    platform.kill()
    r = stack.post(stack.order("D1"))
    assert r.status_code == 202, r.text
    assert stack.get("D1").json()["status"] == "pending"
    platform.start()                                          # same port, same data directory
    final = stack.wait_status("D1", "issued", timeout=15)
    assert [b["invoice_no"] for b in stack.blue_for("D1")] == [final["invoice_no"]]


def test_throttling_is_waited_out(stack):
    stack.start_platform()
    stack.start_merchant()
    stack.faults(throttle_rate=1, retry_after_s=1)
    r = stack.post(stack.order("T1"))
    assert r.status_code == 202, r.text
    stack.heal()
    final = stack.wait_status("T1", "issued", timeout=10)
    assert [b["invoice_no"] for b in stack.blue_for("T1")] == [final["invoice_no"]]


def test_sigkill_loses_nothing_acknowledged(stack):
    stack.start_platform(dedup="request_id")
    merchant = stack.start_merchant(MERCHANT_SYNC_BUDGET_S="0.5")
    told: dict[str, dict] = {}
    for i in range(6):
        r = stack.post(stack.order(f"K{i}"))
        assert r.status_code == 201
        told[f"K{i}"] = r.json()
    stack.faults(error_rate=1, error_after_commit=0.5)       # the rest stay pending
    for i in range(6, 12):
        r = stack.post(stack.order(f"K{i}"))
        assert r.status_code == 202, r.text
        told[f"K{i}"] = r.json()
    merchant.kill()                                            # SIGKILL, no goodbye
    stack.heal()
    merchant.start()
    for oid, ans in told.items():
        got = stack.get(oid)
        assert got.status_code == 200, f"{oid} forgotten after SIGKILL"
        if ans["status"] == "issued":
            assert got.json()["invoice_no"] == ans["invoice_no"]
    for oid in told:
        final = stack.wait_status(oid, "issued", timeout=15)
        assert [b["invoice_no"] for b in stack.blue_for(oid)] == [final["invoice_no"]]


def test_sigterm_exits_cleanly(stack):
    stack.start_platform()
    merchant = stack.start_merchant()
    assert merchant.stop() == 0
