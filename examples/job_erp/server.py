#!/usr/bin/env python3
"""Job ERP: an ERP whose API never does work inside a request. Asking for an invoice
creates a job (`POST /jobs` -> 202 with its id) that a pool of workers runs against the
tax platform's clearance API (design.md s.5); the caller polls `GET /jobs/{id}` or finds
the job by its reference (`GET /jobs?type=...&ref=...`). Standard library only.

    PORT=8080 TAX_PLATFORM_URL=http://127.0.0.1:9000 SELLERS_FILE=sellers.json \
    DATA_DIR=/tmp/erp python3 examples/job_erp/server.py

Job types: `invoice.issue` (ref = the order id, input = the order), `invoice.reverse`
(ref = the order id). A second job with the same type and ref is the first one (200).
States: queued -> running -> succeeded | failed; a job whose platform call got no answer
goes back to queued and is run again with the same serial number (request_id).

ERP_DEFECT=timeout_fails: a job whose platform call timed out fails at once, as if the
platform had refused, instead of being run again; but a timeout says nothing of what the
platform did, and it may have stored the invoice: the customer is told "failed" for an
order that has an invoice (the harness reports it `phantom`).
"""
from __future__ import annotations

import json
import os
import queue
import signal
import socket
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFECT = os.environ.get("ERP_DEFECT", "")
PLATFORM_URL = os.environ["TAX_PLATFORM_URL"].rstrip("/")
TIMEOUT_S = float(os.environ.get("PLATFORM_TIMEOUT_S", "2.0"))
WORKERS = int(os.environ.get("ERP_WORKERS", "16"))
with open(os.environ["SELLERS_FILE"], encoding="utf-8") as _fh:
    SELLER_SECRET = {s["seller_tax_id"]: s["secret"] for s in json.load(_fh)}
DATABASE = os.path.join(os.environ.get("DATA_DIR", "."), "job-erp.sqlite")
TYPES = ("invoice.issue", "invoice.reverse")

_conn = threading.local()


def q(sql: str, *args: object) -> list[sqlite3.Row]:
    """One statement on this thread's connection (autocommit; synchronous FULL)."""
    c = getattr(_conn, "c", None)
    if c is None:
        c = sqlite3.connect(DATABASE, timeout=15, isolation_level=None)
        c.row_factory = sqlite3.Row
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("PRAGMA synchronous=FULL")
        _conn.c = c
    return c.execute(sql, args).fetchall()


def setup() -> None:
    os.makedirs(os.path.dirname(DATABASE) or ".", exist_ok=True)
    q("""CREATE TABLE IF NOT EXISTS job (id TEXT PRIMARY KEY, type TEXT, ref TEXT, input TEXT,
         serial TEXT, state TEXT, result TEXT, error TEXT, created REAL, UNIQUE(type, ref))""")
    q("UPDATE job SET state='queued' WHERE state='running'")      # a crash mid-run: run again


def job_json(row: sqlite3.Row) -> dict:
    return {"id": row["id"], "type": row["type"], "ref": row["ref"], "state": row["state"],
            "result": json.loads(row["result"]) if row["result"] else None,
            "error": json.loads(row["error"]) if row["error"] else None}


# -- workers ----------------------------------------------------------------------------------
todo: "queue.Queue[str]" = queue.Queue()


