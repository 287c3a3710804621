"""`python -m harness.report`: the report runs as its own process on a finished run."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from report_runs import write_run

pytestmark = pytest.mark.integration


def _run(*args, timeout=60):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "harness.report", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          start_new_session=True)


def test_report_and_compare_as_a_process(tmp_path):
    run = write_run(tmp_path / "run")
    done = _run(run)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(run / "report.html")
    assert (run / "report.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    cmp = _run("compare", run, run)
    assert cmp.returncode == 0, cmp.stderr
    assert "invoices.lost" in cmp.stdout


def test_missing_summary_exits_2(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 2
    assert "summary.json" in done.stderr
