"""The one classification table: ok / fail / info per design.md s.6."""
from __future__ import annotations

import httpx
import pytest

from harness.load.classify import RequestDeadline, classify_exception, classify_response


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
    (httpx.ConnectError("refused"), "fail"),             # never left: provably not sent
    (httpx.ConnectTimeout("connect"), "fail"),
    (ConnectionRefusedError(), "fail"),
    (httpx.ReadTimeout("read"), "info"),
    (httpx.WriteTimeout("write"), "info"),
    (httpx.PoolTimeout("pool"), "info"),
    (httpx.ReadError("reset"), "info"),
    (httpx.RemoteProtocolError("closed"), "info"),
    (ConnectionResetError(), "info"),
    (RequestDeadline(), "info"),
    (ValueError("odd"), "info"),
])
def test_exceptions(exc, issue_type):
    assert classify_exception("issue", exc).type == issue_type
    # a read that was never sent is simply no answer
    assert classify_exception("query", exc).type == "info"
