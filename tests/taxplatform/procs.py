"""A real platform process on 127.0.0.1 for tests: start, wait healthy, stop by process group."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from fakes.common.sellers import Seller
from harness.stack.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Running:
    url: str
    proc: subprocess.Popen
    data: Path
    sellers: list[Seller]
    log: Path

    def token(self, i: int = 0) -> str:
        s = self.sellers[i]
        r = httpx.post(f"{self.url}/v1/auth/token", timeout=5,
                       json={"seller_tax_id": s["seller_tax_id"], "secret": s["secret"]})
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def ledger(self) -> list[dict]:
        r = httpx.get(f"{self.url}/_admin/ledger", timeout=30)
        assert r.status_code == 200
        return [json.loads(x) for x in r.text.splitlines() if x]


def start_platform(data: Path, sellers_file: Path | None, sellers: list[Seller],
                   config: dict | None = None, port: int | None = None) -> Running:
    port = port or free_port()
    cmd = [sys.executable, "-m", "fakes.taxplatform", "--port", str(port), "--data", str(data)]
    if sellers_file is not None:
        cmd += ["--sellers", str(sellers_file)]
    if config:
        cmd += ["--config", json.dumps(config)]
    data.mkdir(parents=True, exist_ok=True)
    log = data.parent / f"platform-{port}-{time.monotonic_ns()}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"platform exited {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=0.5).status_code == 200:
                return Running(url, proc, data, sellers, log)
        except httpx.TransportError:
            time.sleep(0.05)
    stop(proc, signal.SIGKILL)
    raise RuntimeError(f"platform never became healthy: {log.read_text()}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int | None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(5)


def order(seller: str, rid: str, *, lines: list[dict] | None = None, kind: str = "normal",
          buyer: dict | None = None, **extra) -> dict:
    body = {"request_id": rid, "order_ref": f"O-{rid}", "seller_tax_id": seller,
            "buyer": buyer or {"name": "张三"}, "kind": kind,
            "lines": lines or [{"name": "苹果", "quantity": "3", "unit_price": "9.99",
                                "tax_rate": "0.13"}]}
    body.update(extra)
    return body
