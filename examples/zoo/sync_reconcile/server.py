#!/usr/bin/env python3
"""sync_reconcile: asks the tax platform while the customer waits (short timeout).
201 when the platform confirmed, 422 on a definite refusal (4xx), 202 when the outcome is
unknown; a reconciler later searches the platform by the order's serial and, if the replica
shows nothing (which proves nothing: it may lag), re-sends with the SAME serial.
asyncio + a hand-rolled HTTP/1.1 server + httpx. Written from the contract (zoo, CORRECT).

The defect switches (used by the sibling fresh_request_id SUT):
  ZOO_FRESH_RID=1  every attempt gets a brand-new request_id (a defect!)
  ZOO_JANITOR=1    ...and a janitor that searches the platform by order_ref once the replica
                   caught up and red-letters every extra blue invoice of an order (keeping the
                   one the customer was given): duplicates are compensated, not prevented
"""
import asyncio
import hashlib
import json
import os
import random
import signal
import sqlite3
import sys
import time
import uuid
from decimal import Decimal, ROUND_HALF_UP

import httpx

PORT = int(os.environ["PORT"])
PLATFORM = os.environ["TAX_PLATFORM_URL"].rstrip("/")
DATA_DIR = os.environ["DATA_DIR"]
SELLERS = {s["seller_tax_id"]: s["secret"]
           for s in json.load(open(os.environ["SELLERS_FILE"], encoding="utf-8"))}
FRESH_RID = os.environ.get("ZOO_FRESH_RID") == "1"
JANITOR = os.environ.get("ZOO_JANITOR") == "1"
JANITOR_WATCH_S = 20.0          # keep looking this long after an order's last upload attempt
SYNC_TIMEOUT = 2.5
RECONCILE_EVERY = 0.4

