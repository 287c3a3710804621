"""The bundled merchant in the nuonuo profile (design.md s.13) against the real platform
process: the robust merchant issues through the signed envelope, polls until decided,
reads E9106 as "it exists", waits out throttling and a revoked token, says `failed` for an
order the platform acknowledged and then failed, reverses through a 红字确认单, and takes
results POSTed to its callback. The five nuonuo defect modes are judged by whole runs in
tests/integration/test_matrix.py."""
from __future__ import annotations

import time

import httpx
import pytest

pytestmark = pytest.mark.integration


def _nuonuo(stack, delay_ms: int = 300, **config):
    stack.start_platform(profile="nuonuo", processing_delay_ms=delay_ms, replica_lag_ms=200,
                         **config)


def _merchant(stack, mode: str = "robust", **env: str):
    stack.start_merchant(mode=mode, PLATFORM_PROFILE="nuonuo", MERCHANT_POLL_S="0.1", **env)


def test_issue_poll_replay_refund(stack):
    _nuonuo(stack)
    _merchant(stack)
    r = stack.post(stack.order("N1"))
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "issued" and len(first["invoice_no"]) == 20
    assert stack.post(stack.order("N1")).json() == first             # the customer retries
    blue = stack.blue_for("N1")
    assert [b["invoice_no"] for b in blue] == [first["invoice_no"]]
    assert blue[0]["amount"] == "177.60" and blue[0]["tax"] == "23.09"

    ref = stack.refund("N1")
    deadline = time.monotonic() + 10
    while ref.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
        ref = stack.refund("N1")
    assert ref.status_code == 201, ref.text
    red = [i for i in stack.ledger() if i["kind"] == "red"]
    assert [i["invoice_no"] for i in red] == [ref.json()["red_invoice_no"]]
    assert red[0]["original_invoice_no"] == first["invoice_no"] and red[0]["order_ref"] == "N1"


def test_slow_processing_is_pending_then_issued(stack):
    _nuonuo(stack, delay_ms=4000)
    _merchant(stack)
    r = stack.post(stack.order("S1"))
    assert r.status_code == 202 and r.json()["status"] == "pending", r.text
    got = stack.wait_status("S1", "issued", timeout=15)
    assert [b["invoice_no"] for b in stack.blue_for("S1")] == [got["invoice_no"]]


def test_errors_after_commit_never_duplicate(stack):
    """A 503 after the order was stored: the resubmission hears E9106, the merchant asks
    by orderNo and tells the customer the one invoice."""
    _nuonuo(stack)
    _merchant(stack)
    stack.faults(error_rate=1.0, error_after_commit=1.0)
    r = stack.post(stack.order("E1"))
    assert r.json()["status"] in ("issued", "pending"), r.text
    time.sleep(1.0)
    stack.heal()
    got = stack.wait_status("E1", "issued")
    assert [b["invoice_no"] for b in stack.blue_for("E1")] == [got["invoice_no"]]


def test_ack_without_commit_is_failed(stack):
    _nuonuo(stack)
    _merchant(stack)
    stack.faults(ack_without_commit=1.0)
    stack.post(stack.order("L1"))
    got = stack.wait_status("L1", "failed")
    assert got["status"] == "failed" and stack.blue_for("L1") == []


def test_throttling_and_a_revoked_token_are_waited_out(stack):
    _nuonuo(stack)
    _merchant(stack)
    assert stack.post(stack.order("T0")).status_code == 201        # holds a token now
    stack.faults(revoke_tokens=True, throttle_rate=1.0, retry_after_s=1)
    r = stack.post(stack.order("T1"))
    assert r.json()["status"] == "pending", r.text
    stack.heal()
    got = stack.wait_status("T1", "issued")
    assert [b["invoice_no"] for b in stack.blue_for("T1")] == [got["invoice_no"]]


def test_sigkill_loses_nothing_acknowledged(stack):
    _nuonuo(stack, delay_ms=1500)
    _merchant(stack)
    ids = [f"K{i}" for i in range(6)]
    for oid in ids:
        assert stack.post(stack.order(oid)).status_code in (201, 202)
    stack.merchant.kill()                                  # mid-polling
    stack.merchant.start()
    for oid in ids:
        got = stack.wait_status(oid, "issued")
        assert [b["invoice_no"] for b in stack.blue_for(oid)] == [got["invoice_no"]]


def test_wait_for_callback_decides_from_the_callback_only(stack):
    _nuonuo(stack, delay_ms=1500)
    _merchant(stack, mode="wait-for-callback")
    assert stack.post(stack.order("C1")).status_code == 202
    stack.wait_status("C1", "issued")                      # the platform's POST decided it
    assert stack.post(stack.order("C2")).status_code == 202
    stack.merchant.kill()                                  # down while the result is pushed
    time.sleep(2.5)
    stack.merchant.start()
    time.sleep(2.0)
    assert stack.get("C2").json()["status"] == "pending"   # and never asks
    assert len(stack.blue_for("C2")) == 1                  # though the invoice exists
    r = httpx.post(f"{stack.merchant.url}/callback", content=b"nonsense", timeout=5)
    assert r.status_code == 400
