"""From a finished run directory to the verdict: checker -> gates -> summary.json -> report.

Used by `run` after the stack is down and by `check` on any recorded run, so both give
the same answer from the same files. (The checker's own `compose` joins its sub-checks;
`gates.apply_gates` applies the thresholds; this module is the run-level stage.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from .checker import ANOMALY_CLASSES, CheckOptions, check_files
from .checker.classes import CHANCES
from .errors import EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_PASS, InputError, ScenarioError
from .gates import EVIDENCE_GATES, GateResult, apply_gates, verdict
from .recovery import measure, scan_history, seconds_from_checker
from .report.processing import summarise_pipeline
from .report.processing import verdict_lines as pipeline_lines
from .report.uploads import summarise_uploads, verdict_lines
from .configure import profile_of
from .run_record import RunRecord
from .rundir import FAULTS, HISTORY, LEDGER, LOAD_STATS, SCENARIO, read_json, read_jsonl
from .scenario import GateSpec, Scenario, load_scenario
from .scenario.parse import DEFAULT_GATES
from .summary import CheckerInfo, Summary

__all__ = ["evaluate_run", "scenario_of_run", "default_gates", "unknown_reasons",
           "final_read_figures", "print_verdict"]

#: Below this share of answered final reads the run shows too little to pass (issue: "most
#: final reads went unanswered"), whatever the gates say.
MIN_FINAL_ANSWERED = 0.5


def default_gates() -> list[GateSpec]:
    """Without a scenario every anomaly class must be 0 (design.md s.7), and the default
    gates of any scenario hold (harness/scenario/parse.py DEFAULT_GATES)."""
    return ([GateSpec(g, 0.0) for g in ANOMALY_CLASSES]
            + [GateSpec(g, v) for g, v in DEFAULT_GATES.items()])


def scenario_of_run(run_dir: Path) -> Scenario | None:
    path = run_dir / SCENARIO
    if not path.is_file():
        return None
    try:
        return load_scenario(path)
    except ScenarioError as e:
        raise InputError(f"{path}: the run's scenario does not validate:\n" + "\n".join(e.problems)) from None


def _summarise_load(stats: dict | None, cpu: dict | None = None) -> dict[str, Any]:
    """summary.json `load`: the generator's figures, its own saturation verdict, and
    (`cpu`, run.json `load_cpu`, harness/load/cpu_meter.py) where the machine's CPU went."""
    if not stats:
        return {"cpu": cpu} if cpu else {}
    target = [r for _, r in stats.get("target", [])]
    achieved = [a for _, a in stats.get("achieved", [])]
    from .load.saturation import judge
    sat = judge(stats)
    return {"arrivals": stats.get("arrivals", sum(achieved)), "unsent": stats.get("unsent", 0),
            "target_rps_mean": round(sum(target) / len(target), 3) if target else 0.0,
            "achieved_rps_mean": round(sum(achieved) / len(achieved), 3) if achieved else 0.0,
            "workers": stats.get("workers", 1),
            # was the load generator itself the bottleneck? (harness/load/saturation.py)
            "harness_saturated": sat.saturated, "harness": sat.to_json(),
            **({"cpu": cpu} if cpu else {})}


def final_read_figures(drain_outcome: dict | None, counts: dict[str, int],
                       answered: int) -> dict[str, Any]:
    """The final read: of the requested orders, how many got an answer from a `final` proc
    in the history (`answered`: the checker's chances of lost/phantom), how many did not
    (`unanswered`), and how many the run could not even ask in time (run.json
    `final_read.unasked`, when recorded)."""
    orders = int(counts.get("requested") or 0)
    answered = min(answered, orders)
    unasked = drain_outcome.get("unasked") if isinstance(drain_outcome, dict) else None
    return {"orders": orders, "answered": answered, "unanswered": orders - answered,
            "unasked": unasked}


