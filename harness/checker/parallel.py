"""check_files on several cores: partitions by order, merged to the sequential verdict.

Every class of design.md s.7 is decided per order (or per invoice of one order), so each
process folds and classifies only the orders whose id falls in its partition
(`fastfold.partition_of`) and the ledger lines whose order_ref does. What crosses
partitions is merged exactly:

- counts and per-op request counts add up; latencies and acceptance delays are
  concatenated and sorted (numpy), then the same nearest-rank percentiles are taken;
- evidence keeps, per class, the first `max_evidence` in the order the sequential checker
  meets them (each anomaly carries that position as its `at` key, see classify.py);
- time to consistency is the max of the partitions' latest settle times;
- the load procs' invoke..completion byte intervals are checked for overlaps across
  partitions (a proc with two requests open at once).

Whatever a partition cannot see alone makes `check_files_parallel` return None and the
caller runs the sequential checker instead: a line whose order the raw byte search got
wrong, any input error (the sequential reader reports the first one with file:line), a
verify or red invoice that names an invoice held in another partition, an invoice number
in two partitions, integer-typed latencies/delays/times that could tie with floats, or a
crashed sub-check. Those are rare in real runs and the answer stays exact.
"""
from __future__ import annotations

import gc
import multiprocessing
import os
import traceback
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from harness.checker.classify import (Collector, check_orders, check_orphans, check_reversals,
                                      check_stale_reads, link_reds, own_numbers)
from harness.checker.evaluate import list_anomalies
from harness.checker.fastfold import Intervals, fold_history_file, fold_ledger_file
from harness.checker.fold import Fold
from harness.checker.result import ANOMALY_CLASSES, COUNT_KEYS, CheckOptions, CheckResult
from harness.checker.stats import (acceptance_delays, consistency_figure, delay_figures,
                                   latest_settled, request_figures)

__all__ = ["check_files_parallel", "PROBE"]

#: Hashed in every process: partitions compare invoice numbers by hash(), which is only
#: meaningful if all of them share the parent's hash seed (fork does; spawn would not).
PROBE = "invoice-chaos-checker-probe"


