"""run_load: Locust headless in its own process group(s), from the orchestrator.

The orchestrator never imports Locust (gevent monkey-patching on import would
change its threads and sockets). This module starts `python -m locust` with the
config in `<run_dir>/load/config.json`: one local process for `workers == 1`,
else a master (`--master --expect-workers N`, on a port it binds itself: master_port.py)
and N local `--worker` processes, each playing its share of the arrival schedule. It tails the workers' progress
files (`<run_dir>/load/progress-w<k>.json`), calls `on_progress` about once a
second, ends the processes when every worker has played its schedule (or at once
when `stop_event` is set or `LoadHandle.stop()` is called) and writes
`load-stats.json`. History parts (`history/w<k>.jsonl`) are written by the
workers as they go (harness/load/history.py: an invoke before its request is sent, a
completion with the next write or within 50 ms), so a stop loses at most the completions of
the last 50 ms, never an invoke.

A `deferred` start (what `invoice-chaos run` does) starts these processes before the system
under test is up: each local worker says it is ready (`load/ready-w<k>.json`, after Locust
and the driver are imported) and waits; `wait_ready()` waits for all of them and `go(t0,
URLs)` writes the final config.json and `load/go.json`, so t0 is picked only once every
worker can keep it.

With `remote_workers > 0` (design.md s.10) the master listens on `Distribution.bind` and
the local workers (if any) join it like the remote ones: `wait_ready()` waits for every
worker to say hello (exit 3 naming who came), `go(t0)` starts the load, and the master's hub
(remote_master.py) writes the history and progress files that the workers send it.

Each launch mode is one class on the shared `LoadHandle` (as Locust has one runner class per
mode); `start_load` picks it from the config:

    LoadHandle            config, processes, go, wait, result, teardown
      + SingleLoad        workers == 1: one Locust process
      + LocalMasterLoad   workers > 1: a master and its workers, all on loopback
      + DistributedLoad   remote_workers > 0: a master on `--bind`, local and remote workers
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import StackError
from .config import LoadConfig
from .curves import LoadShape
from .master_port import ENV_READ_MASTER_PORT, ENV_WRITE_MASTER_PORT, MASTER_PORT_FILE
from .remote import (DEFAULT_MASTER_PORT, ENV_AWAIT_GO, ENV_REMOTE, GO_FILE, READY_FILE,
                     WORKERS_FILE, close_open_invokes, describe, read_workers, share_size)
from .saturation import judge

__all__ = ["LoadResult", "LoadHandle", "SingleLoad", "LocalMasterLoad", "DistributedLoad",
           "Distribution", "start_load", "run_load", "LOCUSTFILE", "START_MARGIN_S",
           "REMOTE_START_MARGIN_S"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: t0 = now + this for a `start_load` neither deferred nor given a t0 (Locust's start-up on
#: an idle machine); `run_load` and `invoice-chaos run` wait for the workers instead.
GUESS_STARTUP_S = 4.0
EXIT_INTERRUPTED = 130
#: From the moment every load worker is ready to t0: a local worker sees the go within
#: 20 ms and builds its driver in well under 100 ms; a remote one gets its assignment from
#: the master's next tick (0.25 s) over the network. Arrivals later than max_lag_s (1 s)
#: would be dropped, so the margin keeps the first ones on time.
START_MARGIN_S = 0.5
REMOTE_START_MARGIN_S = 1.5


@dataclass
class LoadResult:
    exit_code: int                 # 0 = every worker played its schedule; 130 = stopped
    arrivals: int                  # journeys started
    unsent: int                    # arrivals dropped because the pool was full
    history_files: list[Path]
    stats_path: Path
    t0: float = 0.0
    interrupted: bool = False
    error: str | None = None       # what went wrong, with a log tail, when exit_code != 0
    requests: dict[str, int] = field(default_factory=dict)   # ok / fail / info totals
    workers: list[dict[str, Any]] = field(default_factory=list)   # per worker (load-stats.json)
    lost_workers: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Distribution:
    """Where the master of a distributed run listens (design.md s.10)."""

    bind: str = "127.0.0.1"
    master_port: int = DEFAULT_MASTER_PORT


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class LoadHandle(ABC):
    """A started load: `wait()` for its result, `stop()` to end it early (Ctrl-C). What
    differs between launch modes is which processes start (`_start`), how they learn of the
    go (`_mode_env`), who counts as ready (`_joined`), and which process the load cannot
    lose (`_essential`)."""

    #: t0 = the moment every worker is ready + this
    start_margin_s = START_MARGIN_S
    #: how often `wait_ready` looks
    ready_poll_s = 0.02
    #: a mode whose t0 always waits for `wait_ready` and `go`
    always_deferred = False

    def __init__(self, config: LoadConfig, run_dir: Path,
                 on_progress: Callable[[dict[str, Any]], None] | None = None,
                 distribution: Distribution | None = None, deferred: bool = False,
                 on_spawn: Callable[[str, subprocess.Popen[bytes]], None] | None = None):
        self.run_dir = Path(run_dir)
        self.on_spawn = on_spawn
        self.deferred = deferred or self.always_deferred
        self.distribution = distribution or Distribution()
        if self.deferred:
            config = dataclasses.replace(config, t0=0.0)      # go(t0) sets it
        elif config.t0 <= 0:          # no go to wait for: a guess (run_load waits for ready)
            config = dataclasses.replace(config, t0=time.time() + GUESS_STARTUP_S)
        if not config.history_dir:
            config = dataclasses.replace(config, history_dir=str(self.run_dir / "history"))
        self.config = config
        self.on_progress = on_progress
        self.load_dir = self.run_dir / "load"
        self.logs_dir = self.run_dir / "logs"
        for d in (self.load_dir, self.logs_dir, Path(config.history_dir)):
            d.mkdir(parents=True, exist_ok=True)
        for old in [*self.load_dir.glob("progress-w*.json"), *self.load_dir.glob("ready-w*.json"),
                    self.load_dir / GO_FILE, self.load_dir / WORKERS_FILE]:
            old.unlink(missing_ok=True)
        config.write(self.load_dir / "config.json")
        self._stop = threading.Event()
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            self._start()
        except BaseException:
            self._terminate()                  # a failed (or Ctrl-C'd) start leaves nothing
            raise

    # -- processes --------------------------------------------------------------
    def _env(self, worker: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"INVOICE_CHAOS_LOAD_DIR": str(self.load_dir),
                    "INVOICE_CHAOS_WORKER": str(worker),
                    "INVOICE_CHAOS_WORKERS": str(self.config.workers),
                    "PYTHONUNBUFFERED": "1"})
        env.update(self._mode_env())
        return env

    def _mode_env(self) -> dict[str, str]:
        """A deferred start's workers wait for go.json before they play."""
        return {ENV_AWAIT_GO: "1"} if self.deferred else {}

    def _spawn(self, name: str, args: list[str], worker: int,
               env: dict[str, str] | None = None) -> None:
        from ..stack.process import signals_deferred     # orchestrator side only
        log = open(self.logs_dir / f"locust-{name}.log", "wb")
        with signals_deferred():      # Ctrl-C lands once the process is recorded, never inside Popen
            proc = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                 "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0", *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**self._env(worker), **(env or {})}, cwd=str(self.run_dir),
                start_new_session=True)
            log.close()
            self.procs.append((name, proc))
            if self.on_spawn is not None:
                self.on_spawn(name, proc)      # in the run's registry of process groups

    @abstractmethod
    def _start(self) -> None:
        """Spawn this mode's Locust processes."""

    def _backstop_s(self) -> int:
        """Locust's own run-time limit, only a backstop: the runner ends the load itself (a
        deferred start also waits for the stack and the go, so it gets an hour more)."""
        cfg = self.config
        return int(max(cfg.t0 - time.time(), 0) + cfg.duration_s + cfg.request_timeout_s + 30
                   + (3600 if self.deferred else 0))

    def _master_args(self, n: int, host: str, port: int, run_time_s: int) -> list[str]:
        return ["--master", "--expect-workers", str(n), "-u", str(n), "-r", str(n),
                "--master-bind-host", host, "--master-bind-port", str(port),
                "--run-time", f"{run_time_s}s", "--stop-timeout", "3"]

    def _joined(self) -> list[dict[str, Any]]:
        """The workers ready so far."""
        return self._ready_local()

    def _not_ready(self, joined: list[dict[str, Any]], timeout_s: float) -> StackError:
        came = ", ".join(describe(w) for w in joined) or "none"
        return StackError(f"{len(joined)} of {self.config.total_workers} local load workers were "
                          f"ready within {timeout_s:g} s (ready: {came}); see "
                          f"{self.logs_dir}/locust-*.log")

    def _essential(self, name: str) -> bool:
        """Does the load end (with an error) when this process dies?"""
        return True

    def _known_workers(self) -> dict[int, dict[str, Any]]:
        """The master's record of each worker slot (distributed runs only)."""
        return {}

    def _ready_local(self) -> list[dict[str, Any]]:
        """The local workers that have said they are ready (`load/ready-w<k>.json`)."""
        out = []
        for k in range(self.config.workers):
            try:
                data = json.loads((self.load_dir / READY_FILE.format(worker=k)).read_text("utf-8"))
            except (OSError, ValueError):
                continue
            out.append({"name": f"w{k}", "slot": k, "host": "127.0.0.1", "local": True,
                        "pid": data.get("pid"), "clock_skew_s": 0.0})
        return out

    def wait_ready(self, timeout_s: float,
                   stop_event: threading.Event | None = None) -> list[dict[str, Any]]:
        """Wait until every worker has said hello (a distributed run) or that it is ready (the
        local workers of a deferred start); StackError (exit 3) naming who came. Returns
        early (with who is ready so far) once `stop_event` is set or `stop()` is called."""
        n = self.config.total_workers
        end = time.time() + timeout_s
        while True:
            joined = self._joined()
            if len(joined) >= n or self._stop.is_set() or (stop_event is not None
                                                             and stop_event.is_set()):
                return joined
            dead = [(name, p.returncode) for name, p in self.procs if p.poll() is not None]
            if dead:
                name, rc = dead[0]
                raise StackError(f"locust {name} exited with code {rc} while waiting for the load "
                                 f"workers:\n{self._log_tail(name)}")
            if time.time() > end:
                raise self._not_ready(joined, timeout_s)
            time.sleep(self.ready_poll_s)

    def go(self, t0: float, **changes: Any) -> None:
        """Start a deferred or distributed load at `t0` (epoch seconds), with the config's
        last fields (`changes`, e.g. the URLs of a stack started meanwhile): the local workers
        read config.json when go.json appears, the master sends the assignments."""
        self.config = dataclasses.replace(self.config, **changes, t0=t0)
        self.config.write(self.load_dir / "config.json")
        tmp = self.load_dir / (GO_FILE + ".tmp")
        tmp.write_text(json.dumps({"t0": t0}), encoding="utf-8")
        os.replace(tmp, self.load_dir / GO_FILE)

    # -- control ----------------------------------------------------------------
    def stop(self) -> None:
        """End the load now (the processes are terminated; history so far is kept)."""
        self._stop.set()

    def progress(self) -> list[dict[str, Any]]:
        out = []
        for k in range(self.config.total_workers):
            p = self.load_dir / f"progress-w{k}.json"
            try:
                out.append(json.loads(p.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                pass
        return out

    def _summary(self, parts: list[dict[str, Any]], last: dict[str, float]) -> dict[str, Any]:
        now = time.time()
        arrivals = sum(p["arrivals"] for p in parts)
        dt = max(now - last.get("ts", now - 1.0), 1e-6)
        rps = (arrivals - last.get("arrivals", 0)) / dt
        last.update(ts=now, arrivals=arrivals)
        harness = _harness_figures(parts)
        return {"t": round(now - self.config.t0, 2), "arrivals": arrivals,
                "workers": [{"name": p.get("name", f"w{p.get('worker', i)}"),
                             "arrivals": p["arrivals"], "lost": bool(p.get("lost"))}
                            for i, p in enumerate(parts)],
                "in_flight": sum(p["in_flight"] for p in parts),
                "ok": sum(p["ok"] for p in parts), "fail": sum(p["fail"] for p in parts),
                "info": sum(p["info"] for p in parts), "unsent": sum(p["unsent"] for p in parts),
                "rps": round(rps, 2), **harness,
                "harness_saturated": judge({"arrivals": arrivals, **harness,
                                            "unsent": sum(p["unsent"] for p in parts),
                                            "late": sum(p.get("late", 0) for p in parts)}
                                           ).saturated}

    def wait(self, stop_event: threading.Event | None = None) -> LoadResult:
        cfg = self.config
        deadline = cfg.t0 + cfg.duration_s + cfg.request_timeout_s + 30
        interrupted = False
        error: str | None = None
        last: dict[str, float] = {}
        next_report = time.time() + 1.0
        try:
            while True:
                if self._stop.is_set() or (stop_event is not None and stop_event.is_set()):
                    interrupted = True
                    break
                parts = self.progress()
                if len(parts) == cfg.total_workers and all(p.get("done") for p in parts):
                    break
                errors = sorted(self.load_dir.glob("error-w*.txt"))
                if errors:
                    error = f"{errors[0].name}:\n{errors[0].read_text()[-2000:]}"
                    break
                dead = [(n, p.returncode) for n, p in self.procs if p.poll() is not None
                        and self._essential(n)]
                if dead:
                    name, rc = dead[0]
                    error = f"locust {name} exited early with code {rc}:\n{self._log_tail(name)}"
                    break
                if time.time() > deadline:
                    error = "the load did not end by its deadline (duration + timeouts + 30 s)"
                    break
                if self.on_progress is not None and time.time() >= next_report:
                    next_report += 1.0
                    self.on_progress(self._summary(parts, last))
                time.sleep(0.2)
        finally:
            self._terminate()
        return self._result(interrupted, error, last)

    def _result(self, interrupted: bool, error: str | None, last: dict[str, float]) -> LoadResult:
        """The LoadResult (and load-stats.json) of processes that have ended."""
        cfg = self.config
        for f in sorted(Path(cfg.history_dir).glob("w*.jsonl")):
            # Every invoke gets its completion: what no answer reached before the processes
            # ended is `info`, as for the in-flight requests the driver interrupts itself.
            close_open_invokes(f, cfg.t0, "interrupted: load stopped")
        parts = self.progress()
        if self.on_progress is not None and parts:
            self.on_progress(self._summary(parts, last))
        per_worker = self._per_worker(parts, interrupted)
        stats_path = self._write_stats(parts, per_worker)
        exit_code = EXIT_INTERRUPTED if interrupted else (1 if error else 0)
        return LoadResult(
            exit_code=exit_code, arrivals=sum(p["arrivals"] for p in parts),
            unsent=sum(p["unsent"] for p in parts) + sum(w.get("unplayed", 0) for w in per_worker),
            history_files=sorted(Path(cfg.history_dir).glob("w*.jsonl")),
            stats_path=stats_path, t0=cfg.t0, interrupted=interrupted, error=error,
            requests={k: sum(p[k] for p in parts) for k in ("ok", "fail", "info")},
            workers=per_worker, lost_workers=[w for w in per_worker if w.get("lost")])

    def _per_worker(self, parts: list[dict[str, Any]], interrupted: bool) -> list[dict[str, Any]]:
        """One record per worker: who, where, how much it played; for a lost one, what it owed.

        A lost worker's `unplayed` arrivals (its share minus what it sent or reported unsent)
        count as unsent: the shortfall shows instead of vanishing with the worker."""
        cfg = self.config
        n = cfg.total_workers
        known = self._known_workers()
        by_slot = {int(p.get("worker", i)): p for i, p in enumerate(parts)}
        out = []
        for k in range(n):
            p, w = by_slot.get(k, {}), known.get(k, {})
            rec: dict[str, Any] = {
                "name": f"w{k}", "host": w.get("host", "127.0.0.1"), "local": w.get("local", True),
                "pid": w.get("pid", p.get("pid")), "arrivals": p.get("arrivals", 0),
                "unsent": p.get("unsent", 0), "late": p.get("late", 0),
                "achieved_rps": round(p.get("arrivals", 0) / cfg.duration_s, 3),
                "lost": w.get("state") == "lost"}
            if rec["lost"]:
                owed = share_size(cfg, k, n) if cfg.t0 > 0 else 0
                rec.update(lost_at_t=round(w["lost_at"] - cfg.t0, 3) if w.get("lost_at") else None,
                           lost_reason=w.get("lost_reason"), open_requests_info=w.get("open_closed", 0),
                           unplayed=max(owed - rec["arrivals"] - rec["unsent"], 0))
            out.append(rec)
        return out

    def _log_tail(self, name: str) -> str:
        try:
            return (self.logs_dir / f"locust-{name}.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _terminate(self) -> None:
        """SIGTERM every Locust process group, then SIGKILL what is left after 5 s."""
        for _, p in self.procs:
            if p.poll() is None:
                _kill_group(p, signal.SIGTERM)
        end = time.time() + 5.0
        for _, p in self.procs:
            try:
                p.wait(timeout=max(end - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                pass
        for _, p in self.procs:
            _kill_group(p, signal.SIGKILL)      # also any child left in the group
            if p.poll() is None:
                p.wait(timeout=5)

    def close(self) -> None:
        """End every load process now (a failed start, Ctrl-C before `wait`)."""
        self._stop.set()
        self._terminate()

    def _write_stats(self, parts: list[dict[str, Any]], per_worker: list[dict[str, Any]]) -> Path:
        cfg = self.config
        shape = LoadShape.of(cfg.curve, cfg.duration_s, cfg.peak_rps, cfg.compress_s)
        achieved: dict[int, int] = {}
        for p in parts:
            for sec, n in p.get("achieved", {}).items():
                achieved[int(sec)] = achieved.get(int(sec), 0) + n
        target = shape.target_per_second()
        span = max([len(target), *(s + 1 for s in achieved)]) if achieved else len(target)
        completed: dict[int, int] = {}
        for p in parts:
            for sec, n in p.get("completed", {}).items():
                completed[int(sec)] = completed.get(int(sec), 0) + n
        stats = {"target": target,
                 "achieved": [[float(s), achieved.get(s, 0)] for s in range(span)],
                 "completed": [[float(s), n] for s, n in sorted(completed.items())],
                 "unsent": sum(p["unsent"] for p in parts) + sum(w.get("unplayed", 0) for w in per_worker),
                 "arrivals": sum(p["arrivals"] for p in parts),
                 "late": sum(p.get("late", 0) for p in parts),
                 "workers": cfg.total_workers,
                 "per_worker": per_worker,
                 "max_lag_ms": max((p.get("max_lag_ms", 0) for p in parts), default=0),
                 **_harness_figures(parts)}
        path = self.run_dir / "load-stats.json"
        path.write_text(json.dumps(stats), encoding="utf-8")
        return path


def _harness_figures(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The load generator's own health over all workers: the worst worker speaks for the run
    (one starved worker is enough to make its share of the arrivals late)."""
    def worst(key: str) -> float:
        return max((float(p.get(key) or 0) for p in parts), default=0.0)
    return {"lag_p50_ms": worst("lag_p50_ms"), "lag_p99_ms": worst("lag_p99_ms"),
            "loop_lag_p99_ms": worst("loop_lag_p99_ms"),
            "loop_lag_max_ms": worst("loop_lag_max_ms"), "cpu_max_pct": worst("cpu_max_pct"),
            "cpu_busy_share": worst("cpu_busy_share"),
            "locust_cpu_warnings": int(sum(p.get("locust_cpu_warnings") or 0 for p in parts)),
            "cpu_s": round(sum(float(p.get("cpu_s") or 0) for p in parts), 3),
            "locust_cpu_max_pct": worst("locust_cpu_max_pct")}


class SingleLoad(LoadHandle):
    """One Locust process plays the whole schedule (`workers == 1`)."""

    def _start(self) -> None:
        self._spawn("w0", ["-u", "1", "-r", "1", "--run-time", f"{self._backstop_s()}s",
                           "--stop-timeout", "3"], 0)


class LocalMasterLoad(LoadHandle):
    """A Locust master and `workers` local worker processes on loopback, each playing its
    share of the schedule. The master binds port 0 and writes the port it got; the workers,
    started at the same time, read it before they connect (master_port.py), so two loads on
    one machine never take each other's master port."""

    def _start(self) -> None:
        from ..stack.ports import LOOPBACK      # orchestrator side only
        n, port_file = self.config.workers, self.load_dir / MASTER_PORT_FILE
        port_file.unlink(missing_ok=True)
        self._spawn("master", self._master_args(n, LOOPBACK, 0, self._backstop_s()), 0,
                    {ENV_WRITE_MASTER_PORT: str(port_file)})
        for k in range(n):
            self._spawn(f"w{k}", ["--worker", "--master-host", LOOPBACK], k,
                        {ENV_READ_MASTER_PORT: str(port_file)})


class DistributedLoad(LoadHandle):
    """design.md s.10: the master listens on `Distribution.bind`; local workers (if any) join
    it like the remote ones, and the master's hub (remote_master.py) writes the history and
    progress files the workers send it. Always deferred: t0 waits for every hello."""

    start_margin_s = REMOTE_START_MARGIN_S
    ready_poll_s = 0.2
    always_deferred = True

    def _mode_env(self) -> dict[str, str]:
        return {ENV_REMOTE: "1", "INVOICE_CHAOS_LOCAL": "1",
                "INVOICE_CHAOS_EXPECT": str(self.config.total_workers)}

    def _start(self) -> None:
        cfg, d = self.config, self.distribution
        try:
            with socket.socket() as s:
                s.bind((d.bind, d.master_port))
        except OSError as e:
            raise StackError(f"the Locust master cannot listen on {d.bind}:{d.master_port} "
                             f"({e.strerror or e}); another run's master? give --master-port") from None
        # A backstop only: the runner ends the load (and waits for workers with its own timeout).
        self._spawn("master", self._master_args(cfg.total_workers, d.bind, d.master_port,
                                                int(3600 * 24 + cfg.duration_s)), 0)
        for k in range(cfg.workers):
            self._spawn(f"local{k}", ["--worker", "--master-host", d.bind,
                                      "--master-port", str(d.master_port)], k)

    def workers(self) -> dict[str, Any]:
        """The master's view of its workers (`load/workers.json`)."""
        return read_workers(self.load_dir)

    def _joined(self) -> list[dict[str, Any]]:
        return list(self.workers().get("workers", []))

    def _not_ready(self, joined: list[dict[str, Any]], timeout_s: float) -> StackError:
        d = self.distribution
        came = ", ".join(describe(w) for w in joined) or "none"
        rejected = self.workers().get("rejected", [])
        extra = "".join(f"\n  turned away: {r.get('host')} pid {r.get('pid')}: {r.get('reason')}"
                        for r in rejected)
        return StackError(
            f"{len(joined)} of {self.config.total_workers} load workers joined within {timeout_s:g} s "
            f"(came: {came}).{extra}\n"
            f"  start 'invoice-chaos worker --master {d.bind}:{d.master_port}' on each load "
            f"machine, check that it reaches {d.bind}:{d.master_port}, or raise --workers-timeout")

    def _essential(self, name: str) -> bool:
        # the local workers are workers like the remote ones: the master notices when one
        # dies (lost); only the master itself is essential
        return name == "master"

    def _known_workers(self) -> dict[int, dict[str, Any]]:
        return {w.get("slot"): w for w in self.workers().get("workers", [])}


def launch_mode(config: LoadConfig) -> type[LoadHandle]:
    """The class that launches this config's load."""
    if config.remote_workers > 0:
        return DistributedLoad
    return SingleLoad if config.workers == 1 else LocalMasterLoad


def start_load(config: LoadConfig, run_dir: Path,
               on_progress: Callable[[dict[str, Any]], None] | None = None,
               distribution: Distribution | None = None, deferred: bool = False,
               on_spawn: Callable[[str, subprocess.Popen[bytes]], None] | None = None) -> LoadHandle:
    """Start the load and return at once; `handle.wait()` gives the LoadResult (a distributed
    or `deferred` load first needs `wait_ready()` and `go(t0, ...)`: its processes start
    while the caller is still getting the system up, and t0 is picked once they are ready)."""
    return launch_mode(config)(config, run_dir, on_progress, distribution, deferred, on_spawn)


def run_load(config: LoadConfig, run_dir: Path,
             on_progress: Callable[[dict[str, Any]], None] | None = None,
             stop_event: threading.Event | None = None) -> LoadResult:
    """Run the load to its end (duration) or until `stop_event` is set.

    With `config.t0 == 0` (the usual case) the start is deferred: t0 = the moment every
    local worker is ready + START_MARGIN_S, so no arrival is late because Locust was still
    starting; `config.startup_s` bounds that wait (a worker not ready by then, or a Locust
    process that exits first, gives exit_code 1 with the reason in `error`). A `t0` set by
    the caller is kept (arrivals more than `max_lag_s` in the past are dropped as late)."""
    if config.t0 > 0 or config.remote_workers > 0:
        return start_load(config, run_dir, on_progress).wait(stop_event)
    handle = start_load(config, run_dir, on_progress, deferred=True)
    try:
        handle.wait_ready(config.startup_s, stop_event)
    except StackError as e:
        handle.close()
        return handle._result(False, str(e), {})
    except BaseException:
        handle.close()
        raise
    handle.go(time.time() + START_MARGIN_S)
    return handle.wait(stop_event)
