"""A direct-connect (乐企) merchant system written from docs/sut-contract.md s.7 and
docs/design.md s.12 alone: Python standard library only (http.server, sqlite3, urllib).

    python examples/zoo/direct_outbox/server.py     # with PORT, TAX_PLATFORM_URL, SELLERS_FILE, DATA_DIR

How it works:
- a worker thread keeps, per seller, at least LOW unused numbers: it downloads ranges with
  `POST /v1/number-ranges`, the request_id written to SQLite before the call (an unknown
  answer is asked again with the same request_id: the platform replays the same range);
- at checkout the next number, the order and its outbox line are one SQLite transaction;
  then the customer gets 201 `issued` with that number;
- the worker uploads each seller's outbox in batches of up to 100 (or what gathered in
  0.5 s); the upload body and request_id are stored before the call and resent unchanged
  after a timeout or 5xx;
- it polls every upload; one with no result after STUCK_S seconds goes into a new upload
  with the same numbers and content; a rejected invoice makes its order `failed`.

ZOO_TRUST_ACK=1 is the defect of examples/zoo/direct_trust_ack: the 202 of an upload is
taken as "accepted" and the upload is never polled or re-sent.
"""
from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ["PORT"])
PLATFORM = os.environ["TAX_PLATFORM_URL"].rstrip("/")
SELLERS = {s["seller_tax_id"]: s["secret"]
           for s in json.load(open(os.environ["SELLERS_FILE"], encoding="utf-8"))}
DATA = os.environ["DATA_DIR"]
TRUST_ACK = os.environ.get("ZOO_TRUST_ACK") == "1"
RANGE, LOW, BATCH, WAIT_S, STUCK_S, POLL_S = 1000, 300, 100, 0.5, 8.0, 0.5
CENT = Decimal("0.01")

os.makedirs(DATA, exist_ok=True)
db = sqlite3.connect(os.path.join(DATA, "direct.sqlite3"), isolation_level=None,
                     check_same_thread=False)
db.execute("PRAGMA journal_mode=WAL")
db.executescript("""
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, seller TEXT, invoice_no TEXT,
  status TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS ranges (range_id TEXT PRIMARY KEY, seller TEXT, next TEXT, last TEXT);
CREATE TABLE IF NOT EXISTS range_asks (seller TEXT PRIMARY KEY, request_id TEXT);
CREATE TABLE IF NOT EXISTS outbox (invoice_no TEXT PRIMARY KEY, order_id TEXT, seller TEXT,
  item TEXT, state TEXT, upload TEXT, at REAL);
CREATE TABLE IF NOT EXISTS uploads (rid TEXT PRIMARY KEY, seller TEXT, body TEXT,
  upload_id TEXT, state TEXT, sent_at REAL, resent INTEGER DEFAULT 0, next_at REAL DEFAULT 0);
""")
lock = threading.RLock()
tokens: dict[str, str] = {}


def tx(statements: list[tuple[str, tuple]]) -> None:
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                db.execute(sql, args)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def q(sql: str, args: tuple = ()) -> list[tuple]:
    with lock:
        return db.execute(sql, args).fetchall()


# --- the platform ------------------------------------------------------------------------
def call(method: str, path: str, seller: str, body: dict | None = None) -> tuple[int | None, dict]:
    """(status, JSON body); status None when the outcome is unknown (timeout, reset)."""
    for _ in range(2):
        if seller not in tokens:
            st, b = _http("POST", "/v1/auth/token", {"seller_tax_id": seller,
                                                      "secret": SELLERS[seller]}, None)
            if st != 200:
                return None, b
            tokens[seller] = b["token"]
        st, b = _http(method, path, body, tokens[seller])
        if st == 401:
            tokens.pop(seller, None)
            continue
        return st, b
    return None, {}


def _http(method: str, path: str, body: dict | None, token: str | None) -> tuple[int | None, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(PLATFORM + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=2.0) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"{}")
        except ValueError:
            return e.code, {}
    except (OSError, ValueError):
        return None, {}


# --- numbers -----------------------------------------------------------------------------
def left(seller: str) -> int:
    return sum(int(last) - int(nxt) + 1 for nxt, last in
               q("SELECT next, last FROM ranges WHERE seller=? AND next<=last", (seller,)))


