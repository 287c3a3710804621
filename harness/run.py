"""One full run: scenario -> stack up -> load + faults (history) -> heal -> drain -> final
read -> ledger -> stack down -> checker -> gates -> report.

Each stage writes files into the run directory and the next one reads them, so `check` and
`report` can be re-run on a finished run without the services. Teardown is in `finally`,
and Ctrl-C (SIGINT) or SIGTERM stops the load, undoes the faults, takes the stack down and
still writes what was measured, marked interrupted.
"""
from __future__ import annotations

import dataclasses
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import httpx

from .configure import load_config, profile_of, stack_config
from .errors import EXIT_INTERRUPTED, StackError, UsageError
from .faults import FaultContext, PlatformAdmin, Timeline, expand
from .faults.setup import FaultSetup, check_available
from .pathwatch import PATH_FILE, PathWatch
from .run_record import RunRecord
from .rundir import (FAULTS, FAULTS_PLAN, HISTORY, HISTORY_PARTS, LEDGER, SELLERS, merge_history,
                     new_run_dir, write_json)
from .scenario import Scenario, format_duration, load_scenario

if TYPE_CHECKING:
    from docker.client import DockerClient

    from fakes.common.sellers import Seller

    from .load.config import LoadConfig
    from .load.runner import LoadHandle, LoadResult
    from .stack.base import Stack
    from .stack.leftovers import Registry

__all__ = ["RunOptions", "run"]

@dataclasses.dataclass
class RunOptions:
    scenario_path: str
    out: str | None = None
    seed: int | None = None
    scale: float = 1.0
    workers: int | None = None            # local Locust processes: 1, or 0 with remote workers
    merchant_mode: str | None = None
    sut_cmd: str | None = None
    backend: str = "local"
    reports_dir: Path = Path("reports")
    remote_workers: int = 0               # design.md s.10: processes from load machines
    bind: str = "127.0.0.1"               # master + client-facing proxies listen here
    master_port: int = 5557
    workers_timeout: str = "60s"

    @property
    def local_workers(self) -> int:
        return self.workers if self.workers is not None else (0 if self.remote_workers else 1)

    @property
    def workers_timeout_s(self) -> float:
        from .scenario import parse_duration
        return parse_duration(self.workers_timeout)
    sut_image: str | None = None           # docker backend: the user's merchant as an image
    sut_port: int | None = None            # the port it listens on inside its container
    client: str | None = None              # FILE.py:Class, a client adapter (design.md s.14)
    client_spec: Any = None                # the adapter as checked by prepare (ClientSpec)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def prepare(opts: RunOptions) -> Scenario:
    """Validate everything that can be validated before anything starts (exit 2)."""
    scenario = load_scenario(opts.scenario_path)
    if opts.seed is not None:
        scenario.seed = opts.seed
    if opts.scale <= 0:
        raise UsageError("--scale must be > 0 (0.1 = a tenth of the traffic)")
    if opts.remote_workers < 0:
        raise UsageError("--remote-workers must be >= 0")
    if opts.local_workers < (0 if opts.remote_workers else 1):
        raise UsageError("--workers must be >= 1 (>= 0 with --remote-workers)")
    _check_distribution(opts)
    if opts.backend not in ("local", "docker"):
        raise UsageError(f"--backend {opts.backend!r}: local or docker")
    if opts.merchant_mode and opts.sut_cmd:
        raise UsageError("give either --merchant-mode (the bundled merchant) or --sut-cmd (your own), not both")
    if opts.backend == "docker" and opts.remote_workers:
        raise UsageError("--remote-workers needs --backend local: the docker backend publishes its "
                         "ports on 127.0.0.1 only")
    if opts.sut_image and opts.backend != "docker":
        raise UsageError("--sut-image runs your merchant as a container: it needs --backend docker")
    if opts.sut_image and (opts.sut_cmd or opts.merchant_mode):
        raise UsageError("give one of --sut-image, --sut-cmd or --merchant-mode, not several")
    if opts.sut_port is not None and not opts.sut_image:
        raise UsageError("--sut-port is the port inside your --sut-image container; give --sut-image too")
    if opts.sut_port is not None and not 0 < opts.sut_port < 65536:
        raise UsageError(f"--sut-port {opts.sut_port}: not a TCP port")
    from fakes.merchant.modes import MODES
    if opts.merchant_mode:
        if opts.merchant_mode not in MODES:
            raise UsageError(f"--merchant-mode {opts.merchant_mode!r}: unknown; modes: {', '.join(MODES)}")
        scenario.merchant.mode = opts.merchant_mode
        scenario.merchant.sut = None
    if opts.sut_cmd:
        from .scenario.model import SutSpec
        prev = scenario.merchant.sut
        scenario.merchant.sut = SutSpec(command=opts.sut_cmd, health=prev.health if prev else "/healthz",
                                        startup_timeout_s=prev.startup_timeout_s if prev else 30.0)
    if opts.sut_image:
        from .scenario.model import SutSpec
        prev = scenario.merchant.sut
        scenario.merchant.sut = SutSpec(command="", health=prev.health if prev else "/healthz",
                                        startup_timeout_s=prev.startup_timeout_s if prev else 30.0)
    _check_backend(scenario, opts.backend)
    opts.client_spec = _client_spec(opts, scenario)
    return scenario