class TaxPlatform:
    """The platform's clearance API with one bearer token per seller."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._mutex = threading.Lock()

    def _http(self, method: str, path: str, body: dict | None, token: str | None) -> tuple[int | None, dict]:
        req = urllib.request.Request(f"{PLATFORM_URL}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            try:
                return err.code, json.loads(err.read() or b"{}")
            except ValueError:
                return err.code, {}
        except (TimeoutError, socket.timeout):
            return None, {"error": "timeout"}
        except urllib.error.URLError as err:
            return None, {"error": "timeout" if isinstance(err.reason, TimeoutError) else "no_answer"}
        except (OSError, ValueError):
            return None, {"error": "no_answer"}

    def request(self, seller: str, method: str, path: str, body: dict | None) -> tuple[int | None, dict]:
        for _ in range(2):
            with self._mutex:
                token = self._tokens.get(seller)
            if not token:
                code, ans = self._http("POST", "/v1/auth/token",
                                       {"seller_tax_id": seller, "secret": SELLER_SECRET[seller]}, None)
                if code != 200:
                    return None, {"error": "login_failed"}
                token = ans["token"]
                with self._mutex:
                    self._tokens[seller] = token
            code, ans = self._http(method, path, body, token)
            if code != 401:
                return code, ans
            with self._mutex:
                self._tokens.pop(seller, None)
        return None, {"error": "unauthorized"}


tax = TaxPlatform()


def run_job(job_id: str) -> None:
    rows = q("UPDATE job SET state='running' WHERE id=? AND state='queued' RETURNING *", job_id)
    if not rows:
        return
    job = rows[0]
    data = json.loads(job["input"]) if job["input"] else {}
    if job["type"] == "invoice.issue":
        body = {"request_id": job["serial"], "order_ref": job["ref"], **data}
        code, ans = tax.request(data["seller_tax_id"], "POST", "/v1/invoices", body)
        result = {"invoice_number": ans.get("invoice_no")} if code in (200, 201) else None
    else:
        issued = q("SELECT input, result FROM job WHERE type='invoice.issue' AND ref=?", job["ref"])
        blue = json.loads(issued[0]["result"])["invoice_number"]
        seller = json.loads(issued[0]["input"])["seller_tax_id"]
        code, ans = tax.request(seller, "POST", f"/v1/invoices/{blue}/red",
                                {"request_id": job["serial"], "reason": "01"})
        red = ans.get("invoice_no") if code in (200, 201) else ans.get("red_invoice_no") if code == 409 else None
        result = {"red_invoice_number": red} if red else None
    if result:
        q("UPDATE job SET state='succeeded', result=? WHERE id=?", json.dumps(result), job_id)
    elif (code is not None and 400 <= code < 500 and code not in (401, 409, 429)
          or DEFECT == "timeout_fails" and ans.get("error") == "timeout"):
        q("UPDATE job SET state='failed', error=? WHERE id=?",
          json.dumps({"code": ans.get("error") or f"http_{code}", "detail": ans.get("message")}), job_id)
    else:                                      # no answer, 5xx, 429: run it again, same serial
        q("UPDATE job SET state='queued' WHERE id=?", job_id)


def worker() -> None:
    while True:
        job_id = todo.get()
        try:
            run_job(job_id)
        except Exception as exc:  # noqa: BLE001 - a worker never dies; the job is retried
            print(f"job {job_id}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            q("UPDATE job SET state='queued' WHERE id=? AND state='running'", job_id)


def requeue_forever() -> None:
    """Queued jobs that no worker holds (retries, jobs from before a restart) go back in."""
    while True:
        time.sleep(0.5)
        if todo.qsize() < WORKERS:
            for row in q("SELECT id FROM job WHERE state='queued' ORDER BY created LIMIT 200"):
                todo.put(row["id"])


# -- the HTTP API -----------------------------------------------------------------------------
def check_order(data: object) -> str | None:
    """What is wrong with an invoice.issue input, or None."""
    if not isinstance(data, dict):
        return "input must be an object"
    if data.get("seller_tax_id") not in SELLER_SECRET:
        return "input.seller_tax_id: unknown seller"
    if not isinstance(data.get("buyer"), dict) or not isinstance(data.get("lines"), list) or not data["lines"]:
        return "input needs buyer and lines"
    return None


class JobApi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def answer(self, status: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            return self.answer(200, {"ok": True})
        if url.path == "/jobs":
            args = dict(urllib.parse.parse_qsl(url.query))
            rows = q("SELECT * FROM job WHERE type=? AND ref=?", args.get("type", ""), args.get("ref", ""))
            return self.answer(200, {"jobs": [job_json(r) for r in rows]})
        if url.path.startswith("/jobs/"):
            rows = q("SELECT * FROM job WHERE id=?", url.path[len("/jobs/"):])
            if rows:
                return self.answer(200, job_json(rows[0]))
            return self.answer(404, {"title": "no such job"})
        self.answer(404, {"title": "not found"})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/jobs":
            return self.answer(404, {"title": "not found"})
        try:
            req = json.loads(raw)
        except ValueError:
            return self.answer(400, {"title": "body is not JSON"})
        kind, ref = req.get("type") if isinstance(req, dict) else None, req.get("ref") if isinstance(req, dict) else None
        if kind not in TYPES or not isinstance(ref, str) or not ref:
            return self.answer(400, {"title": f"type must be one of {TYPES}, ref a string"})
        problem = check_order(req.get("input")) if kind == "invoice.issue" else None
        if kind == "invoice.reverse":
            blue = q("SELECT state FROM job WHERE type='invoice.issue' AND ref=?", ref)
            if not blue or blue[0]["state"] != "succeeded":
                return self.answer(409, {"title": "nothing to reverse: the order has no invoice"})
        if problem:
            return self.answer(422, {"title": problem})
        job_id = "J" + uuid.uuid4().hex[:16]
        created = q("INSERT INTO job(id, type, ref, input, serial, state, created) VALUES "
                    "(?, ?, ?, ?, ?, 'queued', ?) ON CONFLICT(type, ref) DO NOTHING RETURNING id",
                    job_id, kind, ref, json.dumps(req.get("input")), uuid.uuid4().hex, time.time())
        row = q("SELECT * FROM job WHERE type=? AND ref=?", kind, ref)[0]
        if created:
            todo.put(job_id)
        self.answer(202 if created else 200, job_json(row))


def main() -> int:
    setup()
    for _ in range(WORKERS):
        threading.Thread(target=worker, daemon=True).start()
    threading.Thread(target=requeue_forever, daemon=True).start()
    server = ThreadingHTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), JobApi)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"job ERP on port {os.environ['PORT']}{', DEFECT ' + DEFECT if DEFECT else ''}",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
