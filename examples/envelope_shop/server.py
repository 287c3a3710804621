#!/usr/bin/env python3
"""Envelope Shop: an online shop's invoicing API in the style many Chinese shop and POS
back ends use: every answer is HTTP 200 with `{"code", "msg", "data"}`, a client logs in
for a token first, and everything is a POST under /api/. It issues through the tax
platform's clearance API (design.md s.5). Standard library only.

    PORT=8080 TAX_PLATFORM_URL=http://127.0.0.1:9000 SELLERS_FILE=sellers.json \
    DATA_DIR=/tmp/shop python3 examples/envelope_shop/server.py

Its API (README.md): /api/auth/login, /api/invoice/apply, /api/invoice/query,
/api/invoice/reverse, and /healthz. Codes: 0 ok, 40100 token missing or expired, 40000 bad
parameter, 40400 no such order, 40900 cannot reverse, 50300 busy (try again).

SHOP_DEFECT=fresh_serial: every attempt to reach the platform sends a new serial number
(request_id), so an attempt whose answer was lost and that is tried again issues a second
invoice (the harness reports it `duplicated`). Unset: one serial per order, kept in SQLite
before the platform hears of it.
"""
from __future__ import annotations

import hmac
import json
import os
import secrets
import signal
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APP_KEY = os.environ.get("SHOP_APP_KEY", "demo-app")
APP_SECRET = os.environ.get("SHOP_APP_SECRET", "demo-secret")
TOKEN_TTL_S = float(os.environ.get("SHOP_TOKEN_TTL_S", "300"))
DEFECT = os.environ.get("SHOP_DEFECT", "")
PLATFORM = os.environ["TAX_PLATFORM_URL"].rstrip("/")
PLATFORM_TIMEOUT_S = float(os.environ.get("PLATFORM_TIMEOUT_S", "2.0"))
with open(os.environ["SELLERS_FILE"], encoding="utf-8") as _fh:
    SECRETS = {s["seller_tax_id"]: s["secret"] for s in json.load(_fh)}
DB_FILE = os.path.join(os.environ.get("DATA_DIR", "."), "envelope-shop.sqlite")
CENTS = Decimal("0.01")
TAX_RATES = ("0", "0.01", "0.03", "0.05", "0.06", "0.09", "0.13")

OK, NO_TOKEN, BAD_PARAM, NO_ORDER, NOT_REVERSIBLE, BUSY = 0, 40100, 40000, 40400, 40900, 50300


class Store:
    """Orders in SQLite (WAL, synchronous FULL: an answered order survives kill -9)."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.path = path
        self.tls = threading.local()
        self.sql("""CREATE TABLE IF NOT EXISTS invoice_order (
            order_no TEXT PRIMARY KEY, seller TEXT, serial TEXT, body TEXT,
            state TEXT, invoice_no TEXT, reason TEXT,
            red_serial TEXT, red_state TEXT, red_invoice_no TEXT)""")
        self.sql("CREATE TABLE IF NOT EXISTS session (token TEXT PRIMARY KEY, expires REAL)")

    def sql(self, query: str, *args: object) -> list[tuple]:
        con = getattr(self.tls, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=15, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            self.tls.con = con
        return con.execute(query, args).fetchall()


store = Store(DB_FILE)
locks: dict[str, threading.Lock] = {}
locks_guard = threading.Lock()


def lock_of(order_no: str) -> threading.Lock:
    with locks_guard:
        return locks.setdefault(order_no, threading.Lock())


# -- the tax platform (design.md s.5) ----------------------------------------------------
class Platform:
    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.guard = threading.Lock()

    def _send(self, method: str, path: str, payload: dict | None, token: str | None) -> tuple[int, dict]:
        """(status, body); status 0 when no answer came (timeout, reset, refused)."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(PLATFORM + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=PLATFORM_TIMEOUT_S) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                return e.code, json.loads(e.read() or b"{}")
            except ValueError:
                return e.code, {}
        except (OSError, ValueError):
            return 0, {}

    def call(self, seller: str, method: str, path: str, payload: dict | None = None) -> tuple[int, dict]:
        for _ in range(2):
            with self.guard:
                token = self.tokens.get(seller)
            if token is None:
                status, body = self._send("POST", "/v1/auth/token",
                                          {"seller_tax_id": seller, "secret": SECRETS[seller]}, None)
                if status != 200:
                    return 0, {}
                token = body["token"]
                with self.guard:
                    self.tokens[seller] = token
            status, body = self._send(method, path, payload, token)
            if status != 401:
                return status, body
            with self.guard:
                self.tokens.pop(seller, None)
        return 0, {}


