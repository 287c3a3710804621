"""The bundled merchant's nuonuo client on its own (design.md s.13): the signature against the
published test vector, the orderNo of an order, how an envelope answer is read, and the
callback bodies it accepts. The client against the real platform process is in
test_merchant_nuonuo.py."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from fakes.merchant.platforms.nuonuo import _classify, callback_items, order_no, sign


def test_signature_matches_the_published_vector() -> None:
    body = json.dumps({"name": "中文"}, ensure_ascii=False, separators=(",", ":"))
    assert sign("secret", "app", "a" * 32, "12345678", "1700000000", body) == \
        "4BzcKzrcoqxPis0W/W3X2ae0uIo="
    assert sign("secret2", "app", "a" * 32, "12345678", "1700000000", body) != \
        "4BzcKzrcoqxPis0W/W3X2ae0uIo="


def test_order_no_is_the_order_id_when_it_fits_else_a_stable_digest() -> None:
    assert order_no("O1712-345") == "O1712-345"
    long = "order-" + "x" * 40
    assert len(order_no(long)) == 20 and order_no(long) == order_no(long)
    assert order_no(long) != order_no(long + "y")


def _reply(code: str, status: int = 200, retry_after: str | None = None) -> tuple[str, str | None]:
    r = _classify(status, retry_after, json.dumps({"code": code, "describe": "x"}).encode())
    return r.kind, r.error


@pytest.mark.parametrize("code,kind", [
    ("E0000", "ok"),
    ("E9106", "refused"),      # the orderNo was used: the step logic asks by orderNo
    ("E9500", "refused"),      # not found (or not yet): the step logic decides
    ("E4000", "refused"), ("E9130", "refused"), ("070201", "refused"),
    ("070301", "refused"),     # token: the wire logs in again and repeats once
    ("0200", "throttled"), ("070601", "throttled"),   # keys/signature: nothing done, retry later
    ("E7777", "unknown"),      # a code nobody knows: the invoice may exist
])
def test_envelope_codes_are_read_as_the_protocol_means_them(code: str, kind: str) -> None:
    assert _reply(code) == (kind, code)


def test_http_trouble_is_unknown_and_429_is_throttled() -> None:
    assert _classify(502, None, b"bad gateway").kind == "unknown"
    r = _classify(429, "3", b"{}")
    assert (r.kind, r.retry_after) == ("throttled", 3.0)
    assert _classify(200, None, b"not json").kind == "unknown"


def test_callback_bodies_json_list_and_form() -> None:
    item = {"orderNo": "O1-1", "status": "2", "allElectronicInvoiceNumbe": "26117000000000000001"}
    assert callback_items(json.dumps(item).encode(), "application/json") == [item]
    assert callback_items(json.dumps({"result": [item]}).encode(), "application/json") == [item]
    form = urlencode({"content": json.dumps(item)}).encode()
    assert callback_items(form, "application/x-www-form-urlencoded") == [item]
    assert callback_items(b"garbage", "application/json") == []