def _client_spec(opts: RunOptions, scenario: Scenario) -> Any:
    """The client adapter of `--client` (over the scenario's `merchant.client`), read and
    checked now: not importable, not an Adapter, no issue/query -> exit 2 with the reason."""
    from .client.loader import ClientError, read_client
    from .errors import ScenarioError
    if opts.client:
        try:
            return read_client(opts.client)
        except ClientError as e:
            raise UsageError(f"--client {e}") from None
    if scenario.merchant.client:
        try:
            return read_client(scenario.merchant.client)
        except ClientError as e:
            raise ScenarioError(f"{scenario.merchant.client_loc}: merchant.client: {e}") from None
    return None


def _check_distribution(opts: RunOptions) -> None:
    """design.md s.10: `--bind` is an address of this machine; the other flags make sense."""
    from .load.remote import bind_problem
    from .durations import DurationError
    problem = bind_problem(opts.bind)
    if problem:
        raise UsageError(problem)
    if not 0 < opts.master_port < 65536:
        raise UsageError(f"--master-port {opts.master_port}: a port number in 1..65535")
    try:
        if opts.workers_timeout_s <= 0:
            raise UsageError(f"--workers-timeout {opts.workers_timeout}: must be > 0")
    except DurationError as e:
        raise UsageError(f"--workers-timeout: {e}") from None
    if not opts.remote_workers and (opts.bind != "127.0.0.1" or opts.master_port != 5557
                                    or opts.workers_timeout != "60s"):
        raise UsageError("--bind, --master-port and --workers-timeout are for --remote-workers M")


def _check_backend(scenario: Scenario, backend: str) -> None:
    """Every fault of the scenario must be one the chosen backend can apply (exit 2)."""
    from .errors import ScenarioError
    from .faults.registry import KINDS
    problems = []
    for f in scenario.faults:
        names = [f.raw.get("toxic") or f.raw.get("action")]
        if isinstance(f.raw.get("random"), dict):
            names = list(f.raw["random"].get("pick") or [])
        for cls in KINDS.values():
            if cls.kind in names and backend not in cls.backends:
                problems.append(f"{f.loc}: {cls.kind!r} is not available on the {backend} backend "
                                f"(it runs on: {', '.join(cls.backends)}; see 'invoice-chaos list')")
    if problems:
        raise ScenarioError(problems)


def run(opts: RunOptions, say: Callable[[str], None] = print) -> int:
    scenario = prepare(opts)
    engine = None
    if opts.backend == "docker":
        from .stack.docker.prep import prepare_docker
        engine = prepare_docker(opts.sut_image, say)   # exit 3 before a run directory is made
    else:
        from .stack.toxiproxy_api import find_toxiproxy_server
        find_toxiproxy_server()                        # exit 3 before a run directory is made
    check_available(expand([(f.raw, str(f.loc)) for f in scenario.faults], scenario.seed,
                           scenario.duration_s))   # libfaketime, root: exit 3 as well
    run_id, run_dir = new_run_dir(scenario.name, opts.out, opts.reports_dir)
    return _run_in(scenario, opts, run_id, run_dir, say, engine)


