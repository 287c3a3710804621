"""A double tap while the first upload is under way gets the same definite answer."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from merchant_stack import Stack

pytestmark = pytest.mark.integration


def test_a_double_tap_during_a_refused_upload_is_refused_too(stack: Stack) -> None:
    stack.start_platform()
    stack.start_merchant()
    stack.faults(throttle_rate=1.0, retry_after_s=1)               # the first waits out a 429 ...
    body = stack.order("tap-1")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(stack.post, body)
        time.sleep(0.3)                                             # ... and is still in flight
        second = pool.submit(stack.post, body)
        time.sleep(0.2)
        stack.faults(throttle_rate=0.0, quota_per_seller="0.00")    # then the platform refuses it
        answers = [first.result(), second.result()]
    assert [(r.status_code, r.json()["status"]) for r in answers] == [(422, "failed"), (422, "failed")]
    assert stack.blue_for("tap-1") == []


def test_a_double_tap_during_a_successful_upload_gets_the_same_invoice(stack: Stack) -> None:
    stack.start_platform()
    stack.start_merchant()
    stack.faults(slow_commit_ms=600)
    body = stack.order("tap-2")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(stack.post, body)
        time.sleep(0.2)
        second = pool.submit(stack.post, body)
        answers = [first.result(), second.result()]
    assert [r.status_code for r in answers] == [201, 201]
    assert answers[0].json()["invoice_no"] == answers[1].json()["invoice_no"]
    assert len(stack.blue_for("tap-2")) == 1
