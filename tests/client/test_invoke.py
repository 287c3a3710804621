"""How the harness reads an adapter's call (harness/client/invoke.py, answer.py): answers,
transport errors let through, the system's Unavailable, and the adapter's own failures,
which are told apart from the system's. The HTTP boundary is a scripted backend."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.client.answer import ADAPTER_ERROR, UNMAPPED, Answer, to_outcome
from harness.client.invoke import Invoker
from harness.client.loader import read_client
from harness.wire.classify import RequestDeadline
from harness.wire.http import NotConnected


class Scripted:
    """A backend answering from a list: (status, body) or an exception to raise."""

    def __init__(self, *answers: Any):
        self.answers = list(answers)
        self.sent: list[tuple[str, str, bytes | None]] = []

    def request(self, method: str, path: str, body: bytes | None, headers: Any,
                content_type: str, timeout_s: float | None) -> tuple[int, bytes]:
        self.sent.append((method, path, body))
        a = self.answers.pop(0)
        if isinstance(a, BaseException):
            raise a
        return a

    def close(self) -> None:
        pass


def invoker(tmp_path: Path, body: str, *answers: Any) -> tuple[Invoker, Scripted]:
    f = tmp_path / "shop_adapter.py"
    f.write_text("from harness.client import Adapter, Answer, Unavailable\n"
                 + textwrap.dedent(body), encoding="utf-8")
    backend = Scripted(*answers)
    inv = Invoker(read_client(f"{f}:Shop"), backend, Scripted(),
                  [{"seller_tax_id": "S1", "name": "n", "secret": "s"}], 2.0)
    return inv, backend


PLAIN = """
class Shop(Adapter):
    logins = 0
    def on_start(self):
        self.logins += 1
        r = self.http.post("/login", json={"k": 1})
        if r.status != 200:
            raise Unavailable(f"login http {r.status}")
    def issue(self, order):
        r = self.http.post("/apply", json=order)
        b = r.json()
        if b.get("state") == "ok":
            return Answer.issued(b["no"])
        if b.get("state") == "wait":
            return Answer.pending()
        if b.get("state") == "no":
            return Answer.failed(b.get("code"))
        return Answer.unmapped("no state", r)
    def query(self, order_id):
        r = self.http.get(f"/q/{order_id}")
        if r.status == 404:
            return Answer.not_found()
        if r.status >= 500:
            return Answer.unknown(f"http {r.status}")
        return Answer.issued(r.json()["no"])