def _copy_scenario(scenario: Scenario, src: Path, run_dir: Path) -> None:
    shutil.copyfile(src, run_dir / "scenario.yaml")
    if scenario.load.curve_file and not Path(scenario.load.curve_file).is_absolute() \
            and ".." not in Path(scenario.load.curve_file).parts:
        dest = run_dir / scenario.load.curve_file
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.resolve().parent / scenario.load.curve_file, dest)


def _run_in(scenario: Scenario, opts: RunOptions, run_id: str, run_dir: Path,
            say: Callable[[str], None], engine: DockerClient | None = None) -> int:
    """The stages of design.md s.2 on a fresh run directory; returns the exit code."""
    run = _Run(scenario, opts, run_id, run_dir, say, engine)
    run.write_inputs()
    run.announce()
    run.build_stack()
    return run.execute()


class _Run:
    """One run's state between its stages; each stage records in `record` (run.json) what it
    did, so an interrupted or failed run still leaves an account of how far it got."""

    def __init__(self, scenario: Scenario, opts: RunOptions, run_id: str, run_dir: Path,
                 say: Callable[[str], None], engine: DockerClient | None):
        self.scenario, self.opts, self.run_id, self.run_dir = scenario, opts, run_id, run_dir
        self.say, self.engine = say, engine
        self.profile = profile_of(scenario.platform.profile)
        self.started = time.time()
        self.record = RunRecord.started(
            self.started, run_id=run_id, scenario=scenario.name, seed=scenario.seed,
            scale=opts.scale, workers=opts.local_workers, remote_workers=opts.remote_workers,
            backend=opts.backend, merchant=_merchant_desc(scenario, opts),
            platform={"profile": scenario.platform.profile})
        self.planned = expand([(f.raw, str(f.loc)) for f in scenario.faults], scenario.seed,
                              scenario.duration_s)
        self.history_dir = (run_dir / HISTORY_PARTS).resolve()
        self.sellers: list[Seller] = []
        self.stack: Stack | None = None
        self.handle: LoadHandle | None = None
        self.timeline: Timeline | None = None
        self.path_watch: PathWatch | None = None    # the harness's own path (harness/pathwatch.py)
        self.fault_setup = FaultSetup()      # mounts and preloads some faults need; closed on every exit
        self.stop_load = threading.Event()
        self.interrupted = False
        self.exit_code: int | None = None

    def save(self) -> None:
        self.record.write(self.run_dir)

    def note(self, text: str, prefix: str = "") -> None:
        """A note for the verdict, also said now (`prefix` marks how it is said)."""
        self.say(f"{prefix}{text}")
        self.record.note(text)

    # -- before anything starts ---------------------------------------------------------------
    def write_inputs(self) -> None:
        """The scenario, the sellers, run.json and the fault plan, into the run directory."""
        from fakes.common.sellers import sellers_for, write_sellers
        _copy_scenario(self.scenario, Path(self.opts.scenario_path), self.run_dir)
        self.sellers = sellers_for(self.scenario.platform.profile, self.scenario.merchant.sellers,
                                   self.scenario.seed)
        write_sellers(self.run_dir / SELLERS, self.sellers)
        self.save()
        write_json(self.run_dir / FAULTS_PLAN, [f.to_json() for f in self.planned])
        self.history_dir.mkdir(exist_ok=True)

    def announce(self) -> None:
        scenario, merchant, say = self.scenario, self.record.merchant, self.say
        say(f"invoice-chaos: {scenario.name} (seed {scenario.seed}, {format_duration(scenario.duration_s)} of load, "
            f"peak {scenario.load.peak_rps * self.opts.scale:g} arrivals/s, merchant "
            f"{merchant.get('sut_image') or merchant['sut_cmd'] or merchant['mode']}"
            f"{', through client adapter ' + merchant['client'] if merchant.get('client') else ''}"
            f"{', on docker' if self.engine is not None else ''})")
        say(f"run directory: {self.run_dir}")
        if self.planned:
            say("fault schedule:")
            for f in self.planned:
                end = f"{f.end_s:6.1f}s" if f.end_s is not None else "  inst."
                say(f"  {f.start_s:6.1f}s -> {end}  {f.kind:<18} {f.target:<22} ({f.source})")

    def build_stack(self) -> None:
        """The stack object (nothing runs yet), for the backend the options name."""
        cfg = stack_config(self.scenario, self.opts, self.run_id, self.run_dir, self.run_dir / SELLERS)
        if self.engine is not None:
            from .stack.docker.stack import DockerOptions, DockerStack
            self.stack = DockerStack(cfg, self.engine, DockerOptions(
                sut_image=self.opts.sut_image, sut_port=self.opts.sut_port or 8080,
                project_dir=Path.cwd()), say=self.say)
        else:
            from .stack import LocalStack
            self.stack = LocalStack(cfg, say=self.say)

    # -- the run ------------------------------------------------------------------------------
    def execute(self) -> int:
        """The stages, then teardown whatever happened; then the verdict."""
        assert self.stack is not None
        old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            try:
                self.stages()
                self.record.status = "finished"
            except KeyboardInterrupt:
                self.interrupted = True
                self.stop_load.set()
                self.say("\ninterrupted: stopping the load, undoing faults, taking the stack down ...")
                self.record.status = "interrupted"
                self.record.interrupted = True
                self.record.note("interrupted by the user (Ctrl-C) or SIGTERM; figures are partial")
            except StackError as e:
                self.record.status = "stack-error"
                self.record.error = str(e)
                self.say(f"error: {e}")
                self.exit_code = e.exit_code
            finally:
                self.teardown()
        except KeyboardInterrupt:
            # a second Ctrl-C during teardown: finish the teardown anyway
            self.stack.down()
            self.interrupted = True
            self.record.interrupted = True
            self.save()
        finally:
            self.fault_setup.close()          # idempotent: after a second Ctrl-C too
            signal.signal(signal.SIGTERM, old_term)
        return self.verdict()

    def stages(self) -> None:
        """design.md s.2: stack up -> load + faults (history) -> heal -> drain and final read
        -> ledger (the stack goes down in `teardown`, the checker runs in `verdict`)."""
        self.prepare_faults()
        self.start_load()
        self.stack_up()
        t0 = self.start()
        self.load_with_faults(t0)
        self.heal()
        self.drain(t0)
        self.collect()

    def prepare_faults(self) -> None:
        """What some faults need before the services start (mounts, preloads, clock_skew's
        environment for the local stack's services)."""
        assert self.stack is not None
        self.fault_setup.prepare(self.planned, self.run_dir)
        if self.fault_setup.env:
            self.stack.cfg.merchant_env.update(self.fault_setup.env.get("merchant", {}))
            self.stack.cfg.platform_env.update(self.fault_setup.env.get("taxplatform", {}))

    def start_load(self) -> None:
        """Locust starts while the stack comes up (its imports take seconds): its processes
        say when they are ready and get the URLs and t0 with the go (`start`)."""
        assert self.stack is not None
        config = load_config(self.scenario, self.opts, self.sellers, self.history_dir)
        self.handle = _start_load(config, self.run_dir.resolve(), self.opts, self.scenario, self.say,
                                  self.stack.registry,
                                  path_words=lambda: self.path_watch.words() if self.path_watch else "")

    def stack_up(self) -> None:
        assert self.stack is not None
        self.say("starting the stack: toxiproxy, taxplatform, merchant ...")
        self.stack.up()
        self.record.stack = {**self.stack.stack_info, "ports": self.stack.ports}
        self.record.status = "running"
        self.save()

    def start(self) -> float:
        """Every load worker ready, then the go: t0 is picked only now."""
        assert self.stack is not None and self.handle is not None
        tls = self.stack.tls
        t0 = _wait_for_workers(self.handle, self.opts, self.record, self.say,
                               merchant_url=self.stack.merchant_url, platform_url=self.stack.platform_url,
                               platform_ca_pem=tls.ca_pem.read_text() if tls is not None else "")
        self.record.t0 = t0
        self.save()
        return t0

    def load_with_faults(self, t0: float) -> None:
        """The load plays its schedule while the fault timeline applies the plan; the CPU
        meter watches where the machine's time goes from t0 on."""
        assert self.stack is not None and self.handle is not None
        from .load.cpu_meter import CpuMeter
        stack = self.stack
        self.timeline = Timeline(self.planned, FaultContext(stack.toxiproxy, stack,
                                                            PlatformAdmin(stack.platform_direct)),
                                 t0, self.run_dir / FAULTS, say=self.say)
        self.timeline.start()
        health = stack.cfg.sut_health
        self.path_watch = PathWatch(stack.merchant_direct + health, stack.merchant_url + health,
                                    self.run_dir / PATH_FILE, t0, [f.to_json() for f in self.planned])
        self.path_watch.start()
        meter = CpuMeter(stack.registry.groups)
        starter = threading.Timer(max(0.0, t0 - time.time()), meter.start)
        starter.daemon = True
        starter.start()
        try:
            result = _load(self.handle, self.stop_load, self.say, self.record.notes)
        finally:
            self.path_watch.stop()
        starter.cancel()
        starter.join(timeout=5)
        self.record.load_cpu = meter.stop()
        if result is not None:
            _record_workers(result, self.record, self.say)
        self.record.load_end_t = round(time.time() - t0, 3)

    def heal(self) -> None:
        """Every fault undone: proxies reset, paused services continued, dead ones restarted."""
        assert self.stack is not None and self.timeline is not None
        self.say(f"load finished at t={self.record.load_end_t:.1f}s; healing every fault")
        self.timeline.stop()
        for p in self.stack.heal():
            self.note(f"heal: {p}", prefix="  ")

    def drain(self, t0: float) -> None:
        assert self.stack is not None
        _drain(self.stack, self.sellers, self.history_dir, t0, self.scenario, self.record, self.say,
               self.opts.client_spec)

    def collect(self) -> None:
        """The platform's ledger, and whatever else the profile's verdict reads."""
        assert self.stack is not None
        _collect_ledger(self.stack.platform_direct, self.run_dir / LEDGER)
        self.profile.collect(self.stack.platform_direct, self.run_dir)

    def teardown(self) -> None:
        """Load stopped, faults undone, stack down, history merged: on every exit."""
        assert self.stack is not None
        self.stop_load.set()
        if self.timeline is not None:
            self.timeline.stop()
        if self.handle is not None:
            self.handle.close()                 # no load process outlives the load (idempotent)
        if self.interrupted and not (self.run_dir / LEDGER).exists():
            try:
                _collect_ledger(self.stack.platform_direct, self.run_dir / LEDGER)
            except Exception as e:  # noqa: BLE001 - partial data is better than none
                self.record.note(f"ledger not collected: {e}")
        self.stack.down()
        self.say("stack down")
        for p in self.fault_setup.close():
            self.note(f"cleanup: {p}", prefix="  ")
        self.record.duration_s = round(time.time() - self.started, 1)
        merge_history(self.history_dir, self.run_dir / HISTORY)
        self.save()

    # -- after the stack is down ----------------------------------------------------------------
    def verdict(self) -> int:
        """Checker, gates, summary and report (harness/verdict.py); the stack error's exit
        code instead when the run could not happen."""
        if not (self.run_dir / LEDGER).exists():
            (self.run_dir / LEDGER).touch()
        if self.exit_code is not None:
            return self.exit_code
        from .verdict import evaluate_run, print_verdict   # the checker (numpy): not on the start-up path
        summary, code = evaluate_run(self.run_dir, self.scenario, say=self.say)
        print_verdict(summary, self.run_dir, self.say)
        return EXIT_INTERRUPTED if self.interrupted else code


