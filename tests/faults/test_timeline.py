"""The fault timeline (harness/faults/timeline.py) against a real stack: faults start and end
at their planned times, `faults.jsonl` says when they actually did, `stop()` undoes whatever
is still active, and `heal()` leaves a clean Toxiproxy and running, unfrozen services."""
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from harness.faults import Timeline, expand
from harness.stack.local import LINKS, SERVICES

from .kit import (admin_faults, ctx_of, group_states, kind_of, login, merchant_issue,
                      merchant_order, plan_one, probe, wait_until)

pytestmark = pytest.mark.integration

TOLERANCE_S = 0.5


def _journal(path: Path) -> dict[str, dict]:
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    by_id = {x["id"]: x for x in lines}
    assert len(by_id) == len(lines), "a fault was recorded twice"
    return by_id


def _assert_clean(stack) -> None:
    proxies = stack.toxiproxy.proxies()
    for link in LINKS:
        assert proxies[link]["enabled"] is True, link
        assert stack.toxiproxy.toxics(link) == [], link
    for name in SERVICES:
        svc = stack.services[name]
        assert svc.running() and not svc.paused, name
        assert "T" not in group_states(svc.pid).values(), f"{name} is still frozen"
        assert probe(stack.ports[name], timeout=3).status == 200, name


def _timeline(stack, entries: list[dict], journal: Path, duration_s: float = 120.0) -> Timeline:
    planned = expand([(e, f"test:{i + 1}") for i, e in enumerate(entries)], 7, duration_s)
    return Timeline(planned, ctx_of(stack), time.time(), journal, say=lambda s: None)


def test_faults_start_and_end_on_schedule_and_are_journaled(healed, tmp_path):
    stack = healed.stack
    entries = [
        {"at": "300ms", "for": "1500ms", "link": "merchant->taxplatform", "toxic": "latency", "latency": 300},
        {"at": "600ms", "for": "1s", "target": "merchant", "action": "pause"},
        {"at": "900ms", "for": "800ms", "target": "taxplatform", "action": "throttle", "retry_after": "2s"},
        {"at": "1200ms", "for": "600ms", "link": "client->taxplatform", "toxic": "down"},
        {"at": "1s", "target": "taxplatform", "action": "revoke_tokens"},
        {"at": "2200ms", "target": "merchant", "action": "kill", "restart_after": "300ms"},
    ]
    journal = tmp_path / "faults.jsonl"
    tl = _timeline(stack, entries, journal)
    merchant_pid = stack.services["merchant"].pid
    tl.start()
    try:
        # observe each fault while its window is open (bounded polls)
        assert wait_until(lambda: len(stack.toxiproxy.toxics("merchant->taxplatform")) == 1, 1.0, 0.02)
        assert wait_until(lambda: set(group_states(merchant_pid).values()) == {"T"}, 1.0, 0.02)
        assert wait_until(lambda: admin_faults(stack.platform_direct)["throttle_rate"] == 1.0, 1.0, 0.02)
        assert wait_until(lambda: not stack.toxiproxy.proxies()["client->taxplatform"]["enabled"], 1.0, 0.02)
        assert wait_until(lambda: admin_faults(stack.platform_direct)["throttle_rate"] == 0.0, 1.5, 0.05)
        assert wait_until(lambda: len(_journal(journal)) == len(entries) if journal.exists() else False,
                          6.0, 0.1)
    finally:
        tl.stop()
    got = _journal(journal)
    plan = {action[3].id: action[3] for action in tl.actions}       # the planned faults
    assert set(got) == set(plan)
    for fid, line in got.items():
        f = plan[fid]
        assert line["ok"] is True and line["error"] is None, line
        assert (line["kind"], line["target"], line["planned_start_s"]) == (f.kind, f.target, f.start_s)
        assert abs(line["start_s"] - line["planned_start_s"]) <= TOLERANCE_S, line
        if f.end_s is not None:                                  # a window
            assert line["planned_end_s"] == f.end_s
            assert abs(line["end_s"] - line["planned_end_s"]) <= TOLERANCE_S, line
        elif f.kind == "kill":                                   # ends when it is healthy again
            assert line["end_s"] >= f.undo_at_s and line["end_s"] - f.undo_at_s <= 5.0, line
        else:                                                    # revoke_tokens: an instant
            assert 0 <= line["end_s"] - line["start_s"] <= TOLERANCE_S, line
    assert stack.services["merchant"].pid != merchant_pid         # killed and started again
    _assert_clean(stack)
    assert admin_faults(stack.platform_direct)["throttle_rate"] == 0.0


