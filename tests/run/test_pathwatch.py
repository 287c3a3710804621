"""The harness-path stretches (harness/pathwatch.py): sustained seconds in which the customer
path failed while the merchant answered directly, outside faults meant to cut customers off."""
from __future__ import annotations

from harness.pathwatch import SUSTAINED_S, stretches


def _probes(bad: range, total: int = 30) -> list[dict]:
    return [{"t": t + 0.2, "direct": True, "path": t not in bad} for t in range(total)]


def test_a_sustained_stretch_is_found_with_verdict_unknown_and_a_short_one_is_not():
    found = stretches(_probes(range(10, 15)) + _probes(range(0), 0), [])
    assert [(s["start_s"], s["end_s"], s["verdict"]) for s in found] == [(10, 15, "unknown")]
    assert "harness" in found[0]["reason"]
    assert stretches(_probes(range(10, 10 + SUSTAINED_S - 1)), []) == []


def test_seconds_where_the_merchant_did_not_answer_directly_are_the_systems():
    probes = [{"t": t, "direct": t not in range(10, 20), "path": t not in range(10, 20)} for t in range(30)]
    assert stretches(probes, []) == []


def test_a_fault_on_the_customer_link_or_the_merchant_explains_the_failures():
    probes = _probes(range(10, 16))
    down = {"kind": "down", "target": "client->merchant", "start_s": 10.0, "end_s": 16.0}
    assert stretches(probes, [down]) == []
    elsewhere = {"kind": "down", "target": "merchant->taxplatform", "start_s": 10.0, "end_s": 16.0}
    assert len(stretches(probes, [elsewhere])) == 1
    kill = {"kind": "kill", "target": "merchant", "start_s": 9.0, "end_s": None, "params": {"restart_after": 7.0}}
    assert stretches(probes, [kill]) == []


def test_probes_slowed_by_their_timeouts_still_make_one_stretch():
    probes = [{"t": t, "direct": True, "path": not 15 <= t <= 23} for t in [*range(0, 15), 15, 17, 19, 21, 23, 24, 25]]
    found = stretches(probes, [])
    assert [(s["start_s"], s["end_s"]) for s in found] == [(15, 24)]


def test_a_probe_that_failed_while_the_customers_were_answered_is_no_evidence():
    probes = _probes(range(10, 16))
    served = {sec: [40, 40, 30, 30] for sec in range(30)}
    assert stretches(probes, [], served) == []
    refused = {**served, **{sec: [40, 40, 30, 2] for sec in range(10, 16)}}   # NotConnected: a fail
    assert [(s["start_s"], s["end_s"]) for s in stretches(probes, [], refused)] == [(10, 16)]
