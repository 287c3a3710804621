"""A client adapter for a system that already speaks the harness's own customer API
(design.md s.6): the smallest complete adapter, a template to start from, and what
`make bench` measures against the built-in client (benchmarks/bench_adapter.py).

    invoice-chaos run scenarios/smoke.yaml --client examples/adapters/s6.py:ContractShop
"""
from __future__ import annotations

from typing import Any

from harness.client import Adapter, Answer

_STATUS = {"issued", "pending", "failed"}


class ContractShop(Adapter):
    def issue(self, order: dict[str, Any]) -> Answer:
        r = self.http.post("/v1/invoices", json=order)
        if r.status >= 500:
            return Answer.unknown(f"http {r.status}")
        if r.status in (200, 201, 202, 422):
            return self._read(r)
        if 400 <= r.status < 500:
            return Answer.failed(f"http {r.status}")       # refused: nothing was issued
        return Answer.unmapped("unexpected status", r)

    def query(self, order_id: str) -> Answer:
        r = self.http.get(f"/v1/invoices/{order_id}")
        if r.status == 404:
            return Answer.not_found()
        if r.status >= 500:
            return Answer.unknown(f"http {r.status}")
        if r.status in (200, 201, 202, 422):
            return self._read(r)
        return Answer.unmapped("unexpected status", r)

    def refund(self, order_id: str) -> Answer:
        r = self.http.post(f"/v1/invoices/{order_id}/refund", json={"reason": "01"})
        if r.status in (200, 201):
            return Answer.issued(r.json().get("red_invoice_no"))
        if r.status == 202:
            return Answer.pending()
        if 400 <= r.status < 500:
            return Answer.failed(f"http {r.status}")
        return Answer.unknown(f"http {r.status}")

    @staticmethod
    def _read(r: Any) -> Answer:
        try:
            body = r.json()
        except ValueError:
            return Answer.unmapped("not JSON", r)
        status = body.get("status") if isinstance(body, dict) else None
        if status == "issued":
            return Answer.issued(body.get("invoice_no"))
        if status == "pending":
            return Answer.pending()
        if status == "failed":
            return Answer.failed(body.get("error") or "failed")
        return Answer.unmapped("no status in the body", r)
