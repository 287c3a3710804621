"""The nuonuo profile (design.md s.13): 诺诺开放平台's open API over the ledger core.

Calls: `POST /accessToken` (form) and the signed envelope `POST /open/v1/services` with the
methods `requestBillingNew` (both names), `queryInvoiceResult` and `saveInvoiceRedConfirm`.

Asynchronous like the real platform: `requestBillingNew` stores the order durably (the
same group commit as an invoice, so kill -9 loses no order that was answered "开票提交成功")
and answers its serial number; a processor decides each order `processing_delay` later
(status 2 with the invoice in the ledger, 22 failed, 24 issued but signing failed), and
POSTs the result to the order's `callBackUrl`. `orderNo` is unique per seller: a second
order with the same one is E9106 and no second invoice. A 红字确认单 reverses a blue invoice
in full; the red invoice follows automatically, decided the same way.

Fault knobs (`/_admin/faults`) in the protocol's terms: `throttle_rate` -> HTTP 429 with
Retry-After; `error_rate` -> HTTP `error_status`, before or after the order is stored;
`slow_commit_ms` slows every write, `processing_delay_ms` the decisions; the quota ->
070201; `revoke_tokens` -> 070301; replica lag -> E9500 for an order that exists;
`ack_without_commit` -> "开票提交成功", then status 22 and never an invoice (the seeds'
mall); `signing_failure` -> status 24 (the invoice exists).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from fastapi import Request
from fastapi.responses import Response

from fakes.common.money import money_str

from ...core import china_month
from ...errors import ApiError
from ...httpio import json_response
from ...store import INSERT_INVOICE, Exec, InvoiceRow
from ...validation import validate_issue
from ..base import Frontend, register
from ..processor import Processor
from ..clearance import red_row
from ..readpath import ReadPath
from . import codes as C
from .codes import NuonuoError, envelope
from .orders import RedForm, json_body, parse_order, parse_red
from .signing import verify

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ...core import Ledger

__all__ = ["NuonuoFrontend", "ISSUE_METHODS", "QUERY_METHODS", "RED_METHODS", "SCHEMA",
           "MAX_QUERY", "CLOCK_SKEW_S"]

log = logging.getLogger("fakes.taxplatform.frontends.nuonuo")

ISSUE_METHODS = ("nuonuo.OpeMplatform.requestBillingNew", "nuonuo.ElectronInvoice.requestBillingNew")
QUERY_METHODS = ("nuonuo.OpeMplatform.queryInvoiceResult", "nuonuo.ElectronInvoice.queryInvoiceResult")
RED_METHODS = ("nuonuo.OpeMplatform.saveInvoiceRedConfirm",)
MAX_QUERY = 50
CLOCK_SKEW_S = 600.0          # how far a request's timestamp may be from the platform's clock
CALLBACK_TIMEOUT_S = 5.0
CALLBACK_CONCURRENCY = 32
_BATCH = 200

SCHEMA = """
CREATE TABLE IF NOT EXISTS nn_orders (
    serial TEXT PRIMARY KEY, seq INTEGER NOT NULL, seller_tax_id TEXT NOT NULL,
    order_no TEXT NOT NULL, kind TEXT NOT NULL, request TEXT NOT NULL,
    buyer_name TEXT NOT NULL, amount TEXT NOT NULL, tax TEXT NOT NULL, total TEXT NOT NULL,
    blue_no TEXT, reason TEXT, callback_url TEXT, received_at REAL NOT NULL,
    lost INTEGER NOT NULL, status TEXT NOT NULL, fail_cause TEXT, invoice_no TEXT,
    decided_at REAL, UNIQUE (seller_tax_id, kind, order_no));
