"""The report of a run: junit.xml, timeseries.json, plots/*.png, report.html, compare.

    write_report(run_dir, summary=None) -> Path        everything below, returns report.html
    write_junit(run_dir, summary) -> Path              junit.xml, one testcase per gate
    compute_timeseries(history_path, faults) -> dict   per-second throughput, per-5 s latency
    write_plots(run_dir, summary, timeseries, faults, load_stats) -> list[Path]
    compare(run_a, run_b) -> str                       two runs side by side

The report only reads the run directory, so it can be re-rendered on a finished
run without the services (`invoice-chaos report RUN_DIR`).
"""
from __future__ import annotations

from harness.report.compare import compare
from harness.report.junit import write_junit
from harness.report.plots import write_plots
from harness.report.timeseries import compute_timeseries
from harness.report.write import write_report

__all__ = ["write_report", "write_junit", "compute_timeseries", "write_plots", "compare"]
