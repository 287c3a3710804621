"""A real platform process on 127.0.0.1 for tests: start, wait healthy, stop by process group."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from fakes.common.sellers import Seller
from support.processes import Proc, free_port, platform_cmd, stop_group

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
    """The platform as a `support.processes.Proc`, healthy; a new log file per start."""
    port = port or free_port()
    data.mkdir(parents=True, exist_ok=True)
    log = data.parent / f"platform-{port}-{time.monotonic_ns()}.log"
    p = Proc("taxplatform", platform_cmd(port, data, sellers_file, config or None),
             dict(os.environ), port, log)
    try:
        p.start()
    except RuntimeError:
        p.kill()
        raise
    assert p.popen is not None
    return Running(p.url, p.popen, data, sellers, log)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> int | None:
    """Signal the platform's process group (SIGKILL after 10 s); its exit code."""
    return stop_group(proc, sig)


def order(seller: str, rid: str, *, lines: list[dict] | None = None, kind: str = "normal",
          buyer: dict | None = None, **extra) -> dict:
    body = {"request_id": rid, "order_ref": f"O-{rid}", "seller_tax_id": seller,
            "buyer": buyer or {"name": "张三"}, "kind": kind,
            "lines": lines or [{"name": "苹果", "quantity": "3", "unit_price": "9.99",
                                "tax_rate": "0.13"}]}
    body.update(extra)
    return body