os.makedirs(DATA_DIR, exist_ok=True)
db = sqlite3.connect(os.path.join(DATA_DIR, "sync_reconcile.db"), isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("""CREATE TABLE IF NOT EXISTS orders(
    oid TEXT PRIMARY KEY, seller TEXT, rid TEXT, body TEXT, status TEXT, inv TEXT, err TEXT,
    attempts INTEGER DEFAULT 0, next_at REAL DEFAULT 0,
    red_rid TEXT, red_state TEXT, red_no TEXT, red_next REAL DEFAULT 0)""")

client: httpx.AsyncClient
tokens: dict = {}
locks: dict = {}
last_attempt: dict = {}         # oid -> time of the latest upload attempt (janitor)


def say(*a):
    print(f"[{time.strftime('%X')}]", *a, file=sys.stderr, flush=True)


def lock_of(oid):
    lk = locks.get(oid)
    if lk is None:
        lk = locks[oid] = asyncio.Lock()
    return lk


def row(oid):
    r = db.execute("SELECT oid, seller, rid, body, status, inv, err, attempts, red_rid, red_state, red_no "
                   "FROM orders WHERE oid=?", (oid,)).fetchone()
    if r is None:
        return None
    return dict(zip(("oid", "seller", "rid", "body", "status", "inv", "err", "attempts",
                     "red_rid", "red_state", "red_no"), r))


def half_up(d):
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def platform_body(o, rid):
    lines = []
    for ln in o["lines"]:
        amt = half_up(Decimal(str(ln["quantity"])) * Decimal(str(ln["unit_price"])))
        lines.append({**{k: str(ln[k]) for k in ("name", "quantity", "unit_price", "tax_rate")},
                      "amount": str(amt), "tax": str(half_up(amt * Decimal(str(ln["tax_rate"]))))})
    return {"request_id": rid, "order_ref": o["order_id"], "seller_tax_id": o["seller_tax_id"],
            "buyer": o["buyer"], "lines": lines, "kind": o.get("kind", "normal")}


# ------------------------------------------------------------------ platform
class Unknown(Exception):
    pass


async def login(seller, force=False):
    t = tokens.get(seller)
    if t and not force and t[1] > time.time() + 5:
        return t[0]
    try:
        r = await client.post("/v1/auth/token", json={"seller_tax_id": seller, "secret": SELLERS[seller]})
    except httpx.HTTPError as e:
        raise Unknown(f"login: {e!r}")
    if r.status_code != 200:
        raise Unknown(f"login {r.status_code}")
    j = r.json()
    tokens[seller] = (j["token"], time.time() + j.get("expires_in", 600))
    return j["token"]


async def call(seller, method, path, **kw):
    """-> httpx.Response with status < 500 (401 retried once after a new login)."""
    for attempt in range(2):
        tok = await login(seller, force=attempt > 0)
        try:
            r = await client.request(method, path, headers={"Authorization": f"Bearer {tok}"}, **kw)
        except httpx.HTTPError as e:
            raise Unknown(repr(e))
        if r.status_code >= 500:
            raise Unknown(f"http {r.status_code}")
        if r.status_code != 401:
            return r
    return r


def wait_hint(r):
    try:
        return float(r.headers.get("Retry-After") or 1)
    except ValueError:
        return 1.0


async def try_issue(o):
    """One upload attempt: -> 'issued' | 'failed' | 'pending'. Updates the row."""
    oid = o["oid"]
    rid = o["rid"]
    if FRESH_RID and o["attempts"] > 0:
        rid = "fr-" + uuid.uuid4().hex                      # the defect
        db.execute("UPDATE orders SET rid=? WHERE oid=?", (rid, oid))
    body = json.loads(o["body"])
    body["request_id"] = rid
    db.execute("UPDATE orders SET attempts=attempts+1 WHERE oid=?", (oid,))
    last_attempt[oid] = time.time()
    try:
        r = await call(o["seller"], "POST", "/v1/invoices", json=body)
    except Unknown as e:
        say("issue unknown", oid, e)
        backoff = min(4.0, 0.3 * 2 ** min(o["attempts"], 5)) * random.uniform(0.7, 1.3)
        db.execute("UPDATE orders SET next_at=? WHERE oid=?", (time.time() + backoff, oid))
        return "pending"
    j = r.json() if r.content else {}
    if r.status_code in (200, 201):
        db.execute("UPDATE orders SET status='issued', inv=? WHERE oid=?", (j["invoice_no"], oid))
        return "issued"
    if r.status_code in (429, 401):
        db.execute("UPDATE orders SET next_at=? WHERE oid=?", (time.time() + wait_hint(r), oid))
        return "pending"
    if r.status_code == 409 and j.get("invoice_no"):
        db.execute("UPDATE orders SET status='issued', inv=? WHERE oid=?", (j["invoice_no"], oid))
        return "issued"
    say("issue refused", oid, r.status_code, j)
    db.execute("UPDATE orders SET status='failed', err=? WHERE oid=?", (j.get("error", str(r.status_code)), oid))
    return "failed"


async def search(o):
    """Look the serial up on the read replica. A miss means nothing (it may lag)."""
    try:
        r = await call(o["seller"], "GET", "/v1/invoices", params={"request_id": o["rid"]})
    except Unknown:
        return None
    if r.status_code != 200:
        return None
    for it in r.json().get("items", []):
        if it.get("kind") == "blue" and it.get("order_ref") == o["oid"]:
            return it["invoice_no"]
    return None


async def try_red(o):
    """-> 'done' | 'refused' | 'pending'"""
    oid = o["oid"]
    try:
        r = await call(o["seller"], "POST", f"/v1/invoices/{o['inv']}/red",
                       json={"request_id": o["red_rid"], "reason": "01"})
    except Unknown as e:
        say("red unknown", oid, e)
        db.execute("UPDATE orders SET red_next=? WHERE oid=?", (time.time() + 1, oid))
        return "pending"
    j = r.json() if r.content else {}
    if r.status_code in (200, 201):
        db.execute("UPDATE orders SET red_state='done', red_no=? WHERE oid=?", (j["invoice_no"], oid))
        return "done"
    if r.status_code == 409 and j.get("error") == "already_reversed":
        db.execute("UPDATE orders SET red_state='done', red_no=? WHERE oid=?", (j.get("red_invoice_no"), oid))
        return "done"
    if r.status_code in (404, 429, 401):
        db.execute("UPDATE orders SET red_next=? WHERE oid=?", (time.time() + wait_hint(r), oid))
        return "pending"
    say("red refused", oid, r.status_code, j)
    db.execute("UPDATE orders SET red_state='refused' WHERE oid=?", (oid,))
    return "refused"


# ------------------------------------------------------------------ reconciler
async def reconciler():
    while True:
        await asyncio.sleep(RECONCILE_EVERY)
        now = time.time()
        todo = [r[0] for r in db.execute("SELECT oid FROM orders WHERE status='pending' AND next_at<=?", (now,))]
        reds = [r[0] for r in db.execute("SELECT oid FROM orders WHERE red_state='wanted' AND status='issued' "
                                         "AND red_next<=?", (now,))]
        await asyncio.gather(*(reconcile_one(o) for o in todo), *(refund_one(o) for o in reds))


async def reconcile_one(oid):
    lk = lock_of(oid)
    if lk.locked():
        return
    async with lk:
        o = row(oid)
        if o is None or o["status"] != "pending":
            return
        try:
            inv = await search(o)
            if inv:
                db.execute("UPDATE orders SET status='issued', inv=? WHERE oid=?", (inv, oid))
                return
            await asyncio.wait_for(try_issue(row(oid)), SYNC_TIMEOUT + 1)
        except Exception as e:
            say("reconcile error", oid, repr(e))
            db.execute("UPDATE orders SET next_at=? WHERE oid=?", (time.time() + 1, oid))


async def refund_one(oid):
    lk = lock_of(oid)
    if lk.locked():
        return
    async with lk:
        o = row(oid)
        if o and o["red_state"] == "wanted":
            try:
                await try_red(o)
            except Exception as e:
                say("refund error", oid, repr(e))


# ------------------------------------------------------------------ janitor
async def janitor():
    boot = time.time()
    while True:
        await asyncio.sleep(2.0)
        now = time.time()
        for oid, seller, inv, attempts in db.execute(
                "SELECT oid, seller, inv, attempts FROM orders WHERE status='issued' AND attempts>1").fetchall():
            if now - last_attempt.get(oid, boot) > JANITOR_WATCH_S:
                continue
            try:
                r = await call(seller, "GET", "/v1/invoices", params={"order_ref": oid})
                if r.status_code != 200:
                    continue
                items = r.json().get("items", [])
                reversed_ = {it.get("original_invoice_no") for it in items if it.get("kind") == "red"}
                for it in items:
                    no = it.get("invoice_no")
                    if it.get("kind") == "blue" and no != inv and no not in reversed_:
                        rr = await call(seller, "POST", f"/v1/invoices/{no}/red",
                                        json={"request_id": "jan-" + no, "reason": "01"})
                        say("janitor reversed extra", oid, no, "kept", inv, "->", rr.status_code)
            except Exception as e:
                say("janitor", oid, repr(e))


# ------------------------------------------------------------------ customer API
def answer(o):
    out = {"order_id": o["oid"], "status": o["status"]}
    if o["inv"]:
        out["invoice_no"] = o["inv"]
    if o["status"] == "failed":
        out.update(error=o["err"] or "refused", message="refused by the tax platform")
    return out


async def post_invoice(data):
    if not isinstance(data, dict) or not data.get("order_id") or data.get("seller_tax_id") not in SELLERS \
            or not isinstance(data.get("lines"), list) or not data["lines"] or not isinstance(data.get("buyer"), dict):
        return 400, {"error": "bad_request", "message": "order_id, seller_tax_id, buyer and lines are required"}
    oid = str(data["order_id"])
    async with lock_of(oid):
        o = row(oid)
        if o is not None:                       # a repeat: the stored answer, never a new issue
            a = answer(o)
            return {"issued": 200, "pending": 202, "failed": 422}[a["status"]], a
        try:
            rid = "sr-" + hashlib.sha1(f"{data['seller_tax_id']}/{oid}".encode()).hexdigest()
            body = platform_body(data, rid)
        except Exception as e:
            return 400, {"error": "bad_request", "message": str(e)}
        db.execute("INSERT INTO orders(oid, seller, rid, body, status) VALUES (?,?,?,?, 'pending')",
                   (oid, data["seller_tax_id"], rid, json.dumps(body, sort_keys=True, ensure_ascii=False)))
        # within the customer's sync budget, a fast unknown (a reset, a 503) is retried at
        # once; anything still unknown after that is answered 202 and left to the reconciler
        deadline = time.time() + SYNC_TIMEOUT
        res = "pending"
        for _ in range(3):
            left = deadline - time.time()
            if left < 0.3:
                break
            try:
                res = await asyncio.wait_for(try_issue(row(oid)), left)
            except asyncio.TimeoutError:
                res = "pending"
                db.execute("UPDATE orders SET next_at=? WHERE oid=?", (time.time() + 0.5, oid))
                break
            nxt = db.execute("SELECT next_at FROM orders WHERE oid=?", (oid,)).fetchone()[0]
            if res != "pending" or nxt > deadline - 0.3:
                break          # definite, or told to wait (429, backoff) past the budget
            await asyncio.sleep(max(0.05, nxt - time.time()))
        a = answer(row(oid))
        return {"issued": 201, "pending": 202, "failed": 422}[a["status"]], a


async def post_refund(oid):
    async with lock_of(oid):
        o = row(oid)
        if o is None or o["status"] != "issued":
            return 409, {"error": "not_refundable", "message": "order not issued"}
        if o["red_state"] == "done":
            return 201, {"order_id": oid, "red_invoice_no": o["red_no"]}
        if o["red_state"] == "refused":
            return 409, {"error": "refund_refused", "message": "the platform refused the reversal"}
        if o["red_state"] is None:
            rrid = "sr-red-" + hashlib.sha1(f"{o['seller']}/{oid}".encode()).hexdigest()
            db.execute("UPDATE orders SET red_state='wanted', red_rid=? WHERE oid=?", (rrid, oid))
            o = row(oid)
        try:
            res = await asyncio.wait_for(try_red(o), SYNC_TIMEOUT)
        except asyncio.TimeoutError:
            res = "pending"
        o = row(oid)
        if res == "done":
            return 201, {"order_id": oid, "red_invoice_no": o["red_no"]}
        if res == "refused":
            return 409, {"error": "refund_refused", "message": "the platform refused the reversal"}
        return 202, {"order_id": oid, "status": "pending"}


async def route(method, path, body):
    path = path.split("?", 1)[0]
    seg = [s for s in path.split("/") if s]
    if method == "GET" and seg == ["healthz"]:
        return 200, {"status": "ok"}
    if seg[:2] == ["v1", "invoices"]:
        if method == "POST" and len(seg) == 2:
            try:
                data = json.loads(body or b"null")
            except ValueError:
                return 400, {"error": "bad_json", "message": "body is not JSON"}
            return await post_invoice(data)
        if method == "GET" and len(seg) == 3:
            o = row(seg[2])
            if o is None:
                return 404, {"error": "not_found", "message": "unknown order"}
            return 200, answer(o)
        if method == "POST" and len(seg) == 4 and seg[3] == "refund":
            return await post_refund(seg[2])
    return 404, {"error": "no_route", "message": path}


REASONS = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 404: "Not Found",
           409: "Conflict", 422: "Unprocessable Entity", 500: "Internal Server Error"}


async def serve_conn(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            hdrs = {}
            for ln in lines[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
            n = int(hdrs.get("content-length", "0") or 0)
            body = await reader.readexactly(n) if n else b""
            try:
                code, obj = await route(method, target, body)
            except Exception as e:
                say("handler error", repr(e))
                code, obj = 500, {"error": "internal", "message": repr(e)}
            raw = json.dumps(obj, ensure_ascii=False).encode()
            writer.write(f"HTTP/1.1 {code} {REASONS.get(code, 'X')}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(raw)}\r\n\r\n".encode() + raw)
            await writer.drain()
            if hdrs.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main():
    global client
    client = httpx.AsyncClient(base_url=PLATFORM, timeout=httpx.Timeout(SYNC_TIMEOUT),
                               limits=httpx.Limits(max_connections=200))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: os._exit(0))
    server = await asyncio.start_server(serve_conn, "127.0.0.1", PORT)
    asyncio.create_task(reconciler())
    if JANITOR:
        asyncio.create_task(janitor())
    say("sync_reconcile on", PORT, "fresh_rid" if FRESH_RID else "")
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
