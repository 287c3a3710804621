"""A `requestBillingNew` order and a `saveInvoiceRedConfirm` form, checked (pure, no I/O).

The order's wire fields map onto the core's issue request: `orderNo` -> `order_ref`,
`salerTaxNum` -> `seller_tax_id`, `buyerName`/`buyerTaxNum` -> the buyer, `invoiceLine`
`pc` (普票) / `bs` (专票) -> `normal` / `special`, each `invoiceDetail` line -> a line
(`num`, `price`, `taxRate`, `tax`; with `withTaxFlag` 1 the price includes VAT and the
line's tax is split off half-up). Then the core's own validation (validation.py) decides,
so the amounts of every profile follow one set of rules; its refusals become E9130 (an
amount), E9131 (a tax) or E4000 (anything else), the describe naming the field.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fakes.common.money import parse_decimal, quantize

from ...errors import ApiError
from ...validation import ALLOWED_RATES, IssueOrder, validate_issue
from .codes import AMOUNT, BAD_FIELD, TAX, NuonuoError

__all__ = ["parse_order", "parse_red", "json_body", "RedForm", "MAX_ORDER_NO", "MAX_DETAIL",
           "LINE_KINDS"]

MAX_ORDER_NO = 20
MAX_DETAIL = 2000
LINE_KINDS = {"pc": "normal", "bs": "special"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_TAX_TOLERANCE = Decimal("0.06")
_AMOUNT_TOLERANCE = Decimal("0.01")
RED_REASONS = {"1": "01", "2": "02", "3": "03", "4": "04"}


def json_body(raw: bytes) -> Any:
    """The business JSON of an envelope, numbers with a fraction read as Decimal (a JSON
    number is decimal text: `8.10` stays 8.10); E4000 when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError) as exc:
        raise NuonuoError(BAD_FIELD, f"body: not valid JSON ({exc})") from None


def _bad(field: str, why: str, code: str = BAD_FIELD) -> NuonuoError:
    return NuonuoError(code, f"{field}: {why}")


def _str(obj: dict[str, Any], key: str, path: str, required: bool = True,
         max_len: int = 200) -> str | None:
    v = obj.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise _bad(path, "不能为空 (required)")
        return None
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise _bad(path, "must be a string")
    v = v.strip()
    if len(v) > max_len:
        raise _bad(path, f"at most {max_len} characters")
    return v


def _dec(obj: dict[str, Any], key: str, path: str, required: bool = True) -> Decimal | None:
    v = obj.get(key)
    if v is None or v == "":
        if required:
            raise _bad(path, "不能为空 (required)")
        return None
    if isinstance(v, Decimal):             # a JSON number, read exactly (json_body)
        if not v.is_finite():
            raise _bad(path, "must be a finite number")
        return v
    try:
        return parse_decimal(v)
    except ValueError as exc:
        raise _bad(path, str(exc)) from None


def _line(raw: Any, i: int) -> dict[str, str]:
    p = f"invoiceDetail[{i}]"
    if not isinstance(raw, dict):
        raise _bad(p, "must be a JSON object")
    name = _str(raw, "goodsName", f"{p}.goodsName")
    num = _dec(raw, "num", f"{p}.num")
    price = _dec(raw, "price", f"{p}.price")
    rate = _dec(raw, "taxRate", f"{p}.taxRate")
    assert num is not None and price is not None and rate is not None
    if rate not in ALLOWED_RATES:
        raise _bad(f"{p}.taxRate", f"{raw.get('taxRate')!r} is not an allowed VAT rate")
    flag = str(raw.get("withTaxFlag", "0"))
    if flag not in ("0", "1"):
        raise _bad(f"{p}.withTaxFlag", "must be 0 (price without VAT) or 1 (with VAT)")
    if num <= 0 or price <= 0:
        raise _bad(f"{p}.num" if num <= 0 else f"{p}.price", "must be greater than 0")
    tax = _dec(raw, "tax", f"{p}.tax", required=False)
    excl = _dec(raw, "taxExcludedAmount", f"{p}.taxExcludedAmount", required=False)
    incl = _dec(raw, "taxIncludedAmount", f"{p}.taxIncludedAmount", required=False)
    if flag == "1":
        gross = num * price
        if incl is not None and abs(incl - gross) > _AMOUNT_TOLERANCE:
            raise _bad(f"{p}.taxIncludedAmount", f"{incl} differs from num x price = {gross}",
                       AMOUNT)
        gross = quantize(incl if incl is not None else gross)
        tax_due = quantize(gross * rate / (1 + rate))
        amount = gross - (tax if tax is not None else tax_due)
        unit = (amount / num).quantize(Decimal("0.00000001"))
    else:
        amount = quantize(num * price)
        if excl is not None and abs(excl - num * price) > _AMOUNT_TOLERANCE:
            raise _bad(f"{p}.taxExcludedAmount", f"{excl} differs from num x price = "
                       f"{num * price}", AMOUNT)
        unit = price
    if tax is not None and abs(amount * rate - tax) > _TAX_TOLERANCE:
        raise _bad(f"{p}.tax", f"{tax} differs from amount x taxRate = {amount * rate} by more "
                   f"than {_TAX_TOLERANCE}", TAX)
    out = {"name": name or "", "quantity": format(num, "f"), "unit_price": format(unit, "f"),
           "tax_rate": ALLOWED_RATES[rate], "amount": format(quantize(amount), "f")}
    if tax is not None:
        out["tax"] = format(quantize(tax), "f")
    return out


