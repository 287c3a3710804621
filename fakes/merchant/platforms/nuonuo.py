"""The nuonuo profile's client (design.md s.13, docs of 诺诺开放平台): the way many merchants
issue 数电票 through a service provider. Written against the protocol, not against the fake:
pointed at real nuonuo with real keys it would send the same requests.

The wire: `POST /accessToken` (form, client credentials) gives a token per seller;
every call is `POST /open/v1/services?senid&nonce&timestamp&appkey` with the headers
`X-Nuonuo-Sign` (Base64 HMAC-SHA1 with the app secret), `accessToken`, `userTax`, `method`
and the business JSON as body; the answer is `{"code", "describe", "result"}`, `E0000` on
success. Keys come from SELLERS_FILE (`app_key`, `app_secret`; docs/sut-contract.md).

Issuing is asynchronous: `requestBillingNew` answers "开票提交成功" with a serial number,
which means *accepted*, not issued; `queryInvoiceResult` says later: 20/21 in progress,
2 issued (`allElectronicInvoiceNumbe` is the number), 22 failed, 24 issued but not signed.

The robust rules, in order:
1. the order's `orderNo` is fixed when the order row is first written (the order id itself
   when it fits in 20 characters), so every submission of one order carries the same
   `orderNo`, and the platform refuses a second invoice for it (E9106);
2. a submission with an unknown outcome (timeout, reset, 5xx) is simply sent again: a
   first one that landed makes the second answer E9106, which means "it exists: ask";
3. once the platform holds the order (an ack, or E9106) the merchant polls
   `queryInvoiceResult` (by serial after an ack, by orderNo after E9106) until 2 or 22;
   E9500 "no such invoice" right after is the read replica being behind, not a refusal;
   one that stays E9500 well after the ack was acknowledged and then dropped by the
   platform, and is submitted again (same orderNo: E9106 if it did land after all);
4. throttling is waited out (`Retry-After`, else a backoff); 070301 (token no longer valid)
   logs in again and repeats the call once;
5. a refund is a 红字确认单 (`saveInvoiceRedConfirm`); the red invoice follows on the
   platform by itself and is looked for with `queryInvoiceResult` by the order's orderNo
   before the customer hears "refunded";
6. `pending` is a promise (design.md s.7) that a platform deciding later could still break
   with 22: a customer's query while the order's own POST waits for the decision waits
   with it (`decides_later`), so it hears the decision.

The nuonuo defect modes' places are marked `DEFECT` (modes.py).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets as _secrets
import time
from typing import Any
from urllib.parse import urlencode

import orjson

from ..amounts import Order, line_amounts
from ..http import AsyncHttp, TransportError
from ..store import OrderRow
from .base import Core, Kind, Platform, Reply, backoff, register

__all__ = ["NuonuoPlatform", "NuonuoWire", "sign", "order_no", "callback_items", "BILLING", "QUERY",
           "RED_CONFIRM"]

log = logging.getLogger("fakes.merchant.nuonuo")

BILLING = "nuonuo.OpeMplatform.requestBillingNew"
QUERY = "nuonuo.OpeMplatform.queryInvoiceResult"
RED_CONFIRM = "nuonuo.OpeMplatform.saveInvoiceRedConfirm"
SERVICES = "/open/v1/services"
TOKEN = "/accessToken"

OK = "E0000"
DUPLICATE = "E9106"          # 订单编号或流水号不能重复: this orderNo was used before
NOT_FOUND = "E9500"          # 未找到相关记录 (also within the replica lag for a known one)
TOKEN_INVALID = "070301"
#: answers of the envelope that issued nothing and say so for certain (the customer: failed)
_REFUSALS = {"E4000", "E9130", "E9131", "E9154", "E9301", "E9302", "E9338", "070201", "070204",
             "E9106"}
#: a wrong key, signature or grant: nothing was done; a configuration matter, not the customer's
_CONFIG = {"0200", "0201", "070302", "070401", "070501", "070601", "070304", "070305", "070307",
           "070315"}
#: codes a platform uses to ask for a slower pace (HTTP 429 is read the same way)
_THROTTLE = {"070306", "E9999", "070101", "070102"}

#: queryInvoiceResult statuses
ISSUED, IN_PROGRESS, SIGNING, FAILED, SIGN_FAILED = "2", "20", "21", "22", "24"

ORDER_NO_MAX = 20
_MAX_REFUND_ATTEMPTS = 30


def sign(app_secret: str, app_key: str, senid: str, nonce: str, timestamp: str, body: str) -> str:
    """X-Nuonuo-Sign: Base64(HMAC-SHA1(appSecret, a=services&l=v1&p=open&k=&i=&n=&t=&f=))."""
    text = f"a=services&l=v1&p=open&k={app_key}&i={senid}&n={nonce}&t={timestamp}&f={body}"
    mac = hmac.new(app_secret.encode(), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def order_no(order_id: str) -> str:
    """The orderNo of a customer order: the order id itself when it fits (so the platform's
    ledger names the customer's order), else a stable 20-character digest of it."""
    if len(order_id) <= ORDER_NO_MAX:
        return order_id
    return "H" + hashlib.sha1(order_id.encode()).hexdigest()[:ORDER_NO_MAX - 1]


def _code(body: Any) -> str | None:
    return str(body.get("code")) if isinstance(body, dict) and body.get("code") is not None else None


class NuonuoWire:
    """Tokens, the signed envelope and the reading of answers, for every seller of the run."""

    def __init__(self, base_url: str, sellers: list[dict[str, Any]], timeout_s: float) -> None:
        self.http = AsyncHttp(base_url, max_connections=64)
        self.timeout_s = timeout_s
        self.keys: dict[str, tuple[str, str]] = {}
        for s in sellers:
            key = s.get("app_key") or s.get("appKey")
            secret = s.get("app_secret") or s.get("appSecret")
            if key and secret:
                self.keys[s["seller_tax_id"]] = (str(key), str(secret))
        self._tokens: dict[str, tuple[str, float]] = {}
        self._logins: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _login(self, seller: str, timeout: float) -> Reply:
        key, secret = self.keys[seller]
        form = urlencode({"client_id": key, "client_secret": secret,
                          "grant_type": "client_credentials"}).encode()
        try:
            resp = await self.http.request("POST", TOKEN, content=form, timeout=timeout,
                                           content_type="application/x-www-form-urlencoded")
        except TransportError as e:
            return Reply("unknown", None, None, None, type(e).__name__, str(e) or type(e).__name__)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
            try:
                ttl = float(body.get("expires_in", 86400))
            except (TypeError, ValueError):
                ttl = 86400.0
            self._tokens[seller] = (str(body["access_token"]), time.monotonic() + ttl * 0.9)
            return Reply("ok", 200, body)
        err = body.get("error") if isinstance(body, dict) else None
        kind: Kind = "throttled" if resp.status_code == 429 or err == "070306" else "unknown"
        msg = body.get("error_description") if isinstance(body, dict) else resp.text[:200]
        return Reply(kind, resp.status_code, body, 1.0, f"login:{err or resp.status_code}", msg)

    async def _token(self, seller: str, timeout: float) -> Reply:
        tok = self._tokens.get(seller)
        if tok is not None and tok[1] > time.monotonic():
            return Reply("ok")
        async with self._logins.setdefault(seller, asyncio.Lock()):
            tok = self._tokens.get(seller)
            if tok is not None and tok[1] > time.monotonic():
                return Reply("ok")
            return await self._login(seller, timeout)

    async def call(self, method: str, seller: str, content: dict[str, Any],
                   timeout: float | None = None) -> Reply:
        """One signed call; never raises for network trouble. `ok` means code E0000."""
        if seller not in self.keys:
            return Reply("throttled", None, None, 5.0, "no_app_key",
                         f"SELLERS_FILE has no app_key/app_secret for {seller}")
        timeout = self.timeout_s if timeout is None else max(0.05, min(timeout, self.timeout_s))
        body = orjson.dumps(content).decode()
        key, secret = self.keys[seller]
        for attempt in range(2):
            login = await self._token(seller, timeout)
            if login.kind != "ok":
                # no token: nothing was sent, so nothing issued; never a refusal
                kind: Kind = "throttled" if login.kind == "throttled" else "unknown"
                return Reply(kind, login.status, login.body, login.retry_after or 1.0,
                             login.error, login.message)
            token = self._tokens[seller][0]
            senid = _secrets.token_hex(16)
            nonce = str(10000 + _secrets.randbelow(999_990_000))
            ts = str(int(time.time()))
            params = {"senid": senid, "nonce": nonce, "timestamp": ts, "appkey": key}
            headers = {"X-Nuonuo-Sign": sign(secret, key, senid, nonce, ts, body),
                       "accessToken": token, "userTax": seller, "method": method}
            try:
                resp = await self.http.request("POST", SERVICES, params=params, headers=headers,
                                               content=body.encode(), timeout=timeout,
                                               content_type="application/json")
            except TransportError as e:
                return Reply("unknown", None, None, None, type(e).__name__, str(e) or type(e).__name__)
            reply = _classify(resp.status_code, resp.headers.get("retry-after"), resp.content)
            if reply.error == TOKEN_INVALID and attempt == 0:
                self._tokens.pop(seller, None)          # revoked or expired: log in again
                continue
            if reply.error == TOKEN_INVALID:
                return Reply("throttled", reply.status, reply.body, 1.0, reply.error, reply.message)
            return reply
        raise AssertionError("unreachable")


def _classify(status: int, retry_after: str | None, raw: bytes) -> Reply:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    code = _code(body)
    msg = str(body.get("describe") or "") if isinstance(body, dict) else raw[:200].decode("utf-8", "replace")
    try:
        wait = max(0.0, float(retry_after)) if retry_after is not None else None
    except ValueError:
        wait = None
    if status == 429 or code in _THROTTLE:
        return Reply("throttled", status, body, wait or 1.0, code or "http_429", msg)
    if status >= 500 or code is None:
        return Reply("unknown", status, body, wait, code or f"http_{status}", msg)
    if code == OK:
        return Reply("ok", status, body, None, code, msg)
    if code == TOKEN_INVALID:
        return Reply("refused", status, body, None, code, msg)
    if code in _REFUSALS or code == NOT_FOUND:
        return Reply("refused", status, body, None, code, msg)
    if code in _CONFIG:
        log.warning("nuonuo %s: %s (a key, signature or grant problem)", code, msg)
        return Reply("throttled", status, body, 2.0, code, msg)
    # a business code this client does not know: whether anything was done is unknown
    return Reply("unknown", status, body, wait, code, msg)


def _result_items(reply: Reply) -> list[dict[str, Any]]:
    res = reply.body.get("result") if isinstance(reply.body, dict) else None
    if isinstance(res, dict):
        res = res.get("list") or res.get("result") or [res]
    return [r for r in res if isinstance(r, dict)] if isinstance(res, list) else []


@register("nuonuo")
class NuonuoPlatform(Platform):
    """Per order in `row.extra`: `order_no` (only once new-orderno-on-retry changed it);
    `serial` (invoiceSerialNum); `held` (the platform holds the order: an ack or E9106);
    `acked_at`; `polls`; `red_sent` (a 红字确认单 was accepted)."""

    decides_later = True

    def __init__(self, core: Core, sellers: list[dict[str, Any]]) -> None:
        super().__init__(core, sellers)
        self.wire = NuonuoWire(self.cfg.platform_url, sellers, self.cfg.platform_timeout_s)
        self.callback_url = (self.cfg.callback_url
                             or f"http://127.0.0.1:{self.cfg.port}") + "/callback"

    async def aclose(self) -> None:
        await self.wire.aclose()

    # -- the body ----------------------------------------------------------------------
    def payload(self, order: Order, content: Order) -> dict[str, Any]:
        detail = []
        for ln in content.lines:
            amount, tax = line_amounts(ln)
            detail.append({"goodsName": ln.name, "num": str(ln.quantity),
                           "price": str(ln.unit_price), "withTaxFlag": "0",
                           "taxRate": str(ln.tax_rate), "taxExcludedAmount": str(amount),
                           "tax": str(tax), "taxIncludedAmount": str(amount + tax),
                           "invoiceLineProperty": "0"})
        o: dict[str, Any] = {
            "orderNo": order_no(order.order_id), "salerTaxNum": order.seller_tax_id,
            "buyerName": content.buyer.get("name", ""), "invoiceType": "1",
            "invoiceLine": "bs" if content.kind == "special" else "pc",
            "invoiceDate": time.strftime("%Y-%m-%d %H:%M:%S"), "clerk": "收银台",
            "pushMode": "-1", "invoiceDetail": detail}
        if content.buyer.get("tax_id"):
            o["buyerTaxNum"] = content.buyer["tax_id"]
        if self.b.wait_for_callback:                        # DEFECT wait-for-callback
            o["callBackUrl"] = self.callback_url
        return {"order": o}

    async def probe(self, seller: str) -> None:
        await self.wire.call(QUERY, seller, {"orderNos": ["0"], "isOfferInvoiceDetail": "0"})

    # -- issuing -----------------------------------------------------------------------
    def _order_no(self, row: OrderRow) -> str:
        return str(row.extra.get("order_no") or row.payload["order"]["orderNo"])

    async def attempt_issue(self, row: OrderRow, timeout: float) -> float | None:
        if row.extra.get("held"):
            if self.b.wait_for_callback:                     # DEFECT wait-for-callback
                row.drive = False                            # the callback will tell
                self.m.store.put(row)
                return None
            return await self._poll(row, timeout)
        return await self._submit(row, timeout)

    async def _submit(self, row: OrderRow, timeout: float) -> float | None:
        if self.b.new_orderno_on_retry and row.uncertain:    # DEFECT new-orderno-on-retry
            row.extra["order_no"] = order_no(f"{row.order_id}R{row.attempts}")
        body = dict(row.payload)
        body["order"] = dict(body["order"], orderNo=self._order_no(row))
        was_uncertain = row.uncertain
        row.uncertain, row.uncertain_at, row.attempts = True, time.time(), row.attempts + 1
        await self.m._put(row)             # a crash during the call leaves "may exist" on disk
        reply = await self.wire.call(BILLING, row.seller_tax_id, body, timeout)
        if reply.kind == "ok":
            res = reply.body.get("result") if isinstance(reply.body, dict) else None
            serial = res.get("invoiceSerialNum") if isinstance(res, dict) else None
            if self.b.trust_submit_ack:                      # DEFECT trust-submit-ack
                row.status, row.invoice_no, row.drive, row.uncertain = "issued", None, False, False
                row.extra["serial"] = serial
                self.m.store.put(row)
                return None
            row.extra.update(held=True, serial=serial, acked_at=time.time(), polls=0)
            row.uncertain = False
            await self.m._put(row)
            return self.cfg.poll_s
        if reply.kind == "refused" and reply.error == DUPLICATE:
            if self.b.duplicate_means_failed and row.attempts > 1:   # DEFECT duplicate-means-failed
                row.status, row.uncertain, row.drive = "failed", False, False
                row.error, row.message = DUPLICATE, reply.message or "订单编号或流水号不能重复"
                self.m.store.put(row)
                return None
            # an earlier submission of this orderNo landed: ask for it by orderNo
            row.extra.update(held=True, serial=None, acked_at=time.time(), polls=0)
            row.uncertain = False
            self.m.store.put(row)
            return 0.0
        if reply.kind == "refused":
            self.refused(row, reply.error or "refused", reply.message or "", was_uncertain)
            return None
        if reply.kind == "throttled":
            return self.throttled(row, reply, was_uncertain)
        log.info("order %s: unknown outcome of the submission (%s)", row.order_id, reply.error)
        return self.m._later(row, backoff(row.attempts, reply.retry_after))

    async def _poll(self, row: OrderRow, timeout: float) -> float | None:
        serial = row.extra.get("serial")
        ask = ({"serialNos": [serial]} if serial else {"orderNos": [self._order_no(row)]})
        polls = int(row.extra.get("polls") or 0) + 1
        row.extra["polls"] = polls
        if self.b.stop_polling and polls > self.cfg.stop_polling_after:   # DEFECT stop-polling
            row.status, row.drive = "failed", False
            row.error, row.message = "no_result", f"no result after {polls - 1} queries"
            self.m.store.put(row)
            return None
        reply = await self.wire.call(QUERY, row.seller_tax_id, dict(ask, isOfferInvoiceDetail="0"),
                                     timeout)
        if reply.kind == "ok":
            mine = [i for i in _result_items(reply)
                    if (serial and i.get("serialNo") == serial)
                    or i.get("orderNo") == self._order_no(row)]
            blue = [i for i in mine if str(i.get("invoiceType", "1")) != "2"
                    and not i.get("oldEleInvoiceNumber")]
            if blue:
                return self._decided(row, blue[0])
        elif reply.kind == "refused" and reply.error == NOT_FOUND:
            since = time.time() - float(row.extra.get("acked_at") or 0)
            if serial and since > self.cfg.settle_s:
                # acknowledged, then unknown to the platform for longer than any replica lag:
                # the submission was dropped. Submit again (same orderNo: E9106 if it landed).
                log.info("order %s: serial %s unknown %.1f s after its ack; submitting again",
                         row.order_id, serial, since)
                row.extra.update(held=False, serial=None)
                return self.m._later(row, 0.0)
        elif reply.kind == "throttled":
            return self.m._later(row, reply.retry_after or 1.0)
        elif reply.kind == "unknown":
            return self.m._later(row, backoff(min(polls, 5), reply.retry_after))
        # in progress, or not visible yet
        return self.m._later(row, self._poll_wait(polls))

    def _poll_wait(self, polls: int) -> float:
        """Quick at first (most invoices are decided within a second or two), then slower."""
        return self.cfg.poll_s if polls < 10 else min(2.0, self.cfg.poll_s * 3)

    def _decided(self, row: OrderRow, item: dict[str, Any]) -> float | None:
        status = str(item.get("status"))
        if item.get("serialNo"):
            row.extra["serial"] = item["serialNo"]
        if status in (ISSUED, SIGN_FAILED) and item.get("allElectronicInvoiceNumbe"):
            # 24: issued, the signature failed afterwards: the invoice exists and is final
            self.m._issued(row, str(item["allElectronicInvoiceNumbe"]))
            return None
        if status == FAILED:
            row.status, row.uncertain = "failed", False
            row.error = "invoice_failed"
            row.message = str(item.get("failCause") or item.get("statusMsg") or "开票失败")
            self.m.store.put(row)
            return None
        return self.m._later(row, self._poll_wait(int(row.extra.get("polls") or 0)))

    async def on_callback(self, raw: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
        """A result POSTed to callBackUrl (only wait-for-callback asks for one): each item
        decides its pending order as a query answer would."""
        items = callback_items(raw, content_type)
        if not items:
            return 400, {"code": "E4000", "describe": "no result in the callback body"}
        for item in items:
            row = self.m.store.get(str(item.get("orderNo") or ""))
            if row is not None and row.status == "pending":
                self._decided(row, item)
        return 200, {"code": OK, "describe": "success"}

    # -- refunds -----------------------------------------------------------------------
    async def _find_red(self, row: OrderRow, timeout: float) -> tuple[bool, str | None]:
        """(searched ok, red invoice number) for this order's blue invoice."""
        reply = await self.wire.call(QUERY, row.seller_tax_id,
                                     {"orderNos": [self._order_no(row)], "isOfferInvoiceDetail": "0"},
                                     timeout)
        if reply.kind != "ok":
            return reply.kind == "refused" and reply.error == NOT_FOUND, None
        for i in _result_items(reply):
            if (i.get("oldEleInvoiceNumber") == row.invoice_no and str(i.get("status")) == ISSUED
                    and i.get("allElectronicInvoiceNumbe")):
                return True, str(i["allElectronicInvoiceNumbe"])
        return True, None

    async def attempt_refund(self, row: OrderRow, timeout: float) -> float | None:
        if row.extra.get("red_sent") or row.refund_uncertain:
            ok, red = await self._find_red(row, timeout)
            if red:
                self.m._refunded(row, red)
                return None
            if row.extra.get("red_sent"):      # the form was accepted: the red one follows
                return self.m._later(row, self.cfg.poll_s)
        row.refund_uncertain, row.refund_attempts = True, row.refund_attempts + 1
        self.m.store.put(row)
        order = row.payload.get("order", {})
        reply = await self.wire.call(RED_CONFIRM, row.seller_tax_id, {
            "blueInvoiceLine": order.get("invoiceLine", "pc"),
            "blueElecInvoiceNumber": row.invoice_no, "applySource": "0",
            "sellerTaxNo": row.seller_tax_id, "buyerName": order.get("buyerName", ""),
            "redReason": "1", "orderNo": self._order_no(row)}, timeout)
        if reply.kind == "ok":
            row.extra["red_sent"] = True
            self.m.store.put(row)
            return self.cfg.poll_s
        if reply.kind == "refused":
            # a form already exists (ours, after a lost answer) or the blue one is not visible
            # yet: look, and come back while attempts last
            ok, red = await self._find_red(row, timeout)
            if red:
                self.m._refunded(row, red)
                return None
            if row.refund_attempts < _MAX_REFUND_ATTEMPTS:
                return self.m._later(row, backoff(row.refund_attempts, None))
            row.refund_status, row.refund_uncertain = "failed", False
            row.error, row.message = reply.error or "refund_refused", reply.message or ""
            self.m.store.put(row)
            return None
        if reply.kind == "throttled":
            return self.m._later(row, reply.retry_after or 1.0)
        return self.m._later(row, backoff(row.refund_attempts, reply.retry_after))

    def counts(self) -> dict[str, Any] | None:
        return None


def callback_items(raw: bytes, content_type: str) -> list[dict[str, Any]]:
    """The results in a callback POST: JSON (an object, a list, or `{result: ...}`), or a
    form whose `content` field holds that JSON (as the provider's own callbacks do)."""
    from urllib.parse import parse_qs
    text = raw.decode("utf-8", "replace")
    if "form" in content_type:
        text = (parse_qs(text).get("content") or [""])[0]
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    if isinstance(data, dict) and "result" in data and not data.get("orderNo"):
        data = data["result"]
    if isinstance(data, dict):
        data = data.get("list") or [data]
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []

