"""The exploration loop: tries with drawn schedules until one fails (or the runs or the
time budget are spent), then shrinking with `--confirm K` re-runs per step; writes
minimal.yaml, explore.json and explore.html into the exploration directory.

Layout: `try-001/scenario.yaml` (written before the try runs) and `try-001/run/` (the
run directory), `shrink-01/scenario.yaml` and `shrink-01/run-1/ ...`, then `minimal.yaml`.
"""
from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import EXIT_GATE_FAILED, EXIT_INTERRUPTED, EXIT_PASS, EXIT_STACK, ScenarioError, UsageError
from ..rundir import new_run_dir, write_json
from ..scenario import Scenario
from ..durations import format_duration
from .draw import draw_schedule
from .shrink import candidates, describe
from .space import ExploreSpace, space_of
from .trial import TryResult, run_try
from .tryfile import TrySpec, write_try

__all__ = ["ExploreOptions", "explore", "plan_tries", "try_spec"]

#: tries drawn at most under --budget (the clock ends it first in practice)
MAX_TRIES = 10_000


@dataclasses.dataclass
class ExploreOptions:
    scenario_path: str
    runs: int | None = None
    budget_s: float | None = None
    seed: int | None = None
    merchant_mode: str | None = None
    sut_cmd: str | None = None
    client: str | None = None             # FILE.py:Class, a client adapter (as for run)
    confirm: int = 2
    shrink_steps: int = 12
    try_s: float | None = None
    out: str | None = None
    scale: float = 1.0
    workers: int = 1
    dry_run: bool = False
    any_gate: bool = False
    reports_dir: Path = Path("reports")


def try_spec(scenario: Scenario, space: ExploreSpace, seed: int, index: int) -> TrySpec:
    """Try `index` (1-based) of an exploration (pure): what `--seed` replays."""
    return TrySpec(faults=tuple(draw_schedule(space, random.Random(f"explore:{seed}:{index}"))),
                   duration_s=space.try_s, peak_rps=scenario.load.peak_rps, seed=seed)


def plan_tries(scenario: Scenario, space: ExploreSpace, seed: int, n: int) -> list[TrySpec]:
    """The first n tries."""
    return [try_spec(scenario, space, seed, i) for i in range(1, n + 1)]


def _schedule_text(spec: TrySpec) -> str:
    return "; ".join(describe(f) for f in spec.faults) or "no faults"


