"""The one classification table: ok / fail / info per design.md s.6."""
from __future__ import annotations

import threading

import pytest
from geventhttpclient import HTTPParseError

from harness.wire.classify import RequestDeadline, classify_exception, classify_response
from harness.wire.http import FastClient, NotConnected
from support.processes import free_port, listening_socket


@pytest.mark.parametrize("op,status,body,expect", [
    ("issue", 201, {"status": "issued", "invoice_no": "1"}, ("ok", "issued", "1")),
    ("issue", 202, {"status": "pending"}, ("ok", "pending", None)),
    ("issue", 200, {"status": "issued", "invoice_no": "2"}, ("ok", "issued", "2")),
    ("issue", 422, {"status": "failed", "error": "refused"}, ("fail", "failed", None)),
    ("issue", 400, {"error": "bad_request"}, ("fail", None, None)),
    ("issue", 409, {"error": "conflict"}, ("fail", None, None)),
    ("issue", 500, {"error": "boom"}, ("info", None, None)),
    ("issue", 503, None, ("info", None, None)),
    ("issue", 200, {}, ("info", None, None)),          # no status: cannot know
    ("query", 200, {"status": "issued", "invoice_no": "3"}, ("ok", "issued", "3")),
    ("query", 200, {"status": "pending"}, ("ok", "pending", None)),
    ("query", 200, {"status": "failed"}, ("ok", "failed", None)),
    ("query", 404, {"error": "not_found"}, ("ok", "not_found", None)),
    ("query", 502, None, ("info", None, None)),
    ("query", 401, None, ("info", None, None)),
    ("refund", 201, {"red_invoice_no": "9"}, ("ok", "issued", "9")),
    ("refund", 202, {}, ("ok", "pending", None)),
    ("refund", 409, {"error": "not_refundable"}, ("fail", None, None)),
    ("refund", 504, None, ("info", None, None)),
    ("verify", 200, {"invoice_no": "7"}, ("ok", "issued", "7")),
    ("verify", 404, {"error": "not_found"}, ("ok", "not_found", None)),
    ("verify", 401, {"error": "unauthorized"}, ("info", None, None)),
    ("verify", 429, {"error": "throttled"}, ("info", None, None)),
])
def test_status_table(op, status, body, expect):
    o = classify_response(op, status, body)
    assert (o.type, o.result, o.invoice_no) == expect
    if o.type != "ok":
        assert o.error and str(status) in o.error


@pytest.mark.parametrize("exc,issue_type", [
    (NotConnected("refused"), "fail"),                   # never left: provably not sent
    (NotConnected("TimeoutError: connect timed out"), "fail"),
    (ConnectionRefusedError(), "fail"),
    (TimeoutError("read"), "info"),                      # sent, the answer timed out
    (HTTPParseError("connection closed."), "info"),
    (ConnectionResetError(), "info"),
    (BrokenPipeError(), "info"),
    (RequestDeadline(), "info"),
    (ValueError("odd"), "info"),
])
def test_exceptions(exc, issue_type):
    assert classify_exception("issue", exc).type == issue_type
    # a read that was never sent is simply no answer
    assert classify_exception("query", exc).type == "info"


def test_the_real_client_marks_a_refused_connection_as_never_sent():
    client = FastClient(f"http://127.0.0.1:{free_port()}", 2.0, 4)
    with pytest.raises(NotConnected) as e:
        client.request("POST", "/v1/invoices", b"{}")
    assert classify_exception("issue", e.value).type == "fail"


def test_the_real_client_reads_an_answer_cut_short_as_unknown():
    """The server reads the request and closes without a full answer: sent, outcome unknown."""
    srv = listening_socket(backlog=1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 50\r\n\r\n{\"status\"")
        conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    client = FastClient(f"http://127.0.0.1:{srv.getsockname()[1]}", 2.0, 4)
    try:
        with pytest.raises(Exception) as e:
            status, body = client.request("POST", "/v1/invoices", b"{}")
            raise AssertionError(f"a cut answer was read as complete: {status} {body!r}")
        assert not isinstance(e.value, AssertionError), e.value
        assert classify_exception("issue", e.value).type == "info"
    finally:
        th.join(timeout=5)
        srv.close()
