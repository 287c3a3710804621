"""A worker's side of a distributed run (design.md s.10): play the share, ship the history.

Runs inside a Locust worker process (gevent), installed by locustfile.py's `init` hook when
the process was started for a distributed run (`invoice-chaos worker`, or a local worker of
`run --remote-workers`). On connect it says hello; the master's `ic_assign` carries the
slot, the number of slots and the LoadConfig (URLs, seed, curve, t0), and the same open-model
driver as a local worker plays the share. Instead of a history file the driver keeps its
lines in memory and, every BATCH_INTERVAL_S (the driver's progress tick), sends them with
its progress in one `ic_batch`, so nothing but the project has to be on this machine and a
worker that dies loses at most one batch.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import gevent
import orjson

from .. import __version__
from .config import LoadConfig
from .driver import Driver
from .history import HistoryWriter, NullHistory
from .remote import MSG_ASSIGN, MSG_BATCH, MSG_HELLO, MSG_REJECT, MSG_STOP, local_address

__all__ = ["BatchHistory", "RemoteDriver", "install_worker", "ENV_LOCAL"]

#: Set by the runner for the local worker processes of a distributed run.
ENV_LOCAL = "INVOICE_CHAOS_LOCAL"
#: A worker whose master has been silent this long stops (Locust's own limit is 60 s).
MASTER_SILENCE_S = 10.0


class BatchHistory(HistoryWriter):
    """A HistoryWriter whose lines wait in memory for `take()` instead of going to a file.

    An invoke is shipped at once, with every line before it (`on_invoke`), before its request
    goes out: a request the system may act on is never known only to a worker that then dies
    (its invoke lost, the platform would hold an invoice nobody asked for). Completions ride
    along with the next invoke or the progress tick; if they are lost with the worker, the
    master records their requests `info`, which is what they are to everyone else."""

    def __init__(self, proc_prefix: str, t0: float,
                 on_invoke: Callable[[], None] | None = None):      # noqa: D107 - no file
        import threading
        self.path = Path(os.devnull)
        self.proc_prefix = proc_prefix
        self.t0 = t0
        self._lock = threading.Lock()
        self.lines = 0
        self._pending: list[str] = []
        self.on_invoke = on_invoke

    def invoke(self, *args: Any, **kwargs: Any) -> float:
        ts = super().invoke(*args, **kwargs)
        if self.on_invoke is not None:
            self.on_invoke()
        return ts

    def _write(self, event: dict[str, Any]) -> None:
        line = orjson.dumps(event).decode()
        with self._lock:
            self._pending.append(line)
            self.lines += 1

    def take(self) -> list[str]:
        """Every line not taken yet, in order."""
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def untake(self, lines: list[str]) -> None:
        """Put back lines whose send failed, ahead of any written since."""
        with self._lock:
            self._pending[:0] = lines

    def close(self) -> None:
        pass


class RemoteDriver(Driver):
    """The open-model driver with its history and progress going to the master."""

    def __init__(self, cfg: LoadConfig, slot: int, of: int, send: Callable[[str, dict], None],
                 fire: Callable[..., Any] | None = None):
        self._send = send
        self.seq = 0
        self.error: str | None = None
        super().__init__(cfg, slot, of, Path(tempfile.gettempdir()), fire)

    def make_history(self) -> HistoryWriter:
        if not self.cfg.record_history:                 # benchmarks only
            return NullHistory(f"w{self.worker}", self.cfg.t0)
        return BatchHistory(f"w{self.worker}", self.cfg.t0, on_invoke=self.ship)

    def ship(self, progress: bool = False) -> None:
        """Send every pending history line (and, on the tick, the progress) to the master."""
        history = self.history
        lines = history.take() if isinstance(history, BatchHistory) else []
        if not lines and not progress:
            return
        data: dict[str, Any] = {"slot": self.worker, "seq": self.seq, "lines": lines}
        if progress:
            data.update(progress=self.progress(), done=self.done, error=self.error)
        try:
            self._send(MSG_BATCH, data)
        except BaseException:
            if isinstance(history, BatchHistory):
                history.untake(lines)      # killed mid-send: the next batch carries them
            raise
        self.seq += 1

    def write_progress(self) -> None:
        """The driver's progress tick (every 0.5 s, and once at the end)."""
        self.ship(progress=True)


