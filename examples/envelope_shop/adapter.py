"""The client adapter of Envelope Shop (server.py): the harness's customer operations in the
shop's own API. Every answer is HTTP 200 with {"code", "msg", "data"}, so the code, not the
HTTP status, decides.

    invoice-chaos run scenarios/smoke.yaml \
        --sut-cmd "python3 examples/envelope_shop/server.py" \
        --client examples/envelope_shop/adapter.py:EnvelopeShop
"""
from __future__ import annotations

from typing import Any

from harness.client import Adapter, Answer, Response, Unavailable

APP_KEY, APP_SECRET = "demo-app", "demo-secret"      # the shop's defaults (server.py)
OK, NO_TOKEN, BAD_PARAM, NO_ORDER, NOT_REVERSIBLE, BUSY = 0, 40100, 40000, 40400, 40900, 50300
KINDS = {"normal": "PLAIN", "special": "SPECIAL"}


class EnvelopeShop(Adapter):
    token = ""

    def on_start(self) -> None:
        """Log in: POST /api/auth/login -> data.token, sent as X-Shop-Token from then on."""
        r = self.http.post("/api/auth/login", json={"appKey": APP_KEY, "appSecret": APP_SECRET})
        env = _envelope(r)
        if env is None or env.get("code") != OK:
            raise Unavailable(f"login refused: http {r.status} {r.text[:120]}")
        self.token = env["data"]["token"]

    def _call(self, path: str, body: dict[str, Any]) -> tuple[Response, dict[str, Any] | None]:
        """POST with the token; a token the shop no longer knows (it restarted, it expired)
        means one login and one more try."""
        r = self.http.post(path, json=body, headers={"X-Shop-Token": self.token})
        env = _envelope(r)
        if env is not None and env.get("code") == NO_TOKEN:
            self.on_start()
            r = self.http.post(path, json=body, headers={"X-Shop-Token": self.token})
            env = _envelope(r)
        return r, env

    def issue(self, order: dict[str, Any]) -> Answer:
        buyer = order["buyer"]
        body = {"orderNo": order["order_id"], "sellerTaxNo": order["seller_tax_id"],
                "buyerName": buyer["name"], "invoiceKind": KINDS[order["kind"]],
                "items": [{"title": ln["name"], "qty": ln["quantity"], "price": ln["unit_price"],
                           "taxRate": ln["tax_rate"]} for ln in order["lines"]]}
        if buyer.get("tax_id"):
            body["buyerTaxNo"] = buyer["tax_id"]
        r, env = self._call("/api/invoice/apply", body)
        if env is not None and env.get("code") == BAD_PARAM:
            return Answer.failed(f"{BAD_PARAM}: {env.get('msg')}")    # refused: nothing issued
        return self._order(r, env)

    def query(self, order_id: str) -> Answer:
        r, env = self._call("/api/invoice/query", {"orderNo": order_id})
        if env is not None and env.get("code") == NO_ORDER:
            return Answer.not_found()
        return self._order(r, env)

    def refund(self, order_id: str) -> Answer:
        r, env = self._call("/api/invoice/reverse", {"orderNo": order_id})
        if env is None:
            return _no_envelope(r)
        code, data = env.get("code"), env.get("data") or {}
        if code in (NOT_REVERSIBLE, NO_ORDER):
            return Answer.failed(code)
        if code == BUSY:
            return Answer.unknown(f"{BUSY}: {env.get('msg')}")
        if code == OK and data.get("redState") == "REVERSED":
            return Answer.issued(data.get("redInvoiceNo"))
        if code == OK and data.get("redState") == "REVERSING":
            return Answer.pending()
        return Answer.unmapped("unexpected reverse answer", r)

    @staticmethod
    def _order(r: Response, env: dict[str, Any] | None) -> Answer:
        """An envelope carrying an order: data.state ISSUED / PROCESSING / REJECTED."""
        if env is None:
            return _no_envelope(r)
        if env.get("code") == BUSY:
            return Answer.unknown(f"{BUSY}: {env.get('msg')}")
        data = env.get("data") or {}
        state = data.get("state") if env.get("code") == OK else None
        if state == "ISSUED":
            return Answer.issued(data.get("invoiceNo"))
        if state == "PROCESSING":
            return Answer.pending()
        if state == "REJECTED":
            return Answer.failed(data.get("reason") or "REJECTED")
        return Answer.unmapped("an envelope without a known order state", r)


def _envelope(r: Response) -> dict[str, Any] | None:
    """The {"code", "msg", "data"} of an answer, or None when it is not one."""
    try:
        env = r.json()
    except ValueError:
        return None
    return env if isinstance(env, dict) and "code" in env else None


def _no_envelope(r: Response) -> Answer:
    """No envelope: a 5xx (a gateway in front of the shop, a crash) is the system's unknown;
    anything else is not an answer this adapter can read."""
    if r.status >= 500:
        return Answer.unknown(f"http {r.status}")
    return Answer.unmapped("not an envelope", r)