def parse_order(body: Any, serial: str) -> tuple[IssueOrder, str | None]:
    """(the order as the core's `IssueOrder`, its callBackUrl) or `NuonuoError`."""
    if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
        raise _bad("order", "the body must be {\"order\": {...}}")
    o = body["order"]
    order_no = _str(o, "orderNo", "order.orderNo", max_len=64)
    assert order_no is not None
    if len(order_no) > MAX_ORDER_NO:
        raise _bad("order.orderNo", f"at most {MAX_ORDER_NO} characters")
    date = _str(o, "invoiceDate", "order.invoiceDate")
    if not _DATE.match(date or ""):
        raise _bad("order.invoiceDate", "must be yyyy-MM-dd HH:mm:ss")
    kind = str(o.get("invoiceType", "1"))
    if kind == "2":
        raise _bad("order.invoiceType", "a red invoice of a 数电 invoice goes through "
                   "nuonuo.OpeMplatform.saveInvoiceRedConfirm (红字确认单)")
    if kind != "1":
        raise _bad("order.invoiceType", "must be 1 (blue)")
    line_kind = _str(o, "invoiceLine", "order.invoiceLine")
    if line_kind not in LINE_KINDS:
        raise _bad("order.invoiceLine", f"{line_kind!r}: this platform issues the 数电 "
                   "electronic kinds pc (普票) and bs (专票)")
    details = o.get("invoiceDetail")
    if not isinstance(details, list) or not details:
        raise _bad("order.invoiceDetail", "must be a non-empty list")
    if len(details) > MAX_DETAIL:
        raise _bad("order.invoiceDetail", f"at most {MAX_DETAIL} lines")
    lines = [_line(d, i) for i, d in enumerate(details)]
    buyer: dict[str, Any] = {"name": _str(o, "buyerName", "order.buyerName")}
    buyer_tax = _str(o, "buyerTaxNum", "order.buyerTaxNum", required=False)
    if buyer_tax:
        buyer["tax_id"] = buyer_tax
    callback = _str(o, "callBackUrl", "order.callBackUrl", required=False, max_len=500)
    core = {"request_id": serial, "order_ref": order_no,
            "seller_tax_id": _str(o, "salerTaxNum", "order.salerTaxNum"),
            "buyer": buyer, "kind": LINE_KINDS[line_kind], "lines": lines}
    try:
        return validate_issue(core), callback
    except ApiError as exc:
        raise _map(exc) from None


_FIELDS = (("lines", "order.invoiceDetail"), ("seller_tax_id", "order.salerTaxNum"),
           ("buyer.tax_id", "order.buyerTaxNum"), ("buyer.name", "order.buyerName"),
           ("quantity", "num"), ("unit_price", "price"), ("tax_rate", "taxRate"))


def _map(exc: ApiError) -> NuonuoError:
    msg = exc.message
    for ours, theirs in _FIELDS:
        msg = msg.replace(ours, theirs)
    code = {"amount_mismatch": AMOUNT, "tax_mismatch": TAX}.get(exc.code, BAD_FIELD)
    return NuonuoError(code, msg)


@dataclass(frozen=True, slots=True)
class RedForm:
    """A 红字确认单 for the full reversal of one blue 数电 invoice."""
    blue_no: str
    order_no: str
    seller_tax_id: str
    reason: str              # domain.md's code, "01".."04"
    callback: str | None


def parse_red(body: Any) -> RedForm:
    if not isinstance(body, dict):
        raise _bad("body", "must be a JSON object")
    blue = _str(body, "blueElecInvoiceNumber", "blueElecInvoiceNumber", max_len=20)
    if not re.fullmatch(r"\d{20}", blue or ""):
        raise _bad("blueElecInvoiceNumber", "must be the 20-digit 数电 number of the blue invoice")
    line = _str(body, "blueInvoiceLine", "blueInvoiceLine", required=False)
    if line is not None and line not in LINE_KINDS:
        raise _bad("blueInvoiceLine", "must be pc or bs")
    source = str(body.get("applySource", "0"))
    if source != "0":
        raise _bad("applySource", "this platform takes the seller's application (0) only")
    reason = str(body.get("redReason", ""))
    if reason not in RED_REASONS:
        raise _bad("redReason", "must be 1 (开票有误), 2 (销货退回), 3 (服务中止) or 4 (销售折让)")
    if body.get("detail"):
        raise _bad("detail", "partial reversal is not offered: leave detail out to reverse "
                   "the whole invoice")
    order_no = _str(body, "orderNo", "orderNo", max_len=64)
    assert order_no is not None
    if len(order_no) > MAX_ORDER_NO:
        raise _bad("orderNo", f"at most {MAX_ORDER_NO} characters")
    seller = _str(body, "sellerTaxNo", "sellerTaxNo")
    callback = _str(body, "callBackUrl", "callBackUrl", required=False, max_len=500)
    return RedForm(blue or "", order_no, seller or "", RED_REASONS[reason], callback)
