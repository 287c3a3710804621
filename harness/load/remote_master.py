"""The master's side of a distributed run (design.md s.10): slots, assignments, history.

Runs inside the Locust master process (gevent), started from locustfile.py's `init` hook.
It gives each worker that says hello a slot (`w0`, `w1`, ...), tells the orchestrator who
came (`load/workers.json`), and when the orchestrator writes `load/go.json` (with t0) sends
every worker its assignment. From then on it appends each worker's history batches to
`history/<name>.jsonl` and keeps `load/progress-<name>.json` as a local worker's driver
would, so the runner reads both kinds of run the same way.

A worker is lost when Locust's heartbeat says it is missing (or it left) before its last
batch said `done`, or when it has been silent for LOST_SILENCE_S. Its open requests get an
`info` completion (their outcome is unknown), later batches from it are ignored (they would
complete requests that are already closed), and it is told to stop.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, IO

import gevent

from .. import __version__
from .config import LoadConfig
from .remote import (GO_FILE, LOST_SILENCE_S, MSG_ASSIGN, MSG_BATCH, MSG_HELLO, MSG_REJECT,
                     MSG_STOP, WORKERS_FILE, close_open_invokes, describe)

__all__ = ["MasterHub"]


@dataclass
class _Worker:
    client_id: str
    slot: int
    host: str
    hostname: str
    pid: int
    local: bool
    clock_skew_s: float
    joined_at: float
    state: str = "joined"            # joined | playing | done | lost
    last_batch: float = 0.0
    seq: int = -1
    lost_at: float | None = None
    lost_reason: str | None = None
    open_closed: int = 0
    gaps: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    fh: IO[str] | None = None

    @property
    def name(self) -> str:
        return f"w{self.slot}"

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("progress", "fh")}
        d["name"] = self.name
        return d


def _atomic_write(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


class MasterHub:
    """Registers the ic_* messages on a MasterRunner and runs the bookkeeping greenlet."""

    def __init__(self, runner: Any, load_dir: Path, expect: int):
        self.runner = runner
        self.load_dir = Path(load_dir)
        self.cfg = LoadConfig.read(self.load_dir / "config.json")
        self.history_dir = Path(self.cfg.history_dir)
        self.history_dir.mkdir(parents=True, exist_ok=True)
        self.expect = expect
        self.workers: dict[str, _Worker] = {}
        self.rejected: list[dict[str, Any]] = []
        self.started = False
        runner.register_message(MSG_HELLO, self._hello)
        runner.register_message(MSG_BATCH, self._batch)
        self._publish()
        runner.environment.events.quitting.add_listener(self._quitting)
        self.greenlet = gevent.spawn(self._watch)

    # -- messages -----------------------------------------------------------------------
    def _hello(self, environment: Any, msg: Any, **_: Any) -> None:
        cid, data = msg.node_id, msg.data or {}
        if cid in self.workers:
            return
        info = {"client_id": cid, "host": str(data.get("host", "?")), "pid": data.get("pid"),
                "hostname": str(data.get("hostname", "?")), "version": data.get("version")}
        reason = None
        if data.get("version") != __version__:
            reason = f"invoice-chaos {data.get('version')} on the worker, {__version__} on the master"
        elif self.started:
            reason = "the run has started"
        elif len(self.workers) >= self.expect:
            reason = f"the run has its {self.expect} workers"
        if reason is not None:
            self.rejected.append({**info, "reason": reason})
            self._send(MSG_REJECT, {"reason": reason}, cid)
            self._publish()
            return
        taken = {w.slot for w in self.workers.values()}
        slot = min(set(range(self.expect)) - taken)
        now = time.time()
        clock = data.get("clock")
        self.workers[cid] = _Worker(
            client_id=cid, slot=slot, host=info["host"], hostname=info["hostname"],
            pid=int(data.get("pid") or 0), local=bool(data.get("local")),
            clock_skew_s=round(now - float(clock), 3) if isinstance(clock, (int, float)) else 0.0,
            joined_at=now)
        self._publish()

    def _batch(self, environment: Any, msg: Any, **_: Any) -> None:
        w = self.workers.get(msg.node_id)
        data = msg.data or {}
        if w is None or w.state not in ("playing", "done") or data.get("slot") != w.slot:
            return
        w.last_batch = time.time()
        seq = int(data.get("seq", w.seq + 1))
        if seq != w.seq + 1:
            w.gaps += 1
        w.seq = seq
        lines = data.get("lines") or []
        if lines and w.fh is not None:
            w.fh.write("\n".join(lines) + "\n")
            w.fh.flush()
        if data.get("error"):
            (self.load_dir / f"error-{w.name}.txt").write_text(
                f"{describe(w.to_json())}:\n{data['error']}", encoding="utf-8")
        if "progress" not in data:           # an invoke shipped ahead of its request
            return
        w.progress = dict(data.get("progress") or {})
        if data.get("done"):
            w.state = "done"
            self._close(w)
        self._write_progress(w)
        if data.get("done"):
            self._publish()

    def _quitting(self, **_: Any) -> None:
        """The run is over (or was stopped): every worker still there stops and exits."""
        for w in self.workers.values():
            if w.state != "lost":
                self._send(MSG_STOP, {"reason": "the run is over"}, w.client_id)

    # -- bookkeeping --------------------------------------------------------------------
    def _send(self, kind: str, data: dict[str, Any], cid: str) -> None:
        try:
            self.runner.send_message(kind, data, client_id=cid)
        except Exception as e:  # noqa: BLE001 - a gone worker cannot be told anything
            print(f"invoice-chaos master: could not send {kind} to {cid}: {e}", file=sys.stderr)

    def _publish(self) -> None:
        _atomic_write(self.load_dir / WORKERS_FILE, {
            "expect": self.expect, "started": self.started, "t0": self.cfg.t0 if self.started else None,
            "workers": [w.to_json() for w in sorted(self.workers.values(), key=lambda w: w.slot)],
            "rejected": self.rejected})

    def _write_progress(self, w: _Worker) -> None:
        p = {**w.progress, "worker": w.slot, "name": w.name, "host": w.host, "local": w.local,
             "done": w.state in ("done", "lost"), "lost": w.state == "lost"}
        for key in ("arrivals", "unsent", "late", "in_flight", "ok", "fail", "info"):
            p.setdefault(key, 0)
        if w.state == "lost":
            p["in_flight"] = 0
        _atomic_write(self.load_dir / f"progress-{w.name}.json", p)

    def _close(self, w: _Worker) -> None:
        if w.fh is not None:
            w.fh.close()
            w.fh = None

    def _start(self, t0: float) -> None:
        self.started = True
        try:       # the runner's last word: it may start the load before the stack is up (URLs)
            self.cfg = LoadConfig.read(self.load_dir / "config.json")
        except (OSError, ValueError) as e:
            print(f"invoice-chaos master: config.json unreadable at the go ({e}); "
                  "using the one read at start", file=sys.stderr, flush=True)
        self.cfg = dataclasses.replace(self.cfg, t0=t0)
        config = dataclasses.asdict(self.cfg)
        for w in sorted(self.workers.values(), key=lambda w: w.slot):
            w.fh = open(self.history_dir / f"{w.name}.jsonl", "a", encoding="utf-8")
            w.state = "playing"
            w.last_batch = time.time()
            self._write_progress(w)
            self._send(MSG_ASSIGN, {"slot": w.slot, "of": self.expect, "name": w.name,
                                    "config": config, "master_clock": time.time()}, w.client_id)
        self._publish()

    def _lose(self, w: _Worker, reason: str) -> None:
        w.state = "lost"
        w.lost_at = time.time()
        w.lost_reason = reason
        self._close(w)
        w.open_closed = close_open_invokes(self.history_dir / f"{w.name}.jsonl", self.cfg.t0,
                                           f"worker lost: {reason}", ts=w.lost_at)
        self._write_progress(w)
        self._publish()
        print(f"invoice-chaos master: lost {describe(w.to_json())}: {reason}; "
              f"{w.open_closed} open requests recorded info", file=sys.stderr, flush=True)
        self._send(MSG_STOP, {"reason": f"declared lost: {reason}"}, w.client_id)

    def _gone(self, w: _Worker) -> str | None:
        """Why Locust thinks this worker is gone, or None while it is there."""
        node = self.runner.clients.get(w.client_id)
        if node is None:
            return "it left the master (quit or disconnected)"
        if node.state == "missing":
            return "no heartbeat from it for several seconds"
        return None

    def _watch(self) -> None:
        while True:
            gevent.sleep(0.25)
            try:
                self._tick()
            except Exception as e:  # noqa: BLE001 - keep watching; say what went wrong
                print(f"invoice-chaos master: {type(e).__name__}: {e}", file=sys.stderr, flush=True)

    def _tick(self) -> None:
        if not self.started:
            for cid, w in list(self.workers.items()):
                if self._gone(w):                     # left before the start: free its slot
                    del self.workers[cid]
                    self._publish()
            go = self.load_dir / GO_FILE
            if go.is_file():
                try:
                    t0 = float(json.loads(go.read_text(encoding="utf-8"))["t0"])
                except (OSError, ValueError, KeyError, TypeError):
                    return                            # being written: next tick
                self._start(t0)
            return
        now = time.time()
        for w in list(self.workers.values()):
            if w.state != "playing":
                continue
            reason = self._gone(w)
            if reason is None and now - w.last_batch > LOST_SILENCE_S:
                reason = f"no history batch from it for {LOST_SILENCE_S:g} s"
            if reason is not None:
                self._lose(w, reason)
