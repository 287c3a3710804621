"""`write_report`: everything the report stage writes for one run directory.

Called at the end of a run and by `invoice-chaos report RUN_DIR` on a finished
run: it only reads files, so it works without the services, and every file
besides `summary.json` is optional (an interrupted run may lack most of them).
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from harness.report._rundir import load_run_files, run_time_s
from harness.report.junit import write_junit
from harness.report.page import render_html
from harness.report.plots import write_plots
from harness.report.timeseries import compute_timeseries, write_latency_csv

__all__ = ["write_report", "write_summary", "load_end_s"]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)          # money stays exact: "123.45", never a float
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    """Write `run_dir/summary.json` (UTF-8, Chinese kept readable, Decimal as strings)."""
    path = Path(run_dir) / "summary.json"
    path.write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=_json_default)
                    + "\n", encoding="utf-8")
    return path


def load_end_s(run: dict[str, Any] | None) -> float | None:
    """End of load in run seconds (run.json's `load_end_t`), or None."""
    return run_time_s(run, "load_end_t")


def write_report(run_dir: Path, summary: dict[str, Any] | None = None) -> Path:
    """Write timeseries.json, latency.csv, plots/*.png, junit.xml and report.html.

    `summary` defaults to the run directory's summary.json (an `InputError` if
    that is missing). Returns the path of report.html.
    """
    run_dir = Path(run_dir)
    files = load_run_files(run_dir, summary)
    timeseries = compute_timeseries(run_dir, files.faults)
    (run_dir / "timeseries.json").write_text(json.dumps(timeseries, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    write_latency_csv(run_dir / "latency.csv", timeseries)
    plots = write_plots(run_dir, files.summary, timeseries, files.faults, files.load_stats,
                        load_end_s=load_end_s(files.run))
    write_junit(run_dir, files.summary)
    path = run_dir / "report.html"
    path.write_text(render_html(files, timeseries, plots), encoding="utf-8")
    return path
