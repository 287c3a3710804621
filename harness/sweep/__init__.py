"""The capacity sweep (design.md s.9): one full run per offered rate, the knee, the harness
ceiling, sweep.json / sweep.html / plots / junit.xml, and `compare` of two sweeps.

    run_sweep(SweepOptions(...), say) -> exit code      (run.py)
    knee(steps, faults) -> rate | None                  (steps.py, pure)
    write_sweep_report(sweep_dir) -> sweep.html         (report.py)
    compare_sweeps(dir_a, dir_b) -> str                 (compare.py)
"""
from __future__ import annotations

from .compare import compare_sweeps, is_sweep_dir
from .report import write_sweep_report
from .run import SweepOptions, run_sweep
from .steps import Step, knee

__all__ = ["SweepOptions", "run_sweep", "Step", "knee", "write_sweep_report", "compare_sweeps",
           "is_sweep_dir"]