platform = Platform()


def attempt_issue(order_no: str) -> None:
    """One attempt to get the order's invoice; the row says what to send."""
    with lock_of(order_no):
        rows = store.sql("SELECT seller, serial, body, state FROM invoice_order WHERE order_no=?", order_no)
        if not rows or rows[0][3] != "PROCESSING":
            return
        seller, serial, body, _ = rows[0]
        if DEFECT == "fresh_serial":
            serial = secrets.token_hex(12)
        status, answer = platform.call(seller, "POST", "/v1/invoices", dict(json.loads(body), request_id=serial))
        if status in (200, 201):
            store.sql("UPDATE invoice_order SET state='ISSUED', invoice_no=? WHERE order_no=?",
                      answer["invoice_no"], order_no)
        elif 400 <= status < 500 and status != 429:
            store.sql("UPDATE invoice_order SET state='REJECTED', reason=? WHERE order_no=?",
                      answer.get("error") or f"http_{status}", order_no)


def attempt_reverse(order_no: str) -> None:
    with lock_of(order_no):
        rows = store.sql("SELECT seller, invoice_no, red_serial, red_state FROM invoice_order "
                         "WHERE order_no=?", order_no)
        if not rows or rows[0][3] != "REVERSING":
            return
        seller, invoice_no, red_serial, _ = rows[0]
        status, answer = platform.call(seller, "POST", f"/v1/invoices/{invoice_no}/red",
                                       {"request_id": red_serial, "reason": "01"})
        if status in (200, 201):
            store.sql("UPDATE invoice_order SET red_state='REVERSED', red_invoice_no=? WHERE order_no=?",
                      answer["invoice_no"], order_no)
        elif status == 409 and answer.get("red_invoice_no"):
            store.sql("UPDATE invoice_order SET red_state='REVERSED', red_invoice_no=? WHERE order_no=?",
                      answer["red_invoice_no"], order_no)
        elif 400 <= status < 500 and status not in (404, 409, 429):
            store.sql("UPDATE invoice_order SET red_state='REFUSED' WHERE order_no=?", order_no)


def settle_forever(stop: threading.Event) -> None:
    """Keep trying every order and reversal that is not decided yet."""
    while not stop.wait(0.5):
        for (order_no,) in store.sql("SELECT order_no FROM invoice_order WHERE state='PROCESSING'"):
            attempt_issue(order_no)
        for (order_no,) in store.sql("SELECT order_no FROM invoice_order WHERE red_state='REVERSING'"):
            attempt_reverse(order_no)


# -- the shop's own API -------------------------------------------------------------------
def to_platform(req: dict) -> dict:
    """The platform's issue body for an /api/invoice/apply request; ValueError: what is wrong."""
    order_no, seller = req.get("orderNo"), req.get("sellerTaxNo")
    if not isinstance(order_no, str) or not 0 < len(order_no) <= 64:
        raise ValueError("orderNo: 1-64 characters")
    if seller not in SECRETS:
        raise ValueError("sellerTaxNo: not a seller of this shop")
    kind = {"PLAIN": "normal", "SPECIAL": "special"}.get(req.get("invoiceKind", "PLAIN"))
    buyer = {"name": req.get("buyerName")}
    if req.get("buyerTaxNo"):
        buyer["tax_id"] = req["buyerTaxNo"]
    if kind is None or not isinstance(buyer["name"], str) or (kind == "special" and "tax_id" not in buyer):
        raise ValueError("invoiceKind PLAIN, or SPECIAL with buyerTaxNo; buyerName required")
    items = req.get("items")
    if not isinstance(items, list) or not items:
        raise ValueError("items: at least one")
    lines = []
    for it in items:
        try:
            qty, price, rate = (Decimal(str(it[k])) for k in ("qty", "price", "taxRate"))
        except (KeyError, TypeError, InvalidOperation):
            raise ValueError("items[]: qty, price, taxRate as decimal strings") from None
        if qty <= 0 or price < 0 or str(rate.normalize()) not in TAX_RATES or not it.get("title"):
            raise ValueError(f"items[]: bad item {it!r}")
        amount = (qty * price).quantize(CENTS, ROUND_HALF_UP)
        lines.append({"name": it["title"], "quantity": str(it["qty"]), "unit_price": str(it["price"]),
                      "tax_rate": str(it["taxRate"]), "amount": str(amount),
                      "tax": str((amount * rate).quantize(CENTS, ROUND_HALF_UP))})
    return {"order_ref": order_no, "seller_tax_id": seller, "buyer": buyer, "lines": lines, "kind": kind}


