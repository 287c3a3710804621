"""Process fault kinds (harness/faults/process.py) on the real services of a LocalStack:
pause freezes (SIGSTOP) and resume unfreezes; kill, terminate and restart bring the service
back on the same port with the same data (SQLite in DATA_DIR survives)."""
from __future__ import annotations

import httpx
import pytest

from .kit import (applied, group_states, kind_of, ctx_of, ledger, merchant_issue, merchant_order,
                      plan_one, probe)

pytestmark = pytest.mark.integration


def _issued(live, seller_index: int = 0) -> tuple[dict, str]:
    order = merchant_order(live.sellers[seller_index])
    r = merchant_issue(live.stack.merchant_url, order)
    assert r.status_code == 201 and r.json()["status"] == "issued", r.text
    return order, r.json()["invoice_no"]


def _merchant_status(live, order_id: str) -> dict:
    r = httpx.get(f"{live.stack.merchant_url}/v1/invoices/{order_id}", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


def test_pause_freezes_the_merchant_and_resume_unfreezes_it(healed):
    stack = healed.stack
    svc = stack.services["merchant"]
    fault = plan_one({"for": "30s", "target": "merchant", "action": "pause"})
    with applied(stack, fault):
        states = group_states(svc.pid)
        assert states and set(states.values()) == {"T"}, states          # every process stopped
        with pytest.raises(httpx.ReadTimeout):
            merchant_issue(stack.merchant_url, merchant_order(healed.sellers[0]), timeout=1.5)
        assert probe(stack.ports["merchant"], timeout=1.0).outcome == "timeout"   # direct, too
    assert "T" not in group_states(svc.pid).values()
    order, number = _issued(healed)                                       # the same request shape
    assert _merchant_status(healed, order["order_id"])["invoice_no"] == number


@pytest.mark.parametrize("target", ["merchant", "taxplatform"])
def test_kill_and_restart_keeps_the_port_and_the_data(healed, target):
    stack = healed.stack
    order, number = _issued(healed)
    svc = stack.services[target]
    port, old_pid = stack.ports[target], svc.pid
    fault = plan_one({"target": target, "action": "kill", "restart_after": "0s"})
    assert fault.params == {"restart_after": 0.0, "restart": True}
    with applied(stack, fault):
        assert not svc.running() and svc.proc.returncode == -9            # SIGKILL
        assert probe(port, timeout=1.0).outcome == "refused"
    # undo started it again: a new process on the same port, healthy
    assert svc.running() and svc.pid != old_pid and stack.ports[target] == port
    assert probe(port).status == 200
    assert _merchant_status(healed, order["order_id"]) == {
        "order_id": order["order_id"], "status": "issued", "invoice_no": number}
    stored = [x for x in ledger(stack.platform_direct) if x["order_ref"] == order["order_id"]]
    assert [x["invoice_no"] for x in stored] == [number]
    # and it works: a new order is issued (after a platform restart the merchant logs in again)
    order2, number2 = _issued(healed, 1)
    assert int(number2[-15:]) > int(number[-15:])                         # numbers never reused


@pytest.mark.parametrize("action", ["terminate", "restart"])
def test_terminate_and_restart_bring_the_merchant_back_with_its_data(healed, action):
    stack = healed.stack
    order, number = _issued(healed)
    svc = stack.services["merchant"]
    old_pid, old_proc = svc.pid, svc.proc
    raw = {"target": "merchant", "action": action}
    if action == "terminate":
        raw["restart_after"] = "0s"
    fault = plan_one(raw)
    cls, ctx = kind_of(fault), ctx_of(stack)
    cls.apply(ctx, fault)
    try:
        # the old process ended gracefully (SIGTERM); for `restart` apply may already have
        # started the new one, or leave that to undo (which the timeline runs at once)
        assert old_proc is not None and old_proc.returncode in (0, -15), old_proc.returncode
        if action == "terminate":
            assert not svc.running()
            assert probe(stack.ports["merchant"], timeout=1.0).outcome == "refused"
    finally:
        cls.undo(ctx, fault)
    assert svc.running() and svc.pid != old_pid and svc.starts >= 2
    assert probe(stack.ports["merchant"]).status == 200
    assert _merchant_status(healed, order["order_id"])["invoice_no"] == number
    _issued(healed, 1)


def test_kill_without_restart_stays_down_until_heal(healed):
    stack = healed.stack
    svc = stack.services["merchant"]
    fault = plan_one({"target": "merchant", "action": "kill", "restart": False})
    with applied(stack, fault):
        pass
    assert not svc.running()                                              # undo did not restart it
    assert probe(stack.ports["merchant"], timeout=1.0).outcome == "refused"
    assert stack.heal() == []
    assert svc.running() and probe(stack.ports["merchant"]).status == 200
