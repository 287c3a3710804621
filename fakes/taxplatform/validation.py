"""Pure validation and amount arithmetic of the platform's requests (no I/O, no clock).

Strict on purpose: the platform is the fixed point merchants are judged against. Money
arrives as decimal strings (ints are tolerated, floats refused) and is checked within the
tolerances of domain.md; where a merchant leaves a line's `amount` or `tax` out, the
platform computes it half-up to the cent. Every refusal is an `ApiError` whose message
starts with the field path (`lines[2].tax_rate: ...`).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fakes.common import uscc
from fakes.common.money import parse_decimal, quantize

from .errors import ApiError, invalid, missing
from .numbering import NUMBER_RE

__all__ = ["ALLOWED_RATES", "Line", "IssueOrder", "RedOrder", "validate_issue", "validate_red",
           "validate_login", "validate_range", "rate_str", "dec_str", "text", "tax_id", "RED_REASONS",
           "LINE_AMOUNT_TOLERANCE", "LINE_TAX_TOLERANCE", "INVOICE_TAX_TOLERANCE", "MAX_LINES"]

ALLOWED_RATES: dict[Decimal, str] = {Decimal(s): s for s in
                                     ("0.13", "0.09", "0.06", "0.05", "0.03", "0.01", "0")}
LINE_AMOUNT_TOLERANCE = Decimal("0.01")
LINE_TAX_TOLERANCE = Decimal("0.06")
INVOICE_TAX_TOLERANCE = Decimal("1.27")
MAX_LINES = 5000
MAX_VALUE = Decimal("1000000000000")   # 10^12: no real line is larger; keeps Decimal sane
QUANTITY_PLACES = 6
PRICE_PLACES = 8
MAX_TEXT = 200
MAX_ID = 64
RED_REASONS = {"01": "开票有误", "02": "销货退回", "03": "服务中止", "04": "销售折让"}
KINDS = ("normal", "special")


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    amount: Decimal
    tax: Decimal

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "quantity": dec_str(self.quantity),
                "unit_price": dec_str(self.unit_price), "tax_rate": rate_str(self.tax_rate),
                "amount": str(self.amount), "tax": str(self.tax)}


@dataclass(frozen=True, slots=True)
class IssueOrder:
    request_id: str
    order_ref: str
    seller_tax_id: str
    buyer_name: str
    buyer_tax_id: str | None
    invoice_type: str            # normal (普票, 82) | special (专票, 81)
    lines: tuple[Line, ...]
    amount: Decimal              # excluding VAT
    tax: Decimal
    total: Decimal
    invoice_no: str | None = None    # only under dedup=invoice_number


@dataclass(frozen=True, slots=True)
class RedOrder:
    request_id: str
    reason: str


def dec_str(d: Decimal) -> str:
    """Plain notation, never an exponent ("10", not "1E+1")."""
    return format(d, "f")


def rate_str(d: Decimal) -> str:
    return ALLOWED_RATES.get(d) or dec_str(d)


def _object(body: Any, what: str = "body") -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_type", f"{what}: must be a JSON object", field=what)
    return body


def text(obj: dict[str, Any], key: str, path: str, *, max_len: int = MAX_TEXT,
          required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise missing(path)
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_type", f"{path}: must be a string", field=path)
    value = value.strip()
    if not value:
        if required:
            raise invalid(path, "must not be empty")
        return None
    if len(value) > max_len:
        raise invalid(path, f"must be at most {max_len} characters")
    return value


def tax_id(value: str, path: str) -> str:
    why = uscc.invalid_reason(value)
    if why:
        raise invalid(path, f"{value!r} is not a valid unified social credit code: {why}",
                      "invalid_tax_id")
    return value


def _decimal(obj: dict[str, Any], key: str, path: str, *, required: bool = True,
             places: int | None = None) -> Decimal | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise missing(path)
        return None
    if isinstance(value, str) and len(value) > 40:
        raise invalid(path, "too long for a number", "invalid_amount")
    try:
        d = parse_decimal(value)
    except ValueError as exc:
        raise invalid(path, str(exc), "invalid_amount") from None
    if abs(d) >= MAX_VALUE:
        raise invalid(path, f"must be below {MAX_VALUE}", "invalid_amount")
    if places is not None and d.as_tuple().exponent < -places:   # type: ignore[operator]
        raise invalid(path, f"at most {places} decimal places", "invalid_amount")
    return d


def _line(raw: Any, i: int) -> Line:
    p = f"lines[{i}]"
    obj = _object(raw, p)
    name = text(obj, "name", f"{p}.name")
    quantity = _decimal(obj, "quantity", f"{p}.quantity", places=QUANTITY_PLACES)
    assert quantity is not None
    if quantity <= 0:
        raise invalid(f"{p}.quantity", "must be greater than 0", "invalid_quantity")
    unit_price = _decimal(obj, "unit_price", f"{p}.unit_price", places=PRICE_PLACES)
    assert unit_price is not None
    if unit_price <= 0:
        raise invalid(f"{p}.unit_price", "must be greater than 0", "invalid_amount")
    rate = _decimal(obj, "tax_rate", f"{p}.tax_rate")
    if rate not in ALLOWED_RATES:
        raise invalid(f"{p}.tax_rate", f"{obj.get('tax_rate')!r} is not an allowed VAT rate "
                      "(\"0.13\", \"0.09\", \"0.06\", \"0.05\", \"0.03\", \"0.01\", \"0\")",
                      "invalid_tax_rate")
    assert rate is not None
    exact = unit_price * quantity
    amount = _decimal(obj, "amount", f"{p}.amount", required=False, places=2)
    if amount is None:
        amount = quantize(exact)
    elif abs(exact - amount) > LINE_AMOUNT_TOLERANCE:
        raise invalid(f"{p}.amount", f"{dec_str(amount)} differs from unit_price x quantity "
                      f"= {dec_str(exact)} by more than {LINE_AMOUNT_TOLERANCE}", "amount_mismatch")
    if amount <= 0:
        raise invalid(f"{p}.amount", "must be greater than 0.00", "invalid_amount")
    exact_tax = amount * rate
    tax = _decimal(obj, "tax", f"{p}.tax", required=False, places=2)
    if tax is None:
        tax = quantize(exact_tax)
    elif tax < 0 or abs(exact_tax - tax) > LINE_TAX_TOLERANCE or (rate == 0 and tax != 0):
        raise invalid(f"{p}.tax", f"{dec_str(tax)} differs from amount x tax_rate = "
                      f"{dec_str(exact_tax)} by more than {LINE_TAX_TOLERANCE}", "tax_mismatch")
    return Line(name=name or "", quantity=quantity, unit_price=unit_price, tax_rate=rate,
                amount=quantize(amount), tax=quantize(tax))


def validate_issue(body: Any, *, require_invoice_no: bool = False) -> IssueOrder:
    """An issue request -> an `IssueOrder` with amounts that add up, or an `ApiError`."""
    obj = _object(body)
    request_id = text(obj, "request_id", "request_id", max_len=MAX_ID)
    order_ref = text(obj, "order_ref", "order_ref", max_len=MAX_ID)
    seller = tax_id(text(obj, "seller_tax_id", "seller_tax_id") or "", "seller_tax_id")
    buyer = obj.get("buyer")
    if buyer is None:
        raise missing("buyer")
    buyer = _object(buyer, "buyer")
    buyer_name = text(buyer, "name", "buyer.name")
    buyer_tax_id = text(buyer, "tax_id", "buyer.tax_id", required=False)
    if buyer_tax_id is not None:
        tax_id(buyer_tax_id, "buyer.tax_id")
    kind = obj.get("kind")
    if kind is None:
        raise missing("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise invalid("kind", f"{kind!r} must be \"normal\" (普票) or \"special\" (专票)")
    if kind == "special" and buyer_tax_id is None:
        raise invalid("buyer.tax_id", "a special invoice (专票) needs the buyer's tax id",
                      "buyer_tax_id_required")
    raw_lines = obj.get("lines")
    if raw_lines is None:
        raise missing("lines")
    if not isinstance(raw_lines, list):
        raise ApiError(422, "invalid_type", "lines: must be a list", field="lines")
    if not raw_lines:
        raise invalid("lines", "must hold at least one line")
    if len(raw_lines) > MAX_LINES:
        raise invalid("lines", f"at most {MAX_LINES} lines per invoice")
    lines = tuple(_line(raw, i) for i, raw in enumerate(raw_lines))
    amount = sum((ln.amount for ln in lines), Decimal("0.00"))
    tax = sum((ln.tax for ln in lines), Decimal("0.00"))
    exact_tax = sum((ln.amount * ln.tax_rate for ln in lines), Decimal(0))
    if abs(exact_tax - tax) > INVOICE_TAX_TOLERANCE:
        raise invalid("lines", f"the line taxes add up to {tax}, which differs from "
                      f"sum(amount x tax_rate) = {dec_str(exact_tax)} by more than "
                      f"{INVOICE_TAX_TOLERANCE}", "tax_mismatch")
    invoice_no = None
    if require_invoice_no:
        invoice_no = obj.get("invoice_no")
        if invoice_no is None:
            raise missing("invoice_no")
        if not isinstance(invoice_no, str) or not NUMBER_RE.match(invoice_no):
            raise invalid("invoice_no", "must be a 20-digit invoice number from a downloaded "
                          "range", "invalid_invoice_no")
    elif obj.get("invoice_no") is not None:
        raise invalid("invoice_no", "not accepted: this platform numbers invoices itself "
                      "(dedup is not invoice_number)", "invalid_invoice_no")
    return IssueOrder(request_id=request_id or "", order_ref=order_ref or "",
                      seller_tax_id=seller, buyer_name=buyer_name or "",
                      buyer_tax_id=buyer_tax_id, invoice_type=kind, lines=lines,
                      amount=quantize(amount), tax=quantize(tax),
                      total=quantize(amount + tax), invoice_no=invoice_no)


def validate_red(body: Any) -> RedOrder:
    obj = _object(body)
    request_id = text(obj, "request_id", "request_id", max_len=MAX_ID)
    reason = obj.get("reason")
    if reason is None:
        raise missing("reason")
    if not isinstance(reason, str) or reason not in RED_REASONS:
        raise invalid("reason", f"{reason!r} must be one of \"01\" (开票有误), \"02\" (销货退回), "
                      "\"03\" (服务中止), \"04\" (销售折让)", "invalid_reason")
    return RedOrder(request_id=request_id or "", reason=reason)


def validate_login(body: Any) -> tuple[str, str]:
    obj = _object(body)
    seller = text(obj, "seller_tax_id", "seller_tax_id") or ""
    secret = text(obj, "secret", "secret") or ""
    return seller, secret


def validate_range(body: Any, max_count: int = 5000) -> tuple[str, int]:
    obj = _object(body)
    seller = tax_id(text(obj, "seller_tax_id", "seller_tax_id") or "", "seller_tax_id")
    count = obj.get("count")
    if count is None:
        raise missing("count")
    if isinstance(count, bool) or not isinstance(count, int):
        raise ApiError(422, "invalid_type", "count: must be an integer", field="count")
    if not 1 <= count <= max_count:
        raise invalid("count", f"must be between 1 and {max_count}")
    return seller, count
