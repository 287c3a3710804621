"""compute_timeseries: per-second completions and per-5 s latency percentiles."""
from __future__ import annotations

import csv
import json

from harness.fault_windows import fault_window
from harness.report.timeseries import compute_timeseries, percentile, write_latency_csv
from report_runs import FAULTS, HISTORY, event


def _write(path, events, extra=""):
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + extra, "utf-8")
    return path


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_counts_per_second_by_type_and_op(tmp_path):
    ts = compute_timeseries(_write(tmp_path / "h.jsonl", HISTORY), FAULTS)
    assert ts["invokes"] == 5 and ts["completions"] == 5
    by_t = {s["t"]: s for s in ts["seconds"]}
    assert [s["t"] for s in ts["seconds"]] == list(range(0, 13))     # dense, gaps are zero
    assert by_t[0]["ok"] == 1 and by_t[3]["ok"] == 1 and by_t[5]["info"] == 1
    assert by_t[6]["by_op"] == {"query": {"ok": 0, "fail": 1, "info": 0}}
    assert by_t[9]["total"] == 0
    wins = {w["window_start_s"]: w for w in ts["latency_windows"]}
    assert wins[0]["count"] == 2 and wins[0]["p50"] == 300 and wins[0]["p99"] == 2300
    assert wins[5]["count"] == 2 and wins[5]["p95"] == 2000.5
    assert wins[10]["p50"] == 100
    # completions inside each fault window: f1 1.02..4.0 holds the 3.4 s ok;
    # f2 (a kill, no end) counts until its restart_after "5s": 5.6 s info, 6.05 s fail
    during = {d["id"]: d for d in ts["during_faults"]}
    assert (during["f1"]["ok"], during["f1"]["p95_ms"]) == (1, 2300)
    assert (during["f2"]["info"], during["f2"]["fail"], during["f2"]["ok"]) == (1, 1, 0)
    assert during["f2"]["end_s"] is None
    assert during["f3"]["ok"] + during["f3"]["fail"] + during["f3"]["info"] == 0


def test_empty_missing_and_broken_histories(tmp_path):
    empty = compute_timeseries(_write(tmp_path / "e.jsonl", []), [])
    assert empty["seconds"] == [] and empty["latency_windows"] == []
    missing = compute_timeseries(tmp_path / "nope.jsonl", [])
    assert missing["completions"] == 0
    broken = compute_timeseries(
        _write(tmp_path / "b.jsonl", [event(1.5, "w0", "issue", "ok", "A", latency_ms=10)],
               extra='{"t": 2.0, "type": "o'), [])      # half-written last line
    assert broken["completions"] == 1 and broken["skipped_lines"] == 1
    assert broken["first_skipped"].startswith("b.jsonl:2")


def test_latency_csv_columns(tmp_path):
    ts = compute_timeseries(_write(tmp_path / "h.jsonl", HISTORY), [])
    rows = list(csv.reader(write_latency_csv(tmp_path / "latency.csv", ts).open()))
    assert rows[0] == ["window_start_s", "p50", "p95", "p99", "count"]
    assert rows[1] == ["0", "300", "2300", "2300", "2"]
    assert len(rows) == 1 + 3


def test_run_dir_reads_history_parts_when_not_merged(tmp_path):
    parts = tmp_path / "history"
    parts.mkdir()
    _write(parts / "w0.jsonl", HISTORY[:4])
    _write(parts / "drain.jsonl", HISTORY[8:])
    ts = compute_timeseries(tmp_path, [])
    assert ts["completions"] == 3 and ts["invokes"] == 3
    assert (tmp_path / "history.jsonl").exists() is False
    _write(tmp_path / "history.jsonl", HISTORY)          # the merged file wins when present
    assert compute_timeseries(tmp_path, [])["completions"] == 5


def test_fault_window_of_instantaneous_faults():
    assert fault_window({"start_s": 2.0, "end_s": 4.5}) == (2.0, 4.5)
    assert fault_window({"start_s": 2.0, "end_s": None}) == (2.0, 3.0)
    assert fault_window({"start_s": 2, "params": {"restart_after": "500ms"}}) == (2.0, 2.5)
    assert fault_window({"start_s": 2, "params": {"restart_after": 3}}) == (2.0, 5.0)
    assert fault_window({"planned_start_s": 2}) is None


def test_the_harness_drain_and_final_read_are_not_customer_traffic(tmp_path):
    harness_events = [{"t": 20.0 + i / 10, "proc": f"{role}.O7-{i}", "op": "query", "type": typ,
                       "order_id": f"O7-{i}", "latency_ms": 1.0 if typ == "ok" else None}
                      for i, role in enumerate(("drain", "final", "drain")) for typ in ("invoke", "ok")]
    ts = compute_timeseries(_write(tmp_path / "h.jsonl", HISTORY + harness_events), [])
    plain = compute_timeseries(_write(tmp_path / "p.jsonl", HISTORY), [])
    assert ts["completions"] == plain["completions"] and ts["invokes"] == plain["invokes"]
    assert ts["seconds"] == plain["seconds"]


def test_the_fast_reader_gives_the_same_figures(tmp_path, monkeypatch):
    """Large histories are read by DuckDB (`_timeseries_duckdb`): on the same lines it gives
    exactly the stdlib loop's timeseries, and hands over on a line that loop would skip."""
    import harness.report.timeseries as ts_mod
    extra = [{"t": 20.0 + i / 10, "proc": f"{role}.O7-{i}", "op": "query", "type": typ,
              "order_id": f"O7-{i}", "latency_ms": 1.0 if typ == "ok" else None}
             for i, role in enumerate(("drain", "final", "w1")) for typ in ("invoke", "ok")]
    extra += [{"t": 21, "proc": "w2", "type": "invoke"}, {"t": 21.5, "proc": "w2", "type": "ok",
              "latency_ms": 7}, {"t": 22.5, "proc": "w2", "op": "", "type": "fail",
              "latency_ms": "slow"}, {"t": 3.7, "proc": "w3", "op": "verify", "type": "ok",
              "latency_ms": 1e3}]
    h = _write(tmp_path / "h.jsonl", HISTORY + extra, extra="\n\n")
    monkeypatch.setattr(ts_mod, "FAST_MIN_BYTES", 1 << 60)
    slow = compute_timeseries(h, FAULTS)
    assert ts_mod._timeseries_duckdb(h, FAULTS) == slow
    assert slow["seconds"][21]["by_op"] == {"?": {"ok": 1, "fail": 0, "info": 0}}
    monkeypatch.setattr(ts_mod, "FAST_MIN_BYTES", 0)
    assert compute_timeseries(h, FAULTS) == slow
    bad = _write(tmp_path / "b.jsonl", HISTORY + [{"t": "soon", "type": "ok"}])
    assert ts_mod._timeseries_duckdb(bad, FAULTS) is None
    assert compute_timeseries(bad, FAULTS)["skipped_lines"] == 1
