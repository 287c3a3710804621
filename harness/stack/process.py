"""One service process: started in its own process group, logged to a file, signalled as a group.

A process group is what makes teardown complete: a `--sut-cmd` run through a shell, or a
server with workers, dies with all its children, and SIGSTOP freezes all of them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
import psutil

from ..errors import HealthTimeout, StackError
from .ports import LOOPBACK, PortTaken, says_port_taken
from .tls import client_context

__all__ = ["Service", "ServiceSpec", "log_tail", "signals_deferred"]


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is over, then arrive as usual.

    For starting a child: a KeyboardInterrupt raised inside `subprocess.Popen` (while it
    waits for the child's exec) loses the Popen object, and with it the only record of a
    child that runs on in its own session, which no teardown can then find. In the main
    thread only (where Python handles signals); elsewhere it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []
    sigs = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, lambda signum, _frame: got.append(signum)) for s in sigs}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if got:
            signal.raise_signal(got[0])


@dataclass(slots=True)
class ServiceSpec:
    name: str
    argv: list[str] | str                    # a str runs through /bin/sh -c (a user's --sut-cmd)
    port: int
    env: dict[str, str] = field(default_factory=dict)
    health_path: str = "/healthz"
    startup_timeout_s: float = 30.0
    cwd: str | None = None
    ca: str | None = None                    # serves HTTPS with a certificate of this CA


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join("    " + ln for ln in tail) if tail else "    (empty log)"


class Service:
    """A started service; every method is safe to call in any state (idempotent teardown)."""

    def __init__(self, spec: ServiceSpec, log_dir: Path):
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        self.proc: subprocess.Popen | None = None
        self.paused = False
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        env = {**os.environ, **self.spec.env}
        env.setdefault("PYTHONUNBUFFERED", "1")
        log = open(self.log_path, "ab", buffering=0)
        log.write(f"\n=== start #{self.starts + 1} at {time.strftime('%H:%M:%S')}: {self.spec.argv}\n".encode())
        shell = isinstance(self.spec.argv, str)
        try:
            with signals_deferred():           # the child is in self.proc before Ctrl-C lands
                self.proc = subprocess.Popen(self.spec.argv, shell=shell, env=env, cwd=self.spec.cwd,
                                             stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True,
                                             executable="/bin/sh" if shell else None)
        except OSError as e:
            raise StackError(f"{self.spec.name}: cannot start {self.spec.argv!r}: {e}") from None
        finally:
            log.close()
        self.starts += 1
        self.paused = False

    def wait_healthy(self, deadline_s: float | None = None) -> None:
        """Poll GET health until 200; raise HealthTimeout with the log tail otherwise."""
        timeout = deadline_s if deadline_s is not None else self.spec.startup_timeout_s
        scheme = "https" if self.spec.ca else "http"
        url = f"{scheme}://{LOOPBACK}:{self.spec.port}{self.spec.health_path}"
        end = time.monotonic() + timeout
        last = "no answer yet"
        verify: Any = client_context(self.spec.ca) if self.spec.ca else True
        with httpx.Client(timeout=1.0, verify=verify) as client:
            while time.monotonic() < end:
                if self.proc is not None and self.proc.poll() is not None:
                    if self._port_answers(client, url):
                        self._stranger()
                    lost_bind = says_port_taken(log_tail(self.log_path))
                    raise (PortTaken if lost_bind else HealthTimeout)(
                        f"{self.spec.name} exited with code {self.proc.returncode} before it became healthy "
                        f"(command: {self.spec.argv}).\n  last lines of {self.log_path}:\n{log_tail(self.log_path)}")
                try:
                    r = client.get(url)
                    if r.status_code == 200:
                        self._check_own_answer()
                        return
                    last = f"GET {self.spec.health_path} answered {r.status_code}: {r.text[:200]!r}"
                except httpx.HTTPError as e:
                    last = f"{type(e).__name__}: {e}"
                time.sleep(0.03)            # a refused connect costs next to nothing
        raise HealthTimeout(
            f"{self.spec.name} did not become healthy within {timeout:g}s: {last}.\n"
            f"  It must answer 200 on {url} "
            f"(it is given PORT={self.spec.port}).\n"
            f"  last lines of {self.log_path}:\n{log_tail(self.log_path)}")

    def _check_own_answer(self, settle_s: float = 0.3) -> None:
        """A 200 proves little if our child is about to exit: a port taken by another process
        between choosing it and the bind ("address already in use") lets a stranger answer
        the health check. If our own process group holds the listening socket the answer is
        ours (its bind succeeded); otherwise the child's bind failure ends it within moments,
        so look again after `settle_s`."""
        if self.proc is None:
            return
        if self._listens():
            return
        time.sleep(settle_s)
        if self.proc.poll() is not None:
            self._stranger()

    def _stranger(self) -> None:
        assert self.proc is not None
        raise PortTaken(
            f"{self.spec.name} exited with code {self.proc.returncode} although "
            f"port {self.spec.port} answered its health check: another process holds that "
            f"port (command: {self.spec.argv}).\n  last lines of {self.log_path}:\n"
            f"{log_tail(self.log_path)}")

    @staticmethod
    def _port_answers(client: httpx.Client, url: str) -> bool:
        """Our child is gone: does something else answer on its port (it lost the bind)?"""
        try:
            return client.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    def _listens(self) -> bool:
        """Whether this service's process (or a child of it) listens on its port."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            leader = psutil.Process(self.proc.pid)
            procs = [leader, *leader.children(recursive=True)]
        except psutil.Error:
            return False
        for p in procs:
            try:
                conns = p.net_connections(kind="tcp") if hasattr(p, "net_connections") \
                    else p.connections(kind="tcp")
            except psutil.Error:
                continue
            if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.spec.port
                   for c in conns):
                return True
        return False

    def signal(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            pass

    def kill(self) -> None:
        """SIGKILL the whole group and reap it."""
        if self.proc is None:
            return
        self.signal(signal.SIGKILL)
        self._reap(5)
        self.paused = False

    def terminate(self, grace_s: float = 5.0) -> None:
        """SIGTERM (after SIGCONT if frozen), then SIGKILL when the grace period is over."""
        if self.proc is None:
            return
        if self.paused:
            self.resume()
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            self._reap(grace_s)
        # the group's first process may be gone while children linger: finish the group
        self.signal(signal.SIGKILL)
        self._reap(5)

    def _reap(self, timeout_s: float) -> None:
        """Wait (bounded) for the process to end; what is left is the caller's next step."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)
        self.paused = True
        self._wait_stopped(True)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False
        self._wait_stopped(False)

    def _wait_stopped(self, stopped: bool, timeout_s: float = 1.0) -> None:
        """Signals are delivered asynchronously: wait (bounded) until every process of the
        group is stopped, or none is, so a pause's recorded start is when it really froze."""
        if self.proc is None:
            return
        try:
            leader = psutil.Process(self.proc.pid)
            procs = [leader, *leader.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            try:
                states = {p.status() for p in procs if p.is_running()}
            except psutil.NoSuchProcess:
                continue
            if (states <= {psutil.STATUS_STOPPED}) == stopped and \
                    (stopped or psutil.STATUS_STOPPED not in states):
                return
            time.sleep(0.005)