def unknown_reasons(summary: Summary, gates: list[GateResult], valid: Any,
                    specs: list[GateSpec] = ()) -> list[str]:
    """Why the run cannot vouch for the system (each makes the verdict `unknown` unless a
    gate on the system failed): failed evidence gates, a class the scenario gates by name
    that had no chance at all to show, most final reads unanswered, a checker that could
    not decide."""
    reasons: list[str] = []
    fr = summary.final_read
    for spec in specs:
        # only gates the scenario writes (loc): the implicit zero of every class is a
        # safety net, not a claim that the run exercised it
        if (spec.loc is not None and spec.limit is not None and spec.name in CHANCES
                and summary.chances.get(spec.name) == 0):
            reasons.append(f"the scenario gates {spec.name} ({spec.loc}), but the run gave it no "
                           f"chance to show: no {CHANCES[spec.name]}")
    for g in gates:
        if g.passed or g.name not in EVIDENCE_GATES:
            continue
        if g.name == "final_unanswered":
            unasked = fr.get("unasked")
            reasons.append(f"{g.value} of {fr.get('orders')} orders' final read went unanswered"
                           + (f" ({unasked} not asked before the drain timeout + one request "
                              "timeout ran out)" if unasked else ""))
    orders, answered = fr.get("orders"), fr.get("answered")
    if orders and answered is not None and answered < MIN_FINAL_ANSWERED * orders:
        reasons.append(f"most final reads went unanswered ({answered} of {orders} answered): "
                       "the merchant's last word on most orders is unknown")
    hp = summary.harness_path
    if hp.get("seconds") and hp.get("load_s") and hp["seconds"] > 0.5 * hp["load_s"]:
        reasons.append(f"the harness's own path carried no request for {hp['seconds']} s of the "
                       f"{hp['load_s']:g} s load while the merchant answered directly: the run "
                       "measured the harness more than the system")
    if valid == "unknown":
        reasons.append("the checker could not decide: " + "; ".join(summary.checker.errors))
    if summary.client:
        from .client.problems import problem_reasons
        reasons += problem_reasons(summary.client)
    return list(dict.fromkeys(reasons))


def _harness_path(run_dir: Path, faults: list[dict], seconds: Any, load_s: float | None) -> dict[str, Any]:
    """summary.json `harness_path` (harness/pathwatch.py): the stretches in which the customer
    path carried nothing while the merchant answered directly, each with the verdict
    `unknown`; their seconds are taken out of `seconds`, so the answered share and the
    recovery figures neither pass nor fail the system on them."""
    from .pathwatch import PATH_FILE, stretches
    path = run_dir / PATH_FILE
    if not path.is_file():
        return {}
    probes = read_jsonl(path)
    found = stretches(probes, faults, seconds.by_sec)
    for st in found:
        for sec in range(st["start_s"], st["end_s"]):
            seconds.by_sec.pop(sec, None)
    return {"probes": len(probes), "stretches": found, "load_s": load_s,
            "seconds": sum(st["end_s"] - st["start_s"] for st in found)}


def allowed_lag_s(scenario: Scenario | None) -> float:
    """How long after an invoice's `issued_at` the platform's read path may still say
    not-found: the replica lag, and what the profile adds (harness/configure.py)."""
    if scenario is None:
        return 0.5
    return profile_of(scenario.platform.profile).allowed_lag_s(scenario.platform)


