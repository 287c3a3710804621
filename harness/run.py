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
from typing import Any, Callable

import httpx

from .errors import EXIT_INTERRUPTED, StackError, UsageError
from .faults import FaultContext, PlatformAdmin, Timeline, expand
from .faults.setup import FaultSetup, check_available
from .rundir import merge_history, new_run_dir, write_json
from .scenario import Scenario, format_duration, load_scenario

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
    return scenario


def _check_distribution(opts: RunOptions) -> None:
    """design.md s.10: `--bind` is an address of this machine; the other flags make sense."""
    from .load.remote import bind_problem
    from .scenario.durations import DurationError
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
        from .stack.docker_prep import prepare_docker
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
            say: Callable[[str], None], engine: Any = None) -> int:
    from fakes.common.sellers import generate_sellers, write_sellers

    from .load.config import LoadConfig
    from .stack import LocalStack, StackConfig

    started = time.time()
    _copy_scenario(scenario, Path(opts.scenario_path), run_dir)
    sellers = generate_sellers(scenario.merchant.sellers, scenario.seed)
    sellers_file = run_dir / "sellers.json"
    write_sellers(sellers_file, sellers)
    merchant_desc = ({"mode": None, "sut_cmd": scenario.merchant.sut.command or None} if scenario.merchant.sut
                     else {"mode": scenario.merchant.mode, "sut_cmd": None})
    if opts.sut_image:
        merchant_desc["sut_image"] = opts.sut_image
    meta: dict[str, Any] = {"run_id": run_id, "scenario": scenario.name, "seed": scenario.seed,
                            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                            "scale": opts.scale, "workers": opts.local_workers,
                            "remote_workers": opts.remote_workers, "backend": opts.backend,
                            "merchant": merchant_desc, "status": "starting", "interrupted": False,
                            "platform": {"profile": scenario.platform.profile},
                            "notes": []}
    write_json(run_dir / "run.json", meta)

    planned = expand([(f.raw, str(f.loc)) for f in scenario.faults], scenario.seed, scenario.duration_s)
    write_json(run_dir / "faults-plan.json", [f.to_json() for f in planned])
    say(f"invoice-chaos: {scenario.name} (seed {scenario.seed}, {format_duration(scenario.duration_s)} of load, "
        f"peak {scenario.load.peak_rps * opts.scale:g} arrivals/s, merchant "
        f"{merchant_desc.get('sut_image') or merchant_desc['sut_cmd'] or merchant_desc['mode']}"
        f"{', on docker' if engine is not None else ''})")
    say(f"run directory: {run_dir}")
    if planned:
        say("fault schedule:")
        for f in planned:
            end = f"{f.end_s:6.1f}s" if f.end_s is not None else "  inst."
            say(f"  {f.start_s:6.1f}s -> {end}  {f.kind:<18} {f.target:<22} ({f.source})")

    platform_cfg = {"replica_lag_ms": round(scenario.platform.replica_lag_s * 1000),
                    "dedup": scenario.platform.dedup, "token_ttl_s": scenario.platform.token_ttl_s,
                    "quota_per_seller": str(scenario.platform.quota_per_seller
                                            if scenario.platform.quota_per_seller is not None
                                            else "10000000.00")}
    if scenario.platform.profile == "direct":
        platform_cfg.update(profile="direct",
                            upload_delay_ms=round(scenario.platform.upload_delay_s * 1000),
                            upload_deadline_s=scenario.platform.upload_deadline_s)
    sut = scenario.merchant.sut
    stack_cfg = StackConfig(
        run_id=run_id, run_dir=run_dir, sellers_file=sellers_file, platform_config=platform_cfg,
        merchant_mode=scenario.merchant.mode,
        merchant_env={"PLATFORM_DEDUP": scenario.platform.dedup,
                      "PLATFORM_PROFILE": scenario.platform.profile,
                      "PLATFORM_UPLOAD_DEADLINE_S": f"{scenario.platform.upload_deadline_s:g}",
                      "PLATFORM_TIMEOUT_S": f"{scenario.merchant.platform_timeout_s:g}"},
        sut_command=(sut.command or None) if sut else None, sut_health=sut.health if sut else "/healthz",
        sut_startup_timeout_s=sut.startup_timeout_s if sut else 30.0,
        client_host=opts.bind)
    if engine is not None:
        from .stack.docker_stack import DockerOptions, DockerStack
        stack: Any = DockerStack(stack_cfg, engine, DockerOptions(
            sut_image=opts.sut_image, sut_port=opts.sut_port or 8080, project_dir=Path.cwd()), say=say)
    else:
        stack = LocalStack(stack_cfg, say=say)

    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    timeline: Timeline | None = None
    handle: Any = None
    fault_setup = FaultSetup()       # mounts and preloads some faults need; closed on every exit
    stop_load = threading.Event()
    interrupted = False
    exit_code: int | None = None
    history_dir = (run_dir / "history").resolve()
    history_dir.mkdir(exist_ok=True)
    try:
        try:
            fault_setup.prepare(planned, run_dir)
            if fault_setup.env:                        # the local stack's services (clock_skew)
                stack.cfg.merchant_env.update(fault_setup.env.get("merchant", {}))
                stack.cfg.platform_env.update(fault_setup.env.get("taxplatform", {}))
            # Locust starts while the stack comes up (its imports take seconds): its processes
            # say when they are ready and get the URLs and t0 with the go (_wait_for_workers).
            config = LoadConfig(
                merchant_url="", platform_url="", sellers=list(sellers),
                seed=scenario.seed, duration_s=scenario.duration_s,
                curve=[[t, v] for t, v in scenario.load.curve], compress_s=scenario.load.compress_s,
                peak_rps=scenario.load.peak_rps * opts.scale, mix=scenario.load.mix,
                workers=opts.local_workers, remote_workers=opts.remote_workers,
                history_dir=str(history_dir), request_timeout_s=scenario.load.request_timeout_s,
                max_in_flight=scenario.load.max_in_flight, retry_unknown=scenario.load.retry_unknown,
                poll_interval_s=scenario.load.poll_interval_s, poll_limit=scenario.load.poll_limit)
            handle = _start_load(config, run_dir.resolve(), opts, scenario, say, stack.registry)
            say("starting the stack: toxiproxy, taxplatform, merchant ...")
            stack.up()
            meta["stack"] = {**stack.stack_info, "ports": stack.ports}
            meta["status"] = "running"
            write_json(run_dir / "run.json", meta)
            t0 = _wait_for_workers(handle, opts, meta, say, merchant_url=stack.merchant_url,
                                   platform_url=stack.platform_url)
            if opts.remote_workers:
                write_json(run_dir / "run.json", meta)
            meta["t0"] = t0
            write_json(run_dir / "run.json", meta)
            timeline = Timeline(planned, FaultContext(stack.toxiproxy, stack, PlatformAdmin(stack.platform_direct)),
                                t0, run_dir / "faults.jsonl", say=say)
            timeline.start()
            from .load.cpu_meter import CpuMeter
            meter = CpuMeter(stack.registry.groups)     # where the CPU goes from t0 on
            starter = threading.Timer(max(0.0, t0 - time.time()), meter.start)
            starter.daemon = True
            starter.start()
            result = _load(handle, stop_load, say, meta["notes"])
            starter.cancel()
            starter.join(timeout=5)
            meta["load_cpu"] = meter.stop()
            if result is not None:
                _record_workers(result, meta, say)
            meta["load_end_t"] = round(time.time() - t0, 3)
            say(f"load finished at t={meta['load_end_t']:.1f}s; healing every fault")
            timeline.stop()
            problems = stack.heal()
            for p in problems:
                say(f"  heal: {p}")
                meta["notes"].append(f"heal: {p}")
            _drain(stack, sellers, history_dir, t0, scenario, meta, say)
            _collect_ledger(stack.platform_direct, run_dir / "platform-ledger.jsonl")
            if scenario.platform.profile == "direct":
                from .report.uploads import UPLOADS_FILE, collect_uploads
                collect_uploads(stack.platform_direct, run_dir / UPLOADS_FILE)
            meta["status"] = "finished"
        except KeyboardInterrupt:
            interrupted = True
            stop_load.set()
            say("\ninterrupted: stopping the load, undoing faults, taking the stack down ...")
            meta["status"] = "interrupted"
            meta["interrupted"] = True
            meta["notes"].append("interrupted by the user (Ctrl-C) or SIGTERM; figures are partial")
        except StackError as e:
            meta["status"] = "stack-error"
            meta["error"] = str(e)
            say(f"error: {e}")
            exit_code = e.exit_code
        finally:
            stop_load.set()
            if timeline is not None:
                timeline.stop()
            if handle is not None:
                handle.close()                 # no load process outlives the load (idempotent)
            if interrupted and not (run_dir / "platform-ledger.jsonl").exists():
                try:
                    _collect_ledger(stack.platform_direct, run_dir / "platform-ledger.jsonl")
                except Exception as e:  # noqa: BLE001 - partial data is better than none
                    meta["notes"].append(f"ledger not collected: {e}")
            stack.down()
            say("stack down")
            for p in fault_setup.close():
                say(f"  cleanup: {p}")
                meta["notes"].append(f"cleanup: {p}")
            meta["duration_s"] = round(time.time() - started, 1)
            merge_history(history_dir, run_dir / "history.jsonl")
            write_json(run_dir / "run.json", meta)
    except KeyboardInterrupt:
        # a second Ctrl-C during teardown: finish the teardown anyway
        stack.down()
        interrupted = True
        meta["interrupted"] = True
        write_json(run_dir / "run.json", meta)
    finally:
        fault_setup.close()          # idempotent: after a second Ctrl-C too
        signal.signal(signal.SIGTERM, old_term)

    if exit_code is not None:
        if not (run_dir / "platform-ledger.jsonl").exists():
            (run_dir / "platform-ledger.jsonl").touch()
        return exit_code
    if not (run_dir / "platform-ledger.jsonl").exists():
        (run_dir / "platform-ledger.jsonl").touch()
    from .verdict import evaluate_run, print_verdict   # the checker (numpy): not on the start-up path
    summary, code = evaluate_run(run_dir, scenario, say=say)
    print_verdict(summary, run_dir, say)
    return EXIT_INTERRUPTED if interrupted else code