class _Exploration:
    def __init__(self, opts: ExploreOptions, scenario: Scenario, space: ExploreSpace, seed: int,
                 root: Path, say: Callable[[str], None]):
        self.opts, self.scenario, self.space, self.seed, self.root, self.say = opts, scenario, space, seed, root, say
        self.started = time.time()
        self.doc: dict[str, Any] = {
            "scenario": scenario.name, "scenario_path": str(opts.scenario_path), "seed": seed,
            "merchant": ({"mode": None, "sut_cmd": scenario.merchant.sut.command} if scenario.merchant.sut
                         else {"mode": scenario.merchant.mode, "sut_cmd": None}),
            "runs": opts.runs, "budget_s": opts.budget_s, "confirm": opts.confirm,
            "shrink_steps": opts.shrink_steps, "any_gate": opts.any_gate, "scale": opts.scale, "space": space.to_json(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "tries": [], "failing_try": None, "class": None, "shrink": [], "minimal": None,
            "status": "running", "exit_code": None, "elapsed_s": 0.0, "dry_run": opts.dry_run}

    # -- bookkeeping ----------------------------------------------------------------------
    def save(self) -> None:
        self.doc["elapsed_s"] = round(time.time() - self.started, 1)
        write_json(self.root / "explore.json", self.doc)
        from .page import write_page
        write_page(self.root, self.doc)

    def _run(self, scenario_file: Path, run_dir: Path) -> TryResult:
        """One run; a stack that did not come up (a port taken by another program between
        the choice and the bind, on a busy machine) is tried once more before the
        exploration stops with exit 3."""
        result = run_try(scenario_file, run_dir, merchant_mode=self.opts.merchant_mode, sut_cmd=self.opts.sut_cmd,
                         client=self.opts.client, scale=self.opts.scale, workers=self.opts.workers, any_gate=self.opts.any_gate)
        if result.exit_code != EXIT_STACK or not run_dir.exists():
            return result
        aside = run_dir.with_name(run_dir.name + "-stack-error")
        run_dir.rename(aside)
        log = run_dir.with_name(run_dir.name + ".log")
        if log.exists():
            log.rename(aside.with_name(aside.name + ".log"))
        self.say(f"         the stack did not come up ({aside.name}.log); trying once more")
        return run_try(scenario_file, run_dir, merchant_mode=self.opts.merchant_mode, sut_cmd=self.opts.sut_cmd,
                       client=self.opts.client, scale=self.opts.scale, workers=self.opts.workers, any_gate=self.opts.any_gate)

    def _header(self, what: str) -> str:
        who = (f" --merchant-mode {self.opts.merchant_mode}" if self.opts.merchant_mode else "") + \
              (f" --sut-cmd {self.opts.sut_cmd!r}" if self.opts.sut_cmd else "") + \
              (f" --client {self.opts.client}" if self.opts.client else "")
        return (f"{what}\nexplored from {self.opts.scenario_path} with seed {self.seed} (invoice-chaos explore)"
                f"\nreplay: invoice-chaos run <this file>{who}")

    # -- tries ----------------------------------------------------------------------------
    def tries(self) -> tuple[TrySpec, TryResult, dict] | int | None:
        """Run tries until one fails: (spec, result, its record), an exit code to stop
        with (2, 3, 130), or None when the budget ran out without a failure."""
        n = self.opts.runs or MAX_TRIES
        durations: list[float] = []
        for i in range(1, n + 1):
            elapsed = time.time() - self.started
            if self.opts.budget_s is not None and elapsed >= self.opts.budget_s:
                self.say(f"explore: the budget of {format_duration(self.opts.budget_s)} is spent after {i - 1} tries")
                break
            spec = try_spec(self.scenario, self.space, self.seed, i)
            tdir = self.root / f"try-{i:03d}"
            path = write_try(tdir / "scenario.yaml", self.scenario, spec,
                             self._header(f"try {i} of the exploration"))
            record: dict[str, Any] = {"index": i, "dir": tdir.name, "scenario": f"{tdir.name}/scenario.yaml",
                                      **spec.to_json(), "result": None}
            self.doc["tries"].append(record)
            self.save()
            left = (f"{n - i} left" if self.opts.runs else
                    f"{format_duration(max(0.0, (self.opts.budget_s or 0) - elapsed))} of the budget left")
            eta = f", about {sum(durations) / len(durations) * (n - i + 1) / 60:.0f} min to go" \
                if durations and self.opts.runs else ""
            self.say(f"explore: try {i}/{self.opts.runs or '?'} ({left}{eta}): {_schedule_text(spec)}")
            if self.opts.dry_run:
                continue
            result = self._run(path, tdir / "run")
            durations.append(result.elapsed_s)
            record["result"] = result.to_json(self.root)
            self.save()
            others = [g for g in result.failed_gates if g != result.failure]
            self.say(f"         -> {result.verdict.upper()}"
                     + (f" ({result.failure}: {', '.join(f'{c} {result.counts[c]}' for c in result.classes)})"
                        if result.failure else "")
                     + (f" [gates failed, not shrunk: {', '.join(others)}]" if others and not result.failure else "")
                     + f" in {result.elapsed_s:.0f} s  ({tdir.name}/run/report.html)")
            if result.exit_code not in (EXIT_PASS, EXIT_GATE_FAILED):
                self.say(f"explore: try {i} ended with exit {result.exit_code}: {result.error or ''}".rstrip())
                return result.exit_code
            if result.failure:
                return spec, result, record
        return None

    # -- shrinking ------------------------------------------------------------------------
    def shrink(self, spec: TrySpec, result: TryResult, cls: str) -> tuple[TrySpec, Path, int | None]:
        """The smallest spec that still failed K of K times with `cls`, the run directory
        of its first failing run, and an exit code if shrinking had to stop (3, 130)."""
        current, current_run = spec, result.run_dir
        seen = {spec.key()}
        no_faults_passed = False     # once the load alone passed, a smaller load alone will too
        used = 0
        budget = self.opts.shrink_steps
        k = self.opts.confirm
        while used < budget:
            kept = False
            for change, cand in candidates(current):
                if cand.key() in seen or (no_faults_passed and not cand.faults):
                    continue
                seen.add(cand.key())
                if used >= budget:
                    break
                sdir = self.root / f"shrink-{used + 1:02d}"
                try:
                    path = write_try(sdir / "scenario.yaml", self.scenario, cand,
                                     self._header(f"shrink step {used + 1}: {change}"))
                except ScenarioError as e:           # e.g. two faults on one knob refused
                    self.say(f"shrink: skipped '{change}': {e.problems[0]}")
                    continue
                used += 1
                step: dict[str, Any] = {"step": used, "dir": sdir.name, "change": change,
                                        "scenario": f"{sdir.name}/scenario.yaml", **cand.to_json(),
                                        "runs": [], "kept": False}
                self.doc["shrink"].append(step)
                for r in range(1, k + 1):
                    self.say(f"shrink: step {used}/{budget} ({budget - used} left): {change}: run {r}/{k}")
                    res = self._run(path, sdir / f"run-{r}")
                    step["runs"].append(res.to_json(self.root))
                    self.save()
                    if res.exit_code not in (EXIT_PASS, EXIT_GATE_FAILED):
                        self.say(f"shrink: run ended with exit {res.exit_code}; stopping")
                        return current, current_run, res.exit_code
                    same = res.failure is not None and cls in res.failed_gates
                    self.say(f"         -> {res.verdict.upper()}" + (f" with {cls}" if same else
                             (f" but {res.failure}, not {cls}" if res.failure else "")) + f" in {res.elapsed_s:.0f} s")
                    if not same:
                        no_faults_passed = no_faults_passed or not cand.faults
                        break
                else:
                    step["kept"] = True
                    current, current_run, kept = cand, sdir / "run-1", True
                    self.save()
                    self.say(f"shrink: kept '{change}': {_schedule_text(current)}")
                    break
            if not kept:
                break
        return current, current_run, None

    def finish(self, code: int, status: str) -> int:
        self.doc["exit_code"], self.doc["status"] = code, status
        self.save()
        return code


def explore(opts: ExploreOptions, say: Callable[[str], None] = print) -> int:
    from ..run import RunOptions, prepare
    if (opts.runs is None) == (opts.budget_s is None):
        raise UsageError("give --runs N or --budget DURATION (e.g. --runs 20, --budget 20m)")
    if opts.runs is not None and opts.runs < 1:
        raise UsageError("--runs must be >= 1")
    if opts.budget_s is not None and opts.budget_s <= 0:
        raise UsageError("--budget must be a positive duration such as 20m")
    if opts.confirm < 1:
        raise UsageError("--confirm must be >= 1 (re-runs that must all fail before a shrink step is kept)")
    if opts.shrink_steps < 0:
        raise UsageError("--shrink-steps must be >= 0")
    scenario = prepare(RunOptions(scenario_path=opts.scenario_path, seed=opts.seed, scale=opts.scale,
                                  workers=opts.workers, merchant_mode=opts.merchant_mode, sut_cmd=opts.sut_cmd,
                                  client=opts.client))
    if opts.try_s is not None and not (8 <= opts.try_s <= scenario.duration_s):
        raise UsageError(f"--try-length must be between 8s and the scenario's duration ({scenario.duration_s:g}s)")
    space = space_of(scenario, opts.try_s)
    if not space.choices:
        raise UsageError(f"{opts.scenario_path}: no fault applies to this scenario; add an explore: block")
    if not opts.dry_run:
        from ..faults.plan import action_kinds
        from ..faults.registry import kinds_of
        from ..stack.toxiproxy_api import find_toxiproxy_server
        find_toxiproxy_server()                                   # exit 3 before anything starts
        for name in sorted({c.kind for c in space.choices}):
            cls = kinds_of("toxic").get(name) or action_kinds()[name]
            check = getattr(cls, "check_available", None)
            if check is not None:
                check()
    seed = scenario.seed
    _, root = new_run_dir(f"explore-{scenario.name}", opts.out, opts.reports_dir)
    ex = _Exploration(opts, scenario, space, seed, root, say)
    say(f"invoice-chaos explore: {scenario.name}, seed {seed}, "
        + (f"{opts.runs} tries" if opts.runs else f"a budget of {format_duration(opts.budget_s or 0)}")
        + f" of {format_duration(space.try_s)}, {len(space.choices)} faults to draw from, "
          f"{space.count[0]}-{space.count[1]} per try; confirm {opts.confirm}, up to {opts.shrink_steps} shrink steps")
    for note in space.left_out:
        say(f"  left out: {note}")
    say(f"exploration directory: {root}")
    try:
        found = ex.tries()
        if opts.dry_run:
            return ex.finish(EXIT_PASS, "planned")
        if isinstance(found, int):
            return ex.finish(found, "interrupted" if found == EXIT_INTERRUPTED else "error")
        if found is None:
            figures = [t["index"] for t in ex.doc["tries"] if (t.get("result") or {}).get("failed_gates")]
            say(f"explore: no failure in {len(ex.doc['tries'])} tries (exit 0)"
                + (f"; figure gates failed in tries {', '.join(map(str, figures))} (--any-gate shrinks those)"
                   if figures else ""))
            return ex.finish(EXIT_PASS, "no failure")
        spec, result, record = found
        cls = result.failure or "failed"
        ex.doc["failing_try"], ex.doc["class"] = record["index"], cls
        say(f"explore: try {record['index']} failed with {cls}; shrinking (each step re-run {opts.confirm}x)")
        minimal, minimal_run, stop = ex.shrink(spec, result, cls)
        path = write_try(root / "minimal.yaml", scenario, minimal,
                         ex._header(f"minimal scenario: fails with {cls}"))
        ex.doc["minimal"] = {"path": "minimal.yaml", **minimal.to_json(),
                             "run_dir": str(minimal_run.relative_to(root)),
                             "report": str((minimal_run / "report.html").relative_to(root)),
                             "steps_kept": sum(1 for s in ex.doc["shrink"] if s["kept"])}
        say(f"explore: minimal scenario ({len(minimal.faults)} faults, {format_duration(minimal.duration_s)}, "
            f"{minimal.peak_rps:g}/s): {_schedule_text(minimal)}")
        say(f"  {path}\n  replay: invoice-chaos run {path}"
            + (f" --merchant-mode {opts.merchant_mode}" if opts.merchant_mode else "")
            + (f" --sut-cmd {opts.sut_cmd!r}" if opts.sut_cmd else "")
            + (f" --client {opts.client}" if opts.client else ""))
        say(f"  report: {root / 'explore.html'}")
        if stop is not None:
            return ex.finish(stop, "interrupted" if stop == EXIT_INTERRUPTED else "error")
        return ex.finish(EXIT_GATE_FAILED, "failure found")
    except KeyboardInterrupt:
        say("\ninterrupted: the exploration directory has what ran so far")
        return ex.finish(EXIT_INTERRUPTED, "interrupted")