def _say(text: str) -> None:
    print(f"invoice-chaos worker [pid {os.getpid()}]: {text}", flush=True)


def install_worker(environment: Any) -> None:
    """Register the ic_* messages on this WorkerRunner and say hello to the master."""
    runner = environment.runner
    opts = environment.parsed_options
    state: dict[str, Any] = {"greenlet": None}

    def play(driver: RemoteDriver) -> None:
        try:
            driver.run()
        except Exception:
            driver.error = traceback.format_exc()
            driver.done = True
            driver.write_progress()
            _say(f"the driver failed:\n{driver.error}")
            return
        _say(f"{driver.worker + 1}/{driver.workers}: played {driver.arrivals} arrivals "
             f"({driver.unsent} unsent); waiting for the master to end the run")

    def on_assign(environment: Any, msg: Any, **_: Any) -> None:
        data = msg.data
        try:
            cfg = LoadConfig.from_json(json.dumps(data["config"]))
            driver = RemoteDriver(cfg, int(data["slot"]), int(data["of"]), runner.send_message,
                                  environment.events.request.fire)
        except Exception:
            # Tell the master, which would otherwise wait for batches that never come.
            error = traceback.format_exc()
            _say(f"cannot play the assignment:\n{error}")
            runner.send_message(MSG_BATCH, {"slot": data.get("slot"), "seq": 0, "lines": [],
                                            "progress": {}, "done": True, "error": error})
            return
        skew = float(data.get("master_clock", time.time())) - time.time()
        _say(f"assigned {data['name']} (slot {data['slot']} of {data['of']}), load starts in "
             f"{cfg.t0 - time.time():.1f} s; clock differs from the master's by {skew:+.3f} s")
        state["greenlet"] = gevent.spawn(play, driver)

    def on_reject(environment: Any, msg: Any, **_: Any) -> None:
        _say(f"the master turned this worker away: {(msg.data or {}).get('reason')}")
        environment.process_exit_code = 3
        gevent.spawn_later(0.2, runner.quit)

    def end(code: int | None = None) -> None:
        """Stop the driver (its final batch goes out) and end this Locust process."""
        g = state["greenlet"]
        if g is not None:
            g.kill(block=True, timeout=5)
        if code is not None:
            environment.process_exit_code = code
        from locust.runners import STATE_CLEANUP, STATE_STOPPING
        # The master's own quit may have got here first and be stopping the users: let it
        # finish, since a second stop would stop them twice (Locust's "unexpected state").
        for _ in range(100):
            if runner.state not in (STATE_CLEANUP, STATE_STOPPING):
                break
            gevent.sleep(0.1)
        runner.quit()

    def on_stop(environment: Any, msg: Any, **_: Any) -> None:
        _say(f"the master says stop: {(msg.data or {}).get('reason')}")
        gevent.spawn(end)

    def watch_master() -> None:
        # Locust's own worker waits 60 s for a silent master; a run that is over (or a
        # master that died) should free this machine sooner.
        while True:
            gevent.sleep(1.0)
            last = runner.last_heartbeat_timestamp
            if last and time.time() - last > MASTER_SILENCE_S:
                _say(f"no heartbeat from the master for {MASTER_SILENCE_S:g} s: it is gone; stopping")
                end(3)
                return

    runner.register_message(MSG_ASSIGN, on_assign)
    runner.register_message(MSG_REJECT, on_reject)
    runner.register_message(MSG_STOP, on_stop)
    gevent.spawn(watch_master)
    host = local_address(opts.master_host, int(opts.master_port))
    runner.send_message(MSG_HELLO, {"host": host, "hostname": socket.gethostname(),
                                    "pid": os.getpid(), "clock": time.time(),
                                    "version": __version__,
                                    "local": os.environ.get(ENV_LOCAL) == "1"})
    _say(f"joined the master at {opts.master_host}:{opts.master_port} from {host}; "
         f"waiting for the run to start")
