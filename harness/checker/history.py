"""History events (design.md s.7): validation of one line, the harness's own procs, and the
invoke/completion pairing. Lines stay plain dicts (millions of them): `event_fields`
validates one and returns its fields for `Fold.event`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["OPS", "TYPES", "RESULTS", "HARNESS_PROCS", "is_harness_proc",
           "check_order", "event_fields", "Pairing"]

#: The vocabulary of design.md s.7, in a fixed order: DuckDB's tables carry each word as its
#: position here (harness/checker/sqlrules.py).
OPS: tuple[str, ...] = ("issue", "query", "refund", "verify")
TYPES: tuple[str, ...] = ("invoke", "ok", "fail", "info")
RESULTS: tuple[str, ...] = ("issued", "pending", "failed", "not_found")
#: The harness's own settle loop and final read (procs `drain`, `final`, `drain.<k>`,
#: `final.<k>`): merchant answers like any other, but not customers' requests.
HARNESS_PROCS = frozenset({"drain", "final"})


def is_harness_proc(proc: str) -> bool:
    """Is this one of the harness's own procs (left out of the customers' figures)? The one
    statement of the rule; duck.py's SQL says the same with split_part."""
    return proc.partition(".")[0] in HARNESS_PROCS


def is_final_read(proc: str) -> bool:
    """The harness's final read (`final`, `final.<k>`): the merchant's last word on an order."""
    return proc == "final" or proc.startswith("final.")

def check_order(order: Any) -> dict[str, Any]:
    """An issue invoke's `order` as sent; money must be decimal strings (never floats)."""
    if type(order) is not dict:
        raise ValueError("an 'issue' invoke needs field 'order' (an object with "
                         "seller_tax_id, buyer, lines, kind)")
    if type(order.get("seller_tax_id")) is not str:
        raise ValueError("order.seller_tax_id must be a string")
    buyer = order.get("buyer")
    if type(buyer) is not dict:
        raise ValueError("order.buyer must be an object {name, tax_id?}")
    tax_id = buyer.get("tax_id")
    if tax_id is not None and type(tax_id) is not str:
        raise ValueError("order.buyer.tax_id must be a string or null")
    lines = order.get("lines")
    if type(lines) is not list or not lines:
        raise ValueError("order.lines must be a non-empty list")
    for i, line in enumerate(lines):
        if type(line) is not dict:
            raise ValueError(f"order.lines[{i}] must be an object")
        for k in ("quantity", "unit_price", "tax_rate"):
            v = line.get(k)
            if type(v) is not str and type(v) is not int:
                raise ValueError(f"order.lines[{i}].{k} must be a decimal string, got {v!r}")
    return order


#: (t, ts, proc, op, type, order_id, invoice_no, result, status, latency_ms, order)
EventFields = tuple[float, float, str, str, str, str, "str | None", "str | None", "int | None",
                    "float | None", "dict[str, Any] | None"]


def event_fields(d: Any) -> EventFields:
    """Validate one history line (already JSON-decoded) and return its fields as
    (t, ts, proc, op, type, order_id, invoice_no, result, status, latency_ms, order);
    `t`, `ts` and `latency_ms` as floats.

    Raises ValueError with a message naming the field; the caller adds `file:line`.
    """
    if type(d) is not dict:
        raise ValueError(f"a history line must be a JSON object, got {type(d).__name__}")
    try:
        t = d["t"]
        ts = d["ts"]
        proc = d["proc"]
        op = d["op"]
        typ = d["type"]
        order_id = d["order_id"]
    except KeyError as e:
        raise ValueError(f"missing field {e.args[0]!r}") from None
    if type(t) is not float and type(t) is not int:
        raise ValueError(f"field 't' must be a number, got {t!r}")
    if type(ts) is not float and type(ts) is not int:
        raise ValueError(f"field 'ts' must be a number, got {ts!r}")
    if type(proc) is not str:
        raise ValueError(f"field 'proc' must be a string, got {proc!r}")
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; known: {', '.join(OPS)}")
    if typ not in TYPES:
        raise ValueError(f"unknown event type {typ!r}; known: {', '.join(TYPES)}")
    if type(order_id) is not str:
        raise ValueError(f"field 'order_id' must be a string, got {order_id!r}")
    invoice_no = d.get("invoice_no")
    if invoice_no is not None and type(invoice_no) is not str:
        raise ValueError(f"field 'invoice_no' must be a string or null, got {invoice_no!r}")
    result = d.get("result")
    if result is not None and result not in RESULTS:
        raise ValueError(f"unknown result {result!r}; known: {', '.join(RESULTS)}, null")
    status = d.get("status")
    if status is not None and type(status) is not int:
        raise ValueError(f"field 'status' must be an integer or null, got {status!r}")
    latency = d.get("latency_ms")
    if latency is not None and type(latency) is not float and type(latency) is not int:
        raise ValueError(f"field 'latency_ms' must be a number or null, got {latency!r}")
    order = None
    if op == "issue" and typ == "invoke":
        order = check_order(d.get("order"))
    # numbers are floats whatever their JSON text (7 or 7.0), on this path and in duck.py
    try:
        t, ts = float(t), float(ts)
        if latency is not None:
            latency = float(latency)
    except OverflowError:
        raise ValueError("a time or latency is too large to be a number of seconds") from None
    return (t, ts, proc, op, typ, order_id, invoice_no, result, status, latency, order)


class Pairing:
    """Pairs each completion with its invoke per proc, as jepsen.history does.

    Every proc - a customer's or the harness's own `drain.<k>` / `final.<k>` - does one op
    at a time; its completion repeats the invoke's op and order_id. Anything else is a
    broken history and raises ValueError. (Histories recorded before the drain had lanes,
    with one bare `drain` or `final` proc asking about many orders at once, are refused
    here: docs/internals.md "History".)
    """

    __slots__ = ("open",)

    def __init__(self) -> None:
        self.open: dict[str, tuple[str, str, float, float]] = {}

    def invoke(self, proc: str, op: str, order_id: str, t: float, ts: float) -> None:
        prev = self.open.get(proc)
        if prev is not None:
            raise ValueError(f"proc {proc} invoked {op!r} for order {order_id} while its "
                             f"{prev[0]!r} for order {prev[1]} was still open")
        self.open[proc] = (op, order_id, t, ts)

    def complete(self, proc: str, op: str, order_id: str) -> tuple[str, str, float, float]:
        """The matching invoke `(op, order_id, t, ts)`."""
        inv = self.open.pop(proc, None)
        if inv is None:
            raise ValueError(f"proc {proc} completed {op!r} for order {order_id} without "
                             "invoking it first")
        if inv[0] != op or inv[1] != order_id:
            self.open[proc] = inv
            raise ValueError(f"proc {proc} completed {op!r} for order {order_id} but its "
                             f"open invoke is {inv[0]!r} for order {inv[1]}")
        return inv
