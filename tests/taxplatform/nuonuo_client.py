"""A small client of the nuonuo profile for tests: a token, signed envelope calls."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from fakes.common.sellers import Seller
from fakes.taxplatform.frontends.nuonuo.signing import sign

ISSUE = "nuonuo.OpeMplatform.requestBillingNew"
QUERY = "nuonuo.OpeMplatform.queryInvoiceResult"
RED = "nuonuo.OpeMplatform.saveInvoiceRedConfirm"


@dataclass
class NN:
    url: str
    seller: Seller
    token: str = ""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def get_token(self) -> dict[str, Any]:
        r = self.http.post(f"{self.url}/accessToken", data={
            "client_id": self.seller["app_key"], "client_secret": self.seller["app_secret"],
            "grant_type": "client_credentials"})
        assert r.status_code == 200, r.text
        body = r.json()
        self.token = body.get("access_token", "")
        return body

    def call(self, method: str, content: Any, *, secret: str | None = None,
             nonce: str | None = None, timestamp: str | None = None,
             token: str | None = None, user_tax: str | None = None,
             app_key: str | None = None, drop: tuple[str, ...] = ()) -> httpx.Response:
        body = content if isinstance(content, str) else orjson.dumps(content).decode()
        senid = secrets.token_hex(16)
        nonce = nonce or str(secrets.randbelow(999990000) + 10000)
        ts = timestamp or str(int(time.time()))
        key = app_key or self.seller["app_key"]
        path = "/open/v1/services"
        params = {"senid": senid, "nonce": nonce, "timestamp": ts, "appkey": key}
        headers = {"Content-Type": "application/json",
                   "X-Nuonuo-Sign": sign(secret or self.seller["app_secret"], path, key, senid,
                                         nonce, ts, body),
                   "accessToken": self.token if token is None else token,
                   "userTax": self.seller["seller_tax_id"] if user_tax is None else user_tax,
                   "method": method, "sdkVer": "1.0.5.2"}
        for d in drop:
            params.pop(d, None)
            headers.pop(d, None)
        return self.http.post(f"{self.url}{path}", params=params, headers=headers,
                              content=body.encode("utf-8"))

    def ok(self, method: str, content: Any, **kw: Any) -> Any:
        r = self.call(method, content, **kw)
        assert r.status_code == 200, r.text
        env = r.json()
        assert env["code"] == "E0000", env
        return env["result"]

    def code(self, method: str, content: Any, **kw: Any) -> str:
        r = self.call(method, content, **kw)
        return str(r.json()["code"])

    def issue(self, order_no: str, **over: Any) -> httpx.Response:
        return self.call(ISSUE, order(self.seller["seller_tax_id"], order_no, **over))

    def query(self, **kw: Any) -> dict[str, Any]:
        r = self.call(QUERY, {"isOfferInvoiceDetail": "1", **kw})
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, serial: str, want: tuple[str, ...] = ("2", "22", "24"),
                    timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            env = self.query(serialNos=[serial])
            if env["code"] == "E0000":
                last = env["result"][0]
                if last["status"] in want:
                    return last
            time.sleep(0.1)
        raise AssertionError(f"serial {serial} never reached {want}: {last}")


def order(seller: str, order_no: str, **over: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "orderNo": order_no, "invoiceDate": "2026-12-06 10:00:00", "buyerName": "张三",
        "salerTaxNum": seller, "invoiceType": "1", "invoiceLine": "pc", "clerk": "王五",
        "invoiceDetail": [{"goodsName": "苹果", "num": "3", "price": "9.99", "taxRate": "0.13",
                           "withTaxFlag": "0"}]}
    o.update(over)
    return {"order": o}
