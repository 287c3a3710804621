"""Literal history events and ledger lines (design.md s.7), so each test reads like Jepsen's
checker_test.clj: the one builder of the checker's, the recovery figures' and the report's
tests."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

SELLER = "91110000600001760P"
BUYER = "911101017967003199"
T0 = 1_767_225_600.0          # epoch of t = 0


def order(qty: str = "2", price: str = "10.00", rate: str = "0.13", buyer: str | None = None,
          seller: str = SELLER) -> dict[str, Any]:
    return {"seller_tax_id": seller, "buyer": {"name": "张三", "tax_id": buyer},
            "lines": [{"name": "商品", "quantity": qty, "unit_price": price, "tax_rate": rate}],
            "kind": "normal"}


def ev(t: float, proc: str, op: str, typ: str, oid: str, *, t0: float = T0,
       **kw: Any) -> dict[str, Any]:
    """One history line: every key of s.7, `kw` set on top; `ts` is `t0` + t."""
    d = {"t": t, "ts": t0 + t, "proc": proc, "op": op, "type": typ, "order_id": oid,
         "invoice_no": None, "result": None, "status": None, "latency_ms": None, "error": None}
    d.update(kw)
    return d


def issue(t: float, proc: str, oid: str, **order_kw: Any) -> dict[str, Any]:
    return ev(t, proc, "issue", "invoke", oid, order=order(**order_kw))


def done(t: float, proc: str, op: str, oid: str, typ: str = "ok", result: str | None = None,
         no: str | None = None, status: int | None = None, latency_ms: float = 10.0) -> dict[str, Any]:
    if status is None:
        status = {"issued": 201, "pending": 202, "failed": 422, "not_found": 404}.get(result or "")
    return ev(t, proc, op, typ, oid, result=result, invoice_no=no, status=status,
              latency_ms=latency_ms)


def call(t: float, proc: str, op: str, oid: str, typ: str = "ok", result: str | None = None,
         no: str | None = None, dt: float = 0.1, **kw: Any) -> list[dict[str, Any]]:
    """An invoke and its completion `dt` later (issue invokes carry the order)."""
    first = issue(t, proc, oid, **kw) if op == "issue" else ev(t, proc, op, "invoke", oid,
                                                                 invoice_no=no if op == "verify" else None)
    return [first, done(t + dt, proc, op, oid, typ, result, no)]


def blue(no: str, oid: str | None, t: float = 0.05, amount: str = "20.00", tax: str | None = None,
         seller: str = SELLER, buyer: str | None = None, rate: str = "0.13") -> dict[str, Any]:
    if tax is None:
        tax = str((Decimal(amount) * Decimal(rate)).quantize(Decimal("0.01"), ROUND_HALF_UP))
    return {"invoice_no": no, "kind": "blue", "request_id": f"r-{no}", "order_ref": oid,
            "seller_tax_id": seller, "buyer_tax_id": buyer, "amount": amount, "tax": tax,
            "total": str(Decimal(amount) + Decimal(tax)), "issued_at": T0 + t,
            "original_invoice_no": None}


def red(no: str, of: dict[str, Any], t: float = 5.0, fraction: str = "1") -> dict[str, Any]:
    f = Decimal(fraction)
    amount = -(Decimal(of["amount"]) * f).quantize(Decimal("0.01"))
    tax = -(Decimal(of["tax"]) * f).quantize(Decimal("0.01"))
    return {"invoice_no": no, "kind": "red", "request_id": f"r-{no}", "order_ref": of["order_ref"],
            "seller_tax_id": of["seller_tax_id"], "buyer_tax_id": of["buyer_tax_id"],
            "amount": str(amount), "tax": str(tax), "total": str(amount + tax),
            "issued_at": T0 + t, "original_invoice_no": of["invoice_no"]}


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def write_files(d: Any, history: list, ledger: list) -> tuple[Any, Any]:
    """history.jsonl and platform-ledger.jsonl in directory `d`, one orjson line per record
    (records or their dicts)."""
    import orjson
    as_dict = lambda r: r if isinstance(r, dict) else r.to_dict()  # noqa: E731
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    h.write_bytes(b"".join(orjson.dumps(as_dict(e)) + b"\n" for e in history))
    led.write_bytes(b"".join(orjson.dumps(as_dict(x)) + b"\n" for x in ledger))
    return h, led
