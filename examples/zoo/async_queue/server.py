#!/usr/bin/env python3
"""async_queue: an outbox-style merchant. Every order is written to SQLite first and the
customer always gets 202 pending; a pool of worker threads uploads the outbox to the tax
platform, one serial (request_id) per order, derived from the order itself so a restart
re-derives the same one. Written from docs/sut-contract.md alone (zoo, CORRECT).
"""
import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal, ROUND_HALF_UP, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
PLATFORM = os.environ["TAX_PLATFORM_URL"].rstrip("/")
DATA_DIR = os.environ["DATA_DIR"]
with open(os.environ["SELLERS_FILE"], encoding="utf-8") as fh:
    SECRETS = {s["seller_tax_id"]: s["secret"] for s in json.load(fh)}

CALL_TIMEOUT = 2.5           # seconds per platform call
WORKERS = 8
MAX_BACKOFF = 3.0            # bounded backoff between attempts of one order
TWO = Decimal("0.01")

os.makedirs(DATA_DIR, exist_ok=True)
DB_FILE = os.path.join(DATA_DIR, "outbox.sqlite3")
tls = threading.local()
wake = threading.Condition()
claimed = set()
claimed_lock = threading.Lock()


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def conn():
    c = getattr(tls, "c", None)
    if c is None:
        c = sqlite3.connect(DB_FILE, timeout=30, isolation_level=None, check_same_thread=False)
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        tls.c = c
    return c


conn().executescript("""
CREATE TABLE IF NOT EXISTS outbox (
  order_id   TEXT PRIMARY KEY,
  seller     TEXT NOT NULL,
  rid        TEXT NOT NULL,
  upload     TEXT NOT NULL,          -- exact JSON body sent to the platform, every time
  state      TEXT NOT NULL,          -- pending | issued | failed
  invoice_no TEXT,
  why        TEXT,
  tries      INTEGER NOT NULL DEFAULT 0,
  due        REAL NOT NULL DEFAULT 0,
  refund     TEXT,                   -- NULL | wanted | done | refused
  refund_due REAL NOT NULL DEFAULT 0,
  refund_tries INTEGER NOT NULL DEFAULT 0,
  red_no     TEXT
);
""")


# ---------------------------------------------------------------- platform client
_tokens = {}
_token_lock = threading.Lock()


class Unknown(Exception):
    """no definite answer from the platform (5xx, timeout, reset, refused)"""


