#!/usr/bin/env python3
"""optimistic (zoo, DEFECTIVE -> lost): "checkout must never wait for the tax bureau".
The upload runs in a background thread; the customer waits at most FAST_PATH seconds for it.
If the platform has not confirmed by then, the customer is told 201 issued with an invoice
number the shop made up itself, and the upload is fire-and-forget: when it fails (timeout,
reset, 5xx) nobody retries. When it succeeds late, the shop quietly records the platform's
real number, which is not the one the customer was given.
Orders are kept in SQLite (it survives restarts; that is not its bug).
"""
import hashlib
import itertools
import json
import os
import signal
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal, ROUND_HALF_UP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
TAX = os.environ["TAX_PLATFORM_URL"].rstrip("/")
SECRET = {s["seller_tax_id"]: s["secret"] for s in json.load(open(os.environ["SELLERS_FILE"]))}
DB = os.path.join(os.environ["DATA_DIR"], "optimistic.db")
FAST_PATH = 0.4
_seq = itertools.count(int(time.time() * 1000) % 10**12 * 1000)
_tok = {}
_db_lock = threading.Lock()
_db = sqlite3.connect(DB, check_same_thread=False, isolation_level=None)
_db.execute("CREATE TABLE IF NOT EXISTS o(id TEXT PRIMARY KEY, st TEXT, no TEXT, seller TEXT, red TEXT)")


def sql(q, *a):
    with _db_lock:
        return _db.execute(q, a).fetchall()


def made_up_number():
    return "2611" + "2" + "%015d" % (next(_seq) % 10**15)


def rq(method, path, body, token=None):
    r = urllib.request.Request(TAX + path, method=method, data=json.dumps(body).encode() if body is not None else None)
    r.add_header("Content-Type", "application/json")
    if token:
        r.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(r, timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read())
        except ValueError:
            return e.code, {}


def token(seller, again=False):
    if again or seller not in _tok:
        _tok[seller] = rq("POST", "/v1/auth/token", {"seller_tax_id": seller, "secret": SECRET[seller]})[1]["token"]
    return _tok[seller]


def upload(order, box):
    c = lambda q: q.quantize(Decimal("0.01"), ROUND_HALF_UP)  # noqa: E731
    lines = []
    for ln in order["lines"]:
        a = c(Decimal(ln["quantity"]) * Decimal(ln["unit_price"]))
        lines.append({**ln, "amount": str(a), "tax": str(c(a * Decimal(ln["tax_rate"])))})
    body = {"request_id": "op-" + hashlib.sha1(order["order_id"].encode()).hexdigest()[:30],
            "order_ref": order["order_id"], "seller_tax_id": order["seller_tax_id"],
            "buyer": order["buyer"], "lines": lines, "kind": order.get("kind", "normal")}
    try:
        st, j = rq("POST", "/v1/invoices", body, token(order["seller_tax_id"]))
        if st == 401:
            st, j = rq("POST", "/v1/invoices", body, token(order["seller_tax_id"], True))
    except Exception as e:                        # the defect: given up, never retried
        print("upload lost", order["order_id"], repr(e), file=sys.stderr, flush=True)
        st, j = None, {}
    box["st"], box["j"] = st, j
    if st in (200, 201):
        sql("UPDATE o SET st='issued', no=? WHERE id=?", j["invoice_no"], order["order_id"])
    box["done"].set()


class Shop(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def out(self, code, obj):
        b = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        if self.path == "/healthz":
            return self.out(200, {"ok": 1})
        oid = self.path.rsplit("/", 1)[-1]
        r = sql("SELECT st, no FROM o WHERE id=?", oid)
        if not r:
            return self.out(404, {"error": "not_found", "message": "unknown order"})
        self.out(200, {"order_id": oid, "status": r[0][0], **({"invoice_no": r[0][1]} if r[0][1] else {})})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return self.out(400, {"error": "bad_json", "message": "not json"})
        if self.path.endswith("/refund"):
            return self.refund(self.path.split("/")[3])
        if not isinstance(data, dict) or "order_id" not in data or data.get("seller_tax_id") not in SECRET:
            return self.out(400, {"error": "bad_request", "message": "order_id/seller_tax_id"})
        oid = data["order_id"]
        r = sql("SELECT st, no FROM o WHERE id=?", oid)
        if r:
            return self.out(200 if r[0][0] == "issued" else 422,
                            {"order_id": oid, "status": r[0][0], "invoice_no": r[0][1]})
        sql("INSERT OR IGNORE INTO o(id, st, seller) VALUES (?, 'sending', ?)", oid, data["seller_tax_id"])
        box = {"done": threading.Event()}
        threading.Thread(target=upload, args=(data, box), daemon=True).start()
        if box["done"].wait(FAST_PATH):
            if box["st"] in (200, 201):
                return self.out(201, {"order_id": oid, "status": "issued", "invoice_no": box["j"]["invoice_no"]})
            if box["st"] is not None and 400 <= box["st"] < 500:
                sql("UPDATE o SET st='failed' WHERE id=?", oid)
                return self.out(422, {"order_id": oid, "status": "failed", "error": box["j"].get("error", "refused"),
                                      "message": "refused"})
        # the platform is slow or broke: promise a number anyway
        fake = made_up_number()
        sql("UPDATE o SET st='issued', no=? WHERE id=? AND st='sending'", fake, oid)
        self.out(201, {"order_id": oid, "status": "issued", "invoice_no": fake})

    def refund(self, oid):
        r = sql("SELECT st, no, seller, red FROM o WHERE id=?", oid)
        if not r or r[0][0] != "issued":
            return self.out(409, {"error": "not_refundable", "message": "not issued"})
        st, no, seller, red = r[0]
        if red:
            return self.out(201, {"order_id": oid, "red_invoice_no": red})
        try:
            code, j = rq("POST", f"/v1/invoices/{no}/red", {"request_id": "opr-" + oid[:50], "reason": "01"}, token(seller))
        except Exception:
            return self.out(202, {"order_id": oid, "status": "pending"})
        red = j.get("invoice_no") if code in (200, 201) else j.get("red_invoice_no")
        if red:
            sql("UPDATE o SET red=? WHERE id=?", red, oid)
            return self.out(201, {"order_id": oid, "red_invoice_no": red})
        self.out(409, {"error": j.get("error", "refused"), "message": "refund refused"})


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    s = ThreadingHTTPServer(("127.0.0.1", PORT), Shop)
    s.daemon_threads = True
    s.serve_forever()