def test_stop_mid_window_undoes_every_active_fault(healed, tmp_path):
    stack = healed.stack
    entries = [
        {"at": "200ms", "for": "60s", "link": "merchant->taxplatform", "toxic": "latency",
         "latency": 200, "stream": "both"},
        {"at": "200ms", "for": "60s", "link": "client->merchant", "toxic": "timeout", "timeout": 0},
        {"at": "200ms", "for": "60s", "link": "client->taxplatform", "toxic": "down"},
        {"at": "300ms", "for": "60s", "target": "merchant", "action": "pause"},
        {"at": "300ms", "for": "60s", "target": "taxplatform", "action": "errors", "rate": 1.0},
        {"at": "90s", "for": "10s", "link": "merchant->taxplatform", "toxic": "reset_peer"},  # never starts
    ]
    journal = tmp_path / "faults.jsonl"
    tl = _timeline(stack, entries, journal)
    merchant_pid = stack.services["merchant"].pid
    tl.start()
    try:
        assert wait_until(lambda: len(tl.active) == 5, 3.0, 0.05), tl.active
        assert len(stack.toxiproxy.toxics("merchant->taxplatform")) == 2
        assert stack.toxiproxy.proxies()["client->taxplatform"]["enabled"] is False
        assert set(group_states(merchant_pid).values()) == {"T"}
        assert admin_faults(stack.platform_direct)["error_rate"] == 1.0
    finally:
        t_stop = tl.now()
        tl.stop()
    stopped_in = tl.now() - t_stop
    assert stopped_in < 5.0, stopped_in
    assert tl.active == {}
    got = _journal(journal)
    assert len(got) == 5 and not any(x["kind"] == "reset_peer" for x in got.values())
    for line in got.values():
        assert line["ok"] is True, line
        assert t_stop - 0.1 <= line["end_s"] <= t_stop + stopped_in + 0.1, line
        assert line["end_s"] < line["planned_end_s"]
    _assert_clean(stack)
    assert admin_faults(stack.platform_direct)["error_rate"] == 0.0
    r = merchant_issue(stack.merchant_url, merchant_order(healed.sellers[0]))
    assert r.status_code == 201, r.text


def test_stop_restarts_a_killed_service_whose_restart_is_still_ahead(healed, tmp_path):
    stack = healed.stack
    port = stack.ports["taxplatform"]
    tl = _timeline(stack, [{"at": "200ms", "target": "taxplatform", "action": "kill",
                            "restart_after": "60s"}], tmp_path / "faults.jsonl")
    tl.start()
    try:
        assert wait_until(lambda: probe(port, timeout=0.5).outcome == "refused", 3.0, 0.05)
    finally:
        tl.stop()
    (line,) = _journal(tmp_path / "faults.jsonl").values()
    assert line["ok"] is True and line["end_s"] < 10
    _assert_clean(stack)
    assert login(stack.platform_url, healed.sellers[0])


def test_heal_leaves_a_clean_toxiproxy_and_running_services(healed):
    stack = healed.stack
    ctx = ctx_of(stack)
    leftovers = [plan_one({"for": "60s", "link": link, "toxic": kind, **extra})
                 for link, kind, extra in [("client->merchant", "latency", {"stream": "both"}),
                                           ("merchant->taxplatform", "slicer", {}),
                                           ("client->taxplatform", "limit_data", {"bytes": 10}),
                                           ("merchant->taxplatform", "down", {})]]
    for f in leftovers:
        kind_of(f).apply(ctx, f)                                   # applied, never undone
    stack.pause("merchant")
    stack.kill("taxplatform")
    assert sum(len(stack.toxiproxy.toxics(link)) for link in LINKS) == 4
    assert stack.heal() == []
    _assert_clean(stack)
    r = merchant_issue(stack.merchant_url, merchant_order(healed.sellers[1]))
    assert r.status_code == 201 and r.json()["status"] == "issued", r.text


def test_a_restart_does_not_hold_up_the_rest_of_the_schedule(healed, tmp_path):
    stack = healed.stack
    entries = [{"at": "300ms", "target": "merchant", "action": "restart"},
               {"at": "350ms", "for": "1s", "link": "client->taxplatform", "toxic": "latency", "latency": 50}]
    tl = _timeline(stack, entries, tmp_path / "faults.jsonl")
    tl.start()
    try:
        assert wait_until(lambda: (tmp_path / "faults.jsonl").exists()
                          and len(_journal(tmp_path / "faults.jsonl")) == 2, 8.0, 0.1)
    finally:
        tl.stop()
    latency = next(x for x in _journal(tmp_path / "faults.jsonl").values() if x["kind"] == "latency")
    assert latency["start_s"] - latency["planned_start_s"] <= 0.3, latency


def test_a_platform_fault_survives_a_platform_restart_inside_its_window(healed, tmp_path):
    stack = healed.stack
    entries = [{"at": "200ms", "for": "30s", "target": "taxplatform", "action": "throttle", "rate": 1.0},
               {"at": "500ms", "target": "taxplatform", "action": "kill", "restart_after": "100ms"}]
    tl = _timeline(stack, entries, tmp_path / "faults.jsonl")
    tl.start()
    try:
        assert wait_until(lambda: (tmp_path / "faults.jsonl").exists(), 8.0, 0.1)   # the kill ended
        assert "f0_0_throttle" in tl.active                      # the timeline says: still throttled
        token = login(stack.platform_url, healed.sellers[0])
        r = httpx.get(f"{stack.platform_url}/v1/quota", headers={"Authorization": f"Bearer {token}"},
                      timeout=5)
        assert r.status_code == 429, f"throttle window open, yet the platform answered {r.status_code}"
    finally:
        tl.stop()


def test_stop_records_every_undo_as_ok_when_the_platform_is_down(healed, tmp_path):
    stack = healed.stack
    entries = [{"at": "200ms", "for": "60s", "target": "taxplatform", "action": "errors", "rate": 0.5},
               {"at": "400ms", "target": "taxplatform", "action": "kill", "restart_after": "60s"}]
    tl = _timeline(stack, entries, tmp_path / "faults.jsonl")
    tl.start()
    try:
        assert wait_until(lambda: len(tl.active) == 2, 3.0, 0.05)
    finally:
        tl.stop()
    _assert_clean(stack)
    lines = _journal(tmp_path / "faults.jsonl").values()
    assert [(x["kind"], x["ok"], x["error"]) for x in lines if not x["ok"]] == []