def _http(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(PLATFORM + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=CALL_TIMEOUT) as r:
            return r.status, json.loads(r.read() or b"{}"), dict(r.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = {}
        if e.code >= 500:
            raise Unknown(f"http {e.code}")
        return e.code, payload, dict(e.headers)
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as e:
        raise Unknown(repr(e))
    except ValueError as e:          # a garbled body: could have been anything
        raise Unknown(repr(e))


def token_for(seller, renew=False):
    with _token_lock:
        tok = _tokens.get(seller)
        if tok and not renew and tok[1] > time.time() + 5:
            return tok[0]
    st, body, _ = _http("POST", "/v1/auth/token", {"seller_tax_id": seller, "secret": SECRETS[seller]})
    if st != 200:
        raise Unknown(f"login {st}")
    with _token_lock:
        _tokens[seller] = (body["token"], time.time() + float(body.get("expires_in", 600)))
    return body["token"]


def platform_call(seller, method, path, body=None):
    """-> (status, body, headers); 401 handled by logging in again; raises Unknown."""
    st, resp, hdr = _http(method, path, body, token_for(seller))
    if st == 401:
        st, resp, hdr = _http(method, path, body, token_for(seller, renew=True))
    return st, resp, hdr


def retry_after(hdr, resp):
    for k, v in hdr.items():
        if k.lower() == "retry-after":
            try:
                return float(v)
            except ValueError:
                pass
    return float(resp.get("retry_after_s", 1) or 1)


# ---------------------------------------------------------------- order handling
def cents(x):
    return x.quantize(TWO, rounding=ROUND_HALF_UP)


def build_upload(order):
    lines = []
    for ln in order["lines"]:
        q, p, r = Decimal(str(ln["quantity"])), Decimal(str(ln["unit_price"])), Decimal(str(ln["tax_rate"]))
        amount = cents(q * p)
        lines.append({"name": ln["name"], "quantity": str(ln["quantity"]),
                      "unit_price": str(ln["unit_price"]), "tax_rate": str(ln["tax_rate"]),
                      "amount": str(amount), "tax": str(cents(amount * r))})
    rid = "aq" + hashlib.sha256(f"{order['seller_tax_id']}|{order['order_id']}".encode()).hexdigest()[:40]
    return rid, {"request_id": rid, "order_ref": order["order_id"],
                 "seller_tax_id": order["seller_tax_id"], "buyer": order["buyer"],
                 "lines": lines, "kind": order.get("kind", "normal")}


def backoff(tries):
    return min(MAX_BACKOFF, 0.25 * (2 ** min(tries, 6))) * (0.7 + 0.6 * random.random())


def upload_one(oid):
    c = conn()
    row = c.execute("SELECT seller, upload, tries FROM outbox WHERE order_id=? AND state='pending'",
                    (oid,)).fetchone()
    if not row:
        return
    seller, upload, tries = row
    try:
        st, resp, hdr = platform_call(seller, "POST", "/v1/invoices", json.loads(upload))
    except Unknown as e:
        log("issue", oid, "unknown:", e)
        c.execute("UPDATE outbox SET tries=tries+1, due=? WHERE order_id=?",
                  (time.time() + backoff(tries), oid))
        return
    if st in (200, 201) and resp.get("invoice_no"):
        c.execute("UPDATE outbox SET state='issued', invoice_no=? WHERE order_id=? AND state='pending'",
                  (resp["invoice_no"], oid))
    elif st == 429:
        c.execute("UPDATE outbox SET due=? WHERE order_id=?", (time.time() + retry_after(hdr, resp), oid))
    elif st == 401:
        c.execute("UPDATE outbox SET tries=tries+1, due=? WHERE order_id=?",
                  (time.time() + backoff(tries), oid))
    elif st == 409 and resp.get("error") == "request_id_reused" and resp.get("invoice_no"):
        # our serial already issued this order (body differs only cosmetically)
        c.execute("UPDATE outbox SET state='issued', invoice_no=? WHERE order_id=?",
                  (resp["invoice_no"], oid))
    else:
        log("issue", oid, "refused", st, resp)
        c.execute("UPDATE outbox SET state='failed', why=? WHERE order_id=? AND state='pending'",
                  (resp.get("error", f"http_{st}"), oid))


def refund_one(oid):
    c = conn()
    row = c.execute("SELECT seller, invoice_no, refund_tries FROM outbox "
                    "WHERE order_id=? AND state='issued' AND refund='wanted'", (oid,)).fetchone()
    if not row:
        return
    seller, inv, tries = row
    rid = "aqred" + hashlib.sha256(f"{seller}|{oid}|red".encode()).hexdigest()[:40]
    try:
        st, resp, hdr = platform_call(seller, "POST", f"/v1/invoices/{inv}/red",
                                      {"request_id": rid, "reason": "01"})
    except Unknown as e:
        log("red", oid, "unknown:", e)
        c.execute("UPDATE outbox SET refund_tries=refund_tries+1, refund_due=? WHERE order_id=?",
                  (time.time() + backoff(tries), oid))
        return
    red = resp.get("red_invoice_no") if st == 409 else resp.get("invoice_no")
    if st in (200, 201) or (st == 409 and resp.get("error") == "already_reversed" and red):
        c.execute("UPDATE outbox SET refund='done', red_no=? WHERE order_id=?", (red, oid))
    elif st in (429, 401, 404):   # 404: 查无此票, the platform may not see it yet: try again
        wait = retry_after(hdr, resp) if st == 429 else backoff(tries)
        c.execute("UPDATE outbox SET refund_tries=refund_tries+1, refund_due=? WHERE order_id=?",
                  (time.time() + wait, oid))
    else:
        log("red", oid, "refused", st, resp)
        c.execute("UPDATE outbox SET refund='refused' WHERE order_id=?", (oid,))


def claim():
    c = conn()
    now = time.time()
    rows = c.execute("SELECT order_id, 'issue' FROM outbox WHERE state='pending' AND due<=? "
                     "UNION ALL SELECT order_id, 'red' FROM outbox WHERE state='issued' "
                     "AND refund='wanted' AND refund_due<=? LIMIT 64", (now, now)).fetchall()
    with claimed_lock:
        for oid, what in rows:
            if oid not in claimed:
                claimed.add(oid)
                return oid, what
    return None


def worker():
    while True:
        job = None
        try:
            job = claim()
            if job is None:
                with wake:
                    wake.wait(0.2)
                continue
            (upload_one if job[1] == "issue" else refund_one)(job[0])
        except Exception as e:  # never let a worker die
            log("worker error", repr(e))
            time.sleep(0.2)
        finally:
            if job:
                with claimed_lock:
                    claimed.discard(job[0])


def nudge():
    with wake:
        wake.notify_all()


# ---------------------------------------------------------------- customer API
def view(row):
    oid, state, inv, why = row
    out = {"order_id": oid, "status": state}
    if inv:
        out["invoice_no"] = inv
    if state == "failed":
        out["error"] = why or "refused"
        out["message"] = "the tax platform refused the invoice"
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        raw = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def do_GET(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        if parts == ["healthz"]:
            return self.reply(200, {"ok": True})
        if len(parts) == 3 and parts[:2] == ["v1", "invoices"]:
            row = conn().execute("SELECT order_id, state, invoice_no, why FROM outbox WHERE order_id=?",
                                 (parts[2],)).fetchone()
            if row is None:
                return self.reply(404, {"error": "unknown_order", "message": "never saw this order"})
            return self.reply(200, view(row))
        self.reply(404, {"error": "no_route", "message": self.path})

    def do_POST(self):
        parts = self.path.split("?")[0].strip("/").split("/")
        data = self.body()
        if parts == ["v1", "invoices"]:
            return self.new_order(data)
        if len(parts) == 4 and parts[:2] == ["v1", "invoices"] and parts[3] == "refund":
            return self.refund(parts[2])
        self.reply(404, {"error": "no_route", "message": self.path})

    def new_order(self, data):
        if not isinstance(data, dict) or not isinstance(data.get("order_id"), str) or not data["order_id"]:
            return self.reply(400, {"error": "bad_request", "message": "order_id missing"})
        oid = data["order_id"]
        c = conn()
        row = c.execute("SELECT order_id, state, invoice_no, why FROM outbox WHERE order_id=?", (oid,)).fetchone()
        if row is None:
            if data.get("seller_tax_id") not in SECRETS:
                return self.reply(400, {"error": "unknown_seller", "message": "seller_tax_id"})
            try:
                if not isinstance(data.get("lines"), list) or not data["lines"] or not isinstance(data.get("buyer"), dict):
                    raise ValueError("lines/buyer")
                rid, upload = build_upload(data)
            except (KeyError, TypeError, ValueError, InvalidOperation) as e:
                return self.reply(400, {"error": "bad_request", "message": str(e)})
            c.execute("INSERT OR IGNORE INTO outbox(order_id, seller, rid, upload, state, due) "
                      "VALUES (?,?,?,?, 'pending', 0)",
                      (oid, data["seller_tax_id"], rid, json.dumps(upload, ensure_ascii=False, sort_keys=True)))
            nudge()
            row = c.execute("SELECT order_id, state, invoice_no, why FROM outbox WHERE order_id=?", (oid,)).fetchone()
        v = view(row)
        code = {"pending": 202, "issued": 201, "failed": 422}[v["status"]]
        self.reply(code, v)

    def refund(self, oid):
        c = conn()
        row = c.execute("SELECT state, refund, red_no FROM outbox WHERE order_id=?", (oid,)).fetchone()
        if row is None or row[0] == "failed":
            return self.reply(409, {"error": "not_refundable", "message": "order unknown or failed"})
        state, refund, red = row
        if refund == "done":
            return self.reply(201, {"order_id": oid, "red_invoice_no": red})
        if refund == "refused":
            return self.reply(409, {"error": "refund_refused", "message": "the platform refused the reversal"})
        if refund is None:
            c.execute("UPDATE outbox SET refund='wanted', refund_due=0 WHERE order_id=? AND refund IS NULL", (oid,))
            nudge()
        # give the worker a moment, so a healthy platform answers the customer at once
        deadline = time.time() + 2.0
        while time.time() < deadline:
            refund, red = c.execute("SELECT refund, red_no FROM outbox WHERE order_id=?", (oid,)).fetchone()
            if refund == "done":
                return self.reply(201, {"order_id": oid, "red_invoice_no": red})
            if refund == "refused":
                return self.reply(409, {"error": "refund_refused", "message": "the platform refused the reversal"})
            time.sleep(0.05)
        self.reply(202, {"order_id": oid, "status": "pending"})


def main():
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    for _ in range(WORKERS):
        threading.Thread(target=worker, daemon=True).start()
    srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    srv.daemon_threads = True
    log("async_queue listening on", PORT)
    srv.serve_forever()


if __name__ == "__main__":
    main()
