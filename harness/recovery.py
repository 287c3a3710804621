"""Recovery: does the system serve its customers again once the faults heal?

A system that answers nothing after a fault has no anomaly to show, so the checker alone
would call it fine. This stage measures, from the customers' requests in the history (the
harness's own `drain`/`final` procs left out) and the applied faults' windows:

- the share of requests answered (`ok` or `fail`; `info` is unanswered) during each fault
  window, after the last one, outside every window, and overall;
- per fault, `recovery_s`: from the fault's end until checkouts succeed again at the
  pre-fault rate, and the worst of them (None: never, before the load ended).

Each request counts at the second it was sent (its completion `t` minus its latency), so a
request sent during a fault that times out after the window still belongs to the window.
"Succeed at the pre-fault rate": over a sliding window of `SLIDE_S` seconds, the share of
checkout attempts answered `ok` is at least `RECOVERED_SHARE` of that share in the
`BASELINE_S` seconds before the fault (seconds inside other faults left out; too few
checkouts there: every second outside all faults). Fault windows are those of the report
(harness/fault_windows.py `fault_window`): an instantaneous fault lasts until its restart.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from harness.checker.history import is_harness_proc
from harness.fault_windows import fault_window

__all__ = ["Recovery", "scan_history", "seconds_from_checker", "measure", "recovery_of_run", "SLIDE_S", "BASELINE_S",
           "RECOVERED_SHARE"]

SLIDE_S = 3
BASELINE_S = 10
RECOVERED_SHARE = 0.9
#: Fewer checkouts than this in a baseline: fall back to every second outside the faults.
_MIN_BASELINE = 5


@dataclass(slots=True)
class Seconds:
    """Customer requests per second they were sent: [requests, answered, checkouts, ok]."""
    by_sec: dict[int, list[int]] = field(default_factory=dict)
    first_t: float | None = None
    last_t: float | None = None

    def add(self, sent_t: float, op: str, typ: str) -> None:
        sec = math.floor(sent_t)
        c = self.by_sec.get(sec)
        if c is None:
            c = self.by_sec[sec] = [0, 0, 0, 0]
        c[0] += 1
        if typ != "info":
            c[1] += 1
        if op == "issue":
            c[2] += 1
            if typ == "ok":
                c[3] += 1
        if self.first_t is None or sent_t < self.first_t:
            self.first_t = sent_t
        if self.last_t is None or sent_t > self.last_t:
            self.last_t = sent_t


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def add_events(acc: Seconds, events: Iterable[dict[str, Any]]) -> Seconds:
    """Fold completions of customer procs into `acc` (malformed lines are the checker's to
    report; here they are skipped)."""
    for e in events:
        if not isinstance(e, dict):
            continue
        typ = e.get("type")
        if typ not in ("ok", "fail", "info"):
            continue
        proc = e.get("proc")
        t = _num(e.get("t"))
        if t is None or not isinstance(proc, str):
            continue
        if is_harness_proc(proc):
            continue
        lat = _num(e.get("latency_ms"))
        acc.add(t - lat / 1000.0 if lat is not None and lat >= 0 else t, str(e.get("op")), typ)
    return acc


def seconds_from_checker(con: Any) -> Seconds:
    """The `Seconds` of `scan_history`, from the checker's DuckDB table `e` (check_files'
    `also` callback, harness/checker/duck.py ALSO_COLUMNS: every line of the history,
    valid, typed) instead of a second read of the file. The same rule as `add_events`,
    term by term: a completion (typc 1-3) of a customer's proc (`load`) with a finite `t`
    counts at the second it was sent, t - latency/1000 when a finite latency >= 0 is given,
    else t; answered unless info; a checkout is an issue, succeeded when ok (codes:
    harness/checker/sqlrules.py). Tests compare both on the same histories (tests/verdict/test_recovery.py)."""
    from harness.checker.sqlrules import op, typ
    acc = Seconds()
    rows = con.execute(f"""
SELECT floor(sent)::BIGINT AS sec, count(*), count(*) FILTER (WHERE typc <> {typ.info}),
  count(*) FILTER (WHERE opc = {op.issue}),
  count(*) FILTER (WHERE opc = {op.issue} AND typc = {typ.ok}), min(sent), max(sent)
FROM (SELECT CASE WHEN lat IS NOT NULL AND isfinite(lat) AND lat >= 0
                  THEN t - lat / 1000.0::DOUBLE ELSE t END AS sent, opc, typc
      FROM e WHERE load AND typc <> {typ.invoke} AND isfinite(t))
