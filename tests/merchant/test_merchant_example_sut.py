"""The example external merchant (examples/stdlib_merchant) speaks the SUT contract."""
from __future__ import annotations

import os
import sys

import pytest

from merchant_stack import ROOT, Proc, free_port

pytestmark = pytest.mark.integration


def _start_example(stack) -> Proc:
    port = free_port()
    env = dict(os.environ, PORT=str(port), TAX_PLATFORM_URL=stack.platform.url,
               SELLERS_FILE=str(stack.sellers_file), DATA_DIR=str(stack.tmp / "shop"),
               PLATFORM_TIMEOUT_S="1.0")
    p = Proc("example", [sys.executable, str(ROOT / "examples/stdlib_merchant/server.py")], env, port,
             stack.tmp / "example.log")
    stack.procs.append(p)
    stack.merchant = p.start()
    return p


def test_example_issues_once_through_faults_and_a_kill(stack):
    stack.start_platform(dedup="request_id")
    shop = _start_example(stack)
    ok = stack.post(stack.order("E1"))
    assert ok.status_code == 201 and ok.json()["status"] == "issued"
    assert stack.post(stack.order("E1")).json() == ok.json()
    assert stack.post({"order_id": 5}).status_code == 400
    assert stack.get("nope").status_code == 404

    stack.faults(error_rate=1, error_after_commit=1)
    r = stack.post(stack.order("E2"))
    assert r.status_code == 202, r.text
    shop.kill()
    stack.heal()
    shop.start()
    final = stack.wait_status("E2", "issued", timeout=10)
    assert [b["invoice_no"] for b in stack.blue_for("E2")] == [final["invoice_no"]]

    ref = stack.refund("E1")
    assert ref.status_code == 201, ref.text
    assert stack.refund("E1").json() == ref.json()
    assert stack.refund("nope").status_code == 404
    reds = [i for i in stack.ledger() if i["kind"] == "red"]
    assert [r["original_invoice_no"] for r in reds] == [ok.json()["invoice_no"]]
    assert shop.stop() == 0
