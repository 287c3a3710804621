"""Platform fault kinds (harness/faults/platform.py) through the real admin API of a running
fake platform: each changes the platform's answers as docs/platform-api.md says, and its undo
puts `GET /_admin/faults` back to neutral. Client calls go through `client->taxplatform`
(no toxics), admin and ledger calls go direct."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from .kit import (admin_faults, applied, issue, issue_body, ledger, login, merchant_issue,
                      merchant_order, plan_one, read_invoice, wait_until)

pytestmark = pytest.mark.integration

NEUTRAL = {"error_rate": 0.0, "error_status": 503, "error_after_commit": 0.5, "throttle_rate": 0.0,
           "retry_after_s": 1.0, "slow_commit_ms": 0.0, "replica_lag_ms": None,
           "quota_per_seller": None, "ack_without_commit": 0.0,
           "upload_loss": 0.0, "upload_stall": False, "processing_delay_ms": None,
           "signing_failure": 0.0}


@pytest.fixture
def plat(healed) -> Iterator:
    """The module's stack with neutral platform faults before and after each test."""
    httpx.delete(f"{healed.stack.platform_direct}/_admin/faults", timeout=5)
    assert admin_faults(healed.stack.platform_direct) == NEUTRAL
    try:
        yield healed
    finally:
        httpx.delete(f"{healed.stack.platform_direct}/_admin/faults", timeout=5)


def _platform_fault(**raw) -> object:
    return plan_one({"target": "taxplatform", **raw})


def _ledger_refs(live) -> set[str]:
    return {x["request_id"] for x in ledger(live.stack.platform_direct)}


def test_errors_answer_the_configured_share_with_the_configured_5xx(plat):
    base, seller = plat.stack.platform_url, plat.sellers[0]
    token = login(base, seller)
    fault = _platform_fault(**{"for": "60s", "action": "errors", "rate": 0.5, "status": 502,
                               "after_commit": 0.0})
    bodies = [issue_body(seller) for _ in range(40)]
    with applied(plat.stack, fault) as info:
        assert info == {"admin": {"error_rate": 0.5, "error_status": 502, "error_after_commit": 0.0}}
        got = admin_faults(plat.stack.platform_direct)
        assert (got["error_rate"], got["error_status"], got["error_after_commit"]) == (0.5, 502, 0.0)
        answers = [issue(base, token, b) for b in bodies]
        ok_read = read_invoice(base, token, next(a.json()["invoice_no"] for a in answers
                                                 if a.status_code == 201))
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) == {201, 502}, statuses
    assert 8 <= statuses[502] <= 32, statuses             # about half of 40 (binomial, p=0.5)
    assert all(a.json()["error"] == "unknown_error" for a in answers if a.status_code == 502)
    stored = _ledger_refs(plat)
    # after_commit 0: every error came before the commit, every 201 was stored
    assert all((a.status_code == 201) == (b["request_id"] in stored) for a, b in zip(answers, bodies))
    assert ok_read.status_code in (200, 404)              # reads are not write calls: never a 5xx
    assert admin_faults(plat.stack.platform_direct) == NEUTRAL
    assert issue(base, token, issue_body(seller)).status_code == 201


def test_errors_after_commit_store_the_invoice_behind_a_5xx(plat):
    base, seller = plat.stack.platform_url, plat.sellers[0]
    token = login(base, seller)
    fault = _platform_fault(**{"for": "60s", "action": "errors", "rate": 1.0, "status": 500,
                               "after_commit": 1.0})
    bodies = [issue_body(seller) for _ in range(3)]
    with applied(plat.stack, fault):
        answers = [issue(base, token, b) for b in bodies]
    assert [a.status_code for a in answers] == [500] * 3
    stored = _ledger_refs(plat)
    assert all(b["request_id"] in stored for b in bodies)      # the outcome was unknown: it exists
    # a retry with the same request_id now replays the stored invoice
    again = issue(base, token, bodies[0])
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert admin_faults(plat.stack.platform_direct) == NEUTRAL


def test_throttle_answers_429_with_retry_after(plat):
    base, seller = plat.stack.platform_url, plat.sellers[0]
    token = login(base, seller)
    fault = _platform_fault(**{"for": "60s", "action": "throttle", "rate": 1.0, "retry_after": "3s"})
    body = issue_body(seller)
    with applied(plat.stack, fault):
        r = issue(base, token, body)
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert r.json()["error"] == "throttled"
        assert read_invoice(base, token, "26112000000000000001").status_code == 429   # reads too
        assert login(base, seller)                                                     # not login
    assert body["request_id"] not in _ledger_refs(plat)
    assert admin_faults(plat.stack.platform_direct) == NEUTRAL
    assert issue(base, token, body).status_code == 201


