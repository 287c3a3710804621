"""What the verdict computes from the checker's DuckDB table instead of reading the history
again is what the Python readers of the file compute, on the same histories: the recovery
figures (harness/recovery.py: every per-second count, the first and last second sent, and
what `measure` derives from them) and the report's timeseries (the stdlib loop)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from support.history import blue, call, done, issue, write_files

from harness.checker import check_files
from harness.recovery import measure, scan_history, seconds_from_checker
from harness.report.timeseries import compute_timeseries, timeseries_from_checker

CHECKER_PATHS = ("duckdb",)      # the agreement of the DuckDB statement with the Python one

FAULTS = [{"id": "f0", "kind": "down", "target": "merchant->taxplatform", "start_s": 3.0,
           "end_s": 9.5, "params": {}},
          {"id": "f1", "kind": "restart", "target": "merchant", "start_s": 20.0, "params": {}}]


def _both(h: Path, led: Path):
    res = check_files(h, led, also=seconds_from_checker)
    assert (res.path, res.fallback_reason) == ("duckdb", None)
    return res.also, scan_history(h)


def _agree(h: Path, led: Path) -> None:
    _same_timeseries(h, led)
    duck, py = _both(h, led)
    assert duck is not None
    assert duck.by_sec == py.by_sec
    assert (duck.first_t, duck.last_t) == (py.first_t, py.last_t)
    for faults in ([], FAULTS):
        for end in (None, 25.0):
            assert measure(duck, faults, end).to_json() == measure(py, faults, end).to_json()


def _same_timeseries(h: Path, led: Path) -> None:
    import harness.report.timeseries as ts_mod
    res = check_files(h, led, also=lambda con: [timeseries_from_checker(con, f)
                                                for f in ([], FAULTS)])
    assert res.path == "duckdb" and res.also is not None
    old = ts_mod.FAST_MIN_BYTES
    ts_mod.FAST_MIN_BYTES = 1 << 60           # the stdlib loop, the reference
    try:
        for got, faults in zip(res.also, ([], FAULTS)):
            assert got == compute_timeseries(h, faults)
    finally:
        ts_mod.FAST_MIN_BYTES = old


def test_a_generated_run_gives_the_same_recovery_figures(generated_run):
    d, _ = generated_run
    _agree(d / "history.jsonl", d / "platform-ledger.jsonl")


def _gen_varied():
    src = Path(__file__).resolve().parents[2] / "benchmarks" / "gen_varied.py"
    spec = importlib.util.spec_from_file_location("gen_varied", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


@pytest.mark.parametrize("numbers", ["mixed", "int"])
def test_a_varied_run_gives_the_same_recovery_figures(tmp_path, numbers):
    """Integer and float numbers, absent optional keys, blank lines."""
    _gen_varied()(tmp_path, orders=2000, numbers=numbers, blank_every=97, plant_every=50)
    _agree(tmp_path / "history.jsonl", tmp_path / "platform-ledger.jsonl")


def test_latencies_procs_and_times_at_the_edges(tmp_path):
    """No latency, a null one, a negative one, integer times and latencies, a send time
    falling before 0 or on a whole second, the harness's own procs, an open invoke."""
    n = [f"2611700000000000000{i}" for i in range(10)]
    hist = []
    hist += call(1.0, "w0", "issue", "A", result="issued", no=n[0])
    hist += [issue(2.0, "w1", "B"),
             done(2.5, "w1", "issue", "B", typ="info", latency_ms=3000.0)]   # sent at -0.5
    hist += call(4, "w2", "issue", "C", typ="info", dt=1)                     # integer t
    hist += call(5.0, "w3", "query", "A", result="issued", no=n[0])
    hist[-1]["latency_ms"] = None
    hist += call(6.0, "w3", "query", "A", result="issued", no=n[0])
    hist[-1]["latency_ms"] = -5.0
    hist += call(7.0, "w3", "query", "A", result="issued", no=n[0])
    hist[-1]["latency_ms"] = 1000                                             # integer latency
    hist += call(7.5, "w3", "query", "A", result="issued", no=n[0])
    del hist[-1]["latency_ms"]
    hist += call(8.0, "drain.3", "query", "C", typ="info")
    hist += call(9.0, "final.0", "query", "A", result="issued", no=n[0])
    hist += call(10.0, "w4", "issue", "D", typ="fail", result="failed")
    hist.append(issue(11.0, "w5", "E"))  # never answered
    h, led = write_files(tmp_path, hist, [blue(n[0], "A")])
    _agree(h, led)
    duck, _ = _both(h, led)
    assert duck.by_sec[-1] == [1, 0, 1, 0] and duck.first_t == -0.5


def test_the_python_path_leaves_it_to_the_scan(tmp_path, monkeypatch):
    from harness.checker import files
    monkeypatch.setenv(files.PATH_ENV, "python")
    n = "26117000000000000001"
    h, led = write_files(tmp_path, call(1.0, "w0", "issue", "A", result="issued", no=n),
                         [blue(n, "A")])
    res = check_files(h, led, also=seconds_from_checker)
    assert res.path == "python" and res.also is None



def test_summary_says_which_path_each_stage_took(tmp_path, monkeypatch):
    """summary.json `checker.stages`: the checker's tables when they served, and a stage
    that read the history again says why (nothing falls back silently)."""
    import orjson

    import harness.recovery as recovery
    import harness.verdict as verdict
    n = "26117000000000000001"
    write_files(tmp_path, call(1.0, "w0", "issue", "A", result="issued", no=n), [blue(n, "A")])
    summary, _ = verdict.evaluate_run(tmp_path, say=lambda s: None, render=False)
    stages = orjson.loads((tmp_path / "summary.json").read_bytes())["checker"]["stages"]
    assert stages == {"classification": {"path": "duckdb"}, "recovery": {"path": "duckdb"}}

    def broken(con):
        raise RuntimeError("no table e")
    monkeypatch.setattr(verdict, "seconds_from_checker", broken)
    said: list[str] = []
    summary, _ = verdict.evaluate_run(tmp_path, say=said.append, render=False)
    assert summary.checker.stages["recovery"] == {"path": "python",
                                                   "why": "RuntimeError: no table e"}
    assert summary.recovery == recovery.measure(recovery.scan_history(tmp_path / "history.jsonl"),
                                                [], None).to_json()
    verdict.print_verdict(summary, tmp_path, say=said.append)
    assert any("recovery: read the history again (RuntimeError: no table e)" in s for s in said)

    from harness.checker import files
    monkeypatch.setenv(files.PATH_ENV, "python")
    summary, _ = verdict.evaluate_run(tmp_path, say=lambda s: None, render=False)
    assert summary.checker.stages["classification"] == {"path": "python"}
    assert summary.checker.stages["recovery"]["path"] == "python"
    assert "in Python" in summary.checker.stages["recovery"]["why"]