def _from_checker_tables(con: Any, faults: list[dict[str, Any]], render: bool) -> dict[str, Any]:
    """The recovery figures' per-second counts and the report's timeseries from the
    checker's DuckDB table `e` (the history is parsed once); a part that cannot be computed
    there is left out, with why under `<part>_why` (the caller reads the file for it)."""
    from .report.timeseries import timeseries_from_checker
    out: dict[str, Any] = {}
    parts: list[tuple[str, Callable[[], Any]]] = [("recovery", lambda: seconds_from_checker(con))]
    if render:
        parts.append(("timeseries", lambda: timeseries_from_checker(con, faults)))
    for name, compute in parts:
        try:
            value = compute()
        except Exception as e:  # noqa: BLE001 - said in summary.json, the file is read instead
            out[f"{name}_why"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            continue
        if value is None:
            out[f"{name}_why"] = "a time in the history is not a finite number"
        else:
            out[name] = value
    return out


def _stage(path: str | None, why: str | None) -> dict[str, str]:
    d = {"path": path or "python"}
    if why:
        d["why"] = why
    return d


def _reused(result: Any, got: dict[str, Any], part: str) -> dict[str, str]:
    """How a stage got its input: the checker's DuckDB tables, or the history read again."""
    if part in got:
        return _stage("duckdb", None)
    if result.path != "duckdb":
        why = (f"the checker read the history in Python ({result.fallback_reason})"
               if result.fallback_reason else
               "the checker read the history in Python (a small history, or the python path chosen)")
        return _stage("python", why)
    return _stage("python", got.get(f"{part}_why") or "the checker's tables were not available")


def evaluate_run(run_dir: Path, scenario: Scenario | None = None,
                 say: Callable[[str], None] = print, render: bool = True) -> tuple[Summary, int]:
    """Check, gate and report one run directory; returns (summary, exit code)."""
    history = run_dir / HISTORY
    ledger = run_dir / LEDGER
    for f in (history, ledger):
        if not f.is_file():
            raise InputError(f"{f}:1: missing; a run directory needs {HISTORY} and {LEDGER}")
    if scenario is None:
        scenario = scenario_of_run(run_dir)
    record = RunRecord.read(run_dir, strict=True)
    faults = read_jsonl(run_dir / FAULTS)
    opts = CheckOptions(allowed_lag_s=allowed_lag_s(scenario),
                        load_end_t=record.load_end_t, faults=faults, t0=record.t0)
    # a large history is read once, by the checker's DuckDB pass: the recovery figures'
    # per-second counts and the report's timeseries come from the same table (on the
    # Python path, from their own reads of the file: the same figures, tests compare)

    def also(con: Any) -> dict[str, Any]:
        return _from_checker_tables(con, faults, render)

    result = check_files(history, ledger, opts, also=also)
    gates_spec = scenario.gates if scenario else default_gates()
    got = result.also or {}
    stages = {"classification": _stage(result.path, result.fallback_reason)}
    seconds = got.get("recovery")
    stages["recovery"] = _reused(result, got, "recovery")
    if seconds is None:
        seconds = scan_history(history)
    timeseries = got.get("timeseries")
    if render:
        stages["timeseries"] = _reused(result, got, "timeseries")
    harness_path = _harness_path(run_dir, faults, seconds, record.load_end_t)
    summary = Summary(
        scenario=scenario.name if scenario else (record.scenario or run_dir.name),
        description=scenario.description if scenario else "",
        seed=record.seed if record.seed is not None else (scenario.seed if scenario else None),
        verdict="pending",
        run_id=record.run_id or run_dir.name,
        started_at=record.started_at,
        duration_s=record.duration_s,
        merchant=record.merchant,
        platform={"profile": scenario.platform.profile if scenario else
                  record.platform.get("profile", "clearance")},
        invoices=dict(result.counts),
        time_to_consistency_s=result.time_to_consistency_s,
        acceptance_delay_s=result.acceptance_delay_s,
        requests=result.requests,
        load=_summarise_load(read_json(run_dir / LOAD_STATS, None), record.load_cpu),
        faults=[{"kind": f.get("kind"), "target": f.get("target"), "start_s": f.get("start_s"),
                 "end_s": f.get("end_s"), "params": f.get("params", {}), "ok": f.get("ok", True),
                 "error": f.get("error")} for f in faults],
        anomalies=result.anomalies,
        anomaly_totals=result.totals,
        checker=CheckerInfo(valid=result.valid, errors=list(result.errors), path=result.path,
                            fallback_reason=result.fallback_reason, stages=stages),
        interrupted=record.interrupted,
        notes=list(record.notes),
        recovery=measure(seconds, faults, record.load_end_t).to_json(),
        final_read=final_read_figures(record.final_read, result.counts,
                                      result.chances.get("lost", 0)),
        upload_pipeline=summarise_uploads(run_dir) or {},
        processing_pipeline=summarise_pipeline(run_dir) or {},
        chances=dict(result.chances),
        harness_path=harness_path,
    )
    adapter = (record.merchant or {}).get("client")
    if adapter:             # a run through a client adapter: what the adapter got wrong
        from .client.problems import client_problems
        summary.client = {"adapter": adapter, **client_problems(history)}
    gate_results = apply_gates(gates_spec, summary)
    summary.gates = [g.to_json() for g in gate_results]
    summary.unknown_reasons = unknown_reasons(summary, gate_results, result.valid, gates_spec)
    summary.verdict = ("interrupted" if summary.interrupted else
                       verdict(gate_results, result.valid, summary.unknown_reasons))
    if summary.verdict == "fail" and summary.client:
        from .client.problems import blames_adapter
        why = blames_adapter(summary.client, [g.name for g in gate_results if not g.passed])
        if why:                   # the failing figures count the adapter's failures
            summary.unknown_reasons.append(why)
            summary.verdict = "unknown"
    summary.write(run_dir)
    if render:
        from .report import write_report
        try:
            write_report(run_dir, summary, timeseries=timeseries)
        except Exception as e:  # noqa: BLE001 - the verdict stands even if a plot fails
            say(f"warning: the report could not be fully rendered: {type(e).__name__}: {e}")
            from .report import write_junit
            write_junit(run_dir, summary)
    if summary.interrupted:
        return summary, EXIT_INTERRUPTED
    return summary, EXIT_PASS if summary.verdict == "pass" else EXIT_GATE_FAILED


def print_verdict(summary: Summary, run_dir: Path, say: Callable[[str], None] = print) -> None:
    inv = summary.invoices
    req = summary.requests
    lat = req.get("latency_ms") or {}
    say("")
    say(f"verdict: {(summary.verdict or 'unknown').upper()}   ({summary.scenario}, seed {summary.seed})")
    say(f"  invoices: requested {inv.get('requested', 0)}, acknowledged {inv.get('acknowledged', 0)}, "
        f"failed {inv.get('failed', 0)}, indeterminate {inv.get('indeterminate', 0)}, "
        f"recovered {inv.get('recovered', 0)}")
    anomalies = {k: inv.get(k, 0) for k in ANOMALY_CLASSES}
    say("  anomalies: " + ", ".join(f"{k} {v}" for k, v in anomalies.items()))
    if req:
        say(f"  requests: {req.get('total', 0)} at {req.get('rps', 0):.1f}/s, error rate "
            f"{req.get('error_rate', 0):.1%}, latency p50 {lat.get('p50')} ms, p95 {lat.get('p95')} ms, "
            f"p99 {lat.get('p99')} ms")
    load = summary.load
    if load.get("harness_saturated"):
        from .load.saturation import ADVICE
        say(f"  HARNESS SATURATED: {'; '.join((load.get('harness') or {}).get('reasons') or [])}")
        say(f"    the figures above partly measure the load generator, not the system: {ADVICE}")
    for st in summary.harness_path.get("stretches") or []:
        say(f"  HARNESS PATH DOWN {st['start_s']}-{st['end_s']} s: verdict unknown for these seconds: "
            f"{st['reason']}")
    from .load.cpu_meter import cpu_words
    cpu_line = cpu_words(load.get("cpu"))
    if cpu_line:
        say(f"  cpu: {cpu_line}")
    for line in verdict_lines(summary) + pipeline_lines(summary):
        say(line)
    ttc = summary.time_to_consistency_s
    say(f"  time to consistency: {'never (within the drain)' if ttc is None else f'{ttc:.1f} s'}")
    rec = summary.recovery
    if rec:
        def pct(v: Any) -> str:
            return "n/a" if v is None else f"{v:.1%}"
        worst = rec.get("recovery_s")
        say(f"  answered: {pct(rec.get('answered_share'))} of customer requests outside fault "
            f"windows, {pct(rec.get('answered_share_in_faults'))} in the worst fault window, "
            f"{pct(rec.get('answered_share_after_faults'))} after the last; recovery "
            f"{'never' if worst is None else f'{worst:g} s'} (worst)")
    fr = summary.final_read
    if fr.get("answered") is not None:
        say(f"  final read: {fr['answered']} of {fr['orders']} orders answered")
    for g in summary.gates:
        mark = "ok  " if g["passed"] else "FAIL"
        say(f"  [{mark}] {g['name']:<22} {str(g['value']):>10}  (limit {g['limit']})")
    checker = summary.checker
    if checker.fallback_reason:
        say(f"  checker: {checker.path} reader (DuckDB handed over: {checker.fallback_reason})")
    for name, st in checker.stages.items():
        if name != "classification" and checker.path == "duckdb" and st.get("path") != "duckdb":
            say(f"  {name}: read the history again ({st.get('why')})")
    for err in checker.errors:
        say(f"  checker error: {err}")
    client = summary.client
    if client:
        say(f"  client adapter {client.get('adapter')}: {client.get('adapter_errors', 0)} adapter "
            f"error(s), {client.get('unmapped', 0)} unmapped answer(s)")
    for why in summary.unknown_reasons:
        say(f"  unknown: {why}")
    say(f"report: {run_dir / 'report.html'}")
