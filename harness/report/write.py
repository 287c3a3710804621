"""`write_report`: everything the report stage writes for one run directory.

Called at the end of a run and by `invoice-chaos report RUN_DIR` on a finished
run: it only reads files, so it works without the services, and every file
besides `summary.json` is optional (an interrupted run may lack most of them).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report.junit import write_junit
from harness.report.page import render_html
from harness.report.plots import write_plots
from harness.report.timeseries import compute_timeseries, write_latency_csv
from harness.run_record import RunRecord
from harness.report.files import load_run_files
from harness.rundir import LATENCY_CSV, REPORT, TIMESERIES
from harness.summary import Summary

__all__ = ["write_report", "load_end_s"]


def load_end_s(run: RunRecord | None) -> float | None:
    """End of load in run seconds (run.json's `load_end_t`), or None."""
    return run.run_time_s("load_end_t") if run is not None else None


def write_report(run_dir: Path, summary: Summary | dict[str, Any] | None = None,
                 timeseries: dict[str, Any] | None = None) -> Path:
    """Write timeseries.json, latency.csv, plots/*.png, junit.xml and report.html.

    `summary` defaults to the run directory's summary.json (an `InputError` if
    that is missing); `timeseries` to `compute_timeseries` of the run's history and
    faults (the verdict passes the one it computed in the checker's DuckDB pass).
    Returns the path of report.html.
    """
    run_dir = Path(run_dir)
    files = load_run_files(run_dir, summary)
    if timeseries is None:
        timeseries = compute_timeseries(run_dir, files.faults)
    (run_dir / TIMESERIES).write_text(json.dumps(timeseries, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    write_latency_csv(run_dir / LATENCY_CSV, timeseries)
    plots = write_plots(run_dir, files.summary, timeseries, files.faults, files.load_stats,
                        load_end_s=load_end_s(files.run))
    write_junit(run_dir, files.summary)
    path = run_dir / REPORT
    path.write_text(render_html(files, timeseries, plots), encoding="utf-8")
    return path
