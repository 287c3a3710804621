"""Real processes for the load tests: the bundled fakes, or the stdlib stand-in."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from fakes.common.sellers import generate_sellers, write_sellers
from harness.stack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "benchmarks" / "load_standin.py"


class Procs:
    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None,
              health: str | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logdir / f"{name}.log", "wb")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                             env={**os.environ, **(env or {})}, start_new_session=True)
        log.close()
        self.procs.append(p)
        if health:
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    if httpx.get(health, timeout=1).status_code == 200:
                        return p
                except httpx.HTTPError:
                    pass
                if p.poll() is not None:
                    break
                time.sleep(0.1)
            raise RuntimeError(f"{name} never became healthy:\n"
                               + (self.logdir / f"{name}.log").read_text()[-2000:])
        return p

    def stop_all(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)


@pytest.fixture
def procs(tmp_path) -> Iterator[Procs]:
    ps = Procs(tmp_path)
    try:
        yield ps
    finally:
        ps.stop_all()


@pytest.fixture
def sellers_file(tmp_path) -> Path:
    p = tmp_path / "sellers.json"
    write_sellers(p, generate_sellers(6, 77))
    return p


def start_standins(procs: Procs, delay_ms: float = 0, pending_share: float = 0.2) -> tuple[str, str]:
    pm, pp = free_port(), free_port()
    procs.start("standin-merchant", [sys.executable, str(STANDIN), "--role", "merchant", "--port",
                                     str(pm), "--delay-ms", str(delay_ms), "--pending-share",
                                     str(pending_share)], health=f"http://127.0.0.1:{pm}/healthz")
    procs.start("standin-platform", [sys.executable, str(STANDIN), "--role", "platform",
                                     "--port", str(pp)], health=f"http://127.0.0.1:{pp}/healthz")
    return f"http://127.0.0.1:{pm}", f"http://127.0.0.1:{pp}"