def _start_load(config: Any, run_dir: Path, opts: RunOptions, scenario: Scenario,
                say: Callable[[str], None], registry: Any) -> Any:
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
            + ("  SATURATED" if p.get("harness_saturated") else ""))

    return start_load(config, run_dir, on_progress=progress,
                      distribution=Distribution(opts.bind, opts.master_port), deferred=True,
                      on_spawn=lambda name, proc: registry.record(f"locust-{name}", proc.pid))


def _wait_for_workers(handle: Any, opts: RunOptions, meta: dict, say: Callable[[str], None],
                      **config: Any) -> float:
    """Wait for every load worker (exit 3 naming who came), then start them with the last
    fields of their `config` (the stack's URLs); returns t0, picked only now."""
    from .load.remote import describe
    from .load.runner import REMOTE_START_MARGIN_S, START_MARGIN_S
    if not opts.remote_workers:
        handle.wait_ready(opts.workers_timeout_s)
        t0 = time.time() + START_MARGIN_S
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
            meta["notes"].append(note)
    meta["workers_joined"] = joined
    t0 = time.time() + REMOTE_START_MARGIN_S
    handle.go(t0, **config)
    return t0


def _record_workers(result: Any, meta: dict, say: Callable[[str], None]) -> None:
    """Per-worker figures into run.json; a lost worker is named there and in the notes."""
    from .load.remote import describe
    meta["load_workers"] = result.workers
    meta["lost_workers"] = result.lost_workers
    for w in result.lost_workers:
        note = (f"load worker {describe(w)} was lost at t={w.get('lost_at_t')}s "
                f"({w.get('lost_reason')}): {w.get('open_requests_info', 0)} open requests recorded "
                f"info, {w.get('unplayed', 0)} of its arrivals unsent")
        say(f"warning: {note}")
        meta["notes"].append(note)


