"""The merchant tests' stack (the fixture is in conftest.py): a fake tax platform and a
merchant as `support.processes.Proc`s, each on a free 127.0.0.1 port in its own process
group, killed (the whole group) when the test ends; and what a test asks of them."""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from support.processes import PY, ROOT, Proc, free_port, platform_cmd

__all__ = ["ROOT", "Proc", "Stack", "free_port"]


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
        cmd = platform_cmd(port, self.tmp / "platform", self.sellers_file, config)
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

    # -- the platform ------------------------------------------------------------------
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

    # -- the customer ------------------------------------------------------------------
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
