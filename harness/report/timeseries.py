"""Per-second throughput and per-window latency percentiles from `history.jsonl`.

The history of a long peak run has hundreds of thousands of lines, so it is
streamed once: counters per second, latencies kept only per 5 s window (needed
for exact percentiles). Invokes are not completions and are not counted.
Percentiles use the nearest-rank method, so a figure is always a latency that
was actually measured.
"""
from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.checker.history import is_harness_proc
from harness.checker.stats import percentile
from harness.fault_windows import fault_end, fault_window
from harness.rundir import SkippedLines, history_paths, iter_history, iter_jsonl

__all__ = ["compute_timeseries", "timeseries_from_events", "timeseries_from_checker", "percentile", "write_latency_csv",
           "WINDOW_S", "OUTCOMES"]

WINDOW_S = 5
OUTCOMES = ("ok", "fail", "info")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def timeseries_from_events(events: Iterable[dict[str, Any]], faults: list[dict[str, Any]],
                           skipped: SkippedLines | None = None) -> dict[str, Any]:
    """The timeseries dict of `compute_timeseries`, from any iterable of history events."""
    per_second: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    per_second_op: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    window_lat: dict[int, list[float]] = defaultdict(list)
    spans = [(fault_window(f), f) for f in faults]
    during = [{"ok": 0, "fail": 0, "info": 0, "lat": []} for _ in faults]
    skipped = skipped if skipped is not None else SkippedLines()
    invokes = completions = 0
    for ev in events:
        t = _number(ev.get("t"))
        kind = ev.get("type")
        if t is None or kind not in ("invoke", *OUTCOMES):
            skipped.add(f"event without a numeric 't' or a known 'type': {str(ev)[:80]}")
            continue
        if is_harness_proc(str(ev.get("proc") or "")):
            continue        # the harness's own drain and final read are not customer traffic
        if kind == "invoke":
            invokes += 1
            continue
        completions += 1
        sec = math.floor(t)
        per_second[sec][kind] += 1
        op = str(ev.get("op") or "?")
        by_op = per_second_op[sec].setdefault(op, dict.fromkeys(OUTCOMES, 0))
        by_op[kind] += 1
        latency = _number(ev.get("latency_ms"))
        if latency is not None:
            window_lat[math.floor(t / WINDOW_S) * WINDOW_S].append(latency)
        for (span, _), acc in zip(spans, during):
            if span is not None and span[0] <= t < span[1]:
                acc[kind] += 1
                if latency is not None:
                    acc["lat"].append(latency)

    return _assemble(per_second, per_second_op, window_lat,
                     [(span, fault, acc["ok"], acc["fail"], acc["info"], sorted(acc["lat"]))
                      for (span, fault), acc in zip(spans, during)],
                     invokes, completions, skipped)


def _assemble(per_second: dict[int, dict[str, int]],
              per_second_op: dict[int, dict[str, dict[str, int]]],
              window_lat: dict[int, Any], during: list[tuple], invokes: int,
              completions: int, skipped: SkippedLines) -> dict[str, Any]:
    """The timeseries dict from the per-second counts, the latencies per window and, per
    fault, (window, fault, ok, fail, info, ascending latencies): shared by both readers."""
    seconds: list[dict[str, Any]] = []
    if per_second:
        for sec in range(min(per_second), max(per_second) + 1):   # dense: gaps are zeros
            counts = per_second.get(sec, dict.fromkeys(OUTCOMES, 0))
            seconds.append({"t": sec, **counts, "total": sum(counts.values()),
                            "by_op": per_second_op.get(sec, {})})
    windows = []
    for start in sorted(window_lat):
        values = sorted(window_lat[start]) if isinstance(window_lat[start], list) \
            else window_lat[start]
        windows.append({"window_start_s": start, "p50": percentile(values, 50),
                        "p95": percentile(values, 95), "p99": percentile(values, 99),
                        "max": float(values[-1]), "count": len(values)})
    ops = sorted({op for by in per_second_op.values() for op in by})
    fault_stats = []
    for span, fault, ok, fail, info, lat in during:
        fault_stats.append({"id": fault.get("id"), "kind": fault.get("kind"),
                            "target": fault.get("target"),
                            "start_s": span[0] if span else None,
                            "end_s": fault_end(fault),
                            "ok": ok, "fail": fail, "info": info,
                            "p95_ms": percentile(lat, 95)})
    return {"window_s": WINDOW_S, "invokes": invokes, "completions": completions,
            "ops": ops, "seconds": seconds, "latency_windows": windows,
            "during_faults": fault_stats,
            "skipped_lines": skipped.count, "first_skipped": skipped.first}


