"""`invoice-chaos sweep`: the capacity sweep of design.md s.9.

Each step is a full run (harness/run.py: stack, load, faults, drain, checker, gates) of the
scenario with `load.peak_rps` set to the step's rate, in its own sub-directory. Steps go
from the lowest rate up (with `--faults both`, each rate without and then with the
scenario's faults); a kind stops after two steps that are not good above its last good one
(`--all` runs everything). `sweep.json` is rewritten after every step, so an interrupted
sweep still says what it measured; sweep.html, plots/ and junit.xml are written at the end.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_PASS, InputError, UsageError
from ..rundir import new_run_dir, read_json, write_json
from ..summary import Summary
from .plan import FAULT_CHOICES, plan_rates
from .steps import Step, kind_stopped, knee, knee_limited_by, step_from_summary

__all__ = ["SweepOptions", "run_sweep", "sweep_record"]


@dataclasses.dataclass
class SweepOptions:
    scenario_path: str
    rates: str | None = None
    rate_from: float | None = None
    rate_to: float | None = None
    steps: int | None = None
    faults: str = "scenario"
    require_rps: float | None = None
    run_all: bool = False
    workers: int = 1
    sut_cmd: str | None = None
    merchant_mode: str | None = None
    client: str | None = None             # FILE.py:Class, a client adapter (as for run)
    seed: int | None = None
    out: str | None = None
    ceiling_s: float = 6.0
    reports_dir: Path = Path("reports")


def _kinds(choice: str, has_faults: bool) -> list[bool]:
    if choice == "none":
        return [False]
    if choice == "both":
        return [False, True]
    return [has_faults]


def sweep_record(scenario: str, seed: int, steps: list[Step], ceiling: dict[str, Any] | None,
                 faults_choice: str, require_rps: float | None,
                 interrupted: bool = False) -> dict[str, Any]:
    """sweep.json's content (s.9) from the steps so far (pure)."""
    kinds = sorted({s.faults for s in steps}) or [False]
    plain = [k for k in kinds if not k]
    rec: dict[str, Any] = {
        "scenario": scenario, "seed": seed,
        "knee_rps": knee(steps, False) if plain or faults_choice != "scenario" else None,
        "harness_ceiling_rps": (ceiling or {}).get("ceiling_rps"),
        "harness_ceiling_lower_bound": bool((ceiling or {}).get("lower_bound")),
    }
    if faults_choice == "scenario" and kinds == [True]:
        rec["knee_rps"] = knee(steps, True)      # the scenario's own faults are the only kind
    if faults_choice == "both":
        rec["knee_rps_faults"] = knee(steps, True)
        k, kf = rec["knee_rps"], rec["knee_rps_faults"]
        rec["headroom_under_faults"] = round(kf / k, 3) if k and kf is not None else None
    main_kind = kinds == [True] and faults_choice == "scenario"
    rec["knee_limited_by"] = knee_limited_by(steps, main_kind)
    if faults_choice == "both":
        rec["knee_faults_limited_by"] = knee_limited_by(steps, True)
    rec.update({"faults": faults_choice, "require_rps": require_rps,
                "harness_limited_steps": sum(1 for s in steps if s.harness_limited),
                "ceiling": ceiling, "interrupted": interrupted,
                "steps": [s.to_json() for s in steps]})
    return rec


def _progress_line(i: int, n: int, s: Step) -> str:
    p95 = "—" if s.p95_ms is None else f"{s.p95_ms:.0f} ms"
    return (f"sweep step {i}/{n}: {s.target_rps:g}/s{' +faults' if s.faults else ''}  achieved "
            f"{s.achieved_rps:.1f}/s  p95 {p95}  anomalies {s.anomalies}  -> {s.label.upper()}"
            + (f" ({'; '.join(s.harness_reasons)})" if s.harness_limited else "")
            + (f" [failed: {', '.join(s.failed_gates)}]" if s.failed_gates else ""))