def order_view(order_no: str) -> tuple[int, str, dict | None]:
    rows = store.sql("SELECT state, invoice_no, reason, red_state, red_invoice_no FROM invoice_order "
                     "WHERE order_no=?", order_no)
    if not rows:
        return NO_ORDER, "order does not exist", None
    state, invoice_no, reason, red_state, red_no = rows[0]
    data = {"orderNo": order_no, "state": state, "invoiceNo": invoice_no, "reason": reason,
            "redState": red_state, "redInvoiceNo": red_no}
    return OK, "ok", data


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def reply(self, code: int, msg: str, data: dict | None = None, http_status: int = 200) -> None:
        raw = json.dumps({"code": code, "msg": msg, "data": data}, ensure_ascii=False).encode()
        self.send_response(http_status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            return self.reply(OK, "ok", {})
        self.reply(BAD_PARAM, f"no such api: GET {self.path}", http_status=404)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            req = json.loads(raw or b"{}")
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            return self.reply(BAD_PARAM, "body must be a JSON object")
        route = {"/api/auth/login": self.login, "/api/invoice/apply": self.apply,
                 "/api/invoice/query": self.query, "/api/invoice/reverse": self.reverse}.get(self.path)
        if route is None:
            return self.reply(BAD_PARAM, f"no such api: POST {self.path}", http_status=404)
        if route != self.login and not self.token_ok():
            return self.reply(NO_TOKEN, "token missing or expired, log in again")
        route(req)

    def token_ok(self) -> bool:
        token = self.headers.get("X-Shop-Token") or ""
        rows = store.sql("SELECT expires FROM session WHERE token=?", token)
        return bool(rows) and rows[0][0] > time.time()

    def login(self, req: dict) -> None:
        if req.get("appKey") != APP_KEY or not hmac.compare_digest(str(req.get("appSecret")), APP_SECRET):
            return self.reply(BAD_PARAM, "appKey or appSecret wrong")
        token = secrets.token_urlsafe(24)
        store.sql("INSERT INTO session VALUES (?, ?)", token, time.time() + TOKEN_TTL_S)
        self.reply(OK, "ok", {"token": token, "expiresIn": int(TOKEN_TTL_S)})

    def apply(self, req: dict) -> None:
        try:
            body = to_platform(req)
        except ValueError as e:
            return self.reply(BAD_PARAM, str(e))
        order_no = body["order_ref"]
        store.sql("INSERT OR IGNORE INTO invoice_order(order_no, seller, serial, body, state) "
                  "VALUES (?, ?, ?, ?, 'PROCESSING')", order_no, body["seller_tax_id"],
                  secrets.token_hex(12), json.dumps(body, ensure_ascii=False))
        attempt_issue(order_no)
        self.reply(*order_view(order_no))

    def query(self, req: dict) -> None:
        self.reply(*order_view(str(req.get("orderNo"))))

    def reverse(self, req: dict) -> None:
        order_no = str(req.get("orderNo"))
        rows = store.sql("SELECT state, red_state FROM invoice_order WHERE order_no=?", order_no)
        if not rows:
            return self.reply(NO_ORDER, "order does not exist")
        if rows[0][0] != "ISSUED" or rows[0][1] == "REFUSED":
            return self.reply(NOT_REVERSIBLE, f"order is {rows[0][0]}, cannot reverse")
        store.sql("UPDATE invoice_order SET red_serial=?, red_state='REVERSING' "
                  "WHERE order_no=? AND red_state IS NULL", secrets.token_hex(12), order_no)
        attempt_reverse(order_no)
        self.reply(*order_view(order_no))


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main() -> int:
    """Serve until SIGTERM or Ctrl-C; the settler runs beside the requests."""
    stopping = threading.Event()
    settler = threading.Thread(target=settle_forever, args=(stopping,), daemon=True)
    with Server((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Api) as httpd:
        def on_term(*_: object) -> None:
            stopping.set()
            threading.Thread(target=httpd.shutdown, daemon=True).start()
        signal.signal(signal.SIGTERM, on_term)
        settler.start()
        sys.stderr.write(f"envelope shop on port {os.environ['PORT']}"
                         f"{' DEFECT ' + DEFECT if DEFECT else ''}\n")
        sys.stderr.flush()
        try:
            httpd.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            stopping.set()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
