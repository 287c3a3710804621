"""Each defect mode provoked directly: the platform's ledger and the merchant's answers
contradict each other in exactly the way the mode's anomaly class (design.md s.7) describes."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest

from fakes.merchant.modes import ANOMALY, MODES, behaviour_for

pytestmark = pytest.mark.integration

AFTER_COMMIT = {"error_rate": 1, "error_after_commit": 1}    # "未知异常": stored, answered 503
BEFORE_COMMIT = {"error_rate": 1, "error_after_commit": 0}   # refused by an outage: nothing stored


def test_every_mode_is_described_and_has_an_anomaly():
    assert set(MODES) == set(ANOMALY)
    assert "robust" in MODES and ANOMALY["robust"] is None
    for mode in MODES:
        behaviour_for(mode)
    with pytest.raises(ValueError, match="known: robust"):
        behaviour_for("robustt")


def test_naive_retry_duplicates(stack):
    stack.start_platform(dedup="request_id")
    stack.start_merchant("naive-retry", MERCHANT_SYNC_BUDGET_S="1.0")
    stack.faults(**AFTER_COMMIT)
    assert stack.post(stack.order("N1")).status_code == 202
    stack.heal()
    stack.wait_status("N1", "issued")
    blues = stack.blue_for("N1")
    assert len(blues) >= 2, blues                                      # duplicated
    assert len({b["request_id"] for b in blues}) == len(blues)         # one new serial per try


def test_fire_and_forget_loses(stack):
    stack.start_platform()
    stack.start_merchant("fire-and-forget")
    stack.faults(**BEFORE_COMMIT)
    r = stack.post(stack.order("F1"))
    assert r.status_code == 201 and r.json() == {"order_id": "F1", "status": "issued", "invoice_no": None}
    stack.heal()
    time.sleep(1.0)                                    # the settler had every chance: it drops it
    assert stack.get("F1").json()["status"] == "issued"
    assert stack.blue_for("F1") == []                                  # lost


def test_ack_before_commit_loses_on_kill(stack):
    stack.start_platform()
    merchant = stack.start_merchant("ack-before-commit", MERCHANT_LAZY_FLUSH_S="30")
    r = stack.post(stack.order("A1"))
    assert r.status_code == 201
    merchant.kill()
    merchant.start()
    assert stack.get("A1").status_code == 404                          # the merchant forgot it
    assert [b["invoice_no"] for b in stack.blue_for("A1")] == [r.json()["invoice_no"]]


def test_ack_before_commit_keeps_orders_on_clean_stop(stack):
    """The defect needs a crash: a SIGTERM flushes, so a clean restart hides it."""
    stack.start_platform()
    merchant = stack.start_merchant("ack-before-commit", MERCHANT_LAZY_FLUSH_S="30")
    assert stack.post(stack.order("A2")).status_code == 201
    assert merchant.stop() == 0
    merchant.start()
    assert stack.get("A2").json()["status"] == "issued"


def test_offline_numbering_hands_out_numbers_the_platform_never_stored(stack):
    stack.start_platform()
    stack.start_merchant("offline-numbering")
    stack.faults(**AFTER_COMMIT)
    r = stack.post(stack.order("L1"))
    assert r.status_code == 201, r.text
    local_no = r.json()["invoice_no"]
    assert len(local_no) == 20 and local_no.isdigit()
    stack.heal()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not stack.blue_for("L1"):
        time.sleep(0.2)
    blues = stack.blue_for("L1")
    assert len(blues) == 1 and blues[0]["invoice_no"] != local_no       # lost: not the customer's number
    assert stack.get("L1").json()["invoice_no"] == local_no


def test_no_order_dedup_issues_twice(stack):
    stack.start_platform()
    stack.start_merchant("no-order-dedup")
    first = stack.post(stack.order("D1")).json()
    second = stack.post(stack.order("D1")).json()                      # the customer retries
    assert first["status"] == second["status"] == "issued"
    assert first["invoice_no"] != second["invoice_no"]
    assert len(stack.blue_for("D1")) == 2                              # duplicated


def test_robust_dedups_the_same_customer_retry(stack):
    stack.start_platform()
    stack.start_merchant("robust")
    first = stack.post(stack.order("D2")).json()
    assert stack.post(stack.order("D2")).json() == first
    assert len(stack.blue_for("D2")) == 1


def test_stale_status_cache_goes_backwards(stack):
    stack.start_platform()
    stack.start_merchant("stale-status-cache")
    r = stack.post(stack.order("S1"))
    assert r.status_code == 201 and r.json()["status"] == "issued"
    seen = [stack.get("S1").json()["status"] for _ in range(4)]
    assert "pending" in seen, seen                                     # stale read after 'issued'
    assert "issued" in seen, seen


async def _concurrent_posts(url: str, bodies: list[dict]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        return await asyncio.gather(*(c.post("/v1/invoices", json=b) for b in bodies))


@pytest.mark.parametrize("mode, expect_mismatch", [("shared-state-race", True), ("robust", False)])
def test_shared_state_race_mixes_orders(stack, mode, expect_mismatch):
    stack.start_platform()
    stack.start_merchant(mode)
    bodies = [stack.order(f"R{i}", lines=[{"name": "咖啡", "quantity": str(i + 1), "unit_price": "10.00",
                                           "tax_rate": "0.06"}]) for i in range(12)]
    answers = asyncio.run(_concurrent_posts(stack.merchant.url, bodies))
    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    wrong = []
    for i, b in enumerate(stack.blue_for(f"R{i}")[0] for i in range(12)):
        if Decimal(b["amount"]) != Decimal(10 * (i + 1)):
            wrong.append((b["order_ref"], b["amount"]))
    assert bool(wrong) is expect_mismatch, wrong                      # mismatched


def test_swallow_errors_reports_failed_for_an_issued_invoice(stack):
    stack.start_platform()
    stack.start_merchant("swallow-errors")
    stack.faults(**AFTER_COMMIT)
    r = stack.post(stack.order("W1"))
    assert r.status_code == 422 and r.json()["status"] == "failed"
    stack.heal()
    time.sleep(0.5)
    assert stack.get("W1").json()["status"] == "failed"
    assert len(stack.blue_for("W1")) == 1                              # phantom


def test_drop_refunds_answers_pending_and_never_reverses(stack):
    stack.start_platform()
    stack.start_merchant("drop-refunds")
    assert stack.post(stack.order("D1")).status_code == 201
    r = stack.refund("D1")
    assert r.status_code == 202 and r.json()["status"] == "pending"
    time.sleep(1.0)                                    # the settler had every chance
    assert [x for x in stack.ledger() if x["kind"] == "red"] == []     # unresolved refund
