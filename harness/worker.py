"""`invoice-chaos worker --master HOST:PORT [--processes N]`: a load machine joins a run.

The machine needs the project installed and nothing else (design.md s.10). This command waits
until the master's port answers, then starts N Locust worker processes of the project's own
locustfile, each in its own process group; everything else (the share of the schedule, the
URLs, the seed, the history going back) happens over Locust's connection
(harness/load/remote_worker.py). It returns when they end: when the run's master ends the
run, or at Ctrl-C / SIGTERM, which ends them too, so nothing is left running.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Callable

from .errors import EXIT_STACK, UsageError
from .load.remote import ENV_REMOTE, parse_master
from .load.runner import LOCUSTFILE

__all__ = ["run_worker", "CONNECT_WAIT_S"]

#: How long a worker waits for the master's port before giving up (exit 3). A worker may be
#: started before the master (a Deployment next to a Job), so it does not give up at once.
CONNECT_WAIT_S = 120.0


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def _kill(procs: list[subprocess.Popen[bytes]], sig: int) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def run_worker(master: str, processes: int, say: Callable[[str], None] = print,
               connect_wait_s: float = CONNECT_WAIT_S) -> int:
    try:
        host, port = parse_master(master)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if processes < 1:
        raise UsageError(f"--processes {processes}: must be >= 1")
    end = time.monotonic() + connect_wait_s
    while not _reachable(host, port):
        if time.monotonic() > end:
            say(f"error: no master answers at {host}:{port} after {connect_wait_s:g} s; start the run "
                f"first ('invoice-chaos run ... --remote-workers M --bind {host}') and check the network")
            return EXIT_STACK
        time.sleep(1.0)
    env = {**os.environ, ENV_REMOTE: "1", "PYTHONUNBUFFERED": "1"}
    env.pop("INVOICE_CHAOS_LOCAL", None)
    args = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker",
            "--master-host", host, "--master-port", str(port), "--loglevel", "WARNING",
            "--exit-code-on-error", "0"]
    say(f"invoice-chaos worker: {processes} process(es) joining the master at {host}:{port}")
    procs: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, stop)
    try:
        for _ in range(processes):
            procs.append(subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                          start_new_session=True))
        while any(p.poll() is None for p in procs):
            time.sleep(0.3)
    except KeyboardInterrupt:
        say("invoice-chaos worker: stopping")
        _kill(procs, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.1)
        _kill(procs, signal.SIGKILL)
        for p in procs:
            p.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)
    codes = [p.returncode for p in procs]
    if any(c == EXIT_STACK for c in codes):
        return EXIT_STACK
    return 0 if all(c == 0 for c in codes) else max(c for c in codes if c != 0)
