"""How the harness reads an answer: ONE table from (operation, status or exception)
to the history's `ok` / `fail` / `info` (design.md s.6 "How the harness reads the
answers", s.7).

`fail` is a promise that nothing was issued: the checker calls an invoice for a
`fail`ed order a phantom. So `fail` is only for a definite refusal (422 `failed`,
another 4xx, 409 on a refund) or a request that provably never left this machine
(the TCP connection was never established). Everything else that did not answer
(5xx, timeout, reset, a broken response) is `info`: the outcome is unknown. When a
case is not in the table, it is `info`.

    exception classes (checked in this order, most specific first; http.py raises them)
    * http.NotConnected (refused, connect timeout), ConnectionRefusedError -> fail (never sent)
    * TimeoutError (a read timed out), RequestDeadline                     -> info
    * HTTPParseError (a broken or cut answer), ConnectionResetError, OSError -> info
    * anything else                                                        -> info
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from geventhttpclient import HTTPParseError

from .http import NotConnected

__all__ = ["Outcome", "RequestDeadline", "classify_response", "classify_exception",
           "NOT_SENT_EXCEPTIONS", "STATUS_TABLE"]

Kind = Literal["ok", "fail", "info"]
Op = Literal["issue", "query", "refund", "verify"]


class RequestDeadline(TimeoutError):
    """Raised (via gevent.Timeout) when a whole request outlives `request_timeout_s`,
    e.g. a response dribbled byte by byte past every per-read timeout. Outcome unknown."""


@dataclass(frozen=True, slots=True)
class Outcome:
    type: Kind
    result: str | None = None        # issued | pending | failed | not_found | None
    invoice_no: str | None = None
    error: str | None = None


# (op, status) -> (type, result). A body `status` overrides the result where
# the contract says "the body's status decides" (issue/query answers).
STATUS_TABLE: dict[tuple[str, int], tuple[Kind, str | None]] = {
    ("issue", 200): ("ok", None),        # body status decides (a replayed answer)
    ("issue", 201): ("ok", "issued"),
    ("issue", 202): ("ok", "pending"),
    ("issue", 422): ("fail", "failed"),
    ("query", 200): ("ok", None),        # body status decides
    ("query", 201): ("ok", "issued"),
    ("query", 202): ("ok", "pending"),
    ("query", 422): ("ok", "failed"),    # the merchant's answer: the order failed
    ("query", 404): ("ok", "not_found"),
    ("refund", 200): ("ok", "issued"),
    ("refund", 201): ("ok", "issued"),
    ("refund", 202): ("ok", "pending"),
    ("refund", 409): ("fail", None),
    ("verify", 200): ("ok", "issued"),
    ("verify", 404): ("ok", "not_found"),
}

#: Exceptions that prove the request never left: no connection was made.
NOT_SENT_EXCEPTIONS: tuple[type[BaseException], ...] = (NotConnected, ConnectionRefusedError)
_UNKNOWN_EXCEPTIONS: tuple[tuple[type[BaseException], str], ...] = (
    (RequestDeadline, "timeout"),
    (TimeoutError, "timeout"),
    (HTTPParseError, "protocol"),
    (ConnectionResetError, "reset"),
    (BrokenPipeError, "reset"),
    (OSError, "os"),
)
_BODY_RESULTS = {"issued", "pending", "failed"}


def classify_response(op: Op, status: int, body: Any) -> Outcome:
    """Read one HTTP answer. `body` is the parsed JSON (or None when it was not JSON)."""
    body = body if isinstance(body, dict) else {}
    invoice_no = body.get("invoice_no")
    if op == "refund":
        invoice_no = body.get("red_invoice_no") or None
    if op == "verify" and status == 200:
        invoice_no = body.get("invoice_no")
    key = (op, status)
    if key in STATUS_TABLE:
        kind, result = STATUS_TABLE[key]
        if op in ("issue", "query") and status in (200, 201, 202, 422):
            s = body.get("status")
            if s in _BODY_RESULTS:
                result = s
            elif result is None:
                return Outcome("info", None, invoice_no, f"http {status}: no status in the body")
            if op == "issue":      # a definite `failed` is a refusal, whatever the code
                kind = "fail" if result == "failed" else "ok"
        return Outcome(kind, result, invoice_no if kind == "ok" else None,
                       None if kind == "ok" else _error_code(status, body))
    if 500 <= status <= 599:
        return Outcome("info", None, None, _error_code(status, body))
    if 400 <= status <= 499:
        # Another 4xx: a refused request that issued nothing (design.md s.6). A query
        # or verify refused (e.g. 401) gave no answer about the invoice: info.
        refused: Kind = "fail" if op in ("issue", "refund") else "info"
        return Outcome(refused, None, None, _error_code(status, body))
    return Outcome("info", None, None, f"http {status}: unexpected status")


def classify_exception(op: Op, exc: BaseException) -> Outcome:
    """Read a request that got no answer. Only a provably unsent request is `fail`."""
    name = type(exc).__name__
    if isinstance(exc, NOT_SENT_EXCEPTIONS):
        kind: Kind = "fail" if op in ("issue", "refund") else "info"
        return Outcome(kind, None, None, f"not_sent: {name}")
    for cls, code in _UNKNOWN_EXCEPTIONS:
        if isinstance(exc, cls):
            return Outcome("info", None, None, f"{code}: {name}")
    return Outcome("info", None, None, f"error: {name}: {exc}"[:200])


def _error_code(status: int, body: dict[str, Any]) -> str:
    code = body.get("error")
    return f"http {status}: {code}" if code else f"http {status}"