def test_slow_commit_makes_issuing_slower(plat):
    base, seller = plat.stack.platform_url, plat.sellers[0]
    token = login(base, seller)

    def seconds() -> float:
        t0 = time.monotonic()
        assert issue(base, token, issue_body(seller)).status_code == 201
        return time.monotonic() - t0

    before = seconds()
    fault = _platform_fault(**{"for": "60s", "action": "slow_commit", "delay": "800ms"})
    with applied(plat.stack, fault):
        assert admin_faults(plat.stack.platform_direct)["slow_commit_ms"] == 800
        during = seconds()
    after = seconds()
    assert during >= 0.78 and during - before >= 0.6, (before, during)
    assert after < 0.4, after
    assert admin_faults(plat.stack.platform_direct) == NEUTRAL


def test_replica_lag_hides_a_fresh_invoice_on_the_read_path(plat):
    base, seller = plat.stack.platform_url, plat.sellers[1]
    token = login(base, seller)
    fault = _platform_fault(**{"for": "60s", "action": "replica_lag", "lag": "1500ms"})
    with applied(plat.stack, fault):
        body = issue_body(seller)
        r = issue(base, token, body)
        issued = time.monotonic()
        assert r.status_code == 201
        number = r.json()["invoice_no"]
        first = read_invoice(base, token, number)
        assert first.status_code == 404 and first.json()["error"] == "not_found"
        search = httpx.get(f"{base}/v1/invoices", params={"order_ref": body["order_ref"]},
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert search.json() == {"items": []}
        assert body["request_id"] in _ledger_refs(plat)            # the primary has it
        assert wait_until(lambda: read_invoice(base, token, number).status_code == 200, 5)
        assert time.monotonic() - issued >= 1.3
    assert admin_faults(plat.stack.platform_direct) == NEUTRAL
    # back to the configured 200 ms
    r = issue(base, token, issue_body(seller))
    time.sleep(0.4)
    assert read_invoice(base, token, r.json()["invoice_no"]).status_code == 200


def test_quota_cut_refuses_issuing(plat):
    base, seller = plat.stack.platform_url, plat.sellers[0]
    token = login(base, seller)
    fault = _platform_fault(**{"for": "60s", "action": "quota", "limit": "5.00"})
    body = issue_body(seller, amount="10.00")
    with applied(plat.stack, fault):
        r = issue(base, token, body)
        assert r.status_code == 403 and r.json()["error"] == "quota_exceeded"
        q = httpx.get(f"{base}/v1/quota", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert q.json()["limit"] == "5.00"
        # the merchant passes the refusal on as a definite failure
        order = merchant_order(seller)
        m = merchant_issue(plat.stack.merchant_url, order)
        assert m.status_code == 422 and m.json()["status"] == "failed", m.text
    refs = {x["order_ref"] for x in ledger(plat.stack.platform_direct)}
    assert body["order_ref"] not in refs and order["order_id"] not in refs
    assert admin_faults(plat.stack.platform_direct) == NEUTRAL
    assert issue(base, token, body).status_code == 201


def test_revoke_tokens_forces_a_new_login(plat):
    base, seller = plat.stack.platform_url, plat.sellers[0]
    token = login(base, seller)
    assert issue(base, token, issue_body(seller)).status_code == 201
    fault = _platform_fault(action="revoke_tokens")
    assert fault.end_s is None and fault.undo_at_s == fault.start_s      # an instant
    with applied(plat.stack, fault):
        r = issue(base, token, issue_body(seller))
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert issue(base, token, issue_body(seller)).status_code == 401    # undo does not bring it back
    fresh = login(base, seller)
    assert issue(base, fresh, issue_body(seller)).status_code == 201
    # the merchant logs in again by itself
    m = merchant_issue(plat.stack.merchant_url, merchant_order(seller))
    assert m.status_code == 201 and m.json()["status"] == "issued", m.text
    assert admin_faults(plat.stack.platform_direct) == NEUTRAL


def test_ack_without_commit_answers_201_for_an_invoice_never_stored(plat):
    base, seller = plat.stack.platform_url, plat.sellers[1]
    token = login(base, seller)
    fault = _platform_fault(**{"for": "60s", "action": "ack_without_commit", "rate": 1.0})
    body = issue_body(seller)
    with applied(plat.stack, fault):
        r = issue(base, token, body)
    assert r.status_code == 201
    lost = r.json()["invoice_no"]
    entries = ledger(plat.stack.platform_direct)
    assert lost not in {x["invoice_no"] for x in entries}
    assert body["request_id"] not in {x["request_id"] for x in entries}
    time.sleep(0.3)                                                      # past the 200 ms lag
    assert read_invoice(base, token, lost).status_code == 404
    assert admin_faults(plat.stack.platform_direct) == NEUTRAL
    ok = issue(base, token, issue_body(seller))
    assert ok.status_code == 201
    assert ok.json()["invoice_no"] in {x["invoice_no"] for x in ledger(plat.stack.platform_direct)}
    assert int(ok.json()["invoice_no"][-15:]) > int(lost[-15:])        # the burnt number stays burnt
