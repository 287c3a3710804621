"""`report.html`: one self-contained page a person can read after a run.

Everything is inline (CSS, plots as base64 PNG data URIs, no script), so the
file can be attached to a CI job or mailed and still open anywhere. Every
value that came from a run (order ids, server errors, Chinese buyer names) is
passed through `html.escape`: a history is untrusted input.

Order of the page follows the reader's questions: did it pass; which gate
broke; how big was the run; what did it look like over time; which faults ran;
which orders went wrong and why (their full timelines).
"""
from __future__ import annotations

import base64
import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.checker.classes import CHANCES
from harness.checker.result import ANOMALY_CLASSES
from harness.fault_windows import active_at, fault_end
from harness.report.files import RunFiles
from harness.summary import Summary
from harness.report.processing import render_section as render_processing
from harness.report.uploads import render_section as render_uploads

__all__ = ["render_html", "CLASS_MEANINGS", "ANOMALY_ORDER"]

#: the checker's anomaly classes, then `recovered` (counted, not an anomaly)
ANOMALY_ORDER = ANOMALY_CLASSES + ("recovered",)

# design.md s.7, in the words a reader of a failed run needs.
CLASS_MEANINGS = {
    "lost": "The merchant accepted the order (told the customer issued or pending), but after "
            "the drain the platform holds no blue invoice for it, or a different number than "
            "the customer was given, or the merchant's final answer no longer knows the order "
            "or calls it failed.",
    "duplicated": "The platform holds more than one blue invoice for the order that red-letter "
                  "invoices do not cancel.",
    "phantom": ("The customer was told the invoice failed, or the merchant's final answer "
                "after the drain is failed or 404 (it denies the order), yet the platform "
                "holds an uncancelled blue invoice for it."),
    "mismatched": "The platform's invoice differs from the order (seller, buyer, amount, tax).",
    "orphaned": "A platform invoice whose order_ref no customer ever sent.",
    "unresolved": "Still pending when the drain deadline passed (after the final read).",
    "misreversed": "A red-letter invoice that reverses an order nobody refunded, or more than "
                   "the original; or a refund reported as done with no red invoice for it.",
    "recovered": "The outcome was unknown to the customer (timeout, reset, 5xx) and exactly one "
                 "invoice exists: fine, counted.",
    "stale_reads": "Answers that go backwards or lag too long: pending/not-found after "
                   "'issued' was already said, or a verify that cannot find an invoice older "
                   "than the allowed replica lag.",
}

_BAD_COUNTS = frozenset(c.replace("_", " ") for c in ANOMALY_ORDER if c != "recovered")
TIMELINE_COLUMNS = ("t", "proc", "op", "type", "result", "status", "invoice_no", "latency_ms",
                    "error")
INVOICE_COLUMNS = ("invoice_no", "kind", "request_id", "order_ref", "seller_tax_id",
                   "buyer_tax_id", "amount", "tax", "total", "issued_at", "original_invoice_no")

