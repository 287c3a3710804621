"""Platform ledger lines (design.md s.5): validation of one line."""
from __future__ import annotations

from typing import Any

__all__ = ["LEDGER_KEYS", "ledger_fields"]

LEDGER_KEYS: tuple[str, ...] = (
    "invoice_no", "kind", "request_id", "order_ref", "seller_tax_id", "buyer_tax_id",
    "amount", "tax", "total", "issued_at", "original_invoice_no",
)


#: LEDGER_KEYS' values, `issued_at` as a float
LedgerFields = tuple[str, str, Any, "str | None", Any, Any, str, str, str, float, "str | None"]


def ledger_fields(d: Any) -> LedgerFields:
    """Validate one ledger line and return its fields in LEDGER_KEYS order.

    Every key must be present (null allowed where the platform may have no value);
    money stays a decimal string here and is parsed only where it is compared.
    """
    if type(d) is not dict:
        raise ValueError(f"a ledger line must be a JSON object, got {type(d).__name__}")
    try:
        f = (d["invoice_no"], d["kind"], d["request_id"], d["order_ref"], d["seller_tax_id"],
             d["buyer_tax_id"], d["amount"], d["tax"], d["total"], d["issued_at"],
             d["original_invoice_no"])
    except KeyError as e:
        raise ValueError(f"missing field {e.args[0]!r}") from None
    if type(f[0]) is not str:
        raise ValueError(f"field 'invoice_no' must be a string, got {f[0]!r}")
    if f[1] != "blue" and f[1] != "red":
        raise ValueError(f"field 'kind' must be 'blue' or 'red', got {f[1]!r}")
    if f[3] is not None and type(f[3]) is not str:
        raise ValueError(f"field 'order_ref' must be a string, got {f[3]!r}")
    for i, k in ((6, "amount"), (7, "tax"), (8, "total")):
        if type(f[i]) is not str:
            raise ValueError(f"field {k!r} must be a decimal string, got {f[i]!r}")
    if type(f[9]) is not float and type(f[9]) is not int:
        raise ValueError(f"field 'issued_at' must be epoch seconds, got {f[9]!r}")
    if f[1] == "red" and type(f[10]) is not str:
        raise ValueError("a red invoice needs 'original_invoice_no' (the blue invoice it reverses)")
    try:                         # a float whatever its JSON text, as in duck.py
        return (f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], float(f[9]), f[10])
    except OverflowError:
        raise ValueError("field 'issued_at' is too large to be epoch seconds") from None
