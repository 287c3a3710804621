"""Real processes for tests, started one way: each in its own process group on a loopback
port, with its output in a log file, waited for until healthy, and stopped group and all.
Also the `invoice-chaos` command as a user runs it, and the processes a run left behind."""
from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import psutil

from harness.stack.ports import LOOPBACK, free_port, listening_socket

__all__ = ["ROOT", "PY", "Proc", "wait_healthy", "platform_cmd", "stop_group", "invoice_chaos",
           "processes_mentioning", "lingering", "free_port", "listening_socket", "ctrl_c_reaches_it",
           "stranger", "FirstPickTaken"]

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def ctrl_c_reaches_it() -> None:
    """`preexec_fn` for a command a Ctrl-C test interrupts: SIGINT back to its default, as a
    command typed at a terminal has it. A test suite started in the background (`cmd &` in a
    script, nohup) hands its children SIGINT ignored, and the run would then rightly not see
    the Ctrl-C the test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0,
                 path: str = "/healthz") -> None:
    """Until GET `url+path` answers 200; RuntimeError with the log's tail if the process
    exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + path, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


def stop_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, wait_s: float = 10) -> int | None:
    """Signal the process's group; SIGKILL it if it is still there after `wait_s`."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(5)


@dataclass
class Proc:
    """A service process that can be killed, paused and started again with the same command,
    port and log."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    health: str | None = "/healthz"         # None: do not wait for health
    startup_s: float = 15.0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Proc:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        if self.health is not None:
            wait_healthy(self.url, self.popen, self.log, self.startup_s, self.health)
        return self

    def signal(self, sig: int) -> None:
        if self.popen and self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the group and reap it."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 5 s; the exit code."""
        if self.popen is None or self.popen.poll() is not None:
            return self.popen.returncode if self.popen else None
        return stop_group(self.popen, signal.SIGTERM, 5)


def platform_cmd(port: int, data: Path, sellers_file: Path | None = None,
                 config: dict[str, Any] | None = None) -> list[str]:
    """`python -m fakes.taxplatform` with these arguments."""
    cmd = [PY, "-m", "fakes.taxplatform", "--port", str(port), "--data", str(data)]
    if sellers_file is not None:
        cmd += ["--sellers", str(sellers_file)]
    if config is not None:
        cmd += ["--config", json.dumps(config)]
    return cmd


def invoice_chaos(*args: str, timeout: float = 600, env: dict | None = None,
                  cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `python -m harness ARGS` (the installed `invoice-chaos`) and capture its output."""
    return subprocess.run([PY, "-m", "harness", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line or environment mentions `text` (a run directory)."""
    found = []
    for p in psutil.process_iter(["cmdline", "pid"]):
        try:
            if p.pid == os.getpid():
                continue
            if text in " ".join(p.info["cmdline"] or []) or any(text in v for v in p.environ().values()):
                if p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def lingering(text: str, timeout: float = 10.0) -> list[psutil.Process]:
    """Processes mentioning `text` that are still there after up to `timeout` seconds (a
    process killed a moment ago may take a little while to go)."""
    deadline = time.monotonic() + timeout
    left = processes_mentioning(text)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_mentioning(text)
    return left


class _Stranger(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def stranger() -> Iterator[int]:
    """Another process's HTTP server on a loopback port, answering 200 `{}` to every GET and
    POST (a healthy-looking stranger, not the service a test expects); yields its port."""
    server = http.server.ThreadingHTTPServer((LOOPBACK, 0), _Stranger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class FirstPickTaken:
    """A stand-in for `free_ports` whose first pick loses port `index` to another process (a
    socket bound and listening on it until `close()`): what a stack meets when another run
    takes a port between its pick and its bind. `picks`: every pick made, in order."""

    def __init__(self, real: Callable[..., list[int]], index: int) -> None:
        self.real, self.index = real, index
        self.picks: list[list[int]] = []
        self.stranger = socket.socket()

    def __call__(self, n: int, host: str = LOOPBACK) -> list[int]:
        ports = self.real(n, host)
        if not self.picks:
            self.stranger.bind((LOOPBACK, ports[self.index]))
            self.stranger.listen()
        self.picks.append(ports)
        return ports

    def close(self) -> None:
        self.stranger.close()