def _merchant_desc(scenario: Scenario, opts: RunOptions) -> dict[str, Any]:
    """run.json's `merchant`: the bundled merchant's mode, or the user's command or image."""
    sut = scenario.merchant.sut
    desc: dict[str, Any] = ({"mode": None, "sut_cmd": sut.command or None} if sut
                            else {"mode": scenario.merchant.mode, "sut_cmd": None})
    if opts.sut_image:
        desc["sut_image"] = opts.sut_image
    if opts.client_spec is not None:
        desc["client"] = opts.client_spec.label
    return desc


def _start_load(config: LoadConfig, run_dir: Path, opts: RunOptions, scenario: Scenario,
                say: Callable[[str], None], registry: Registry,
                path_words: Callable[[], str] = lambda: "") -> LoadHandle:
    """Start Locust; its process groups are recorded with the stack's, so a later run can
    clear them if this orchestrator is killed outright."""
    from .load.runner import Distribution, start_load

    state: dict[str, Any] = {"last": 0.0}

    def progress(p: dict) -> None:
        now = time.monotonic()
        if now - state["last"] < 5.0:
            return
        state["last"] = now
        workers = p.get("workers") or []
        per = ("  (" + ", ".join(f"{w['name']} {w['arrivals']}{' LOST' if w.get('lost') else ''}"
                                 for w in workers) + ")") if len(workers) > 1 else ""
        say(f"  t={p.get('t', 0):6.1f}s/{scenario.duration_s:g}s  arrivals {p.get('arrivals', 0):>6}{per}  "
            f"in flight {p.get('in_flight', 0):>4}  ok {p.get('ok', 0):>6}  fail {p.get('fail', 0):>4}  "
            f"unknown {p.get('info', 0):>4}  {p.get('rps', 0):6.1f} req/s  |  harness: unsent "
            f"{p.get('unsent', 0)}, lag p99 {p.get('lag_p99_ms', 0):g} ms, loop lag p99 "
            f"{p.get('loop_lag_p99_ms', 0):g} ms, cpu {p.get('cpu_max_pct', 0):.0f}%"
            + ("  SATURATED" if p.get("harness_saturated") else "") + path_words())

    return start_load(config, run_dir, on_progress=progress,
                      distribution=Distribution(opts.bind, opts.master_port), deferred=True,
                      on_spawn=lambda name, proc: registry.record(f"locust-{name}", proc.pid))