def _load(handle: Any, stop: threading.Event, say: Callable[[str], None], notes: list[str]) -> Any:
    """Wait for the load on a thread so Ctrl-C reaches this (main) thread at once."""
    errors: list[BaseException] = []
    results: list[Any] = []

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


def _drain(stack: Any, sellers: list, history_dir: Path, t0: float, scenario: Scenario,
           meta: dict, say: Callable[[str], None]) -> None:
    """The drain, then the final read (Jepsen's: every order once more, the open ones
    first), together within the drain timeout plus one request timeout (harness/drain.py)."""
    from .drain import LANES, Drainer, scan_history

    orders = scan_history(sorted(history_dir.glob("*.jsonl")))
    open_at_end = [o for o, s in orders.items() if not s.settled()]
    timeout, request = scenario.drain.timeout_s, scenario.load.request_timeout_s
    say(f"drain: {len(orders)} orders, {len(open_at_end)} open; the drain and the final read "
        f"take at most {format_duration(timeout)} + {format_duration(request)} "
        f"({LANES} requests at a time)")
    with Drainer(stack.merchant_direct, stack.platform_direct,
                 {s["seller_tax_id"]: s["secret"] for s in sellers}, history_dir, t0,
                 timeout_s=timeout, request_timeout_s=request, say=say) as d:
        meta["drain"] = d.drain(orders)
        final = open_at_end + sorted(set(orders) - set(open_at_end))
        outcome = d.final_read(final)
    meta["final_read"] = outcome
    meta["drain_end_t"] = round(time.time() - t0, 3)
    unanswered = outcome["orders"] - outcome["answered"]
    say(f"final read of {outcome['orders']} orders ({len(open_at_end)} were open at the end of "
        f"the load): {outcome['answered']} answered"
        + (f", {unanswered} unanswered ({outcome['unasked']} not asked: time was up)"
           if unanswered else ""))
    if unanswered:
        meta["notes"].append(f"final read: {unanswered} of {outcome['orders']} orders unanswered "
                             f"({outcome['unasked']} not asked within the drain timeout + one "
                             "request timeout)")


def _collect_ledger(platform_url: str, out: Path) -> int:
    """Stream the platform's ledger (from the primary) into platform-ledger.jsonl."""
    from .platform_client import PlatformClient

    n = 0
    tmp = out.with_name(out.name + ".tmp")
    try:
        with httpx.Client(timeout=60) as http, open(tmp, "wb") as fh:
            for line in PlatformClient(http, platform_url, {}).ledger_lines(timeout=60):
                fh.write(line.encode() + b"\n")
                n += 1
    except httpx.HTTPStatusError as e:
        raise StackError(f"platform ledger: {e}") from None
    except httpx.HTTPError as e:
        raise StackError(f"platform ledger could not be read: {e}") from None
    tmp.replace(out)
    return n