"""
ORDER = {"order_id": "o-1", "seller_tax_id": "S1", "buyer": {"name": "b"}, "lines": [], "kind": "normal"}


def test_answers_become_the_histories_outcomes(tmp_path: Path):
    inv, be = invoker(tmp_path, PLAIN, (200, b"{}"), (200, b'{"state":"ok","no":"123"}'),
                      (200, b'{"state":"wait"}'), (200, b'{"state":"no","code":"E1"}'),
                      (404, b""), (503, b"busy"), (200, b'{"no":"9"}'))
    out, status = inv.run("issue", ORDER)
    assert (out.type, out.result, out.invoice_no, status) == ("ok", "issued", "123", 200)
    assert be.sent[0][1] == "/login" and be.sent[1][1] == "/apply"      # on_start first, once
    out, _ = inv.run("issue", ORDER)
    assert (out.type, out.result) == ("ok", "pending")
    out, _ = inv.run("issue", ORDER)
    assert (out.type, out.result, out.error) == ("fail", "failed", "E1")
    out, _ = inv.run("query", "o-1")
    assert (out.type, out.result) == ("ok", "not_found")
    out, status = inv.run("query", "o-1")
    assert (out.type, out.error, status) == ("info", "http 503", 503)
    assert inv.run("query", "o-1")[0].invoice_no == "9"
    assert inv.adapter.logins == 1                                       # type: ignore[attr-defined]


def test_an_unmapped_answer_is_unknown_with_the_body(tmp_path: Path):
    inv, _ = invoker(tmp_path, PLAIN, (200, b"{}"), (200, b'{"weird": "shape"}'))
    out, status = inv.run("issue", ORDER)
    assert out.type == "info" and out.result is None and status == 200
    assert out.error is not None and out.error.startswith(UNMAPPED)
    assert 'no state; http 200; body: {"weird": "shape"}' in out.error


def test_an_exception_in_the_adapter_is_an_adapter_error_with_type_message_and_line(tmp_path: Path):
    body = PLAIN.replace('b = r.json()', 'b = r.json()\n        b["missing"]')
    inv, _ = invoker(tmp_path, body, (200, b"{}"), (200, b'{"state":"ok","no":"1"}'))
    out, _ = inv.run("issue", ORDER)
    assert out.type == "info"
    assert out.error is not None and out.error.startswith(f"{ADAPTER_ERROR}KeyError: 'missing'")
    assert "(shop_adapter.py:" in out.error


def test_a_return_that_is_not_an_answer_is_an_adapter_error(tmp_path: Path):
    inv, _ = invoker(tmp_path, PLAIN.replace("return Answer.not_found()", "return {'status': 404}"),
                     (200, b"{}"), (404, b""))
    out, _ = inv.run("query", "o-1")
    assert out.type == "info" and out.error == f"{ADAPTER_ERROR}query returned {{'status': 404}}, not an Answer"


def test_transport_errors_let_through_are_the_systems_not_the_adapters(tmp_path: Path):
    inv, _ = invoker(tmp_path, PLAIN, (200, b"{}"), TimeoutError("read"), NotConnected("refused"))
    out, _ = inv.run("issue", ORDER)
    assert (out.type, out.error) == ("info", "timeout: TimeoutError")
    out, _ = inv.run("issue", ORDER)           # nothing of this call left: a definite fail
    assert (out.type, out.error) == ("fail", "not_sent: NotConnected")


def test_a_refused_connection_after_a_sent_request_is_unknown(tmp_path: Path):
    body = PLAIN.replace("r = self.http.post(\"/apply\", json=order)",
                         "self.http.post(\"/apply\", json=order)\n        r = self.http.get(\"/poll\")")
    inv, _ = invoker(tmp_path, body, (200, b"{}"), (202, b"{}"), NotConnected("refused"))
    out, _ = inv.run("issue", ORDER)
    # the login and the POST left: whatever the POST did, the outcome is unknown
    assert out.type == "info" and out.error == "not_sent after 2 sent: NotConnected"


def test_a_failed_login_is_unavailable_and_is_tried_again(tmp_path: Path):
    inv, be = invoker(tmp_path, PLAIN, (503, b""), (200, b"{}"), (200, b'{"state":"ok","no":"5"}'))
    out, _ = inv.run("issue", ORDER)
    assert (out.type, out.error) == ("info", "unavailable: login http 503")
    out, _ = inv.run("issue", ORDER)
    assert out.invoice_no == "5" and [p for _, p, _ in be.sent] == ["/login", "/login", "/apply"]


def test_the_calls_time_is_bounded(tmp_path: Path):
    inv, _ = invoker(tmp_path, PLAIN, (200, b"{}"))
    inv.run("query", "x", timeout_s=1e-9)  # the login's request finds the time already up
    out, _ = inv.run("query", "x", timeout_s=1e-9)
    assert out.type == "info" and out.error == f"timeout: {RequestDeadline.__name__}"


@pytest.mark.parametrize("op,answer,expected", [
    ("issue", Answer.not_found(), ("info", None)),              # not a thing an issue can mean
    ("refund", Answer.issued("R1"), ("ok", "issued")),
    ("refund", Answer.failed("E"), ("fail", None)),
    ("verify", Answer.not_found(), ("ok", "not_found")),
    ("verify", Answer.pending(), ("info", None)),
])
def test_the_table_per_operation(op: str, answer: Answer, expected: tuple):
    out = to_outcome(op, answer)
    assert (out.type, out.result) == expected
    if out.type == "info":
        assert out.error is not None and out.error.startswith(ADAPTER_ERROR)
