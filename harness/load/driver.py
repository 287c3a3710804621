"""The open-model driver of one worker process: arrivals on schedule, in a pool.

Locust's wait times only cap how fast a user goes (a closed model), and its
maintainers declined an open-model mode (locustio/locust #597, #646, #2347), so
one driver per worker process plays the arrival schedule itself: it sleeps until
each arrival's intended time and starts its journey as a greenlet from a pool of
`max_in_flight`. When the pool is full the arrival is counted `unsent`, never
delayed, so the load the system sees is the load the curve asked for, or the
shortfall is reported. Every second-by-second count goes to a small progress
file that the orchestrator's runner tails (runner.py).

It also watches itself, so a run can say when the harness was the bottleneck
(saturation.py): how late each arrival started (lag), how late the gevent loop
wakes up (loop lag), this process's CPU, and Locust's own CPU warning.

Runs under gevent inside Locust; it imports no Locust itself.
"""
from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import gevent
from gevent.pool import Pool

from .config import LoadConfig
from .curves import LoadShape
from .history import HistoryWriter, NullHistory
from .journeys import Customers
from .remote import ENV_AWAIT_GO, GO_FILE, READY_FILE
from .schedule import worker_arrivals

__all__ = ["Driver", "LagHistogram", "ENV_LOAD_DIR", "ENV_WORKER", "ENV_WORKERS"]

ENV_LOAD_DIR = "INVOICE_CHAOS_LOAD_DIR"     # holds config.json, progress-w<k>.json
ENV_WORKER = "INVOICE_CHAOS_WORKER"         # this process's worker index
ENV_WORKERS = "INVOICE_CHAOS_WORKERS"


#: gen-0 threshold of the cyclic collector while the load runs (CPython's default is 700).
GC_GEN0_THRESHOLD = 10_000


def quiet_gc() -> None:
    """Make the cyclic garbage collector cheap for the load: what exists at t0 (Locust, the
    modules, the catalogue, the schedule's state) goes to the permanent generation, which no
    collection walks again, and gen-0 collections run after 10,000 net allocations instead of
    700. A journey's objects are freed by reference counting, not by the collector; at the
    default thresholds its passes took ~6 % of the process's CPU, and one full collection of
    the start-up heap stopped the loop for ~50 ms (docs/performance.md "Load path")."""
    gc.collect()
    gc.freeze()
    _, g1, g2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, g1, g2)


def await_go(load_dir: Path, worker: int, poll_s: float = 0.02, limit_s: float = 3600.0) -> None:
    """Say this worker is ready (`load/ready-w<k>.json`), then wait for the runner's go
    (`load/go.json`, written with the final config.json and its t0): the local form of a
    distributed worker's hello and assignment (remote.py), so the runner picks t0 only
    once every worker can keep it."""
    path = load_dir / READY_FILE.format(worker=worker)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"worker": worker, "pid": os.getpid(), "clock": time.time()}),
                   encoding="utf-8")
    os.replace(tmp, path)
    go, end = load_dir / GO_FILE, time.monotonic() + limit_s
    while not go.exists():
        if time.monotonic() > end:
            raise RuntimeError(f"no go from the runner within {limit_s:g} s ({go})")
        gevent.sleep(poll_s)


class LagHistogram:
    """Lags in 1 ms buckets up to 2 s (the last bucket holds anything later): a p99 in
    constant memory and a few ns per sample."""

    SIZE = 2001

    def __init__(self) -> None:
        self.counts = [0] * self.SIZE
        self.n = 0
        self.max_ms = 0.0

    def add(self, ms: float) -> None:
        i = int(ms) if ms > 0 else 0
        self.counts[i if i < self.SIZE else self.SIZE - 1] += 1
        self.n += 1
        if ms > self.max_ms:
            self.max_ms = ms

    def quantile(self, q: float) -> float:
        """The upper edge (ms) of the bucket holding quantile `q`; 0 without samples."""
        if not self.n:
            return 0.0
        rank, acc = q * self.n, 0
        for i, c in enumerate(self.counts):
            acc += c
            if acc >= rank:
                return float(i + 1)
        return float(self.SIZE)


