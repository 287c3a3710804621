#!/usr/bin/env python3
"""A merchant invoicing service in plain Python (stdlib only): an example of a system under
test that is not the bundled one. See docs/sut-contract.md.

    PORT=8080 TAX_PLATFORM_URL=http://127.0.0.1:9000 SELLERS_FILE=sellers.json \
    DATA_DIR=/tmp/shop python examples/stdlib_merchant/server.py

Correct under the platform's default de-duplication (by `request_id`): every order gets one
serial, stored in SQLite before the platform is called, and every retry resends that serial.
A background thread retries pending orders and refunds. Threads, not asyncio: one request per
thread (ThreadingHTTPServer), one SQLite connection per thread.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8080"))
HOST = os.environ.get("HOST", "127.0.0.1")     # 0.0.0.0 only inside a container
PLATFORM = os.environ.get("TAX_PLATFORM_URL", "http://127.0.0.1:9000").rstrip("/")
SELLERS = {s["seller_tax_id"]: s["secret"]
           for s in json.load(open(os.environ.get("SELLERS_FILE", "sellers.json"), encoding="utf-8"))}
DATA_DIR = os.environ.get("DATA_DIR", ".")
TIMEOUT = float(os.environ.get("PLATFORM_TIMEOUT_S", "2.0"))
DB_PATH = os.path.join(DATA_DIR, "shop.db")
CENT = Decimal("0.01")
RATES = {"0", "0.01", "0.03", "0.05", "0.06", "0.09", "0.13"}

_local = threading.local()
_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()
_order_locks: dict[str, threading.Lock] = {}
_order_locks_guard = threading.Lock()


def db() -> sqlite3.Connection:
    if not hasattr(_local, "db"):
        c = sqlite3.connect(DB_PATH, timeout=10, isolation_level=None)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        _local.db = c
    return _local.db


def init_db() -> None:
    os.makedirs(DATA_DIR, exist_ok=True)
    db().execute("""CREATE TABLE IF NOT EXISTS orders (
        order_id TEXT PRIMARY KEY, seller TEXT NOT NULL, request_id TEXT NOT NULL,
        payload TEXT NOT NULL, status TEXT NOT NULL, invoice_no TEXT, error TEXT,
        refund_request_id TEXT, refund_status TEXT, red_invoice_no TEXT)""")


def order_lock(order_id: str) -> threading.Lock:
    with _order_locks_guard:
        return _order_locks.setdefault(order_id, threading.Lock())


# -- the platform ----------------------------------------------------------------------
def http(method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int | None, dict]:
    """(status, JSON body); status None when there was no answer (timeout, reset, refused)."""
    req = urllib.request.Request(PLATFORM + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}
    except (OSError, ValueError):       # URLError, timeout, reset, a half-read body
        return None, {}


def platform_call(seller: str, method: str, path: str, body: dict | None = None) -> tuple[int | None, dict]:
    for _ in range(2):
        with _tokens_lock:
            tok = _tokens.get(seller)
        if tok is None or tok[1] < time.time():
            status, ans = http("POST", "/v1/auth/token", {"seller_tax_id": seller, "secret": SELLERS[seller]})
            if status != 200:
                return None, {}               # no login: nothing was sent, try again later
            tok = (ans["token"], time.time() + 0.9 * float(ans.get("expires_in", 600)))
            with _tokens_lock:
                _tokens[seller] = tok
        status, ans = http(method, path, body, tok[0])
        if status != 401:
            return status, ans
        with _tokens_lock:
            _tokens.pop(seller, None)
    return None, {}


def try_issue(order_id: str) -> None:
    """One attempt; the row decides everything, so a retry resends the same request_id."""
    with order_lock(order_id):
        row = db().execute("SELECT seller, request_id, payload, status FROM orders WHERE order_id=?",
                           (order_id,)).fetchone()
        if row is None or row[3] != "pending":
            return
        seller, request_id, payload = row[0], row[1], json.loads(row[2])
        status, ans = platform_call(seller, "POST", "/v1/invoices", dict(payload, request_id=request_id))
        if status in (200, 201):
            db().execute("UPDATE orders SET status='issued', invoice_no=? WHERE order_id=?",
                         (ans["invoice_no"], order_id))
        elif status is not None and 400 <= status < 500 and status not in (401, 429):
            db().execute("UPDATE orders SET status='failed', error=? WHERE order_id=?",
                         (ans.get("error", f"http_{status}"), order_id))
        # 429, 5xx, no answer: still pending; the retry thread resends the same request_id


def try_refund(order_id: str) -> None:
    with order_lock(order_id):
        row = db().execute("SELECT seller, invoice_no, refund_request_id, refund_status FROM orders "
                           "WHERE order_id=?", (order_id,)).fetchone()
        if row is None or row[3] != "pending":
            return
        status, ans = platform_call(row[0], "POST", f"/v1/invoices/{row[1]}/red",
                                    {"request_id": row[2], "reason": "01"})
        red = ans.get("invoice_no") if status in (200, 201) else ans.get("red_invoice_no") if status == 409 else None
        if red:
            db().execute("UPDATE orders SET refund_status='refunded', red_invoice_no=? WHERE order_id=?",
                         (red, order_id))
        elif status is not None and 400 <= status < 500 and status not in (401, 404, 409, 429):
            db().execute("UPDATE orders SET refund_status='failed' WHERE order_id=?", (order_id,))


def retry_loop(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        for (oid,) in db().execute("SELECT order_id FROM orders WHERE status='pending'").fetchall():
            try_issue(oid)
        for (oid,) in db().execute("SELECT order_id FROM orders WHERE refund_status='pending'").fetchall():
            try_refund(oid)


# -- the customer side ------------------------------------------------------------------
def money(d: Decimal) -> str:
    return str(d.quantize(CENT, rounding=ROUND_HALF_UP))


def build_payload(body: dict) -> dict:
    """The platform body for an order; ValueError says what is wrong with the order."""
    if not isinstance(body.get("order_id"), str) or not body["order_id"] or len(body["order_id"]) > 64:
        raise ValueError("order_id must be a string of 1-64 characters")
    if body.get("seller_tax_id") not in SELLERS:
        raise ValueError("seller_tax_id is not one of SELLERS_FILE")
    buyer = body.get("buyer")
    if not isinstance(buyer, dict) or not isinstance(buyer.get("name"), str):
        raise ValueError("buyer must be {name, tax_id?}")
    kind = body.get("kind", "normal")
    if kind not in ("normal", "special") or (kind == "special" and not buyer.get("tax_id")):
        raise ValueError("kind must be normal, or special with buyer.tax_id")
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ValueError("lines must be a non-empty list")
    out = []
    for ln in lines:
        if not isinstance(ln, dict) or not all(isinstance(ln.get(k), str)
                                               for k in ("name", "quantity", "unit_price", "tax_rate")):
            raise ValueError("each line needs name, quantity, unit_price, tax_rate as strings")
        try:
            qty, price, rate = Decimal(ln["quantity"]), Decimal(ln["unit_price"]), Decimal(ln["tax_rate"])
        except InvalidOperation:
            raise ValueError("quantity, unit_price and tax_rate must be decimal strings") from None
        if not (qty.is_finite() and price.is_finite()) or qty <= 0 or price < 0 or str(rate.normalize()) not in RATES:
            raise ValueError(f"bad line {ln!r}")
        amount = (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
        out.append(dict(ln, amount=money(amount), tax=money(amount * rate)))
    return {"order_ref": body["order_id"], "seller_tax_id": body["seller_tax_id"],
            "buyer": buyer, "lines": out, "kind": kind}


def status_body(order_id: str) -> tuple[int, dict] | None:
    row = db().execute("SELECT status, invoice_no, error FROM orders WHERE order_id=?", (order_id,)).fetchone()
    if row is None:
        return None
    if row[0] == "issued":
        return 201, {"order_id": order_id, "status": "issued", "invoice_no": row[1]}
    if row[0] == "failed":
        return 422, {"order_id": order_id, "status": "failed", "error": row[2], "message": "refused by the platform"}
    return 202, {"order_id": order_id, "status": "pending"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:   # quiet: one line per error only
        pass

    def send(self, code: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["healthz"]:
            return self.send(200, {"status": "ok"})
        if len(parts) == 3 and parts[:2] == ["v1", "invoices"]:
            ans = status_body(parts[2])
            if ans is None:
                return self.send(404, {"error": "order_not_found", "message": "no such order"})
            return self.send(200, ans[1])
        self.send(404, {"error": "not_found", "message": self.path})

    def do_POST(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if parts == ["v1", "invoices"]:
            return self.issue(raw)
        if len(parts) == 4 and parts[:2] == ["v1", "invoices"] and parts[3] == "refund":
            return self.refund(parts[2])
        self.send(404, {"error": "not_found", "message": self.path})

    def issue(self, raw: bytes) -> None:
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            payload = build_payload(body)
        except ValueError as e:
            return self.send(400, {"error": "bad_request", "message": str(e)})
        oid = body["order_id"]
        # committed before the platform hears of it; the same order_id again changes nothing
        db().execute("INSERT OR IGNORE INTO orders(order_id, seller, request_id, payload, status) "
                     "VALUES (?, ?, ?, ?, 'pending')",
                     (oid, body["seller_tax_id"], uuid.uuid4().hex, json.dumps(payload, ensure_ascii=False)))
        try_issue(oid)
        code, ans = status_body(oid)  # type: ignore[misc]
        self.send(code, ans)

    def refund(self, oid: str) -> None:
        row = db().execute("SELECT status, refund_status, red_invoice_no FROM orders WHERE order_id=?",
                           (oid,)).fetchone()
        if row is None:
            return self.send(404, {"error": "order_not_found", "message": "no such order"})
        if row[0] != "issued" or row[1] == "failed":
            return self.send(409, {"error": "not_refundable", "message": f"the order is {row[0]}"})
        if row[1] is None:
            db().execute("UPDATE orders SET refund_request_id=?, refund_status='pending' "
                         "WHERE order_id=? AND refund_status IS NULL", (uuid.uuid4().hex, oid))
        try_refund(oid)
        row = db().execute("SELECT refund_status, red_invoice_no FROM orders WHERE order_id=?", (oid,)).fetchone()
        if row[0] == "refunded":
            return self.send(201, {"order_id": oid, "red_invoice_no": row[1]})
        if row[0] == "failed":
            return self.send(409, {"error": "refund_refused", "message": "the platform refused the reversal"})
        self.send(202, {"order_id": oid, "status": "pending"})


def main() -> int:
    init_db()
    server = ThreadingHTTPServer((HOST, PORT), Handler)
    server.daemon_threads = True
    stop = threading.Event()
    threading.Thread(target=retry_loop, args=(stop,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"stdlib merchant on {HOST}:{PORT}, platform {PLATFORM}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    stop.set()
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