def compute_timeseries(history_path: Path, faults: list[dict[str, Any]]) -> dict[str, Any]:
    """Stream a history file (or a run directory's history) into per-second figures.

    Returns `{window_s, invokes, completions, ops, seconds: [{t, ok, fail, info, total,
    by_op: {op: {ok, fail, info}}}], latency_windows: [{window_start_s, p50, p95, p99, max,
    count}], during_faults: [{id, kind, target, start_s, end_s, ok, fail, info, p95_ms}],
    skipped_lines, first_skipped}`. A missing history gives empty lists, not an error.
    """
    history_path = Path(history_path)
    faults = faults or []
    paths = history_paths(history_path) if history_path.is_dir() else [history_path]
    if (len(paths) == 1 and paths[0].is_file()
            and paths[0].stat().st_size >= FAST_MIN_BYTES):
        fast = _timeseries_duckdb(paths[0], faults)
        if fast is not None:
            return fast
    skipped = SkippedLines()
    if history_path.is_dir():
        events: Iterable[dict[str, Any]] = iter_history(history_path, skipped)
    else:
        events = iter_jsonl(history_path, strict=False, skipped=skipped)
    return timeseries_from_events(events, faults or [], skipped)


#: From this size on the history is read by DuckDB (`_timeseries_duckdb`): the stdlib-speed
#: loop above takes about a minute for a million orders.
FAST_MIN_BYTES = 16 << 20


def _timeseries_duckdb(path: Path, faults: list[dict[str, Any]]) -> dict[str, Any] | None:
    """`compute_timeseries` of a large history file: DuckDB parses the lines, SQL counts per
    second, numpy sorts the latencies. The same figures as `timeseries_from_events` (tests
    compare); None (the loop decides) for anything that loop would treat specially - a
    line it would skip or that is not an object, a non-string proc or op, an escaped proc -
    or any DuckDB error."""
    try:
        import duckdb
        import numpy  # noqa: F401
    except ImportError:
        return None
    cols = "{'t': 'JSON', 'type': 'JSON', 'proc': 'JSON', 'op': 'JSON', 'latency_ms': 'JSON'}"
    src = "'" + str(path).replace("'", "''") + "'"
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads = 2")
        con.execute(f"""
CREATE TABLE h AS SELECT t_j, typ, proc_j, op_j,
  CASE WHEN t_j IS NOT NULL AND NOT starts_with(t_j, '"') THEN TRY_CAST(t_j AS DOUBLE) END AS t,
  CASE WHEN lat_j IS NOT NULL AND NOT starts_with(lat_j, '"')
       THEN TRY_CAST(lat_j AS DOUBLE) END AS lat
FROM (SELECT t::VARCHAR AS t_j, type::VARCHAR AS typ, proc::VARCHAR AS proc_j,
        op::VARCHAR AS op_j, latency_ms::VARCHAR AS lat_j
      FROM read_json({src}, format = 'newline_delimited', columns = {cols}))""")
        odd = con.execute("""
SELECT count(*) FROM h WHERE t IS NULL OR NOT isfinite(t)
  OR typ NOT IN ('"invoke"', '"ok"', '"fail"', '"info"')
  OR (proc_j IS NOT NULL AND (NOT starts_with(proc_j, '"') OR contains(proc_j, '\\')))
  OR (op_j IS NOT NULL AND (NOT starts_with(op_j, '"') OR contains(op_j, '\\')))""").fetchone()[0]
        if odd:
            return None
        from harness.checker.sqlrules import code_case, typ
        con.execute(f"""
CREATE TABLE c AS SELECT rowid AS rn, t, lat,
  {code_case("typ", typ, typ.info)} AS typc,
  CASE WHEN op_j IS NULL OR op_j = '""' THEN '?' ELSE op_j[2:-2] END AS op
FROM h WHERE split_part(coalesce(proc_j[2:-2], ''), '.', 1) NOT IN ('drain', 'final')""")
        return _timeseries_of(con, "c", faults)
    except duckdb.Error:
        return None
    finally:
        con.close()





def timeseries_from_checker(con: Any, faults: list[dict[str, Any]]) -> dict[str, Any] | None:
    """`compute_timeseries` of the history the checker's DuckDB pass has just read (its
    table `e`, every line valid: check_files' `also` callback), so that a large history is
    parsed once; None (the caller reads the file) if a time is not finite."""
    from harness.checker.sqlrules import name_case, op
    con.execute(f"""
CREATE OR REPLACE TEMP VIEW ts_c AS
SELECT rowid AS rn, t, lat, typc, {name_case("opc", op)} AS op FROM e WHERE load""")
    if con.execute("SELECT count(*) FROM ts_c WHERE NOT isfinite(t)").fetchone()[0]:
        return None
    return _timeseries_of(con, "ts_c", faults)


