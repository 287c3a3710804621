"""What an order should cost, and whether a platform invoice matches it (domain.md).

Expected line amount = quantity x unit_price and line tax = amount x rate, each rounded
half-up to the cent. Tolerances (domain.md): 0.01 per line on the amount, 0.06 per line on
the tax but at most 1.27 on the whole invoice's tax; total = amount + tax exactly.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, NamedTuple

__all__ = ["Spec", "spec_of", "mismatch_reason", "AMOUNT_TOL_PER_LINE", "TAX_TOL_PER_LINE",
           "TAX_TOL_INVOICE"]

CENT = Decimal("0.01")
AMOUNT_TOL_PER_LINE = Decimal("0.01")
TAX_TOL_PER_LINE = Decimal("0.06")
TAX_TOL_INVOICE = Decimal("1.27")


class Spec(NamedTuple):
    """The expected invoice of an order: compact, one per order."""

    seller_tax_id: str
    buyer_tax_id: str | None
    amount: str          # expected amount, two decimals
    tax: str             # expected tax, two decimals
    lines: int
    total: str           # amount + tax


# (quantity, unit_price, tax_rate) -> (amount, tax): orders repeat catalogue lines, and
# Decimal arithmetic is the cost of this module.
_LINE_CACHE: dict[tuple, tuple[Decimal, Decimal]] = {}
_LINE_CACHE_MAX = 200_000


def _line(q: Any, p: Any, r: Any) -> tuple[Decimal, Decimal]:
    key = (q, p, r)
    hit = _LINE_CACHE.get(key)
    if hit is not None:
        return hit
    try:
        amount = (Decimal(q) * Decimal(p)).quantize(CENT, rounding=ROUND_HALF_UP)
        tax = (amount * Decimal(r)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, TypeError):
        raise ValueError(f"order line quantity {q!r}, unit_price {p!r}, tax_rate {r!r} "
                         "are not all decimal numbers") from None
    if len(_LINE_CACHE) < _LINE_CACHE_MAX:
        _LINE_CACHE[key] = (amount, tax)
    return amount, tax


def _norm_tax_id(v: Any) -> str | None:
    return v if v else None


_SPEC_CACHE: dict[tuple, Spec] = {}


def spec_of(order: dict[str, Any]) -> Spec:
    """The expected invoice for an issue invoke's validated `order` (shops repeat baskets,
    so identical ones share one Spec)."""
    lines = order["lines"]
    key = (order["seller_tax_id"], order["buyer"].get("tax_id"),
           *[(ln["quantity"], ln["unit_price"], ln["tax_rate"]) for ln in lines])
    hit = _SPEC_CACHE.get(key)
    if hit is not None:
        return hit
    amount = Decimal(0)
    tax = Decimal(0)
    for line in lines:
        a, x = _line(line["quantity"], line["unit_price"], line["tax_rate"])
        amount += a
        tax += x
    spec = Spec(order["seller_tax_id"], _norm_tax_id(order["buyer"].get("tax_id")),
                str(amount), str(tax), len(lines), str(amount + tax))
    if len(_SPEC_CACHE) < _LINE_CACHE_MAX:
        _SPEC_CACHE[key] = spec
    return spec


def _dec(s: str, what: str) -> Decimal:
    try:
        return Decimal(s)
    except InvalidOperation:
        raise ValueError(f"ledger {what} {s!r} is not a decimal number") from None


def mismatch_reason(spec: Spec, seller: Any, buyer: Any, amount: str, tax: str,
                    total: str) -> str | None:
    """None when the platform's blue invoice matches the order, else what differs."""
    if (amount == spec.amount and tax == spec.tax and total == spec.total
            and seller == spec.seller_tax_id and (buyer or None) == spec.buyer_tax_id):
        return None          # the common case, without Decimal arithmetic
    if seller != spec.seller_tax_id:
        return f"seller_tax_id {seller} on the invoice, {spec.seller_tax_id} ordered"
    if _norm_tax_id(buyer) != spec.buyer_tax_id:
        return f"buyer_tax_id {buyer} on the invoice, {spec.buyer_tax_id} ordered"
    a = _dec(amount, "amount")
    x = _dec(tax, "tax")
    if amount != spec.amount:
        tol = AMOUNT_TOL_PER_LINE * spec.lines
        if abs(a - Decimal(spec.amount)) > tol:
            return f"amount {amount} on the invoice, {spec.amount} ordered (tolerance {tol})"
    if tax != spec.tax:
        tol = min(TAX_TOL_PER_LINE * spec.lines, TAX_TOL_INVOICE)
        if abs(x - Decimal(spec.tax)) > tol:
            return f"tax {tax} on the invoice, {spec.tax} ordered (tolerance {tol})"
    if _dec(total, "total") != a + x:
        return f"total {total} is not amount {amount} + tax {tax}"
    return None
