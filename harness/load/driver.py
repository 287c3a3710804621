"""The open-model driver of one worker process: arrivals on schedule, in a pool.

Locust's wait times only cap how fast a user goes (a closed model), and its
maintainers declined an open-model mode (locustio/locust #597, #646, #2347), so
one driver per worker process plays the arrival schedule itself: it sleeps until
each arrival's intended time and starts its journey as a greenlet from a pool of
`max_in_flight`. When the pool is full the arrival is counted `unsent`, never
delayed, so the load the system sees is the load the curve asked for, or the
shortfall is reported. Every second-by-second count goes to a small progress
file that the orchestrator's runner tails (runner.py).

Runs under gevent inside Locust; it imports no Locust itself.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import gevent
from gevent.pool import Pool

from .config import LoadConfig
from .curves import LoadShape
from .history import HistoryWriter
from .journeys import Customers
from .schedule import worker_arrivals

__all__ = ["Driver", "ENV_LOAD_DIR", "ENV_WORKER", "ENV_WORKERS"]

ENV_LOAD_DIR = "INVOICE_CHAOS_LOAD_DIR"     # holds config.json, progress-w<k>.json
ENV_WORKER = "INVOICE_CHAOS_WORKER"         # this process's worker index
ENV_WORKERS = "INVOICE_CHAOS_WORKERS"


class Driver:
    def __init__(self, cfg: LoadConfig, worker: int, workers: int, load_dir: Path,
                 fire: Callable[..., Any] | None = None):
        self.cfg = cfg
        self.worker = worker
        self.workers = workers
        self.load_dir = Path(load_dir)
        self.shape = LoadShape.of(cfg.curve, cfg.duration_s, cfg.peak_rps, cfg.compress_s)
        self.history = HistoryWriter(Path(cfg.history_dir) / f"w{worker}.jsonl", f"w{worker}",
                                     cfg.t0)
        self.customers = Customers(cfg, worker, self.history, fire)
        self.pool = Pool(cfg.max_in_flight)
        self.arrivals = 0
        self.unsent = 0
        self.late = 0           # of unsent: dropped because this process fell behind
        self.done = False
        self.max_lag_ms = 0.0

    @classmethod
    def from_env(cls, fire: Callable[..., Any] | None = None) -> "Driver":
        load_dir = Path(os.environ[ENV_LOAD_DIR])
        cfg = LoadConfig.read(load_dir / "config.json")
        return cls(cfg, int(os.environ.get(ENV_WORKER, "0")),
                   int(os.environ.get(ENV_WORKERS, str(cfg.workers))), load_dir, fire)

    # -- progress ---------------------------------------------------------------
    def progress(self) -> dict[str, Any]:
        c = self.customers.counters
        return {"worker": self.worker, "t": round(time.time() - self.cfg.t0, 3),
                "arrivals": self.arrivals, "unsent": self.unsent, "late": self.late,
                "in_flight": len(self.pool), "ok": c.ok, "fail": c.fail, "info": c.info,
                "requests": c.requests, "achieved": {str(k): v for k, v in c.achieved.items()},
                "max_lag_ms": round(self.max_lag_ms, 1),
                "history_lines": self.history.lines, "done": self.done, "pid": os.getpid()}

    def write_progress(self) -> None:
        path = self.load_dir / f"progress-w{self.worker}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.progress()), encoding="utf-8")
        os.replace(tmp, path)

    def _reporter(self) -> None:
        while not self.done:
            self.write_progress()
            gevent.sleep(0.5)

    # -- the schedule -----------------------------------------------------------
    def run(self) -> None:
        """Play this worker's share of the schedule, then let in-flight requests end."""
        cfg = self.cfg
        reporter = gevent.spawn(self._reporter)
        achieved = self.customers.counters.achieved
        try:
            for a in worker_arrivals(self.shape, cfg.seed, cfg.mix, self.worker, self.workers):
                intended = cfg.t0 + a.t
                delay = intended - time.time()
                if delay > 0:
                    gevent.sleep(delay)
                now = time.time()
                lag = now - intended
                self.max_lag_ms = max(self.max_lag_ms, lag * 1000)
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
            self.pool.join(timeout=cfg.request_timeout_s + 1.0)
            self.pool.kill(block=True, timeout=2.0)
        finally:
            self.done = True
            reporter.kill(block=False)
            self.write_progress()
            self.history.close()
            self.customers.close()