def _timeseries_of(con: Any, rel: str, faults: list[dict[str, Any]]) -> dict[str, Any]:
    """The timeseries of relation `rel` (the customers' lines in file order: rn, t (finite),
    lat (DOUBLE or NULL), typc (harness/checker/sqlrules.py's typ codes), op): SQL counts per second,
    numpy sorts the latencies. Shared by both DuckDB readers."""
    import numpy as np
    from harness.checker.sqlrules import typ
    invokes = con.execute(f"SELECT count(*) FROM {rel} WHERE typc = {typ.invoke}").fetchone()[0]
    per_second: dict[int, dict[str, int]] = {}
    per_second_op: dict[int, dict[str, dict[str, int]]] = {}
    rows = con.execute(f"""
SELECT floor(t)::BIGINT AS sec, op, count(*) FILTER (WHERE typc = {typ.ok}),
  count(*) FILTER (WHERE typc = {typ.fail}), count(*) FILTER (WHERE typc = {typ.info}),
  min(rn) AS first
FROM {rel} WHERE typc <> {typ.invoke} GROUP BY sec, op ORDER BY sec, first""").fetchall()
    completions = 0
    for sec, op, ok, fail, info, _ in rows:
        counts = per_second.setdefault(sec, dict.fromkeys(OUTCOMES, 0))
        counts["ok"] += ok
        counts["fail"] += fail
        counts["info"] += info
        per_second_op.setdefault(sec, {})[op] = {"ok": ok, "fail": fail, "info": info}
        completions += ok + fail + info
    # k: 0 ok, 1 fail, 2 info (the bincount below)
    got = con.execute(f"SELECT t, lat, typc - {typ.ok} AS k FROM {rel} WHERE typc <> {typ.invoke} "
                      "ORDER BY rn").fetchnumpy()
    t = np.asarray(got["t"], dtype=np.float64)
    k = np.asarray(got["k"], dtype=np.int64)
    lat_col = got["lat"]
    has = ~np.ma.getmaskarray(lat_col) if np.ma.isMaskedArray(lat_col) else ~np.isnan(
        np.asarray(lat_col, dtype=np.float64))
    lat = np.asarray(np.ma.filled(lat_col, np.nan) if np.ma.isMaskedArray(lat_col) else lat_col,
                     dtype=np.float64)
    has &= np.isfinite(lat)
    window_lat: dict[int, Any] = {}
    lt, ll = t[has], lat[has]
    if ll.size:
        w = (np.floor(lt / WINDOW_S) * WINDOW_S).astype(np.int64)
        order = np.lexsort((ll, w))
        w, ll_sorted = w[order], ll[order]
        starts = np.flatnonzero(np.r_[True, w[1:] != w[:-1]])
        ends = np.r_[starts[1:], w.size]
        for s0, e0 in zip(starts.tolist(), ends.tolist()):
            window_lat[int(w[s0])] = [float(x) for x in ll_sorted[s0:e0]] \
                if e0 - s0 < 64 else _Floats(ll_sorted[s0:e0])
    during = []
    for f in faults:
        span = fault_window(f)
        if span is None:
            during.append((None, f, 0, 0, 0, []))
            continue
        m = (t >= span[0]) & (t < span[1])
        kk = np.bincount(k[m], minlength=3)
        fl = np.sort(lat[m & has])
        during.append((span, f, int(kk[0]), int(kk[1]), int(kk[2]), _Floats(fl)))
    return _assemble(per_second, per_second_op, window_lat, during, int(invokes), completions,
                     SkippedLines())


class _Floats:
    """An ascending numpy array read as Python floats (for `percentile`)."""

    def __init__(self, a: Any) -> None:
        self.a = a

    def __len__(self) -> int:
        return int(self.a.size)

    def __bool__(self) -> bool:
        return bool(self.a.size)

    def __getitem__(self, i: int) -> float:
        return float(self.a[i])


def _csv_number(value: float | None) -> float | int | str:
    if value is None:
        return ""
    return int(value) if float(value).is_integer() else value


def write_latency_csv(path: Path, timeseries: dict[str, Any]) -> Path:
    """`window_start_s,p50,p95,p99,count`, one row per 5 s window that had completions."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["window_start_s", "p50", "p95", "p99", "count"])
        for w in timeseries.get("latency_windows", []):
            out.writerow([w["window_start_s"], *(_csv_number(w[k]) for k in ("p50", "p95", "p99")),
                          w["count"]])
    return Path(path)
