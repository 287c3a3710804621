"""A small stand-in merchant / platform (stdlib only) for load tests and benchmarks.

Speaks just enough of design.md s.5/s.6 for the load generator: the merchant's
POST/GET /v1/invoices[/{order_id}] and refund, the platform's login and
GET /v1/invoices/{no}. `--delay-ms` makes every answer slow (the benchmark's
"deliberately slowed merchant"); `--pending-share` answers that share of issues
202 pending (issued on the next GET). It is not the bundled fake: no ledger, no
tax rules. Loopback only (or `--host`: an address the caller made, e.g. a veth).

    python benchmarks/load_standin.py --role merchant --port 8081 --delay-ms 200
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_orders: dict[str, dict] = {}
_seq = itertools.count(1)


def _invoice_no() -> str:
    return f"26117{next(_seq):015d}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    role = "merchant"
    delay_s = 0.0
    pending_share = 0.0

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args: object) -> None:   # quiet
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        if self.delay_s:
            time.sleep(self.delay_s)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return {}

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if self.path == "/healthz":
            return self._send(200, {"status": "ok"})
        if len(parts) == 3 and parts[:2] == ["v1", "invoices"]:
            key = parts[2]
            if self.role == "platform":
                if not self.headers.get("Authorization", "").startswith("Bearer "):
                    return self._send(401, {"error": "unauthorized", "message": "log in"})
                return self._send(200, {"invoice_no": key, "kind": "blue"}) if key.isdigit() \
                    else self._send(404, {"error": "not_found", "message": "未找到相关记录"})
            with _lock:
                o = _orders.get(key)
                if o is not None and o["status"] == "pending":
                    o.update(status="issued", invoice_no=_invoice_no())
                o = dict(o) if o else None
            if o is None:
                return self._send(404, {"error": "not_found", "message": "unknown order"})
            return self._send(200, o)
        self._send(404, {"error": "not_found", "message": self.path})

    def do_POST(self) -> None:
        body = self._body()
        parts = self.path.strip("/").split("/")
        if self.role == "platform" and self.path == "/v1/auth/token":
            return self._send(200, {"token": "t-" + str(body.get("seller_tax_id")),
                                    "expires_in": 600})
        if self.role == "merchant" and self.path == "/v1/invoices":
            oid = body.get("order_id")
            if not oid or not body.get("lines"):
                return self._send(400, {"error": "bad_request", "message": "order_id, lines"})
            with _lock:
                o = _orders.get(oid)
                if o is None:
                    pending = random.random() < self.pending_share
                    o = {"order_id": oid, "status": "pending"} if pending else \
                        {"order_id": oid, "status": "issued", "invoice_no": _invoice_no()}
                    _orders[oid] = o
                o = dict(o)
            return self._send(202 if o["status"] == "pending" else 201, o)
        if self.role == "merchant" and len(parts) == 4 and parts[3] == "refund":
            with _lock:
                o = _orders.get(parts[2])
                if o is None or o["status"] != "issued" or o.get("red_invoice_no"):
                    return self._send(409, {"error": "not_refundable", "message": parts[2]})
                o["red_invoice_no"] = _invoice_no()
                red = o["red_invoice_no"]
            return self._send(201, {"order_id": parts[2], "red_invoice_no": red})
        self._send(404, {"error": "not_found", "message": self.path})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=("merchant", "platform"), default="merchant")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--pending-share", type=float, default=0.0)
    ap.add_argument("--host", default="127.0.0.1",
                    help="listen address (bench_remote.py: the root side of its namespaces)")
    a = ap.parse_args()
    Handler.role, Handler.delay_s, Handler.pending_share = a.role, a.delay_ms / 1000, a.pending_share
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
