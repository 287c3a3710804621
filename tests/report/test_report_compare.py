"""compare: both runs' figures, the differences, and an error for a run without summary."""
from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.report import compare
from report_runs import summary, write_run


def _line(text, label):
    return next(line for line in text.splitlines() if line.startswith(label))


def test_side_by_side_with_differences(tmp_path):
    a = write_run(tmp_path / "a", summary(), history=None, faults=None)
    b_sum = summary(verdict="pass", run_id="smoke-B", time_to_consistency_s=2.0)
    b_sum["invoices"] = dict(b_sum["invoices"], lost=0, requested=5)
    b_sum["requests"] = dict(b_sum["requests"], latency_ms={"p50": 250, "p95": 1900,
                                                            "p99": 2100, "max": 2500})
    b_sum["gates"] = [dict(g, value=0, passed=True) if g["name"] == "lost" else g
                      for g in b_sum["gates"]] + [
        {"name": "error_rate", "limit": "<= 0.05", "value": 0.01, "passed": True}]
    b = write_run(tmp_path / "b", b_sum, history=None, faults=None)
    out = compare(a, b)
    assert "A: smoke-20261123T101500Z" in out and "B: smoke-B" in out
    assert _line(out, "verdict").split() == ["verdict", "fail", "pass", "changed"]
    assert _line(out, "invoices.lost").split() == ["invoices.lost", "3", "0", "-3"]
    assert _line(out, "invoices.requested").split()[-1] == "+2"
    assert _line(out, "latency p95 (ms)").split()[-3:] == ["2300", "1900", "-400"]
    assert _line(out, "time to consistency (s)").split()[-1] == "-6.5"
    assert _line(out, "gate lost (== 0)").split()[-5:] == ["3", "FAIL", "0", "ok", "-3"]
    assert _line(out, "gate error_rate").split()[-5:] == ["—", "0.01", "ok", "only", "B"]
    assert _line(out, "seed").split()[-1] == "="
    # aligned columns: every row of the table is as wide or narrower than the rule
    lines = out.splitlines()
    assert set(lines[1]) <= {"-", " "}


def test_run_without_summary_is_an_input_error(tmp_path):
    a = write_run(tmp_path / "a", history=None, faults=None)
    (tmp_path / "b").mkdir()
    with pytest.raises(InputError, match="summary.json"):
        compare(a, tmp_path / "b")
    (tmp_path / "b" / "summary.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        compare(a, tmp_path / "b")