def _wait_for_workers(handle: LoadHandle, opts: RunOptions, record: RunRecord,
                      say: Callable[[str], None], **config: Any) -> float:
    """Wait for every load worker (exit 3 naming who came), then start them with the last
    fields of their `config` (the stack's URLs); returns t0, picked only now."""
    from .load.remote import describe
    if not opts.remote_workers:
        handle.wait_ready(opts.workers_timeout_s)
        t0 = time.time() + handle.start_margin_s
        handle.go(t0, **config)
        return t0
    say(f"waiting up to {opts.workers_timeout} for {handle.config.total_workers} load workers "
        f"on {opts.bind}:{opts.master_port} ({opts.remote_workers} remote: "
        f"'invoice-chaos worker --master {opts.bind}:{opts.master_port}')")
    joined = handle.wait_ready(opts.workers_timeout_s)
    for w in joined:
        say(f"  joined: {describe(w)}")
        if abs(w.get("clock_skew_s") or 0) > 1.0:
            note = (f"the clock of {describe(w)} differs from the master's by about "
                    f"{w['clock_skew_s']:+.2f} s: its arrivals are off by that much (use NTP)")
            say(f"warning: {note}")
            record.note(note)
    record.workers_joined = joined
    t0 = time.time() + handle.start_margin_s
    handle.go(t0, **config)
    return t0


