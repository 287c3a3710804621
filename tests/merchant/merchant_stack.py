"""Real processes for the merchant tests (helpers; the fixture is in conftest.py): a fake tax platform and a merchant, each on a free
127.0.0.1 port in its own process group, killed (the whole group) when the test ends."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from harness.stack.ports import free_port


ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy after {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Proc:
    """A service process that can be killed, paused and started again with the same command."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Proc":
        out = self.log.open("ab")
        self.popen = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        wait_healthy(self.url, self.popen, self.log)
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
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return None


@dataclass
class Stack:
    tmp: Path
    sellers: list[dict[str, str]]
    sellers_file: Path
    procs: list[Proc] = field(default_factory=list)
    platform: Proc | None = None
    merchant: Proc | None = None

    def start_platform(self, **config: Any) -> Proc:
        port = free_port()
        cmd = [PY, "-m", "fakes.taxplatform", "--port", str(port), "--data", str(self.tmp / "platform"),
               "--sellers", str(self.sellers_file), "--config", json.dumps(config)]
        p = Proc("platform", cmd, dict(os.environ), port, self.tmp / "platform.log")
        self.procs.append(p)
        self.platform = p.start()
        return p

    def start_merchant(self, mode: str = "robust", dedup: str = "request_id", platform_url: str | None = None,
                       **env: str) -> Proc:
        assert self.platform is not None or platform_url
        port = free_port()
        e = dict(os.environ, PORT=str(port), TAX_PLATFORM_URL=platform_url or self.platform.url,  # type: ignore[union-attr]
                 SELLERS_FILE=str(self.sellers_file), DATA_DIR=str(self.tmp / "merchant"),
                 MERCHANT_MODE=mode, PLATFORM_DEDUP=dedup, PLATFORM_TIMEOUT_S="1.0", **env)
        p = Proc("merchant", [PY, "-m", "fakes.merchant"], e, port, self.tmp / "merchant.log")
        self.procs.append(p)
        self.merchant = p.start()
        return p

    # -- platform helpers --------------------------------------------------------------
    def faults(self, **fields: Any) -> None:
        assert self.platform is not None
        r = httpx.post(self.platform.url + "/_admin/faults", json=fields, timeout=5)
        assert r.status_code < 300, r.text

    def heal(self) -> None:
        assert self.platform is not None
        httpx.delete(self.platform.url + "/_admin/faults", timeout=5)

    def ledger(self) -> list[dict[str, Any]]:
        assert self.platform is not None
        r = httpx.get(self.platform.url + "/_admin/ledger", timeout=5)
        assert r.status_code == 200, r.text
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]

    def blue_for(self, order_id: str) -> list[dict[str, Any]]:
        return [i for i in self.ledger() if i["order_ref"] == order_id and i["kind"] == "blue"]

    # -- customer helpers --------------------------------------------------------------
    def order(self, order_id: str | None = None, seller: int = 0, **over: Any) -> dict[str, Any]:
        body = {"order_id": order_id or f"O-{uuid.uuid4().hex[:12]}",
                "seller_tax_id": self.sellers[seller]["seller_tax_id"],
                "buyer": {"name": "张三"}, "kind": "normal",
                "lines": [{"name": "月饼礼盒", "quantity": "2", "unit_price": "88.80", "tax_rate": "0.13"}]}
        body.update(over)
        return body

    def post(self, body: dict[str, Any], timeout: float = 10) -> httpx.Response:
        assert self.merchant is not None
        return httpx.post(self.merchant.url + "/v1/invoices", json=body, timeout=timeout)

    def get(self, order_id: str) -> httpx.Response:
        assert self.merchant is not None
        return httpx.get(f"{self.merchant.url}/v1/invoices/{order_id}", timeout=5)

    def refund(self, order_id: str) -> httpx.Response:
        assert self.merchant is not None
        return httpx.post(f"{self.merchant.url}/v1/invoices/{order_id}/refund", timeout=10)

    def wait_status(self, order_id: str, want: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            r = self.get(order_id)
            last = r.json()
            if last.get("status") == want:
                return last
            time.sleep(0.1)
        raise AssertionError(f"order {order_id} not {want} after {timeout}s: {last}")
