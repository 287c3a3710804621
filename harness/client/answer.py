"""`Answer`: what an adapter says the system answered, in the outcomes of design.md s.6/s.7,
and the one table that turns an answer into the history's `ok` / `fail` / `info`.

An adapter maps its system's own responses onto five values (design.md s.14): `issued`
(with the invoice number), `pending`, `failed` (a definite refusal, with the system's
code), `not_found`, `unknown` (no definite answer: a 5xx, a maintenance page, an error
the system itself calls transient). A sixth, `unmapped`, is for a response the adapter
cannot read: it is recorded `info` with the body, counted as the harness's failure to ask
(the verdict cannot be `pass`), never guessed into one of the five.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..wire.classify import Outcome

__all__ = ["Answer", "to_outcome", "ADAPTER_ERROR", "UNMAPPED", "UNAVAILABLE", "BODY_CHARS"]

Kind = Literal["issued", "pending", "failed", "not_found", "unknown", "unmapped"]

#: Prefixes of the history's `error` for what the harness, not the system, got wrong: an
#: exception inside an adapter (or a return that is not an Answer), and a response the
#: adapter could not map. harness/client/problems.py counts them by these prefixes.
ADAPTER_ERROR = "adapter_error: "
UNMAPPED = "unmapped: "
#: `Unavailable` raised by an adapter: the system's own failure to answer (info).
UNAVAILABLE = "unavailable: "
#: How much of an unmapped body the history keeps.
BODY_CHARS = 300


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the system, as the adapter read it. Build it with the class methods."""

    kind: Kind
    invoice_no: str | None = None     # issued: the invoice number (a refund: the red one)
    code: str | None = None           # failed: the system's own code
    error: str | None = None          # unknown / unmapped: why

    @classmethod
    def issued(cls, invoice_no: str | None) -> "Answer":
        """The invoice exists; `invoice_no` is the number the customer was given (for a
        refund: the red-letter invoice's number)."""
        return cls("issued", invoice_no=str(invoice_no) if invoice_no is not None else None)

    @classmethod
    def pending(cls) -> "Answer":
        """Accepted, not decided yet: the harness asks again through `query`."""
        return cls("pending")

    @classmethod
    def failed(cls, code: Any = "failed") -> "Answer":
        """A definite refusal: no invoice exists, or ever will, for this order (for a
        refund: the order cannot be refunded)."""
        return cls("failed", code=str(code))

    @classmethod
    def not_found(cls) -> "Answer":
        """The system does not know the order (a query) or the number (a verify)."""
        return cls("not_found")

    @classmethod
    def unknown(cls, error: Any) -> "Answer":
        """No definite answer (a 5xx, an error the system calls transient): the outcome is
        unknown, as after a timeout. The system's doing, not the adapter's."""
        return cls("unknown", error=str(error)[:200])

    @classmethod
    def unmapped(cls, why: str, response: Any = None) -> "Answer":
        """A response the adapter cannot read. `response`: a `Response` of `self.http` (its
        status and body go into the history) or the body itself."""
        status = getattr(response, "status", None)
        body = getattr(response, "content", response)
        if isinstance(body, (bytes, bytearray)):
            body = bytes(body).decode("utf-8", "replace")
        text = f"{why}" + (f"; http {status}" if status is not None else "")
        if body is not None:
            text += f"; body: {str(body)[:BODY_CHARS]}"
        return cls("unmapped", error=text)


# (op, kind) -> (history type, history result). `None` result: the answer says nothing
# about the order's state (a refund refused). Not in the table: the adapter answered
# something the operation cannot mean (a not_found to an issue): an adapter error.
_TABLE: dict[tuple[str, str], tuple[str, str | None]] = {
    ("issue", "issued"): ("ok", "issued"),
    ("issue", "pending"): ("ok", "pending"),
    ("issue", "failed"): ("fail", "failed"),
    ("query", "issued"): ("ok", "issued"),
    ("query", "pending"): ("ok", "pending"),
    ("query", "failed"): ("ok", "failed"),
    ("query", "not_found"): ("ok", "not_found"),
    ("refund", "issued"): ("ok", "issued"),
    ("refund", "pending"): ("ok", "pending"),
    ("refund", "failed"): ("fail", None),
    ("refund", "not_found"): ("fail", None),
    ("verify", "issued"): ("ok", "issued"),
    ("verify", "not_found"): ("ok", "not_found"),
}


def to_outcome(op: str, answer: Any) -> Outcome:
    """The history's reading of an adapter's answer to `op` (design.md s.6 "How the harness
    reads the answers", with the adapter in place of the status codes)."""
    if type(answer) is not Answer:
        return Outcome("info", None, None,
                       f"{ADAPTER_ERROR}{op} returned {_short(answer)}, not an Answer")
    kind = answer.kind
    if kind == "unknown":
        return Outcome("info", None, None, answer.error or "unknown")
    if kind == "unmapped":
        return Outcome("info", None, None, UNMAPPED + (answer.error or ""))
    row = _TABLE.get((op, kind))
    if row is None:
        return Outcome("info", None, None, f"{ADAPTER_ERROR}{op} answered {kind}, which it "
                                           "cannot mean")
    typ, result = row
    if typ == "ok":
        return Outcome("ok", result, answer.invoice_no if kind == "issued" else None, None)  # type: ignore[arg-type]
    return Outcome("fail", result, None, answer.code or kind)  # type: ignore[arg-type]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