def _record_workers(result: LoadResult, record: RunRecord, say: Callable[[str], None]) -> None:
    """Per-worker figures into run.json; a lost worker is named there and in the notes."""
    from .load.remote import describe
    record.load_workers = result.workers
    record.lost_workers = result.lost_workers
    for w in result.lost_workers:
        note = (f"load worker {describe(w)} was lost at t={w.get('lost_at_t')}s "
                f"({w.get('lost_reason')}): {w.get('open_requests_info', 0)} open requests recorded "
                f"info, {w.get('unplayed', 0)} of its arrivals unsent")
        say(f"warning: {note}")
        record.note(note)


def _load(handle: LoadHandle, stop: threading.Event, say: Callable[[str], None],
          notes: list[str]) -> LoadResult | None:
    """Wait for the load on a thread so Ctrl-C reaches this (main) thread at once."""
    errors: list[BaseException] = []
    results: list[LoadResult] = []

    def target() -> None:
        try:
            result = handle.wait(stop)
            results.append(result)
            if getattr(result, "exit_code", 0) not in (0, None, 130):
                note = (f"the load generator exited with code {result.exit_code}"
                        f"{': ' + str(result.error).strip() if getattr(result, 'error', None) else ''}"
                        " (see logs/locust-*.log)")
                say(f"warning: {note}")
                notes.append(note)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    th = threading.Thread(target=target, name="load", daemon=True)
    th.start()
    try:
        while th.is_alive():
            th.join(timeout=0.5)
    except KeyboardInterrupt:
        # stop Locust and wait for it (bounded), so no load process outlives the run
        stop.set()
        th.join(timeout=20)
        raise
    if errors:
        raise StackError(f"the load generator failed: {type(errors[0]).__name__}: {errors[0]}")
    return results[0] if results else None


