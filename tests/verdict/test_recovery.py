"""Recovery figures (harness/recovery.py) from literal histories, and their gates."""
from __future__ import annotations

from harness.verdict import default_gates
from harness.gates import apply_gates as evaluate, verdict
from harness.recovery import Seconds, add_events, measure
from harness.scenario.parse import ANOMALY_GATES


def _done(t: float, typ: str, op: str = "issue", proc: str = "w0.1", latency_ms: float = 100.0) -> dict:
    return {"t": t, "ts": 1000 + t, "proc": proc, "op": op, "type": typ, "order_id": f"O{t}",
            "latency_ms": latency_ms}


def _history(kind_at) -> list[dict]:
    """Four checkouts a second for 30 s; kind_at(t) says ok or info."""
    return [_done(s + k / 4 + 0.1, kind_at(s)) for s in range(30) for k in range(4)]


FAULT = [{"id": "f0", "kind": "down", "target": "merchant->taxplatform", "start_s": 10.0,
          "end_s": 15.0, "params": {}}]


def test_a_fault_window_then_full_service_again():
    acc = add_events(Seconds(), _history(lambda s: "info" if 10 <= s < 15 else "ok"))
    r = measure(acc, FAULT, 30.0)
    (w,) = r.windows
    assert w["answered_share"] == 0.0 and w["recovery_s"] == 0.0
    assert r.answered_share == 1.0 and r.answered_share_after_faults == 1.0
    assert r.recovery_s == 0.0 and r.recovered


def test_requests_count_at_the_second_they_were_sent():
    """A request sent during the fault that timed out after it belongs to the window."""
    h = _history(lambda s: "ok") + [_done(16.5, "info", latency_ms=5000.0)]
    r = measure(add_events(Seconds(), h), FAULT, 30.0)
    assert r.answered_share == 1.0 and r.windows[0]["requests"] == 21


def test_slow_recovery_and_none_at_all():
    slow = measure(add_events(Seconds(), _history(lambda s: "info" if 10 <= s < 21 else "ok")),
                   FAULT, 30.0)
    assert slow.recovery_s == 6.0
    never = measure(add_events(Seconds(), _history(lambda s: "info" if s >= 10 else "ok")),
                    FAULT, 30.0)
    assert never.recovery_s is None and not never.recovered
    assert never.answered_share_after_faults == 0.0


def test_the_harness_own_procs_are_not_customers():
    h = _history(lambda s: "ok") + [_done(31.0, "info", op="query", proc="drain.3"),
                                    _done(32.0, "ok", op="query", proc="final.0")]
    acc = add_events(Seconds(), h)
    assert measure(acc, [], 30.0).requests == 120


def test_a_flat_overload_without_faults_fails_the_default_gates():
    """150 arrivals/s, no fault, 47 % unanswered: must not pass."""
    h = _history(lambda s: "info" if s % 2 else "ok")           # half unanswered
    rec = measure(add_events(Seconds(), h), [], 30.0)
    assert rec.answered_share == 0.5 and rec.recovery_s == 0.0
    summary = {"invoices": {**dict.fromkeys(ANOMALY_GATES, 0), "requested": 120}, "recovery": rec.to_json(),
               "final_read": {"orders": 120, "answered": 120, "unanswered": 0}}
    res = {g.name: g for g in evaluate(default_gates(), summary)}
    assert not res["answered_share"].passed and res["answered_share"].limit == ">= 0.95"
    assert res["final_unanswered"].passed
    assert verdict(list(res.values())) == "fail"


def test_unanswered_final_reads_make_the_verdict_unknown_not_pass():
    rec = measure(add_events(Seconds(), _history(lambda s: "ok")), [], 30.0)
    summary = {"invoices": {**dict.fromkeys(ANOMALY_GATES, 0), "requested": 120}, "recovery": rec.to_json(),
               "final_read": {"orders": 120, "answered": 100, "unanswered": 20}}
    res = evaluate(default_gates(), summary)
    assert [g.name for g in res if not g.passed] == ["final_unanswered"]
    assert verdict(res) == "unknown"


def test_a_gated_class_without_a_chance_makes_the_verdict_unknown():
    from harness.scenario.model import GateSpec, Loc
    from harness.summary import Summary
    from harness.verdict import unknown_reasons
    s = Summary(chances={"misreversed": 0, "lost": 5}, final_read={"orders": 5, "answered": 5})
    written = [GateSpec("misreversed", 0.0, Loc("s.yaml", 9)), GateSpec("lost", 0.0, Loc("s.yaml", 8))]
    (why,) = unknown_reasons(s, [], True, written)
    assert "misreversed" in why and "s.yaml:9" in why
    # the implicit zero gate of every class is no claim that the run exercised it
    assert unknown_reasons(s, [], True, [GateSpec("misreversed", 0.0)]) == []
