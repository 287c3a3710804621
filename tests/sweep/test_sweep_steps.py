"""The sweep's pure parts: rates, the knee, early stop, sweep.json, junit.xml, sweep.html."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from harness.errors import UsageError
from harness.sweep.plan import plan_rates
from harness.sweep.report import knee_words, sweep_html, sweep_junit
from harness.sweep.run import sweep_record
from harness.sweep.steps import Step, kind_stopped, knee, knee_limited_by, step_from_summary


def step(rate: float, verdict: str = "pass", achieved: float | None = None, faults: bool = False,
         limited: bool = False) -> Step:
    return Step(target_rps=rate, faults=faults, verdict=verdict,
                achieved_rps=rate if achieved is None else achieved, harness_limited=limited,
                p95_ms=10.0, run_dir=f"step-{rate:g}")


def test_rates_from_a_range_or_a_list():
    assert plan_rates(None, 100, 1200, 6) == [100, 320, 540, 760, 980, 1200]
    assert plan_rates("300,100,200", None, None, None) == [100, 200, 300]
    for bad in [("1,x", None, None, None), (None, 100, None, 3), ("1", 1, 2, 2),
                (None, 200, 100, 3), (None, 100, 200, 1), ("0,5", None, None, None)]:
        with pytest.raises(UsageError):
            plan_rates(*bad)


def test_the_knee_is_the_highest_good_rate_with_every_lower_one_good():
    steps = [step(100), step(200), step(300, "fail"), step(400)]
    assert knee(steps) == 200 and knee_limited_by(steps) == "system"
    # achieved below 95 % of the target is not good, even when every gate passed
    assert knee([step(100), step(200, achieved=180)]) == 100
    assert knee([step(100, "fail"), step(200)]) is None
    assert knee_limited_by([step(100), step(200)]) is None        # never failed: a lower bound


def test_a_harness_limited_step_never_counts_as_the_systems_limit():
    steps = [step(100), step(200), step(300, "fail", limited=True)]
    assert knee(steps) == 200 and knee_limited_by(steps) == "harness"
    assert "harness-limited" in knee_words({"knee_rps": 200, "knee_limited_by": "harness"}, False)
    assert steps[2].label == "harness-limited"


def test_kinds_are_separate_and_early_stop_needs_two_failures_above_the_last_pass():
    steps = [step(100), step(100, faults=True), step(200), step(200, "fail", faults=True)]
    assert knee(steps, False) == 200 and knee(steps, True) == 100
    assert not kind_stopped(steps, True)
    steps.append(step(300, "fail", faults=True))
    assert kind_stopped(steps, True) and not kind_stopped(steps, False)


def test_step_figures_from_a_run_summary():
    summary = {"verdict": "fail", "requests": {"error_rate": 0.1, "latency_ms": {
        "p50": 5, "p95": 900.5, "p99": 1200}},
        "load": {"achieved_rps_mean": 200.0, "harness_saturated": True,
                 "harness": {"reasons": ["lag"]}},
        "invoices": {"lost": 2, "duplicated": 1, "phantom": 0},
        "gates": [{"name": "p95_ms", "passed": False}, {"name": "lost", "passed": True}]}
    s = step_from_summary(200, False, "step-01-200", summary, ("lost", "duplicated", "phantom"), 1)
    assert s.achieved_rps == 180.0 and s.p95_ms == 900.5 and s.anomalies == 3
    assert s.harness_limited and s.harness_reasons == ["lag"] and s.failed_gates == ["p95_ms"]


def test_sweep_record_with_both_kinds_names_the_headroom(tmp_path):
    steps = [step(100), step(100, faults=True), step(200), step(200, "fail", faults=True),
             step(300, "fail"), step(300, "fail", faults=True)]
    rec = sweep_record("capacity", 31, steps, {"ceiling_rps": 2100.0}, "both", 250.0)
    assert rec["knee_rps"] == 200 and rec["knee_rps_faults"] == 100
    assert rec["headroom_under_faults"] == 0.5 and rec["harness_ceiling_rps"] == 2100.0
    assert [s["target_rps"] for s in rec["steps"]] == [100, 100, 200, 200, 300, 300]
    only = sweep_record("capacity", 31, [step(100)], None, "none", None)
    assert "knee_rps_faults" not in only and only["harness_ceiling_rps"] is None
    page = sweep_html(tmp_path, rec, [])
    assert 'id="knee"' in page and 'id="knee-faults"' in page and "Headroom under faults" in page
    suite = sweep_junit(rec)
    assert suite.get("tests") == "7" and suite.get("failures") == "4"     # 3 steps + the knee
    names = [tc.get("name") for tc in suite.iter("testcase")]
    assert "knee >= 250/s" in names


def test_junit_skips_harness_limited_steps_instead_of_failing_them():
    rec = sweep_record("x", 1, [step(100), step(900, "fail", limited=True)], None, "none", None)
    suite = ET.fromstring(ET.tostring(sweep_junit(rec)))
    assert suite.get("failures") == "0" and suite.get("skipped") == "1"


def test_a_ceiling_the_ramp_ended_before_is_a_lower_bound(tmp_path):
    from harness.sweep.ceiling import ramp_outran
    # 6 s ramp to 6,000/s: the ramp offers ~500, 1500, ... 5500 per second
    kept_up = [480, 1490, 2480, 3470, 4460, 5400]
    fell = [480, 1490, 2480, 2900, 2100, 1500]
    assert ramp_outran(kept_up, 6000, 6)
    assert not ramp_outran(fell, 6000, 6)
    # best pair last but far below the ramp: it had levelled off, a real ceiling
    assert not ramp_outran([480, 1490, 2000, 2000, 2050, 2100], 6000, 6)
    assert not ramp_outran([], 6000, 6)
    rec = sweep_record("capacity", 31, [step(100)], {"ceiling_rps": 4930.0, "lower_bound": True},
                       "none", None)
    assert rec["harness_ceiling_lower_bound"] is True
    assert "at least 4930 arrivals/s" in sweep_html(tmp_path, rec, [])
    plain = sweep_record("capacity", 31, [step(100)], {"ceiling_rps": 2100.0}, "none", None)
    assert plain["harness_ceiling_lower_bound"] is False
    assert "at least" not in sweep_html(tmp_path, plain, []).split('id="ceiling"')[1][:80]