def _drain(stack: Stack, sellers: list[Seller], history_dir: Path, t0: float,
           scenario: Scenario, record: RunRecord, say: Callable[[str], None],
           client: Any = None) -> None:
    """The drain, then the final read (Jepsen's: every order once more, the open ones
    first), together within the drain timeout plus one request timeout (harness/drain.py).
    With a client adapter the merchant is asked through its `query` (harness/client)."""
    from .drain import LANES, Drainer, scan_history

    orders = scan_history(sorted(history_dir.glob("*.jsonl")))
    open_at_end = [o for o, s in orders.items() if not s.settled()]
    timeout, request = scenario.drain.timeout_s, scenario.load.request_timeout_s
    say(f"drain: {len(orders)} orders, {len(open_at_end)} open; the drain and the final read "
        f"take at most {format_duration(timeout)} + {format_duration(request)} "
        f"({LANES} requests at a time)")
    invoker = None
    if client is not None:
        from .client.http import HttpxBackend
        from .client.invoke import Invoker
        invoker = Invoker(client, HttpxBackend(stack.merchant_direct, request, LANES + 4),
                          HttpxBackend(stack.platform_direct, request, LANES + 4), sellers, request)
    try:
        with Drainer(stack.merchant_direct, stack.platform_direct,
                     {s["seller_tax_id"]: s["secret"] for s in sellers}, history_dir, t0,
                     timeout_s=timeout, request_timeout_s=request, say=say, client=invoker) as d:
            record.drain = d.drain(orders)
            final = open_at_end + sorted(set(orders) - set(open_at_end))
            outcome = d.final_read(final)
    finally:
        if invoker is not None:
            invoker.close()
    record.final_read = outcome
    record.drain_end_t = round(time.time() - t0, 3)
    unanswered = outcome["orders"] - outcome["answered"]
    say(f"final read of {outcome['orders']} orders ({len(open_at_end)} were open at the end of "
        f"the load): {outcome['answered']} answered"
        + (f", {unanswered} unanswered ({outcome['unasked']} not asked: time was up)"
           if unanswered else ""))
    if unanswered:
        record.note(f"final read: {unanswered} of {outcome['orders']} orders unanswered "
                             f"({outcome['unasked']} not asked within the drain timeout + one "
                             "request timeout)")


def _collect_ledger(platform_url: str, out: Path) -> int:
    """Stream the platform's ledger (from the primary) into platform-ledger.jsonl."""
    from .platform_client import PlatformClient
    from .stack.tls import verify

    n = 0
    tmp = out.with_name(out.name + ".tmp")
    try:
        with httpx.Client(timeout=60, verify=verify(platform_url)) as http, open(tmp, "wb") as fh:
            for line in PlatformClient(http, platform_url, {}).ledger_lines(timeout=60):
                fh.write(line.encode() + b"\n")
                n += 1
    except httpx.HTTPStatusError as e:
        raise StackError(f"platform ledger: {e}") from None
    except httpx.HTTPError as e:
        raise StackError(f"platform ledger could not be read: {e}") from None
    tmp.replace(out)
    return n
