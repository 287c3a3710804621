"""The one rule that says when the load generator, not the system, was the bottleneck."""
from __future__ import annotations

from harness.load.driver import LagHistogram
from harness.load.saturation import judge

KEPT_UP = {"arrivals": 10_000, "unsent": 0, "late": 0, "lag_p99_ms": 4.0,
           "loop_lag_p99_ms": 3.0, "cpu_max_pct": 60.0, "cpu_busy_share": 0.0,
           "locust_cpu_warnings": 0}


def test_a_generator_that_kept_up_is_not_saturated():
    s = judge(KEPT_UP)
    assert not s.saturated and s.reasons == [] and s.scheduled == 10_000


def test_late_arrivals_above_one_percent_saturate():
    s = judge({**KEPT_UP, "arrivals": 9_800, "unsent": 200, "late": 200})
    assert s.saturated and s.unsent_rate == 0.02 and "fell behind" in s.reasons[0]
    assert not judge({**KEPT_UP, "arrivals": 9_950, "unsent": 50, "late": 50}).saturated


def test_a_full_pool_is_the_systems_doing_not_the_harness():
    """Journeys held open by a slow system fill max_in_flight: shown, but not saturation."""
    s = judge({**KEPT_UP, "arrivals": 5_000, "unsent": 5_000, "late": 0})
    assert not s.saturated and s.pool_full == 5_000 and s.unsent == 5_000


def test_late_starts_loop_lag_and_cpu_each_saturate():
    assert "lag p99" in judge({**KEPT_UP, "lag_p99_ms": 250.0}).reasons[0]
    assert "event loop" in judge({**KEPT_UP, "loop_lag_p99_ms": 400.0}).reasons[0]
    assert "Locust warned" in judge({**KEPT_UP, "locust_cpu_warnings": 1,
                                     "locust_cpu_max_pct": 99.0}).reasons[0]
    assert "90% CPU" in judge({**KEPT_UP, "cpu_busy_share": 0.8}).reasons[0]


def test_no_stats_no_verdict_against_the_harness():
    assert not judge(None).saturated and not judge({}).saturated


def test_lag_histogram_quantiles():
    h = LagHistogram()
    for ms in [1.5] * 98 + [40.2, 5000.0]:
        h.add(ms)
    assert h.quantile(0.5) == 2.0 and h.quantile(0.99) == 41.0
    assert h.quantile(1.0) == float(LagHistogram.SIZE) and h.max_ms == 5000.0
    assert LagHistogram().quantile(0.99) == 0.0
