"""Order validation and amount computation: the merchant computes each line's amount and tax
itself (Decimal, half-up to the cent, domain.md) before anything goes to the platform.

`parse_order` turns a customer's JSON body into an `Order` or raises `OrderError` with a
stable code, so bad input becomes a 400/422 and never a 500.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fakes.common.regime import CN, regime_of
from fakes.common.money import money_str, parse_decimal, quantize

__all__ = ["RATES", "MAX_LINES", "Line", "Order", "OrderError", "parse_order", "line_amounts",
           "platform_lines"]

# VAT rates of domain.md (0 covers exports and exempt lines); a Polish seller's are PL.rates
RATES = CN.rates
MAX_LINES = 2000
KINDS = ("normal", "special")


class OrderError(ValueError):
    """A request the merchant refuses; `status` is 400 (malformed) or 422 (semantically wrong)."""

    def __init__(self, error: str, message: str, status: int = 400):
        super().__init__(message)
        self.error = error
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    seller_tax_id: str
    buyer: dict[str, str]
    lines: tuple[Line, ...]
    kind: str

    def to_json(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "seller_tax_id": self.seller_tax_id,
                "buyer": dict(self.buyer), "kind": self.kind,
                "lines": [{"name": ln.name, "quantity": str(ln.quantity),
                           "unit_price": str(ln.unit_price), "tax_rate": str(ln.tax_rate)}
                          for ln in self.lines]}


def line_amounts(line: Line) -> tuple[Decimal, Decimal]:
    """(amount, tax) of one line: amount = quantity x unit price, tax = amount x rate, each
    rounded half-up to the cent, so |amount x rate - tax| <= 0.005 (the platform allows 0.06)."""
    amount = quantize(line.quantity * line.unit_price)
    return amount, quantize(amount * line.tax_rate)


def platform_lines(lines: tuple[Line, ...] | list[Line]) -> list[dict[str, str]]:
    """The lines as the platform wants them: money as decimal strings, amount and tax filled in."""
    out = []
    for ln in lines:
        amount, tax = line_amounts(ln)
        out.append({"name": ln.name, "quantity": str(ln.quantity), "unit_price": str(ln.unit_price),
                    "tax_rate": str(ln.tax_rate), "amount": money_str(amount), "tax": money_str(tax)})
    return out


def _str_field(obj: dict[str, Any], key: str, where: str, max_len: int = 200,
               required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise OrderError("invalid_field", f"{where}{key} must be a non-empty string")
    if len(value) > max_len:
        raise OrderError("invalid_field", f"{where}{key} is longer than {max_len} characters")
    return value


def _decimal_field(obj: dict[str, Any], key: str, where: str) -> Decimal:
    try:
        return parse_decimal(obj.get(key))
    except ValueError as e:
        raise OrderError("invalid_field", f"{where}{key} {e}") from None


def parse_order(body: Any, sellers: set[str] | None = None) -> Order:
    """Validate a customer's `POST /v1/invoices` body (design.md s.6)."""
    if not isinstance(body, dict):
        raise OrderError("invalid_json", "the body must be a JSON object")
    order_id = _str_field(body, "order_id", "", max_len=64)
    assert order_id is not None
    if "/" in order_id:
        raise OrderError("invalid_field", "order_id must not contain '/'")
    seller = _str_field(body, "seller_tax_id", "", max_len=18)
    assert seller is not None
    regime = regime_of(seller)         # a NIP: a Polish seller (KSeF), else 数电票
    if (why := regime.tax_id_reason(seller)) is not None:
        raise OrderError("invalid_seller", f"seller_tax_id {why}", 422)
    if sellers is not None and seller not in sellers:
        raise OrderError("unknown_seller", f"seller_tax_id {seller} is not in SELLERS_FILE", 422)
    kind = body.get("kind", "normal")
    if kind not in KINDS:
        raise OrderError("invalid_field", f"kind must be one of {', '.join(KINDS)}")
    buyer_in = body.get("buyer")
    if not isinstance(buyer_in, dict):
        raise OrderError("invalid_field", "buyer must be an object {name, tax_id?}")
    buyer: dict[str, str] = {"name": _str_field(buyer_in, "name", "buyer.") or ""}
    tax_id = _str_field(buyer_in, "tax_id", "buyer.", max_len=18, required=False)
    if tax_id is not None:
        if (why := regime.tax_id_reason(tax_id)) is not None:
            raise OrderError("invalid_buyer_tax_id", f"buyer.tax_id {why}", 422)
        buyer["tax_id"] = tax_id
    elif kind == "special":
        raise OrderError("buyer_tax_id_required", "a special (专票) invoice needs buyer.tax_id", 422)
    raw_lines = body.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise OrderError("invalid_field", "lines must be a non-empty list")
    if len(raw_lines) > MAX_LINES:
        raise OrderError("too_many_lines", f"at most {MAX_LINES} lines, got {len(raw_lines)}", 422)
    lines = []
    for i, raw in enumerate(raw_lines):
        where = f"lines[{i}]."
        if not isinstance(raw, dict):
            raise OrderError("invalid_field", f"lines[{i}] must be an object")
        name = _str_field(raw, "name", where) or ""
        qty = _decimal_field(raw, "quantity", where)
        price = _decimal_field(raw, "unit_price", where)
        rate = _decimal_field(raw, "tax_rate", where)
        if qty <= 0:
            raise OrderError("invalid_field", f"{where}quantity must be positive", 422)
        if price < 0:
            raise OrderError("invalid_field", f"{where}unit_price must not be negative", 422)
        if price.as_tuple().exponent < -8 or qty.as_tuple().exponent < -8:  # type: ignore[operator]
            raise OrderError("invalid_field", f"{where}quantity/unit_price have at most 8 decimals", 422)
        if rate not in regime.rates:
            raise OrderError("invalid_tax_rate", f"{where}tax_rate {rate} is not one of "
                             f"{', '.join(sorted(map(str, regime.rates)))}", 422)
        lines.append(Line(name=name, quantity=qty, unit_price=price, tax_rate=rate))
    return Order(order_id=order_id, seller_tax_id=seller, buyer=buyer, lines=tuple(lines), kind=kind)