CREATE INDEX IF NOT EXISTS ix_nn_open ON nn_orders(status, received_at);
CREATE INDEX IF NOT EXISTS ix_nn_blue ON nn_orders(blue_no) WHERE blue_no IS NOT NULL;
"""
_COLS = ("serial", "seller_tax_id", "order_no", "kind", "request", "buyer_name", "amount",
         "tax", "total", "blue_no", "reason", "callback_url", "received_at", "lost", "status",
         "fail_cause", "invoice_no", "decided_at")
_SELECT = "SELECT " + ", ".join(_COLS) + " FROM nn_orders"


@register
class NuonuoFrontend(Frontend):
    name = "nuonuo"
    index_request_keys = False        # the processor writes invoice rows of its own
    SCHEMA = SCHEMA

    def __init__(self, ledger: Ledger, clock: Callable[[], float] | None = None) -> None:
        super().__init__(ledger)
        self.clock = clock or ledger.clock
        self.store = ledger.store
        self.reads = ReadPath(ledger)
        self.apps: dict[str, tuple[str, str]] = {}      # appKey -> (seller, appSecret)
        for a in ledger.accounts:
            if a.get("app_key") and a.get("app_secret"):
                self.apps[a["app_key"]] = (a["seller_tax_id"], a["app_secret"])
        if ledger.accounts and not self.apps:
            raise ValueError("the nuonuo profile needs app_key and app_secret for each seller "
                             "in SELLERS_FILE (docs/sut-contract.md)")
        r = self.store._r
        self._order_nos: set[tuple[str, str, str]] = set(
            r.execute("SELECT seller_tax_id, kind, order_no FROM nn_orders"))
        self._seq = int(r.execute("SELECT COALESCE(MAX(seq), 0) FROM nn_orders").fetchone()[0])
        self._reds: set[str] = set()                    # blue numbers with a red form open
        for (blue,) in r.execute("SELECT blue_no FROM nn_orders WHERE kind='red' "
                                 "AND status='20'"):
            self._reds.add(blue)
        self.stats: Counter[str] = Counter()
        self.processor = Processor("nuonuo", self.process_due,
                                   lambda: log.exception("nuonuo processor"))
        self._callbacks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._cb_slots = asyncio.Semaphore(CALLBACK_CONCURRENCY)

    # --- /accessToken ----------------------------------------------------------------------
    def access_token(self, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            return 200, _token_error(C.TOKEN_CONTENT_TYPE, "Content-Type must be "
                                     "application/x-www-form-urlencoded")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(
            raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return 200, _token_error(C.TOKEN_BAD_CLIENT, "client_id 不存在 (unknown appKey)")
        if form.get("grant_type") != "client_credentials":
            return 200, _token_error(C.TOKEN_APP_TYPE, "grant_type must be client_credentials "
                                     "(a self-use app; the authorization-code flow of ISV apps "
                                     "is not offered)")
        secret = form.get("client_secret", "")
        if not hmac.compare_digest(secret.encode(), app[1].encode()):
            return 200, _token_error(C.TOKEN_BAD_SECRET, "client_secret 错误")
        token, ttl = self.ledger.tokens.issue(app[0])
        self.stats["tokens_issued"] += 1
        return 200, {"access_token": token, "expires_in": str(ttl)}

    # --- /open/v1/services: the envelope -----------------------------------------------------
    async def services(self, path: str, query: dict[str, str], headers: Any,
                       raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            seller = self._authenticate(path, query, headers, raw)
            method = (headers.get("method") or "").strip()
            result: Any
            if method in ISSUE_METHODS:
                result, describe = await self.request_billing(seller, json_body(raw)), "开票提交成功"
            elif method in QUERY_METHODS:
                result, describe = self.query(seller, json_body(raw)), "查询成功"
            elif method in RED_METHODS:
                result, describe = await self.red_confirm(seller, json_body(raw)), "提交成功"
            else:
                raise NuonuoError(C.NO_METHOD, f"API不存在: {method or '(no method header)'}")
            return 200, envelope(C.OK, describe, result), {}
        except NuonuoError as exc:
            self.stats["refused_" + exc.code] += 1
            return exc.http, envelope(exc.code, exc.describe), exc.headers
        except ApiError as exc:
            e = _from_core(exc)
            self.stats["refused_" + e.code] += 1
            return e.http, envelope(e.code, e.describe), e.headers

    def _authenticate(self, path: str, query: dict[str, str], headers: Any, raw: bytes) -> str:
        """The seller the request acts for, after the signature, the clock and the token."""
        for key in ("senid", "nonce", "timestamp", "appkey"):
            if not query.get(key):
                raise NuonuoError(C.BAD_PARAM, f"{key}: 不能为空 (a query parameter of the "
                                  "envelope: ?senid=&nonce=&timestamp=&appkey=)")
        nonce, ts = query["nonce"], query["timestamp"]
        if not nonce.isdigit() or not ts.isdigit():
            raise NuonuoError(C.BAD_PARAM, "nonce and timestamp must be positive integers")
        sign = headers.get("x-nuonuo-sign")
        if not sign:
            raise NuonuoError(C.SIGN_MISSING, "签名错误: the X-Nuonuo-Sign header is missing")
        app = self.apps.get(query["appkey"])
        if app is None:
            raise NuonuoError(C.TOKEN, f"appKey {query['appkey']!r} 不存在")
        seller, secret = app
        if abs(self.clock() - int(ts)) > CLOCK_SKEW_S:
            raise NuonuoError(C.SIGN_MISMATCH, "验签失败，请检查服务器时间 (timestamp more than "
                              f"{CLOCK_SKEW_S:g}s from the platform's clock)")
        body = raw.decode("utf-8", "replace")
        if not verify(sign, secret, path, query["appkey"], query["senid"], nonce, ts, body):
            raise NuonuoError(C.SIGN_MISMATCH, "验签失败 (X-Nuonuo-Sign does not match)")
        token = (headers.get("accesstoken") or "").strip()
        holder = self.ledger.tokens.holder(token) if token else None
        if holder is None or holder != seller:
            raise NuonuoError(C.TOKEN, "accessToken 无效或已过期 (unknown, expired or revoked; "
                              "get a new one at /accessToken)")
        user_tax = (headers.get("usertax") or "").strip()
        if user_tax and user_tax != seller:
            raise NuonuoError(C.TAX_TOKEN, f"userTax {user_tax} does not belong to this app")
        return seller

    # --- requestBillingNew -------------------------------------------------------------------
    def _new_serial(self, now: float) -> tuple[str, int]:
        self._seq += 1
        t = time.gmtime(now + 8 * 3600)
        return f"{t.tm_year % 100:02d}{t.tm_mon:02d}{t.tm_mday:02d}{self._seq:014d}", self._seq

    async def request_billing(self, seller: str, body: Any) -> dict[str, Any]:
        lg = self.ledger
        after = lg.write_fault()
        now = self.clock()
        serial, seq = self._new_serial(now)
        order, callback = parse_order(body, serial)
        if order.seller_tax_id != seller:
            raise NuonuoError(C.SELLER_MISMATCH, f"salerTaxNum {order.seller_tax_id} is not "
                              f"this app's seller {seller}")
        key = (seller, "blue", order.order_ref)
        if key in self._order_nos:
            self.stats["duplicate_order_no"] += 1
            raise NuonuoError(C.DUPLICATE, "订单编号或流水号不能重复 (orderNo "
                              f"{order.order_ref} was already used; query it by orderNos)")
        lg.check_quota(seller, order.amount, china_month(now))
        lost = lg.ack_without_commit_drawn()
        request = {"request_id": serial, "order_ref": order.order_ref,
                   "seller_tax_id": seller,
                   "buyer": {"name": order.buyer_name, **(
                       {"tax_id": order.buyer_tax_id} if order.buyer_tax_id else {})},
                   "kind": order.invoice_type, "lines": [ln.to_json() for ln in order.lines]}
        await self._store_order(key, Exec([(
            "INSERT INTO nn_orders (serial, seq, seller_tax_id, order_no, kind, request, "
            "buyer_name, amount, tax, total, callback_url, received_at, lost, status) "
            "VALUES (?, ?, ?, ?, 'blue', ?, ?, ?, ?, ?, ?, ?, ?, '20')",
            (serial, seq, seller, order.order_ref, orjson.dumps(request).decode(),
             order.buyer_name, str(order.amount), str(order.tax), str(order.total), callback,
             now, int(lost)))]))
        self.stats["orders_received"] += 1
        lg.after_commit(after)
        return {"invoiceSerialNum": serial}

    async def _store_order(self, key: tuple[str, str, str], exec_: Exec) -> None:
        """Commit one order (or red form) durably; its orderNo is taken from before the
        await, so a concurrent duplicate is E9106 too, and given back if nothing was stored."""
        self._order_nos.add(key)
        try:
            await self.ledger.committer.submit(exec_)
        except Exception as exc:
            self._order_nos.discard(key)
            self.ledger.stats["commit_failed"] += 1
            raise ApiError(503, "storage_error", f"nothing was stored: {exc}") from None
        self.processor.wake()

    # --- saveInvoiceRedConfirm ---------------------------------------------------------------
    async def red_confirm(self, seller: str, body: Any) -> dict[str, Any]:
        lg = self.ledger
        after = lg.write_fault()
        form: RedForm = parse_red(body)
        if form.seller_tax_id != seller:
            raise NuonuoError(C.SELLER_MISMATCH, f"sellerTaxNo {form.seller_tax_id} is not this "
                              f"app's seller {seller}")
        key = (seller, "red", form.order_no)
        if key in self._order_nos:
            self.stats["duplicate_order_no"] += 1
            raise NuonuoError(C.DUPLICATE, "订单编号或流水号不能重复 (orderNo "
                              f"{form.order_no} was already used for a 红字确认单)")
        blue = lg.store.get(form.blue_no)
        if blue is None or blue.seller_tax_id != seller or blue.kind != "blue":
            raise NuonuoError(C.BAD_FIELD, f"blueElecInvoiceNumber {form.blue_no}: 未找到该蓝字发票 "
                              "(no blue invoice of this seller)")
        if (form.blue_no in self._reds or form.blue_no in lg.reversing
                or lg.store.red_of(form.blue_no) is not None):
            raise NuonuoError(C.ALREADY_RED, f"blueElecInvoiceNumber {form.blue_no}: 该蓝票已红冲 "
                              "或红字确认单处理中 (already reversed, or a form is open)")
        now = self.clock()
        serial, seq = self._new_serial(now)
        self._reds.add(form.blue_no)
        try:
            await self._store_order(key, Exec([(
                "INSERT INTO nn_orders (serial, seq, seller_tax_id, order_no, kind, request, "
                "buyer_name, amount, tax, total, blue_no, reason, callback_url, received_at, "
                "lost, status) VALUES (?, ?, ?, ?, 'red', '{}', ?, ?, ?, ?, ?, ?, ?, ?, 0, '20')",
                (serial, seq, seller, form.order_no, blue.buyer_name, _neg(blue.amount),
                 _neg(blue.tax), _neg(blue.total), form.blue_no, form.reason, form.callback,
                 now))]))
        except ApiError:
            self._reds.discard(form.blue_no)
            raise
        self.stats["red_forms_received"] += 1
        lg.after_commit(after)
        return {"billId": serial, "billNo": serial, "billStatus": "01",
                "invoiceSerialNum": serial}

    # --- queryInvoiceResult -----------------------------------------------------------------
    def query(self, seller: str, body: Any) -> list[dict[str, Any]]:
        lg = self.ledger
        lg.throttle()
        if not isinstance(body, dict):
            raise NuonuoError(C.BAD_FIELD, "body: must be a JSON object")
        serials, orders = body.get("serialNos"), body.get("orderNos")
        ids, column = (serials, "serial") if serials else (orders, "order_no")
        if not ids:
            raise NuonuoError(C.EMPTY_QUERY, "serialNos and orderNos are both empty")
        if not isinstance(ids, list) or not all(isinstance(x, str) and x for x in ids):
            raise NuonuoError(C.BAD_FIELD, f"{'serialNos' if serials else 'orderNos'}: must be "
                              "a list of strings")
        if len(ids) > MAX_QUERY:
            raise NuonuoError(C.BAD_FIELD, f"at most {MAX_QUERY} serialNos or orderNos per query")
        detail = str(body.get("isOfferInvoiceDetail", "0")) == "1"
        cutoff = self.clock() - lg.lag_s()
        marks = ", ".join("?" for _ in ids)
        rows = lg.store._r.execute(
            _SELECT + f" WHERE seller_tax_id=? AND {column} IN ({marks}) AND received_at<=? "
            "ORDER BY seq", (seller, *ids, cutoff)).fetchall()
        if not rows:
            self.stats["query_not_found"] += 1
            raise NuonuoError(C.NOT_FOUND, "未找到相关记录")
        self.stats["queries"] += 1
        return [self._item(dict(zip(_COLS, r)), cutoff, detail) for r in rows]

    def _item(self, o: dict[str, Any], cutoff: float, detail: bool) -> dict[str, Any]:
        """One record as queryInvoiceResult (and the callback) shows it at `cutoff`: a
        decision newer than the replica's view still reads as status 20."""
        decided = o["decided_at"] is not None and o["decided_at"] <= cutoff
        status = o["status"] if decided else "20"
        row = self.store.get(o["invoice_no"]) if decided and o["invoice_no"] else None
        item: dict[str, Any] = {
            "serialNo": o["serial"], "orderNo": o["order_no"], "status": status,
            "statusMsg": C.STATUS_MSG.get(status, ""),
            "failCause": (o["fail_cause"] or "") if status == "22" else "",
            "invoiceType": "1" if o["kind"] == "blue" else "2",
            "salerTaxNum": o["seller_tax_id"], "buyerName": o["buyer_name"],
            "exTaxAmount": o["amount"], "taxAmount": o["tax"], "orderAmount": o["total"],
            "allElectronicInvoiceNumbe": row.invoice_no if row else "",
            "invoiceNo": row.invoice_no[-8:] if row else "", "invoiceCode": "",
            "invoiceTime": int(row.issued_at * 1000) if row else None,
            "oldEleInvoiceNumber": o["blue_no"] or "",
            "pdfUrl": "", "ofdUrl": "", "xmlUrl": ""}
        if detail and row is not None:
            item["invoiceItems"] = [
                {"itemName": ln["name"], "itemNum": ln["quantity"], "itemPrice": ln["unit_price"],
                 "itemTaxRate": ln["tax_rate"], "itemAmount": ln["amount"], "itemTaxAmount": ln["tax"]}
                for ln in row.lines]
        return item

    # --- the processor -----------------------------------------------------------------------
    def start(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=CALLBACK_TIMEOUT_S, follow_redirects=False)
        self.processor.start()

    async def stop(self) -> None:
        await self.processor.stop()
        for t in list(self._callbacks):
            t.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def delay_s(self) -> float:
        d = self.ledger.faults.processing_delay_ms
        return (self.ledger.config.processing_delay_ms if d is None else d) / 1000.0

    async def process_due(self) -> int:
        """Decide every order whose processing delay has passed; how many were."""
        cutoff = self.clock() - self.delay_s()
        rows = self.store._r.execute(
            _SELECT + " WHERE status='20' AND received_at<=? ORDER BY seq LIMIT ?",
            (cutoff, _BATCH)).fetchall()
        for r in rows:
            await self._decide(dict(zip(_COLS, r)))
        return len(rows)

    async def _decide(self, o: dict[str, Any]) -> None:
        lg = self.ledger
        now = self.clock()
        row: InvoiceRow | None = None
        charged: tuple[str, str, Decimal] | None = None
        status, cause = "2", None
        if o["lost"]:
            status, cause = "22", "开票失败：系统异常，请重新开具"
        elif o["kind"] == "blue":
            order = validate_issue(orjson.loads(o["request"]))
            month = china_month(now)
            try:
                lg.check_quota(order.seller_tax_id, order.amount, month)
            except ApiError:
                status, cause = "22", "开票失败：发票额度不足 (quota)"
            else:
                number, seq_next = lg.new_number(now)
                row = InvoiceRow(
                    invoice_no=number, kind="blue", request_id=o["serial"],
                    order_ref=order.order_ref, seller_tax_id=order.seller_tax_id,
                    buyer_name=order.buyer_name, buyer_tax_id=order.buyer_tax_id,
                    invoice_type=order.invoice_type, amount=str(order.amount),
                    tax=str(order.tax), total=str(order.total), issued_at=now,
                    original_invoice_no=None, reason=None, quota_month=month,
                    body_hash=o["serial"], lines=[ln.to_json() for ln in order.lines],
                    seq_next=seq_next, extra=self._extra(o))
                if lg.charge(order.seller_tax_id, month, order.amount):
                    charged = (order.seller_tax_id, month, order.amount)
        else:
            blue = lg.store.get(o["blue_no"])
            if blue is None or lg.store.red_of(blue.invoice_no) is not None:
                status, cause = "22", "红冲失败：蓝票不存在或已红冲"
            else:
                row = red_row(lg, blue, o["serial"], o["reason"], o["serial"], self._extra(o))
                row.issued_at = now
                if row.quota_month is not None:
                    lg.charge(row.seller_tax_id, row.quota_month, Decimal(row.amount))
                    charged = (row.seller_tax_id, row.quota_month, Decimal(row.amount))
        if row is not None and lg.dice.hit(lg.faults.signing_failure):
            status = "24"
        stmts: list[tuple[str, tuple[Any, ...]]] = []
        if row is not None:
            stmts.append((INSERT_INVOICE, row.values()))
        stmts.append(("UPDATE nn_orders SET status=?, fail_cause=?, invoice_no=?, decided_at=? "
                      "WHERE serial=?", (status, cause, row.invoice_no if row else None, now,
                                         o["serial"])))
        try:
            await lg.committer.submit(Exec(stmts, seq_next=row.seq_next if row else 0))
        except Exception:
            if charged is not None:
                lg.charge(charged[0], charged[1], -charged[2])
            raise
        finally:
            if o["kind"] == "red":
                self._reds.discard(o["blue_no"])
        if row is not None:
            lg.stats["issued_" + row.kind] += 1
        self.stats["decided_" + status] += 1
        if o["callback_url"]:
            o.update(status=status, fail_cause=cause, decided_at=now,
                     invoice_no=row.invoice_no if row else None)
            self._callback(o)

    @staticmethod
    def _extra(o: dict[str, Any]) -> dict[str, Any]:
        return {"profile": "nuonuo", "serial_no": o["serial"]}

    # --- callbacks ---------------------------------------------------------------------------
    def _callback(self, o: dict[str, Any]) -> None:
        url = o["callback_url"]
        if not _allowed_callback(url):
            self.stats["callbacks_refused"] += 1
            log.warning("callBackUrl %r is not on loopback or the run's own network: not sent", url)
            return
        item = self._item(o, float("inf"), False)
        task = asyncio.get_running_loop().create_task(self._post(url, item))
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    async def _post(self, url: str, item: dict[str, Any]) -> None:
        """One attempt, as the result is decided: a callback lost on the way stays lost."""
        assert self._http is not None
        async with self._cb_slots:
            try:
                r = await self._http.post(url, content=orjson.dumps(item),
                                          headers={"content-type": "application/json"})
                self.stats["callbacks_sent" if r.status_code < 300 else "callbacks_refused_by_merchant"] += 1
            except httpx.HTTPError:
                self.stats["callbacks_failed"] += 1

    # --- HTTP --------------------------------------------------------------------------------
    def mount(self, app: FastAPI) -> None:
        fe = self
        self.reads.mount(app)

        @app.post("/accessToken", tags=["nuonuo"], openapi_extra={"requestBody": {
            "content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["client_id", "client_secret", "grant_type"],
                "properties": {"client_id": {"type": "string"}, "client_secret": {"type": "string"},
                               "grant_type": {"type": "string", "enum": ["client_credentials"]}}}}}}})
        async def access_token(request: Request) -> Response:
            status, body = fe.access_token(request.headers.get("content-type", ""),
                                           await request.body())
            return json_response(status, body)

        @app.post("/open/v1/services", tags=["nuonuo"], openapi_extra={"parameters": [
            {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
            for n in ("senid", "nonce", "timestamp", "appkey")]})
        async def services(request: Request) -> Response:
            raw = await request.body()
            status, body, headers = await fe.services(
                request.url.path, dict(request.query_params), request.headers, raw)
            return json_response(status, body, headers or None)

    def stats_json(self) -> dict[str, Any]:
        by_status = dict(self.store._r.execute(
            "SELECT status, COUNT(*) FROM nn_orders GROUP BY status").fetchall())
        lost = self.store._r.execute("SELECT COUNT(*) FROM nn_orders WHERE lost=1").fetchone()[0]
        total = sum(by_status.values())
        return {"nuonuo": {"submitted": total, "decided": total - by_status.get("20", 0),
                           "open": by_status.get("20", 0), "by_status": by_status,
                           "ack_without_commit": lost, "processing_delay_s": self.delay_s(),
                           "events": dict(self.stats)}}


def _token_error(code: str, description: str) -> dict[str, str]:
    return {"error": code, "error_description": description}


def _from_core(exc: ApiError) -> NuonuoError:
    """The core's refusals in the protocol's terms (see codes.py)."""
    if exc.code == "quota_exceeded":
        return NuonuoError(C.QUOTA, f"额度不足: {exc.message}")
    if exc.code == "throttled":
        return NuonuoError("429", "请求过于频繁，请稍后再试 (rate limited)", 429, exc.headers)
    if exc.status >= 500:
        return NuonuoError(str(exc.status), f"系统异常: {exc.message}", exc.status, exc.headers)
    return NuonuoError(C.BAD_FIELD, exc.message)


def _neg(s: str) -> str:
    return money_str(-Decimal(s))


def _allowed_callback(url: str) -> bool:
    """Callbacks go to loopback or to a dotless name (a container on the run's own network),
    never elsewhere."""
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return False
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return False
    return host in ("127.0.0.1", "localhost", "::1") or (host != "" and "." not in host
                                                         and ":" not in host)