GROUP BY sec ORDER BY sec""").fetchall()
    for sec, n, answered, checkouts, ok, lo, hi in rows:
        acc.by_sec[int(sec)] = [int(n), int(answered), int(checkouts), int(ok)]
        if acc.first_t is None or lo < acc.first_t:
            acc.first_t = float(lo)
        if acc.last_t is None or hi > acc.last_t:
            acc.last_t = float(hi)
    return acc


def scan_history(path: Path) -> Seconds:
    """Stream history.jsonl once (invokes are skipped before they are parsed)."""
    acc = Seconds()

    def lines() -> Iterable[dict[str, Any]]:
        with open(path, "rb") as fh:
            for raw in fh:
                if b'"invoke"' in raw and b'"type":"invoke"' in raw:
                    continue
                try:
                    yield orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
    return add_events(acc, lines())


def _share(a: int, n: int) -> float | None:
    return round(a / n, 6) if n else None


@dataclass(slots=True)
class Recovery:
    """The figures of summary.json's `recovery` (docs/design.md s.4)."""
    answered_share: float | None                 # outside every fault window
    answered_share_overall: float | None
    answered_share_in_faults: float | None       # the lowest of the fault windows
    answered_share_after_faults: float | None    # after the last fault's end
    recovery_s: float | None                     # the worst; 0.0 without faults
    recovered: bool                              # every fault recovered before the load ended
    windows: list[dict[str, Any]]
    after_last: dict[str, Any] | None
    requests: int

    def to_json(self) -> dict[str, Any]:
        return {"answered_share": self.answered_share,
                "answered_share_overall": self.answered_share_overall,
                "answered_share_in_faults": self.answered_share_in_faults,
                "answered_share_after_faults": self.answered_share_after_faults,
                "recovery_s": self.recovery_s, "recovered": self.recovered,
                "requests": self.requests, "windows": self.windows,
                "after_last_fault": self.after_last,
                "rule": {"slide_s": SLIDE_S, "baseline_s": BASELINE_S,
                         "recovered_share": RECOVERED_SHARE}}


def _sum(by_sec: dict[int, list[int]], secs: Iterable[int]) -> list[int]:
    tot = [0, 0, 0, 0]
    for s in secs:
        c = by_sec.get(s)
        if c is not None:
            for i in range(4):
                tot[i] += c[i]
    return tot


def measure(acc: Seconds, faults: list[dict[str, Any]], load_end_t: float | None) -> Recovery:
    """The recovery figures of one run from its per-second requests and applied faults."""
    by = acc.by_sec
    spans: list[tuple[float, float, dict[str, Any]]] = []
    for f in faults:
        w = fault_window(f)
        if w is not None:
            spans.append((w[0], w[1], f))
    spans.sort(key=lambda s: s[0])
    end = load_end_t if load_end_t is not None else (acc.last_t if acc.last_t is not None else 0.0)
    last_sec = math.floor(end)
    secs = sorted(by)

    def inside(sec: int) -> bool:
        # a second belongs to a window when its middle does (windows of whole seconds)
        mid = sec + 0.5
        return any(a <= mid < b for a, b, _ in spans)

    outside = [s for s in secs if not inside(s)]
    out_tot = _sum(by, outside)
    all_tot = _sum(by, secs)
    base_all = (out_tot[3] / out_tot[2]) if out_tot[2] >= _MIN_BASELINE else None

    windows = []
    worst: float | None = 0.0
    recovered_all = True
    for a, b, f in spans:
        in_secs = [s for s in secs if a <= s + 0.5 < b]
        tot = _sum(by, in_secs)
        lo = math.floor(a)
        before = [s for s in range(lo - BASELINE_S, lo) if s in by and not inside(s)]
        btot = _sum(by, before)
        baseline = btot[3] / btot[2] if btot[2] >= _MIN_BASELINE else base_all
        rec = _recovery(by, math.ceil(b), last_sec, baseline)
        if rec is None:
            recovered_all = False
            worst = None
        elif worst is not None:
            worst = max(worst, rec)
        windows.append({"id": f.get("id"), "kind": f.get("kind"), "target": f.get("target"),
                        "start_s": round(a, 3), "end_s": round(b, 3), "requests": tot[0],
                        "answered_share": _share(tot[1], tot[0]),
                        "checkout_ok_share": _share(tot[3], tot[2]),
                        "baseline_ok_share": None if baseline is None else round(baseline, 6),
                        "recovery_s": rec})
    after = None
    if spans:
        last_end = max(b for _, b, _ in spans)
        after_secs = [s for s in secs if s + 0.5 >= last_end]
        tot = _sum(by, after_secs)
        after = {"start_s": round(last_end, 3), "end_s": round(end, 3), "requests": tot[0],
                 "answered_share": _share(tot[1], tot[0])}
    in_shares = [w["answered_share"] for w in windows if w["answered_share"] is not None]
    return Recovery(
        answered_share=_share(out_tot[1], out_tot[0]),
        answered_share_overall=_share(all_tot[1], all_tot[0]),
        answered_share_in_faults=min(in_shares) if in_shares else None,
        answered_share_after_faults=after["answered_share"] if after else _share(out_tot[1], out_tot[0]),
        recovery_s=worst if spans else 0.0,
        recovered=recovered_all,
        windows=windows, after_last=after, requests=all_tot[0])


def _recovery(by: dict[int, list[int]], start: int, last_sec: int,
              baseline: float | None) -> float | None:
    """Seconds from `start` (a fault's end) to the first sliding window whose checkout ok
    share reaches RECOVERED_SHARE of `baseline`; None if none did before `last_sec`."""
    if baseline is None or baseline <= 0:
        return 0.0              # nothing to come back to (no checkout succeeded before)
    need = RECOVERED_SHARE * baseline
    for s in range(start, last_sec - SLIDE_S + 2):
        tot = _sum(by, range(s, s + SLIDE_S))
        if tot[2] and tot[3] / tot[2] >= need:
            return float(s - start)
    return None


def recovery_of_run(history: Path, faults: list[dict[str, Any]],
                    load_end_t: float | None) -> Recovery:
    return measure(scan_history(history), faults, load_end_t)