def fetch_range(seller: str) -> None:
    ask = q("SELECT request_id FROM range_asks WHERE seller=?", (seller,))
    rid = ask[0][0] if ask else uuid.uuid4().hex
    if not ask:
        tx([("INSERT INTO range_asks VALUES (?, ?)", (seller, rid))])
    st, b = call("POST", "/v1/number-ranges", seller,
                 {"request_id": rid, "seller_tax_id": seller, "count": RANGE})
    if st in (200, 201):
        tx([("INSERT OR IGNORE INTO ranges VALUES (?, ?, ?, ?)",
             (b["range_id"], seller, b["first"], b["last"])),
            ("DELETE FROM range_asks WHERE seller=?", (seller,))])
    elif st is not None and 400 <= st < 500 and st not in (401, 429):
        tx([("DELETE FROM range_asks WHERE seller=?", (seller,))])


def money(x: Decimal) -> str:
    return str(x.quantize(CENT, rounding=ROUND_HALF_UP))


def lines_of(raw: list) -> list[dict]:
    out = []
    for ln in raw:
        qty, price, rate = Decimal(ln["quantity"]), Decimal(ln["unit_price"]), Decimal(ln["tax_rate"])
        amount = (qty * price).quantize(CENT, rounding=ROUND_HALF_UP)
        out.append({"name": ln["name"], "quantity": ln["quantity"], "unit_price": ln["unit_price"],
                    "tax_rate": ln["tax_rate"], "amount": money(amount), "tax": money(amount * rate)})
    return out


def checkout(body: dict) -> tuple[int, dict]:
    oid, seller = body.get("order_id"), body.get("seller_tax_id")
    if not isinstance(oid, str) or seller not in SELLERS or not isinstance(body.get("lines"), list):
        return 400, {"error": "bad_request", "message": "order_id, a known seller_tax_id and lines"}
    try:
        lines = lines_of(body["lines"])
    except (KeyError, TypeError, InvalidOperation):
        return 400, {"error": "bad_lines", "message": "each line: name, quantity, unit_price, tax_rate"}
    with lock:
        old = q("SELECT status, invoice_no FROM orders WHERE order_id=?", (oid,))
        if old:
            return answer(oid, *old[0])
        rng = q("SELECT range_id, next FROM ranges WHERE seller=? AND next<=last "
                "ORDER BY rowid LIMIT 1", (seller,))
        if rng:
            range_id, number = rng[0]
            item = {"invoice_no": number, "order_ref": oid, "buyer": body.get("buyer") or {},
                    "lines": lines, "kind": body.get("kind", "normal"), "issued_at": time.time()}
            tx([("UPDATE ranges SET next=? WHERE range_id=?",
                 (str(int(number) + 1).zfill(20), range_id)),
                ("INSERT INTO orders VALUES (?, ?, ?, 'issued', NULL)", (oid, seller, number)),
                ("INSERT INTO outbox VALUES (?, ?, ?, ?, 'queued', NULL, ?)",
                 (number, oid, seller, json.dumps(item, ensure_ascii=False), time.time()))])
            return answer(oid, "issued", number)
    return 503, {"error": "no_numbers", "message": "no invoice numbers yet; nothing was issued"}


def answer(oid: str, status: str, number: str | None) -> tuple[int, dict]:
    if status == "failed":
        return 422, {"order_id": oid, "status": "failed", "error": "rejected", "message": ""}
    return 201, {"order_id": oid, "status": "issued", "invoice_no": number}