_CSS = """
:root { --ok:#2e7d32; --bad:#c62828; --warn:#ef6c00; --muted:#666; --line:#ddd; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei",
       "Noto Sans CJK SC", sans-serif; color:#222; margin:0; background:#f6f7f9; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
header { display:flex; gap:24px; align-items:center; background:#fff; padding:20px 24px;
         border-radius:8px; border:1px solid var(--line); }
.badge { font-size:28px; font-weight:700; color:#fff; padding:14px 26px; border-radius:8px;
         letter-spacing:1px; }
.badge.pass { background:var(--ok); } .badge.fail { background:var(--bad); }
.badge.interrupted { background:var(--warn); } .badge.error, .badge.unknown { background:#555; }
h1 { margin:0 0 4px; font-size:22px; } h2 { margin:28px 0 10px; font-size:18px; }
h3 { margin:18px 0 6px; font-size:15px; }
.meta { color:var(--muted); } .meta b { color:#222; font-weight:600; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:4px 20px 16px;
          margin-top:16px; }
table { border-collapse:collapse; margin:6px 0; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left;
         vertical-align:top; }
th { background:#fafafa; font-weight:600; }
td.num { text-align:right; font-variant-numeric: tabular-nums; }
tr.passed td.res { color:var(--ok); font-weight:700; }
tr.failed td { background:#fdecea; } tr.failed td.res { color:var(--bad); font-weight:700; }
tr.ev-fail td { background:#fdecea; } tr.ev-info td { background:#fff4e0; }
tr.ev-invoke td { color:var(--muted); }
.figs { display:flex; flex-wrap:wrap; gap:24px; }
.plot { max-width:100%; border:1px solid var(--line); border-radius:4px; margin:8px 0; }
details { border:1px solid var(--line); border-radius:6px; margin:6px 0; padding:4px 10px; }
details[open] { background:#fcfcfc; }
summary { cursor:pointer; } summary code { font-weight:600; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size:12px; }
pre { background:#f3f3f3; padding:8px; border-radius:4px; white-space:pre-wrap;
      word-break:break-all; }
.note { color:var(--muted); font-size:13px; } .warn { color:var(--bad); }
.more { color:var(--muted); font-style:italic; }
.harness-saturated { background:#fff4e0; border:2px solid var(--warn); }
.harness-saturated h2 { color:var(--warn); }
.fault-tag { display:inline-block; background:#fff0d9; border-radius:3px; padding:0 4px;
             margin:1px; font-size:11px; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any, digits: int = 3) -> str:
    """A figure for people: '—' for missing, trimmed decimals for floats."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _table(rows: list[list[Any]], header: list[str], row_classes: list[str] | None = None,
           raw: bool = False) -> str:
    """An HTML table; cells are escaped unless `raw` (then the caller escaped them)."""
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{_e(row_classes[i])}"' if row_classes and row_classes[i] else ""
        out.append(f"<tr{cls}>")
        for cell in row:
            num = ' class="num"' if _is_num(cell) else ""
            out.append(f"<td{num}>{cell if raw else _e(_fmt(cell))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _kv_table(pairs: list[tuple[str, Any]], bad: frozenset[str] = frozenset()) -> str:
    """Label/value rows; a label in `bad` with a non-zero value is shown in red."""
    rows = []
    for k, v in pairs:
        cls = ' class="failed"' if k in bad and _is_num(v) and v > 0 else ""
        rows.append(f'<tr{cls}><th>{_e(k)}</th><td class="num">{_e(_fmt(v))}</td></tr>')
    return "<table><tbody>" + "".join(rows) + "</tbody></table>"


def _header(files: RunFiles) -> str:
    s, run = files.summary, files.run
    verdict = str(s.verdict or "unknown").lower()
    if s.interrupted and verdict == "pass":
        verdict = "interrupted"
    merchant = s.merchant or run.merchant
    if isinstance(merchant, dict):
        who = (f"SUT <code>{_e(merchant['sut_cmd'])}</code>" if merchant.get("sut_cmd")
               else f"bundled, mode <b>{_e(merchant.get('mode') or '—')}</b>")
    else:
        who = _e(merchant)
    if isinstance(merchant, dict) and merchant.get("client"):
        who += f" through client adapter <code>{_e(merchant['client'])}</code>"
    duration = s.duration_s
    if not _is_num(duration):   # load start to the end of the drain, as run.json recorded it
        duration = run.run_time_s("drain_end_t") or run.run_time_s("load_end_t")
    meta = [
        f"seed <b>{_e(_fmt(s.seed if s.seed is not None else run.seed))}</b>",
        f"duration <b>{_e(_fmt(duration, 1))} s</b>" if _is_num(duration) else "duration —",
        f"merchant {who}",
        f"run <b>{_e(s.run_id or run.run_id or files.run_dir.name)}</b>",
        f"started <b>{_e(s.started_at or run.started_at or '—')}</b>",
    ]
    if run.backend:
        meta.append(f"backend <b>{_e(run.backend)}</b>")
    profile = (s.platform or run.platform).get("profile")
    if profile:
        meta.append(f"platform profile <b>{_e(profile)}</b>")
    desc = f'<div class="meta">{_e(s.description)}</div>' if s.description else ""
    return (f'<header><div class="badge {_e(verdict)}">{_e(verdict.upper())}</div><div>'
            f'<h1>{_e(s.scenario or "unnamed scenario")}</h1>{desc}'
            f'<div class="meta">{" · ".join(meta)}</div></div></header>')


def _notes(files: RunFiles, timeseries: dict[str, Any]) -> str:
    items = [_e(n) for n in files.summary.notes]
    for why in reversed(files.summary.unknown_reasons):
        items.insert(0, f'<span class="warn">Not enough evidence to pass: {_e(why)}</span>')
    checker = files.summary.checker
    if checker.valid == "unknown":
        items.insert(0, '<span class="warn">The checker could not decide (valid = unknown): '
                        + _e("; ".join(checker.errors)) + "</span>")
    else:
        items += [f'<span class="warn">checker: {_e(e)}</span>' for e in checker.errors]
    if checker.path:
        how = f"The checker read the history with its {_e(checker.path)} reader"
        if checker.fallback_reason:
            how = (f'<span class="warn">{how}: DuckDB handed over because '
                   f"{_e(checker.fallback_reason)}</span>")
        items.append(how + ("" if checker.fallback_reason else "."))
        for name, st in checker.stages.items():
            if name != "classification" and checker.path == "duckdb" \
                    and st.get("path") != "duckdb":
                items.append(f'<span class="warn">{_e(name)}: the history was read again '
                             f"({_e(st.get('why'))})</span>")
    if timeseries.get("skipped_lines"):
        items.append(f'<span class="warn">{timeseries["skipped_lines"]} history line(s) could '
                     f'not be read and were left out of the plots; first: '
                     f'{_e(timeseries.get("first_skipped"))}</span>')
    if not items:
        return ""
    listed = "".join(f"<li>{i}</li>" for i in items)
    return f"<section><h2>Notes</h2><ul>{listed}</ul></section>"


def _harness_path(summary: Summary) -> str:
    """First screen: seconds in which the harness's own path, not the system, stopped the
    customers (harness/pathwatch.py); their verdict is unknown."""
    found = summary.harness_path.get("stretches") or []
    if not found:
        return ""
    rows = "".join(f"<li>{_e(st.get('start_s'))}-{_e(st.get('end_s'))} s: verdict unknown</li>"
                   for st in found)
    return ('<section class="harness-saturated" id="harness-path">'
            "<h2>The harness's path stopped carrying traffic</h2>"
            f"<p>{_e(found[0].get('reason'))}. The answered share and the recovery figures leave "
            "these seconds out; neither a pass nor a fail is claimed for them.</p>"
            f"<ul>{rows}</ul></section>")


def _harness(summary: Summary) -> str:
    """First screen: was the load generator the bottleneck? (harness/load/saturation.py)"""
    load = summary.load
    h = load.get("harness") if isinstance(load.get("harness"), dict) else {}
    from harness.load.cpu_meter import cpu_words
    words = cpu_words(load.get("cpu") if isinstance(load.get("cpu"), dict) else None)
    cpu = f'<p class="note" id="machine-cpu">CPU: {_e(words)}.</p>' if words else ""
    if not load.get("harness_saturated"):
        if not h:
            return cpu
        return (f'<p class="note" id="harness-ok">Load generator kept up: '
                f'{_e(_fmt(h.get("unsent")))} arrivals unsent, start lag p99 '
                f'{_e(_fmt(h.get("lag_p99_ms")))} ms, loop lag p99 '
                f'{_e(_fmt(h.get("loop_lag_p99_ms")))} ms, CPU peak '
                f'{_e(_fmt(h.get("cpu_max_pct"), 0))} %.</p>' + cpu)
    from harness.load.saturation import ADVICE
    reasons = "".join(f"<li>{_e(r)}</li>" for r in h.get("reasons") or [])
    return ('<section class="harness-saturated" id="harness-saturated">'
            "<h2>The harness was the bottleneck</h2>"
            "<p>The load generator could not keep up with this rate, so part of what this "
            "report shows (latency, timeouts, unknown outcomes, the rate achieved) was caused "
            f"by the harness, not by the system under test. {_e(ADVICE)}.</p>"
            f"<ul>{reasons}</ul>{cpu}</section>")


def _gates(summary: Summary) -> str:
    gates = summary.gates
    if not gates:
        return '<section><h2>Gates</h2><p class="note">No gates were set.</p></section>'
    rows, classes = [], []
    for g in gates:
        passed = bool(g.get("passed"))
        rows.append([_e(g.get("name")), _e(g.get("limit")), _e(_fmt(g.get("value"))),
                     "pass" if passed else "FAIL"])
        classes.append("passed" if passed else "failed")
    body = _table(rows, ["gate", "limit", "value", "result"], classes, raw=True)
    body = body.replace("<td>pass</td>", '<td class="res">pass</td>').replace(
        "<td>FAIL</td>", '<td class="res">FAIL</td>')
    failed = sum(1 for c in classes if c == "failed")
    return (f"<section><h2>Gates — {len(gates) - failed} of {len(gates)} passed</h2>"
            f"{body}</section>")


def _figures(files: RunFiles) -> str:
    s = files.summary
    inv = s.invoices
    inv_pairs = [(k.replace("_", " "), inv.get(k)) for k in
                 ("requested", "acknowledged", "failed", "indeterminate", "recovered", "lost",
                  "duplicated", "phantom", "mismatched", "orphaned", "unresolved",
                  "misreversed", "stale_reads")]
    inv_pairs += [(k, v) for k, v in inv.items() if k.replace("_", " ") not in dict(inv_pairs)]
    req = s.requests
    lat = req.get("latency_ms") or {}
    err = req.get("error_rate")
    req_pairs = [("total", req.get("total")), ("rps", req.get("rps")),
                 ("error rate", f"{err * 100:.2f} %" if _is_num(err) else None),
                 ("latency p50 (ms)", lat.get("p50")), ("latency p95 (ms)", lat.get("p95")),
                 ("latency p99 (ms)", lat.get("p99")), ("latency max (ms)", lat.get("max"))]
    delay = s.acceptance_delay_s
    load = s.load
    stats = files.load_stats or {}
    cons_pairs = [("time to consistency (s)", s.time_to_consistency_s),
                  ("acceptance delay p50 (s)", delay.get("p50")),
                  ("acceptance delay p95 (s)", delay.get("p95")),
                  ("acceptance delay max (s)", delay.get("max")),
                  ("accepted orders measured", delay.get("count")),
                  ("target arrivals/s (mean)", load.get("target_rps_mean")),
                  ("achieved arrivals/s (mean)", load.get("achieved_rps_mean")),
                  ("arrivals", load.get("arrivals", stats.get("arrivals"))),
                  ("unsent (load generator behind)", load.get("unsent", stats.get("unsent"))),
                  ("workers", load.get("workers", stats.get("workers")))]
    out = ['<section><h2>Key figures</h2><div class="figs">',
           f"<div><h3>Invoices (orders)</h3>{_kv_table(inv_pairs, _BAD_COUNTS)}</div>",
           f"<div><h3>Requests</h3>{_kv_table(req_pairs)}</div>",
           f"<div><h3>Consistency and load</h3>{_kv_table(cons_pairs)}</div></div>"]
    out.append(_load_workers(stats))
    by_op = req.get("by_op") or {}
    if isinstance(by_op, dict) and by_op:
        rows = [[op, c.get("total"), c.get("ok"), c.get("fail"), c.get("info")]
                for op, c in by_op.items() if isinstance(c, dict)]
        out.append("<h3>Requests by operation</h3>"
                   + _table(rows, ["op", "total", "ok", "fail", "info"]))
    out.append("</section>")
    return "".join(out)


def _chances(summary: Summary) -> str:
    """How many chances the run gave each anomaly class (a gate on a class with none cannot
    vouch for the system: the verdict is then unknown)."""
    if not summary.chances:
        return ""
    gated = {g.get("name") for g in summary.gates}
    rows, classes = [], []
    for cls in ANOMALY_CLASSES:
        n = summary.chances.get(cls)
        rows.append([_e(cls), _e(CHANCES.get(cls, "")), _e(_fmt(n)),
                     _e(_fmt(summary.invoices.get(cls))), "gated" if cls in gated else ""])
        classes.append("failed" if n == 0 and cls in gated else "")
    return ("<section><h2>Chances</h2><p>How many chances the run gave each anomaly class "
            "to show up. A class the scenario gates by name that had none makes the verdict "
            "UNKNOWN: the run could not have caught it.</p>"
            + _table(rows, ["class", "a chance is", "chances", "found", "gate"], classes,
                     raw=True) + "</section>")


def _recovery(summary: Summary) -> str:
    """Answered share per fault window and after the last, and each fault's recovery time
    (harness/recovery.py)."""
    rec = summary.recovery
    if not rec:
        return ""

    def pct(v: Any) -> str:
        return "—" if not _is_num(v) else f"{100 * v:.1f} %"

    def secs(v: Any) -> str:
        return "never" if v is None else f"{_fmt(v)} s"
    rows = [[_e(w.get("kind")), _e(w.get("target")), _e(_fmt(w.get("start_s"))),
             _e(_fmt(w.get("end_s"))), _e(_fmt(w.get("requests"))),
             _e(pct(w.get("answered_share"))), _e(secs(w.get("recovery_s")))]
            for w in rec.get("windows") or [] if isinstance(w, dict)]
    after = rec.get("after_last_fault")
    if isinstance(after, dict):
        rows.append(["after the last fault", "", _e(_fmt(after.get("start_s"))),
                     _e(_fmt(after.get("end_s"))), _e(_fmt(after.get("requests"))),
                     _e(pct(after.get("answered_share"))), ""])
    rows.append(["outside every fault window", "", "", "", "",
                 _e(pct(rec.get("answered_share"))), ""])
    worst = rec.get("recovery_s")
    rule = rec.get("rule") or {}
    return ("<section><h2>Recovery</h2>"
            f"<p>Worst recovery: <b>{_e(secs(worst))}</b>. Share of customer requests answered "
            "(ok or fail; no answer = info), by the second they were sent. A fault's recovery "
            "time runs from its end until, over "
            f"{_e(_fmt(rule.get('slide_s')))} s, checkouts succeed again at "
            f"{_e(pct(rule.get('recovered_share')))} of the share of the "
            f"{_e(_fmt(rule.get('baseline_s')))} s before it.</p>"
            + _table(rows, ["fault", "target", "from s", "to s", "requests", "answered",
                            "recovery"], raw=True)
            + "</section>")


def _load_workers(stats: dict[str, Any]) -> str:
    """Each load worker's achieved rate (design.md s.10); a lost worker in red, with what it
    left behind. Nothing for a run with one worker that finished."""
    workers = [w for w in stats.get("per_worker") or [] if isinstance(w, dict)]
    if len(workers) < 2 and not any(w.get("lost") for w in workers):
        return ""
    rows, classes = [], []
    for w in workers:
        lost = bool(w.get("lost"))
        state = (f"LOST at t={_fmt(w.get('lost_at_t'))} s: {w.get('lost_reason') or '?'}; "
                 f"{_fmt(w.get('open_requests_info', 0))} open requests recorded info, "
                 f"{_fmt(w.get('unplayed', 0))} arrivals unsent") if lost else "played its share"
        rows.append([w.get("name"), w.get("host"), "local" if w.get("local") else "remote",
                     w.get("pid"), w.get("arrivals"), w.get("unsent"), w.get("achieved_rps"), state])
        classes.append("failed" if lost else "")
    return ("<h3>Load workers</h3>"
            + _table(rows, ["worker", "host", "where", "pid", "arrivals", "unsent",
                            "achieved arrivals/s", "state"], classes))


def _plots(plots: list[Path]) -> str:
    out = ["<section><h2>Over time</h2>",
           '<p class="note">Shaded bands are fault windows (dotted lines: instantaneous '
           "faults such as a kill); the dashed line is the end of load.</p>"]
    for path in plots:
        try:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            continue
        out.append(f'<img class="plot" alt="{_e(path.stem)}" '
                   f'src="data:image/png;base64,{data}">')
    out.append("</section>")
    return "".join(out)


def _plan_lookup(files: RunFiles) -> dict[Any, dict[str, Any]]:
    return {p.get("id"): p for p in files.faults_plan or [] if p.get("id") is not None}


def _planned_end(fault: dict[str, Any], plan: dict[str, Any] | None) -> Any:
    """Best effort: the planned end from the fault record or the plan, else start + duration."""
    plan = plan or {}
    for value in (fault.get("planned_end_s"), plan.get("planned_end_s"), plan.get("end_s")):
        if _is_num(value):
            return value
    start = fault.get("planned_start_s", plan.get("start_s", plan.get("at_s")))
    duration = plan.get("for_s", plan.get("duration_s"))
    return start + duration if _is_num(start) and _is_num(duration) else None


def _faults(files: RunFiles, timeseries: dict[str, Any]) -> str:
    if not files.faults:
        return ('<section><h2>Fault schedule</h2><p class="note">No faults were applied in '
                "this run.</p></section>")
    plan = _plan_lookup(files)
    during = timeseries.get("during_faults") or []
    rows, classes = [], []
    for i, f in enumerate(files.faults):
        d = during[i] if i < len(during) else {}
        ok = f.get("ok", True)
        rows.append([f.get("id"), f.get("kind"), f.get("family"), f.get("target"),
                     f.get("planned_start_s"), _planned_end(f, plan.get(f.get("id"))),
                     f.get("start_s"), fault_end(f) if f.get("end_s") is not None else "instant",
                     f.get("params") or {},
                     "ok" if ok is not False else f"error: {f.get('error') or '?'}",
                     d.get("ok"), d.get("fail"), d.get("info"), d.get("p95_ms")])
        classes.append("" if ok is not False else "failed")
    return ("<section><h2>Fault schedule</h2>"
            + _table(rows, ["id", "kind", "family", "target", "planned start (s)",
                            "planned end (s)", "actual start (s)", "actual end (s)", "params",
                            "applied", "ok during", "fail during", "info during",
                            "p95 during (ms)"], classes)
            + '<p class="note">"during" counts the completions whose time falls in the '
              "fault's window.</p></section>")


def _fault_label(f: dict[str, Any]) -> str:
    return f"{f.get('kind') or 'fault'} {f.get('target') or ''}".strip()


def _active(faults: list[dict[str, Any]], t: Any) -> list[str]:
    if not _is_num(t):
        return []
    return [_fault_label(f) for f in faults if active_at(f, t)]


def _utc(ts: Any, t0: Any = None) -> Any:
    """An epoch time as UTC, plus the run's `t` when t0 is known (timelines use `t`)."""
    if not (_is_num(ts) and ts > 1e8):
        return ts
    text = datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    return f"{text} (t {_fmt(ts - t0)})" if _is_num(t0) else text


#: A timeline longer than twice this shows its first and last this many events.
TIMELINE_ENDS = 50


def _anomaly(anomaly: dict[str, Any], run_faults: list[dict[str, Any]], t0: Any = None) -> str:
    own = [f for f in anomaly.get("faults") or [] if isinstance(f, dict)]
    faults = own or run_faults
    events = sorted((e for e in anomaly.get("events") or [] if isinstance(e, dict)),
                    key=lambda e: e.get("t") if _is_num(e.get("t")) else math.inf)
    rows, classes = [], []
    hidden = len(events) - 2 * TIMELINE_ENDS
    if hidden > 0:      # an order retried thousands of times: its start and its end
        events = events[:TIMELINE_ENDS] + events[-TIMELINE_ENDS:]
    for i, ev in enumerate(events):
        if hidden > 0 and i == TIMELINE_ENDS:
            rows.append([f"… {hidden} events not shown …"] + [""] * len(TIMELINE_COLUMNS))
            classes.append("ev-gap")
        cells = [_e(_fmt(ev.get(c))) for c in TIMELINE_COLUMNS]
        tags = "".join(f'<span class="fault-tag">{_e(n)}</span>'
                       for n in _active(faults, ev.get("t")))
        rows.append(cells + [tags])
        classes.append(f"ev-{ev.get('type')}")
    parts = [f"<details><summary><code>{_e(anomaly.get('order_id'))}</code> — "
             f"{_e(anomaly.get('reason'))}</summary>"]
    if rows:
        parts.append("<h3>Timeline</h3>"
                     + _table(rows, [*TIMELINE_COLUMNS, "faults active"], classes, raw=True))
    else:
        parts.append('<p class="note">No client events for this order.</p>')
    ordered = next((e.get("order") for e in events if isinstance(e.get("order"), dict)), None)
    if ordered:
        parts.append("<h3>Order as sent</h3><pre>"
                     + _e(json.dumps(ordered, ensure_ascii=False)) + "</pre>")
    invoices = [i for i in anomaly.get("invoices") or [] if isinstance(i, dict)]
    if invoices:
        cols = list(INVOICE_COLUMNS) + sorted({k for i in invoices for k in i} -
                                              set(INVOICE_COLUMNS) - {"lines"})
        inv_rows = [[_utc(i.get(c), t0) if c == "issued_at" else i.get(c) for c in cols]
                    for i in invoices]
        parts.append("<h3>Platform invoices for this order</h3>" + _table(inv_rows, cols))
    else:
        parts.append('<p class="note">The platform holds no invoice for this order.</p>')
    named = [_fault_label(f) + (f" ({_fmt(f.get('start_s'))}–{_fmt(f.get('end_s'))} s)"
                                if _is_num(f.get("start_s")) else "") for f in own]
    named += [str(f) for f in anomaly.get("faults") or [] if not isinstance(f, dict)]
    if named:
        parts.append("<p>Faults around this order: " + ", ".join(_e(n) for n in named) + "</p>")
    parts.append("</details>")
    return "".join(parts)


def _anomalies(files: RunFiles) -> str:
    s = files.summary
    listed = s.anomalies
    totals = s.anomaly_totals
    classes = [c for c in ANOMALY_ORDER if listed.get(c) or totals.get(c)]
    classes += sorted(c for c in set(listed) | set(totals)
                      if c not in ANOMALY_ORDER and (listed.get(c) or totals.get(c)))
    if not classes:
        return ('<section><h2>Anomalies</h2><p class="note">The checker listed no anomalies.'
                "</p></section>")
    out = ["<section><h2>Anomalies</h2>"]
    for cls in classes:
        items = [a for a in listed.get(cls) or [] if isinstance(a, dict)]
        total = totals.get(cls, len(items))
        out.append(f'<h3 id="anomaly-{_e(cls)}">{_e(cls)} — {_e(_fmt(total))}</h3>')
        if cls in CLASS_MEANINGS:
            out.append(f'<p class="note">{_e(CLASS_MEANINGS[cls])}</p>')
        t0 = files.run.t0
        out.extend(_anomaly(a, files.faults, t0) for a in items)
        if _is_num(total) and total > len(items):
            out.append(f'<p class="more">{_e(_fmt(total - len(items)))} more not shown: the '
                       "list is a sample (the first ones, then a few spread over the rest of "
                       "the run); every one is counted.</p>")
    out.append("</section>")
    return "".join(out)


def _how_to_read() -> str:
    rows = [[c, CLASS_MEANINGS[c]] for c in ANOMALY_ORDER]
    return ("<section><h2>How to read this report</h2>"
            "<p>The verdict is PASS when every gate held. Each client request is recorded "
            "as an <b>invoke</b> and a completion: <b>ok</b> (the merchant accepted, or a "
            "query got an answer), <b>fail</b> (a definite refusal: no invoice may exist) or "
            "<b>info</b> (no answer: timeout, reset, 5xx — the outcome is unknown). After the "
            "load the harness lets the system settle, then reconciles every order against "
            "the platform's ledger and puts each order in one class:</p>"
            + _table(rows, ["class", "meaning"])
            + "<p class=\"note\">Open an anomaly to see the order's full timeline (rows in "
              "red are refusals, in amber unknown outcomes) with the faults active at each "
              "moment, and the invoices the platform holds for it. Times are seconds since "
              "the load started.</p></section>")


def _client(summary: Summary) -> str:
    """First screen: did the client adapter (design.md s.14) ask everything it was asked to?
    Its failures are the harness's, not the system's, and keep the run from passing."""
    c = summary.client
    if not c:
        return ""
    errors, unmapped = int(c.get("adapter_errors") or 0), int(c.get("unmapped") or 0)
    if not errors and not unmapped:
        return (f'<p class="note" id="client-ok">Driven through the client adapter '
                f'<code>{_e(c.get("adapter"))}</code>: no adapter errors, every answer mapped.</p>')
    examples = c.get("examples") or {}
    items = "".join(f"<li><code>{_e(x.get('op'))}</code> of {_e(x.get('order_id'))}: "
                    f"{_e(x.get('error'))}</li>"
                    for kind in ("adapter_errors", "unmapped") for x in examples.get(kind) or [])
    return ('<section class="harness-saturated" id="client-adapter-failed">'
            "<h2>The client adapter failed to ask</h2>"
            f"<p>The client adapter <code>{_e(c.get('adapter'))}</code> raised or returned "
            f"something that is not an answer <b>{errors}</b> time(s), and could not map "
            f"<b>{unmapped}</b> answer(s) of the system. Those requests are recorded as unknown "
            "outcomes; they are the harness's failures, not the system's, and the run cannot "
            f"pass until the adapter is fixed.</p><ul>{items}</ul></section>")


def render_html(files: RunFiles, timeseries: dict[str, Any], plots: list[Path]) -> str:
    """The whole page as a string (pure apart from reading the PNG files)."""
    title = f"invoice-chaos · {files.summary.scenario or 'run'} · " \
            f"{str(files.summary.verdict or 'unknown').upper()}"
    body = [_header(files), _client(files.summary), _harness_path(files.summary), _harness(files.summary),
            _notes(files, timeseries),
            _gates(files.summary),
            _figures(files), _recovery(files.summary), _chances(files.summary),
            render_uploads(files.summary), render_processing(files.summary), _plots(plots), _faults(files, timeseries),
            _anomalies(files), _how_to_read(),
            f'<p class="note">Generated by invoice-chaos from {_e(files.run_dir)}.</p>']
    return ('<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