def run_sweep(opts: SweepOptions, say: Callable[[str], None] = print) -> int:
    from ..run import RunOptions, _run_in, prepare
    from ..checker.result import ANOMALY_CLASSES
    from ..stack.toxiproxy_api import find_toxiproxy_server

    if opts.faults not in FAULT_CHOICES:
        raise UsageError(f"--faults {opts.faults!r}: one of {', '.join(FAULT_CHOICES)}")
    if opts.require_rps is not None and opts.require_rps <= 0:
        raise UsageError("--require-rps must be > 0 arrivals/s")
    if opts.ceiling_s < 0:
        raise UsageError("--ceiling-s must be >= 0 (0 skips the ceiling)")
    rates = plan_rates(opts.rates, opts.rate_from, opts.rate_to, opts.steps)
    run_opts = RunOptions(scenario_path=opts.scenario_path, seed=opts.seed, workers=opts.workers,
                          merchant_mode=opts.merchant_mode, sut_cmd=opts.sut_cmd, client=opts.client)
    scenario = prepare(run_opts)                   # exit 2 before anything starts
    find_toxiproxy_server()                        # exit 3 before a directory is made
    kinds = _kinds(opts.faults, bool(scenario.faults))
    plan = [(r, k) for r in rates for k in kinds]
    name = f"sweep-{scenario.name}"
    _, sweep_dir = new_run_dir(name, opts.out, opts.reports_dir)
    say(f"invoice-chaos sweep: {scenario.name}, {len(rates)} rates {', '.join(f'{r:g}' for r in rates)}"
        f" arrivals/s, faults {opts.faults}, {opts.workers} load worker(s)")
    say(f"sweep directory: {sweep_dir}")

    steps: list[Step] = []
    ceiling: dict[str, Any] | None = None
    interrupted = False

    def save() -> None:
        write_json(sweep_dir / "sweep.json", sweep_record(scenario.name, scenario.seed, steps,
                                                          ceiling, opts.faults, opts.require_rps,
                                                          interrupted))
    try:
        if opts.ceiling_s > 0:
            from fakes.common.sellers import generate_sellers

            from .ceiling import measure_ceiling
            say(f"measuring the harness ceiling ({opts.ceiling_s:g} s ramp against a "
                "do-nothing endpoint on loopback) ...")
            ceiling = measure_ceiling(sweep_dir / "ceiling", scenario.load.mix,
                                      generate_sellers(scenario.merchant.sellers, scenario.seed),
                                      opts.workers, opts.ceiling_s, scenario.seed)
            from .report import ceiling_words
            say(f"harness ceiling: {ceiling_words(ceiling['ceiling_rps'], ceiling.get('lower_bound'))} "
                f"({opts.workers} worker(s), this machine, now)")
        save()
        for i, (rate, with_faults) in enumerate(plan, 1):
            if not opts.run_all and kind_stopped(steps, with_faults):
                continue
            step_sc = copy.deepcopy(scenario)
            step_sc.load.peak_rps = rate
            if not with_faults:
                step_sc.faults = []
            sub = f"step-{i:02d}-{rate:g}" + ("-faults" if with_faults and len(kinds) > 1 else "")
            step_dir = sweep_dir / sub
            step_dir.mkdir()
            write_json(step_dir / "sweep-step.json", {"target_rps": rate, "faults": with_faults,
                                                      "index": i})
            say(f"== sweep step {i}/{len(plan)}: {rate:g} arrivals/s"
                f"{' with the scenario faults' if with_faults else ''} -> {step_dir}")
            started = time.time()
            code = _run_in(step_sc, run_opts, sub, step_dir, lambda m: say("   " + m))
            try:
                summary = Summary.read(step_dir)
            except InputError:                     # the step never got to its verdict
                summary = Summary(verdict="error")
            step = step_from_summary(rate, with_faults, sub, summary, ANOMALY_CLASSES, code)
            steps.append(step)
            save()
            say(_progress_line(i, len(plan), step) + f"  ({time.time() - started:.0f} s)")
            if code == EXIT_INTERRUPTED:
                interrupted = True
                break
            if code not in (0, 1):
                say(f"step {i} could not run (exit {code}); the sweep stops here")
                break
    except KeyboardInterrupt:
        interrupted = True
        say("\ninterrupted: the sweep stops; writing what was measured")
    save()
    from .report import write_sweep_report
    write_sweep_report(sweep_dir)
    rec = read_json(sweep_dir / "sweep.json")
    _say_result(rec, sweep_dir, say)
    if interrupted:
        return EXIT_INTERRUPTED
    bad = [s for s in steps if s.exit_code not in (0, 1)]
    if bad and not [s for s in steps if s.exit_code in (0, 1)]:
        return int(bad[0].exit_code or 3)
    if opts.require_rps is not None:
        k = rec.get("knee_rps")
        return EXIT_PASS if k is not None and k >= opts.require_rps else EXIT_GATE_FAILED
    return EXIT_PASS


def _say_result(rec: dict[str, Any], sweep_dir: Path, say: Callable[[str], None]) -> None:
    from .report import ceiling_words, knee_words
    say("")
    say(f"knee: {knee_words(rec, faults=False)}")
    if "knee_rps_faults" in rec:
        say(f"knee under faults: {knee_words(rec, faults=True)}")
        if rec.get("headroom_under_faults") is not None:
            say(f"headroom under faults: {rec['headroom_under_faults']:.0%} of the knee")
    if rec.get("harness_ceiling_rps") is not None:
        say("harness ceiling: " + ceiling_words(rec["harness_ceiling_rps"],
                                                 rec.get("harness_ceiling_lower_bound")))
    if rec.get("require_rps") is not None:
        k = rec.get("knee_rps")
        ok = k is not None and k >= rec["require_rps"]
        say(f"required {rec['require_rps']:g}/s: {'met' if ok else 'NOT met'}")
    say(f"sweep report: {sweep_dir / 'sweep.html'}")