class KeyedCollector(Collector):
    """A Collector that remembers where (`at`) each kept anomaly and each class's first
    anomaly were met, so that partitions merge into the sequential order."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.first_at: dict[str, Any] = {}
        self.kept_at: dict[str, list[Any]] = {}

    def add(self, cls: str, order_id: str | None, reason: Any, event_refs: list[Any],
            ledger_refs: Any, at: Any = None) -> None:
        if cls not in self.first_at:
            self.first_at[cls] = at
        n = self.totals.get(cls, 0)
        super().add(cls, order_id, reason, event_refs, ledger_refs, at)
        if n < self.limit:
            self.kept_at.setdefault(cls, []).append(at)


def _has_int(values: list[Any]) -> bool:
    return any(type(v) is int for v in values)


def _partial(history: Path, ledger: Path, opts: CheckOptions, k: int, n: int) -> dict[str, Any]:
    """Fold and classify partition k of n; a picklable summary (no per-order objects)."""
    fold = Fold()
    iv = Intervals()
    fold_history_file(history, fold, (k, n), iv)
    fold.end_of_history()
    fold_ledger_file(ledger, fold, (k, n))
    col = KeyedCollector(opts.max_evidence)
    counts: dict[str, int] = {}
    link_reds(fold)
    check_orders(fold, col, counts)
    check_orphans(fold, col)
    check_reversals(fold, col)
    check_stale_reads(fold, col, opts.allowed_lag_s, opts.lag_windows())
    latest = latest_settled(fold)
    delays = acceptance_delays(fold)
    own: set[str] = set()
    for st in fold.orders.values():
        if st.given is not None:
            own.add(st.given)
            if st.given_more is not None:
                own.update(st.given_more)
        elif st.given_more is not None:
            own.update(own_numbers(st))
    blues = fold.blues
    missing = [vm.invoice_no for vm in fold.verify_misses
               if vm.invoice_no is not None and vm.invoice_no not in blues]
    missing += [r.original for r in fold.reds if r.original not in blues]
    ints = (_has_int(fold.latencies) or _has_int(delays)
            or type(latest) is int or type(fold.load_first_t) is int
            or type(fold.load_last_t) is int)
    return {
        "probe": hash(PROBE),
        "ints": ints,
        "counts": counts,
        "totals": col.totals,
        "first_at": col.first_at,
        "kept": {c: list(zip(col.kept_at[c], stubs)) for c, stubs in col.kept.items()},
        "by_op": fold.by_op,
        "latencies": array("d", fold.latencies),
        "delays": array("d", delays),
        "latest": latest,
        "load_first_t": fold.load_first_t,
        "load_last_t": fold.load_last_t,
        "foreign_seen": [no for no in fold.seen_on_read if no not in own],
        "missing": missing,
        "own_h": np.fromiter((hash(no) for no in own), dtype=np.int64, count=len(own)),
        "blue_h": np.fromiter((hash(no) for no in blues), dtype=np.int64, count=len(blues)),
        "iv_procs": list(iv.procs),
        "iv": (np.frombuffer(iv.proc, dtype=np.int64), np.frombuffer(iv.start, dtype=np.int64),
               np.frombuffer(iv.end, dtype=np.int64)),
    }


def _child(conn: Any, history: Path, ledger: Path, opts: CheckOptions, k: int, n: int) -> None:
    gc.disable()
    try:
        out: Any = ("ok", _partial(history, ledger, opts, k, n))
    except BaseException as e:  # noqa: BLE001 - any failure means: use the sequential path
        out = ("fail", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")
    conn.send(out)
    conn.close()
    os._exit(0)     # skip freeing millions of objects one by one


def _any_in(hashes_of: list[str], table: np.ndarray) -> bool:
    if not hashes_of or table.size == 0:
        return False
    h = np.fromiter((hash(x) for x in hashes_of), dtype=np.int64, count=len(hashes_of))
    return bool(np.isin(h, table).any())


def _pairing_overlaps(parts: list[dict[str, Any]]) -> bool:
    """A load proc with an invoke..completion interval overlapping another one (seen by
    different partitions): the sequential pairing would refuse the history."""
    codes: dict[str, int] = {}
    procs, starts, ends = [], [], []
    for p in parts:
        remap = np.array([codes.setdefault(name, len(codes)) for name in p["iv_procs"]] or [0],
                         dtype=np.int64)
        pr, s, e = p["iv"]
        procs.append(remap[pr] if pr.size else pr)
        starts.append(s)
        ends.append(e)
    proc = np.concatenate(procs)
    if proc.size < 2:
        return False
    start = np.concatenate(starts)
    end = np.concatenate(ends)
    order = np.lexsort((start, proc))
    proc, start, end = proc[order], start[order], end[order]
    same = proc[1:] == proc[:-1]
    return bool((same & (end[:-1] >= start[1:])).any())


def _decidable(parts: list[dict[str, Any]]) -> bool:
    """False when some partition could not decide alone (see the module docstring)."""
    probe = hash(PROBE)
    if any(p["probe"] != probe or p["ints"] for p in parts):
        return False
    for i, p in enumerate(parts):
        for j, q in enumerate(parts):
            if j == i:
                continue
            if _any_in(p["foreign_seen"], q["own_h"]) or _any_in(p["missing"], q["blue_h"]):
                return False
            if j > i and p["blue_h"].size and q["blue_h"].size and bool(
                    np.isin(p["blue_h"], q["blue_h"]).any()):
                return False
    return not _pairing_overlaps(parts)


def check_files_parallel(history: Path, ledger: Path, opts: CheckOptions, event_at: Any,
                         ledger_at: Any, nparts: int = 2) -> CheckResult | None:
    """The verdict of check_files computed by `nparts` processes (this one included), or
    None if the sequential path must decide (see the module docstring)."""
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:
        return None
    children = []
    for k in range(1, nparts):
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(send, history, ledger, opts, k, nparts),
                           daemon=True)
        proc.start()
        send.close()
        children.append((proc, recv))
    parts: list[dict[str, Any]] = []
    failed = False
    try:
        parts.append(_partial(history, ledger, opts, 0, nparts))
    except Exception:  # noqa: BLE001 - an input error or a misroute: sequential decides
        failed = True
    for proc, recv in children:
        try:
            status, payload = recv.recv()
        except EOFError:
            status, payload = "fail", "worker died"
        recv.close()
        proc.join()
        if status != "ok":
            failed = True
        else:
            parts.append(payload)
    if failed or not _decidable(parts):
        return None
    return _result(parts, opts, event_at, ledger_at)


def _result(parts: list[dict[str, Any]], opts: CheckOptions, event_at: Any,
            ledger_at: Any) -> CheckResult | None:
    # --- anomalies: totals add up, evidence in the sequential order -----------------------
    firsts: dict[str, Any] = {}
    totals_sum: dict[str, int] = {}
    for p in parts:
        for cls, at in p["first_at"].items():
            if cls not in firsts or at < firsts[cls]:
                firsts[cls] = at
        for cls, n in p["totals"].items():
            totals_sum[cls] = totals_sum.get(cls, 0) + n
    class_order = sorted(firsts, key=lambda c: firsts[c])
    totals = {c: totals_sum[c] for c in class_order}
    kept: dict[str, list[Any]] = {}
    for cls in class_order:
        items = [item for p in parts for item in p["kept"].get(cls, ())]
        if items:
            items.sort(key=lambda it: it[0])
            kept[cls] = [stub for _, stub in items[:opts.max_evidence]]
    counts: dict[str, int] = {}
    for key in ("requested", "acknowledged", "failed", "indeterminate"):
        counts[key] = sum(p["counts"].get(key, 0) for p in parts)
    for k in COUNT_KEYS:
        counts.setdefault(k, totals.get(k, 0))
    valid = False if any(counts[k] for k in ANOMALY_CLASSES) else True
    # --- figures ---------------------------------------------------------------------------
    firsts_t = [p["load_first_t"] for p in parts if p["load_first_t"] is not None]
    lasts_t = [p["load_last_t"] for p in parts if p["load_last_t"] is not None]
    load_first_t = min(firsts_t) if firsts_t else None
    load_last_t = max(lasts_t) if lasts_t else None
    load_end = opts.load_end_t if opts.load_end_t is not None else load_last_t
    latests = [p["latest"] for p in parts]
    latest = None if any(x is None for x in latests) else max(latests)
    by_op: dict[str, list[int]] = {}
    for p in parts:
        for op, c in p["by_op"].items():
            acc = by_op.setdefault(op, [0, 0, 0, 0])
            for i in range(4):
                acc[i] += c[i]
    lat = np.sort(np.concatenate([np.frombuffer(p["latencies"], dtype=np.float64)
                                  for p in parts])).tolist()
    delays = np.sort(np.concatenate([np.frombuffer(p["delays"], dtype=np.float64)
                                     for p in parts])).tolist()
    return CheckResult(
        counts={k: counts[k] for k in COUNT_KEYS},
        anomalies=list_anomalies(kept, opts, event_at, ledger_at),
        totals=totals,
        time_to_consistency_s=consistency_figure(latest, load_end),
        acceptance_delay_s=delay_figures(delays),
        requests=request_figures(by_op, lat, load_first_t, load_end),
        valid=valid,
        errors=[],
    )
