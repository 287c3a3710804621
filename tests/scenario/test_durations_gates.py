"""Durations and gates: small pure functions with exact answers."""
from __future__ import annotations

import pytest

from harness.gates import apply_gates as evaluate, verdict
from harness.durations import DurationError, format_duration, parse_duration
from harness.scenario.model import GateSpec


@pytest.mark.parametrize("text,seconds", [("500ms", 0.5), ("90s", 90), ("5m", 300), ("24h", 86400),
                                          ("1h30m", 5400), ("1.5s", 1.5), (" 2m ", 120)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "90", 90, "", "m5", "-3s", True, None])
def test_bad_durations(bad):
    with pytest.raises(DurationError):
        parse_duration(bad)


def test_format_round_trips():
    for s in (0.25, 30, 90, 300, 7200):
        assert parse_duration(format_duration(s)) == s


SUMMARY = {"invoices": {"lost": 0, "duplicated": 2, "acknowledged": 10},
           "requests": {"latency_ms": {"p95": 1500.0}, "error_rate": 0.1},
           "time_to_consistency_s": None, "load": {"arrivals": 100, "unsent": 5}}


def test_gates_compare_figures_with_limits():
    res = {r.name: r for r in evaluate([GateSpec("lost", 0), GateSpec("duplicated", 0),
                                        GateSpec("p95_ms", 2000), GateSpec("error_rate", 0.05),
                                        GateSpec("min_acknowledged", 10), GateSpec("unsent_rate", 0.01),
                                        GateSpec("phantom", None)], SUMMARY)}
    assert res["lost"].passed and res["lost"].limit == "== 0"
    assert not res["duplicated"].passed and res["duplicated"].value == 2
    assert res["p95_ms"].passed and res["p95_ms"].limit == "<= 2000"
    assert not res["error_rate"].passed
    assert res["min_acknowledged"].passed and res["min_acknowledged"].limit == ">= 10"
    assert not res["unsent_rate"].passed
    assert "phantom" not in res                     # switched off


def test_an_unmeasured_figure_fails_its_gate():
    (r,) = evaluate([GateSpec("time_to_consistency_s", 30)], SUMMARY)
    assert r.value is None and not r.passed


def test_verdict():
    ok = evaluate([GateSpec("lost", 0)], SUMMARY)
    assert verdict(ok) == "pass"
    assert verdict(ok, checker_valid="unknown") == "unknown"
    assert verdict(evaluate([GateSpec("duplicated", 0)], SUMMARY)) == "fail"


def test_a_run_that_sent_nothing_fails_by_default():
    from harness.verdict import default_gates
    res = {r.name: r for r in evaluate(default_gates(), {"invoices": {"requested": 0, "lost": 0}})}
    assert not res["min_requested"].passed and res["min_requested"].limit == ">= 1"
    res = {r.name: r for r in evaluate(default_gates(), {"invoices": {"requested": 3, "lost": 0}})}
    assert res["min_requested"].passed
