"""The drain and the final read against real HTTP servers on 127.0.0.1: their requests are
lanes `drain.<k>` / `final.<k>` that pair like any proc, answers are read with the
customers' table, and a merchant that never answers cannot keep them past their budget
(counted as requests, not timed)."""
from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from harness.checker.history import Pairing, is_harness_proc
from harness.drain import Drainer, OrderState

T0 = 1_767_225_600.0


def _server(answer: Callable[[BaseHTTPRequestHandler], None]) -> Iterator[str]:
    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            answer(self)

        def log_message(self, *a: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


stop = threading.Event()


@pytest.fixture
def hanging() -> Iterator[str]:
    """Accepts every connection, never answers (until the test ends)."""
    stop.clear()
    yield from _server(lambda h: stop.wait(30))
    stop.set()


@pytest.fixture
def conflict() -> Iterator[str]:
    """Answers 409 with a body that names a status: a 4xx the table calls `info`."""
    def answer(h: BaseHTTPRequestHandler) -> None:
        body = json.dumps({"order_id": "x", "status": "failed"}).encode()
        h.send_response(409)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    yield from _server(answer)


def _events(d: Path) -> list[dict]:
    out = []
    for p in sorted(d.glob("*.jsonl")):
        out += [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return out


def test_a_merchant_that_never_answers_costs_the_budget_not_a_timeout_per_order(tmp_path, hanging):
    orders = {f"O{i:03d}": OrderState(last_result="pending", accepted=True) for i in range(200)}
    timeout, request, lanes = 1.0, 0.5, 4
    with Drainer(hanging, hanging, {}, tmp_path, T0, timeout_s=timeout,
                 request_timeout_s=request, lanes=lanes, say=lambda s: None) as d:
        out = d.drain(orders)
        final = d.final_read(sorted(orders))
    assert out["open"] == 200
    # every lane asks one request at a time, each cut to the time left: a bounded number
    per_lane = math.ceil((timeout + request) / request) + 1
    events = _events(tmp_path)
    invokes = [e for e in events if e["type"] == "invoke"]
    assert 0 < len(invokes) <= lanes * per_lane
    assert final["answered"] == 0 and final["unasked"] > 150
    assert final["asked"] + final["unasked"] == final["orders"] == 200
    assert all(e["type"] == "info" for e in events if e["type"] != "invoke")


def test_lanes_pair_like_any_proc_and_4xx_bodies_are_not_answers(tmp_path, conflict):
    orders = {f"O{i}": OrderState(last_result="pending", accepted=True) for i in range(20)}
    with Drainer(conflict, conflict, {}, tmp_path, T0, timeout_s=1.5, request_timeout_s=1.0,
                 lanes=3, say=lambda s: None) as d:
        d.drain(orders)
        final = d.final_read(sorted(orders))
    events = _events(tmp_path)
    procs = {e["proc"] for e in events}
    assert procs <= {f"{p}.{k}" for p in ("drain", "final") for k in range(3)}
    assert all(is_harness_proc(p) for p in procs)
    # one request at a time per lane: the plain per-proc pairing of a customer holds
    pairing = Pairing()
    for e in sorted(events, key=lambda e: (e["proc"], e["t"])):
        key = e["proc"] + "#"           # not a harness name: paired per proc alone
        if e["type"] == "invoke":
            pairing.invoke(key, e["op"], e["order_id"], e["t"], e["ts"])
        else:
            pairing.complete(key, e["op"], e["order_id"])
    assert not pairing.open
    # 409 {"status": "failed"} is not the merchant's word on the order (classify.py)
    done = [e for e in events if e["type"] != "invoke"]
    assert done and all(e["type"] == "info" and e["status"] == 409 for e in done)
    assert final["answered"] == 0 and all(s.last_result == "pending" for s in orders.values())


def _reset(h: BaseHTTPRequestHandler) -> None:
    """Close the connection with a TCP reset before any answer (SO_LINGER 0)."""
    import socket
    import struct
    h.close_connection = True
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()


def _issued(h: BaseHTTPRequestHandler, oid: str) -> None:
    body = json.dumps({"order_id": oid, "status": "issued",
                       "invoice_no": "26112000000000000001"}).encode()
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


@pytest.fixture
def resets_first() -> Iterator[str]:
    """Resets the first request about each order (a stale kept-alive connection), answers
    `issued` after that."""
    seen: set[str] = set()
    lock = threading.Lock()

    def answer(h: BaseHTTPRequestHandler) -> None:
        oid = h.path.rsplit("/", 1)[-1]
        with lock:
            first = oid not in seen
            seen.add(oid)
        _reset(h) if first else _issued(h, oid)
    yield from _server(answer)


@pytest.fixture
def resets_always() -> Iterator[str]:
    yield from _server(_reset)


def test_a_reset_before_any_answer_is_asked_once_more(tmp_path, resets_first):
    ids = [f"O{i}" for i in range(12)]
    with Drainer(resets_first, resets_first, {}, tmp_path, T0, timeout_s=5.0,
                 request_timeout_s=1.0, lanes=3, say=lambda s: None) as d:
        final = d.final_read(ids)
    assert final["answered"] == 12 and final["unasked"] == 0
    done = [e for e in _events(tmp_path) if e["type"] != "invoke"]
    per_order = {oid: [e["type"] for e in sorted(done, key=lambda e: e["t"]) if e["order_id"] == oid]
                 for oid in ids}
    assert all(types == ["info", "ok"] for types in per_order.values()), per_order
    assert all(e["error"].startswith("reset") for e in done if e["type"] == "info")


def test_a_merchant_that_always_resets_stays_unanswered_after_one_more_ask(tmp_path, resets_always):
    ids = [f"O{i}" for i in range(6)]
    with Drainer(resets_always, resets_always, {}, tmp_path, T0, timeout_s=5.0,
                 request_timeout_s=1.0, lanes=2, say=lambda s: None) as d:
        final = d.final_read(ids)
    assert final["answered"] == 0 and final["asked"] == 6
    invokes = [e for e in _events(tmp_path) if e["type"] == "invoke"]
    assert len(invokes) == 12           # each order: the request and one more, no loop
