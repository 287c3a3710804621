#!/usr/bin/env python3
"""memory_only (zoo, DEFECTIVE): a careful merchant in every respect but one: it keeps its
orders in a Python dict. Stable serial per order, retries with the same serial, a retry
thread for unknown outcomes, 422 only on a platform 4xx. After a SIGKILL + restart it has
forgotten every order: GET answers 404 and pending uploads are never finished.
Threads + urllib, stdlib only.
"""
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal, ROUND_HALF_UP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
BASE = os.environ["TAX_PLATFORM_URL"].rstrip("/")
SELLERS = {s["seller_tax_id"]: s["secret"] for s in json.load(open(os.environ["SELLERS_FILE"]))}
TIMEOUT = 2.5

ORDERS = {}                     # order_id -> dict   (the defect: nothing on disk)
GUARD = threading.Lock()
ORDER_LOCKS = {}
TOKENS = {}


def olock(oid):
    with GUARD:
        return ORDER_LOCKS.setdefault(oid, threading.Lock())


class NoAnswer(Exception):
    pass


def http(method, path, body=None, token=None):
    req = urllib.request.Request(BASE + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": "Bearer " + token} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, json.loads(r.read() or b"{}"), r.headers
    except urllib.error.HTTPError as e:
        if e.code >= 500:
            raise NoAnswer(e.code)
        try:
            return e.code, json.loads(e.read() or b"{}"), e.headers
        except ValueError:
            return e.code, {}, e.headers
    except (OSError, socket.timeout, ValueError) as e:
        raise NoAnswer(repr(e))


def authed(seller, method, path, body=None):
    for fresh in (False, True):
        if fresh or seller not in TOKENS:
            st, j, _ = http("POST", "/v1/auth/token", {"seller_tax_id": seller, "secret": SELLERS[seller]})
            if st != 200:
                raise NoAnswer("login %s" % st)
            TOKENS[seller] = j["token"]
        st, j, h = http(method, path, body, TOKENS[seller])
        if st != 401:
            return st, j, h
    return st, j, h


def q2(x):
    return x.quantize(Decimal("0.01"), ROUND_HALF_UP)


def attempt(o):
    """one upload; mutates o['status']"""
    try:
        st, j, h = authed(o["seller"], "POST", "/v1/invoices", o["upload"])
    except NoAnswer:
        o["retry_at"] = time.time() + 1.0
        return
    if st in (200, 201):
        o["status"], o["invoice_no"] = "issued", j["invoice_no"]
    elif st == 429:
        o["retry_at"] = time.time() + float(h.get("Retry-After") or 1)
    elif st == 401:
        o["retry_at"] = time.time() + 0.5
    else:
        o["status"], o["error"] = "failed", j.get("error", "refused")


def red(o):
    try:
        st, j, h = authed(o["seller"], "POST", "/v1/invoices/%s/red" % o["invoice_no"],
                          {"request_id": o["upload"]["request_id"] + "-R", "reason": "01"})
    except NoAnswer:
        return
    if st in (200, 201):
        o["refund"], o["red_no"] = "done", j["invoice_no"]
    elif st == 409 and j.get("error") == "already_reversed":
        o["refund"], o["red_no"] = "done", j.get("red_invoice_no")
    elif st not in (401, 404, 429):
        o["refund"] = "refused"


def retry_loop():
    while True:
        time.sleep(0.3)
        for oid, o in list(ORDERS.items()):
            lk = olock(oid)
            if not lk.acquire(blocking=False):
                continue
            try:
                if o["status"] == "pending" and o.get("retry_at", 0) <= time.time():
                    attempt(o)
                if o["status"] == "issued" and o.get("refund") == "wanted":
                    red(o)
            finally:
                lk.release()


def public(o):
    d = {"order_id": o["order_id"], "status": o["status"]}
    if o.get("invoice_no"):
        d["invoice_no"] = o["invoice_no"]
    if o["status"] == "failed":
        d["error"] = o.get("error")
        d["message"] = "refused by the tax platform"
    return d


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, obj):
        b = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/healthz":
            return self.send(200, {"status": "ok"})
        if p.startswith("/v1/invoices/"):
            o = ORDERS.get(p[len("/v1/invoices/"):])
            return self.send(200, public(o)) if o else self.send(404, {"error": "not_found", "message": "no such order"})
        self.send(404, {"error": "not_found", "message": p})

    def do_POST(self):
        p = self.path.split("?")[0]
        n = int(self.headers.get("Content-Length") or 0)
        try:
            data = json.loads(self.rfile.read(n) or b"null")
        except ValueError:
            return self.send(400, {"error": "bad_json", "message": "not JSON"})
        if p == "/v1/invoices":
            return self.issue(data)
        if p.startswith("/v1/invoices/") and p.endswith("/refund"):
            return self.refund(p[len("/v1/invoices/"):-len("/refund")])
        self.send(404, {"error": "not_found", "message": p})

    def issue(self, data):
        try:
            oid, seller = data["order_id"], data["seller_tax_id"]
            assert seller in SELLERS and data["lines"]
            lines = []
            for ln in data["lines"]:
                amount = q2(Decimal(ln["quantity"]) * Decimal(ln["unit_price"]))
                lines.append(dict(ln, amount=str(amount), tax=str(q2(amount * Decimal(ln["tax_rate"])))))
        except Exception:
            return self.send(400, {"error": "bad_request", "message": "invalid order"})
        with olock(oid):
            o = ORDERS.get(oid)
            if o is None:
                rid = "mo-" + hashlib.md5(("%s:%s" % (seller, oid)).encode()).hexdigest()
                o = ORDERS[oid] = {"order_id": oid, "seller": seller, "status": "pending",
                                   "upload": {"request_id": rid, "order_ref": oid, "seller_tax_id": seller,
                                              "buyer": data["buyer"], "lines": lines,
                                              "kind": data.get("kind", "normal")}}
                attempt(o)
                code = {"issued": 201, "pending": 202, "failed": 422}[o["status"]]
            else:
                code = {"issued": 200, "pending": 202, "failed": 422}[o["status"]]
            self.send(code, public(o))

    def refund(self, oid):
        o = ORDERS.get(oid)
        if not o or o["status"] != "issued":
            return self.send(409, {"error": "not_refundable", "message": "not issued"})
        with olock(oid):
            if o.get("refund") is None:
                o["refund"] = "wanted"
                red(o)
            if o["refund"] == "done":
                return self.send(201, {"order_id": oid, "red_invoice_no": o["red_no"]})
            if o["refund"] == "refused":
                return self.send(409, {"error": "refund_refused", "message": "refused"})
            self.send(202, {"order_id": oid, "status": "pending"})


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    threading.Thread(target=retry_loop, daemon=True).start()
    srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
    srv.daemon_threads = True
    print("memory_only on", PORT, file=sys.stderr, flush=True)
    srv.serve_forever()