class Driver:
    def __init__(self, cfg: LoadConfig, worker: int, workers: int, load_dir: Path,
                 fire: Callable[..., Any] | None = None):
        self.cfg = cfg
        self.worker = worker
        self.workers = workers
        self.load_dir = Path(load_dir)
        self.shape = LoadShape.of(cfg.curve, cfg.duration_s, cfg.peak_rps, cfg.compress_s)
        self.history = self.make_history()
        self.customers = Customers(cfg, worker, self.history, fire)
        self.pool = Pool(cfg.max_in_flight)
        self.arrivals = 0
        self.unsent = 0
        self.late = 0           # of unsent: dropped because this process fell behind
        self.done = False
        self.max_lag_ms = 0.0
        self.lag = LagHistogram()           # arrival start - intended start
        self.loop_lag = LagHistogram()      # gevent loop wake-up delay
        self.cpu_max_pct = 0.0              # this process, per 0.5 s window
        self.cpu_busy_windows = 0           # windows above 90 %
        self.cpu_windows = 0
        self._cpu_at_t0: float | None = None  # process CPU seconds when the load began
        self.locust_cpu_warnings = 0        # Locust's own "CPU usage above 90%!"
        self.locust_cpu_max_pct = 0.0

    def note_cpu_warning(self, cpu_usage: float) -> None:
        """Locust's `cpu_warning` event (its monitor samples every 10 s)."""
        self.locust_cpu_warnings += 1
        self.locust_cpu_max_pct = max(self.locust_cpu_max_pct, float(cpu_usage))

    @classmethod
    def from_env(cls, fire: Callable[..., Any] | None = None) -> "Driver":
        load_dir = Path(os.environ[ENV_LOAD_DIR])
        if os.environ.get(ENV_AWAIT_GO) == "1":
            await_go(load_dir, int(os.environ.get(ENV_WORKER, "0")))
        cfg = LoadConfig.read(load_dir / "config.json")
        return cls(cfg, int(os.environ.get(ENV_WORKER, "0")),
                   int(os.environ.get(ENV_WORKERS, str(cfg.workers))), load_dir, fire)

    def make_history(self) -> HistoryWriter:
        """This process's history file; a remote worker ships its lines instead (remote_worker.py)."""
        if not self.cfg.record_history:
            return NullHistory(f"w{self.worker}", self.cfg.t0)
        return HistoryWriter(Path(self.cfg.history_dir) / f"w{self.worker}.jsonl", f"w{self.worker}",
                             self.cfg.t0)

    # -- progress ---------------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        c = self.customers.counters
        return {"worker": self.worker, "t": round(time.time() - self.cfg.t0, 3),
                "arrivals": self.arrivals, "unsent": self.unsent, "late": self.late,
                "in_flight": len(self.pool), "ok": c.ok, "fail": c.fail, "info": c.info,
                "requests": c.requests, "achieved": {str(k): v for k, v in c.achieved.items()},
                "completed": {str(k): v for k, v in c.completed.items()},
                "max_lag_ms": round(self.max_lag_ms, 1),
                "lag_p50_ms": self.lag.quantile(0.5), "lag_p99_ms": self.lag.quantile(0.99),
                "loop_lag_p99_ms": self.loop_lag.quantile(0.99),
                "loop_lag_max_ms": round(self.loop_lag.max_ms, 1),
                "cpu_max_pct": round(self.cpu_max_pct, 1),
                "cpu_busy_share": round(self.cpu_busy_windows / self.cpu_windows, 3)
                if self.cpu_windows else 0.0,
                "cpu_s": round(time.process_time() - self._cpu_at_t0, 3)
                if self._cpu_at_t0 is not None else 0.0,
                "locust_cpu_warnings": self.locust_cpu_warnings,
                "locust_cpu_max_pct": round(self.locust_cpu_max_pct, 1),
                "history_lines": self.history.lines, "done": self.done, "pid": os.getpid()}

    def write_progress(self) -> None:
        path = self.load_dir / f"progress-w{self.worker}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.progress()), encoding="utf-8")
        os.replace(tmp, path)

    def _reporter(self) -> None:
        wall, cpu = time.monotonic(), time.process_time()
        while not self.done:
            self.write_progress()
            gevent.sleep(0.5)
            w, c = time.monotonic(), time.process_time()
            if time.time() >= self.cfg.t0:        # start-up (imports, Faker) is not load
                pct = (c - cpu) / max(w - wall, 1e-6) * 100
                self.cpu_max_pct = max(self.cpu_max_pct, pct)
                self.cpu_windows += 1
                self.cpu_busy_windows += pct > 90
            wall, cpu = w, c

    def _loop_watch(self) -> None:
        """How late the loop wakes a 50 ms sleeper: a busy process shows it at once."""
        while not self.done:
            t = time.perf_counter()
            gevent.sleep(0.05)
            if time.time() >= self.cfg.t0:
                self.loop_lag.add((time.perf_counter() - t - 0.05) * 1000)

    # -- the schedule -----------------------------------------------------------
    def run(self) -> None:
        """Play this worker's share of the schedule, then let in-flight requests end."""
        cfg = self.cfg
        reporter = gevent.spawn(self._reporter)
        watcher = gevent.spawn(self._loop_watch)
        achieved = self.customers.counters.achieved
        try:
            quiet_gc()                  # before t0: the full collection takes ~50 ms
            first = cfg.t0 - time.time()
            if first > 0:
                gevent.sleep(first)
            self._cpu_at_t0 = time.process_time()
            for a in worker_arrivals(self.shape, cfg.seed, cfg.mix, self.worker, self.workers):
                intended = cfg.t0 + a.t
                delay = intended - time.time()
                if delay > 0:
                    gevent.sleep(delay)
                now = time.time()
                lag = now - intended
                lag_ms = lag * 1000
                if lag_ms > self.max_lag_ms:
                    self.max_lag_ms = lag_ms
                self.lag.add(lag_ms)
                if self.pool.full() or lag > cfg.max_lag_s:
                    # Not sent: the pool is full, or this process is too busy to keep the
                    # schedule (CPU-bound: add workers). Either way the shortfall shows.
                    self.unsent += 1
                    self.late += lag > cfg.max_lag_s
                    continue
                self.arrivals += 1
                sec = int(now - cfg.t0)
                achieved[sec] = achieved.get(sec, 0) + 1
                self.pool.spawn(self.customers.run, a, intended)
            rest = cfg.t0 + cfg.duration_s - time.time()
            if rest > 0:
                gevent.sleep(rest)
            # End of the load: no journey starts another request; the ones in flight
            # get one request timeout to answer, then are interrupted (recorded `info`).
            self.customers.stopping = True
            taps = self.customers.taps          # double taps: their journey's second POST
            end = time.monotonic() + cfg.request_timeout_s + 1.0
            self.pool.join(timeout=cfg.request_timeout_s + 1.0)
            taps.join(timeout=max(end - time.monotonic(), 0.0))
            self.pool.kill(block=True, timeout=2.0)
            taps.kill(block=True, timeout=2.0)
        finally:
            self.done = True
            reporter.kill(block=False)
            watcher.kill(block=False)
            self.write_progress()
            self.history.close()
            self.customers.close()
