"""Adapters with the harness's kind of failure, against the bundled merchant (design.md s.6):
one that raises for some orders, one that cannot read the system's answers."""
from __future__ import annotations

from typing import Any

from harness.client import Adapter, Answer


class RaisesSometimes(Adapter):
    """A bug: it looks up a field the shop sends only for some buyers."""

    def issue(self, order: dict[str, Any]) -> Answer:
        r = self.http.post("/v1/invoices", json=order)
        if order["order_id"].endswith(("1", "4", "7")):
            return Answer.issued(r.json()["invoice"]["number"])       # KeyError: 'invoice'
        return _read(r)

    def query(self, order_id: str) -> Answer:
        r = self.http.get(f"/v1/invoices/{order_id}")
        return Answer.not_found() if r.status == 404 else _read(r)


class ReadsTheWrongField(Adapter):
    """Written for another version of the API: the state is under `state`, it thinks."""

    def issue(self, order: dict[str, Any]) -> Answer:
        r = self.http.post("/v1/invoices", json=order)
        state = r.json().get("state")
        if state == "done":
            return Answer.issued(r.json().get("number"))
        return Answer.unmapped("no 'state' in the answer", r)

    def query(self, order_id: str) -> Answer:
        r = self.http.get(f"/v1/invoices/{order_id}")
        return Answer.not_found() if r.status == 404 else _read(r)


def _read(r: Any) -> Answer:
    body = r.json()
    if r.status >= 500:
        return Answer.unknown(f"http {r.status}")
    if body.get("status") == "issued":
        return Answer.issued(body.get("invoice_no"))
    if body.get("status") == "pending":
        return Answer.pending()
    if body.get("status") == "failed":
        return Answer.failed(body.get("error"))
    return Answer.unmapped("no status", r)


class KnowsEveryOrder(Adapter):
    """Reads a 404 as an issued invoice: the start-up probe stops it before the load."""

    def issue(self, order: dict[str, Any]) -> Answer:
        return _read(self.http.post("/v1/invoices", json=order))

    def query(self, order_id: str) -> Answer:
        self.http.get(f"/v1/invoices/{order_id}")
        return Answer.issued("00000000000000000000")