# --- the outbox --------------------------------------------------------------------------
def worker() -> None:
    while True:
        try:
            for seller in SELLERS:
                if left(seller) < LOW:
                    fetch_range(seller)
            batches()
            for rid, seller, body, upload_id, state, sent_at, resent in q(
                    "SELECT rid, seller, body, upload_id, state, sent_at, resent FROM uploads "
                    "WHERE state IN ('sending', 'sent') AND next_at<=?", (time.time(),)):
                if state == "sending":
                    send(rid, seller, body)
                else:
                    poll(rid, seller, upload_id, sent_at, resent)
        except Exception as e:  # noqa: BLE001 - keep the worker alive
            print(f"worker: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        time.sleep(0.2)


def batches() -> None:
    for seller, n, oldest in q("SELECT seller, COUNT(*), MIN(at) FROM outbox WHERE "
                               "state='queued' GROUP BY seller"):
        if n < BATCH and time.time() - oldest < WAIT_S:
            continue
        rows = q("SELECT invoice_no, item FROM outbox WHERE seller=? AND state='queued' "
                 "ORDER BY at LIMIT ?", (seller, BATCH))
        rid = uuid.uuid4().hex
        body = {"request_id": rid, "seller_tax_id": seller,
                "invoices": [json.loads(item) for _, item in rows]}
        tx([("INSERT INTO uploads (rid, seller, body, state) VALUES (?, ?, ?, 'sending')",
             (rid, seller, json.dumps(body, ensure_ascii=False)))] +
           [("UPDATE outbox SET state='inflight', upload=? WHERE invoice_no=?", (rid, no))
            for no, _ in rows])


def send(rid: str, seller: str, body: str) -> None:
    st, b = call("POST", "/v1/uploads", seller, json.loads(body))
    if st in (200, 202):
        if TRUST_ACK:                                   # the defect: a receipt is not a decision
            tx([("UPDATE uploads SET state='done', upload_id=? WHERE rid=?", (b["upload_id"], rid)),
                ("UPDATE outbox SET state='accepted' WHERE upload=?", (rid,))])
            return
        tx([("UPDATE uploads SET state='sent', upload_id=?, sent_at=?, next_at=? WHERE rid=?",
             (b["upload_id"], time.time(), time.time() + POLL_S, rid))])
    elif st is not None and 400 <= st < 500 and st != 429:
        tx([("UPDATE uploads SET state='done' WHERE rid=?", (rid,))])
        reject([(no, "upload_refused") for (no,) in
                q("SELECT invoice_no FROM outbox WHERE upload=?", (rid,))], rid)
    else:                                               # unknown or 429: the same body again
        tx([("UPDATE uploads SET next_at=? WHERE rid=?", (time.time() + 1.0, rid))])


def poll(rid: str, seller: str, upload_id: str, sent_at: float, resent: int) -> None:
    st, b = call("GET", f"/v1/uploads/{upload_id}", seller)
    if st == 200 and b.get("status") == "done":
        for r in b.get("results", []):
            if r.get("result") == "accepted":
                tx([("UPDATE outbox SET state='accepted' WHERE invoice_no=?", (r["invoice_no"],))])
        reject([(r["invoice_no"], r.get("error", "rejected")) for r in b.get("results", [])
                if r.get("result") == "rejected"], rid)
        tx([("UPDATE uploads SET state='done' WHERE rid=?", (rid,))])
        return
    if not resent and time.time() - (sent_at or 0) > STUCK_S:   # stuck: same numbers again
        tx([("UPDATE uploads SET resent=1 WHERE rid=?", (rid,)),
            ("UPDATE outbox SET state='queued', upload=NULL WHERE upload=? AND state='inflight'",
             (rid,))])
    tx([("UPDATE uploads SET next_at=? WHERE rid=?", (time.time() + POLL_S, rid))])


def reject(items: list[tuple[str, str]], rid: str) -> None:
    for no, code in items:
        hit = q("SELECT order_id FROM outbox WHERE invoice_no=? AND upload=? AND "
                "state NOT IN ('accepted', 'rejected')", (no, rid))
        if hit:
            tx([("UPDATE outbox SET state='rejected' WHERE invoice_no=?", (no,)),
                ("UPDATE orders SET status='failed', error=? WHERE order_id=?", (code, hit[0][0]))])


# --- HTTP ----------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            return self.reply(200, {"status": "ok"})
        if self.path.startswith("/v1/invoices/"):
            oid = self.path[len("/v1/invoices/"):]
            hit = q("SELECT status, invoice_no FROM orders WHERE order_id=?", (oid,))
            if not hit:
                return self.reply(404, {"error": "not_found", "message": f"no order {oid}"})
            status, body = answer(oid, *hit[0])
            return self.reply(200, body)
        self.reply(404, {"error": "not_found", "message": self.path})

    def do_POST(self) -> None:
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"null")
        except ValueError:
            return self.reply(400, {"error": "bad_json", "message": "a JSON object"})
        if self.path == "/v1/invoices" and isinstance(body, dict):
            return self.reply(*checkout(body))
        if self.path.endswith("/refund"):
            return self.reply(409, {"error": "not_refundable", "message": "refunds are not supported"})
        self.reply(404, {"error": "not_found", "message": self.path})


if __name__ == "__main__":
    threading.Thread(target=worker, daemon=True).start()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
