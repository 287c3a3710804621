"""Plots are real PNG files, also for an empty history, no faults and one event."""
from __future__ import annotations

import pytest

from harness.report import write_plots
from harness.report.timeseries import timeseries_from_events
from report_runs import FAULTS, HISTORY, event, summary

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ["throughput.png", "latency.png", "outcomes.png"]


def _check_pngs(paths, min_size=5_000):
    assert [p.name for p in paths] == NAMES
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == PNG, p
        assert len(data) > min_size, (p, len(data))


def test_full_plots_with_faults_and_load_stats(tmp_path):
    ts = timeseries_from_events(HISTORY, FAULTS)
    load = {"target": [[0, 0.5], [10, 0.5]], "achieved": [[0, 1], [1, 1], [3, 1]]}
    paths = write_plots(tmp_path, summary(), ts, FAULTS, load, load_end_s=10.0)
    _check_pngs(paths)
    assert all(p.parent == tmp_path / "plots" for p in paths)
    # the load panel makes the throughput figure taller than without load stats
    alone = write_plots(tmp_path / "b", summary(), ts, FAULTS, None)
    assert paths[0].stat().st_size != alone[0].stat().st_size


@pytest.mark.parametrize("events", [[], [event(0.0, "w0", "issue", "ok", "A", latency_ms=0)]],
                         ids=["empty", "single-zero-latency"])
def test_degenerate_inputs(tmp_path, events):
    _check_pngs(write_plots(tmp_path, {}, timeseries_from_events(events, []), [], None))
