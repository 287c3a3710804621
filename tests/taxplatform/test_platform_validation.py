"""Properties of the pure validation and amount arithmetic (fakes/taxplatform/validation.py)."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fakes.common import uscc
from fakes.common.money import quantize
from fakes.taxplatform.errors import ApiError
from fakes.taxplatform.validation import (INVOICE_TAX_TOLERANCE, LINE_AMOUNT_TOLERANCE,
                                          LINE_TAX_TOLERANCE, validate_issue, validate_red)

RATES = ["0.13", "0.09", "0.06", "0.05", "0.03", "0.01", "0"]
tax_ids = st.integers(0, 2**32).map(lambda n: uscc.generate(random.Random(n)))


@st.composite
def lines(draw) -> dict:
    qty = draw(st.decimals(Decimal("0.001"), Decimal("1000"), places=3))
    price = draw(st.decimals(Decimal("0.01"), Decimal("100000"), places=2))
    assume(qty * price >= Decimal("0.005"))
    rate = draw(st.sampled_from(RATES))
    line = {"name": draw(st.text(min_size=1, max_size=20).filter(str.strip)),
            "quantity": str(qty), "unit_price": str(price), "tax_rate": rate}
    if draw(st.booleans()):                         # merchant computes the amounts itself
        amount = quantize(qty * price) + draw(st.sampled_from(
            [Decimal(0), Decimal("0.01"), Decimal("-0.01")]))
        assume(amount > 0 and abs(qty * price - amount) <= LINE_AMOUNT_TOLERANCE)
        line["amount"] = str(amount)
        if draw(st.booleans()):
            tax = quantize(amount * Decimal(rate))
            if rate != "0":
                tax += draw(st.sampled_from([Decimal(0), Decimal("0.01"), Decimal("-0.02")]))
            assume(tax >= 0)
            line["tax"] = str(tax)
    return line


@st.composite
def orders(draw) -> dict:
    kind = draw(st.sampled_from(["normal", "special"]))
    buyer: dict = {"name": draw(st.sampled_from(["张三", "北京某某科技有限公司", "Li Lei"]))}
    if kind == "special" or draw(st.booleans()):
        buyer["tax_id"] = draw(tax_ids)
    return {"request_id": draw(st.uuids()).hex, "order_ref": f"O{draw(st.integers(0, 10**9))}",
            "seller_tax_id": draw(tax_ids), "buyer": buyer, "kind": kind,
            "lines": draw(st.lists(lines(), min_size=1, max_size=6))}


@settings(max_examples=300, deadline=None)
@given(orders())
def test_any_valid_order_is_accepted_with_amounts_that_add_up(body: dict) -> None:
    o = validate_issue(body)
    assert o.seller_tax_id == body["seller_tax_id"]
    assert len(o.lines) == len(body["lines"])
    assert o.amount == sum(ln.amount for ln in o.lines)
    assert o.tax == sum(ln.tax for ln in o.lines)
    assert o.total == o.amount + o.tax
    assert abs(sum(ln.amount * ln.tax_rate for ln in o.lines) - o.tax) <= INVOICE_TAX_TOLERANCE
    for ln, raw in zip(o.lines, body["lines"]):
        assert ln.amount > 0 and ln.amount == quantize(ln.amount)
        assert abs(ln.unit_price * ln.quantity - ln.amount) <= LINE_AMOUNT_TOLERANCE
        assert abs(ln.amount * ln.tax_rate - ln.tax) <= LINE_TAX_TOLERANCE
        if "amount" in raw:
            assert ln.amount == Decimal(raw["amount"])      # the merchant's value is kept
        else:
            assert ln.amount == quantize(ln.unit_price * ln.quantity)
        if "tax" not in raw:
            assert ln.tax == quantize(ln.amount * ln.tax_rate)


def _bad_check_char(code: str) -> str:
    wrong = next(c for c in uscc.CHARSET if c != code[17])
    return code[:17] + wrong


BAD_RATES = ["0.07", "0.10", "13%", "0.130001", "-0.13", "1", 0.13, "abc", True]
BAD_QUANTITIES = ["0", "-1", 1.5, "abc", "1.1234567", "NaN", "Infinity", None, [], "1e20"]
BAD_PRICES = ["0", "-9.99", 9.99, "x", "1.123456789", "1e13"]


@st.composite
def broken(draw) -> tuple[dict, str]:
    """A valid order with exactly one thing wrong, and the field the refusal must name."""
    body = draw(orders())
    i = draw(st.integers(0, len(body["lines"]) - 1))
    line = body["lines"][i]
    what = draw(st.sampled_from(["seller", "buyer", "rate", "quantity", "price", "amount",
                                 "tax", "missing", "float_amount"]))
    if what == "seller":
        body["seller_tax_id"] = draw(st.sampled_from([
            _bad_check_char(body["seller_tax_id"]), body["seller_tax_id"][:17], "X" * 18,
            body["seller_tax_id"].replace(body["seller_tax_id"][5], "I")]))
        assume(not uscc.is_valid(body["seller_tax_id"]))
        return body, "seller_tax_id"
    if what == "buyer":
        body["buyer"]["tax_id"] = _bad_check_char(draw(tax_ids))
        return body, "buyer.tax_id"
    if what == "rate":
        line["tax_rate"] = draw(st.sampled_from(BAD_RATES))
        return body, f"lines[{i}].tax_rate"
    if what == "quantity":
        line["quantity"] = draw(st.sampled_from(BAD_QUANTITIES))
        return body, f"lines[{i}].quantity"
    if what == "price":
        line["unit_price"] = draw(st.sampled_from(BAD_PRICES))
        return body, f"lines[{i}].unit_price"
    if what == "amount":
        exact = Decimal(line["quantity"]) * Decimal(line["unit_price"])
        off = draw(st.decimals(Decimal("0.02"), Decimal("1000"), places=2))
        line["amount"] = str(quantize(exact + off))
        line.pop("tax", None)
        return body, f"lines[{i}].amount"
    if what == "tax":
        amount = quantize(Decimal(line["quantity"]) * Decimal(line["unit_price"]))
        line["amount"] = str(amount)
        off = draw(st.decimals(Decimal("0.07"), Decimal("1000"), places=2))
        line["tax"] = str(quantize(amount * Decimal(line["tax_rate"])) + off)
        return body, f"lines[{i}].tax"
    if what == "float_amount":
        line["amount"] = float(quantize(Decimal(line["quantity"]) * Decimal(line["unit_price"])))
        return body, f"lines[{i}].amount"
    key = draw(st.sampled_from(["request_id", "order_ref", "seller_tax_id", "buyer", "lines",
                                "kind"]))
    del body[key]
    return body, key


@settings(max_examples=400, deadline=None)
@given(broken())
def test_any_order_with_one_bad_field_is_refused_naming_it(case: tuple[dict, str]) -> None:
    body, field = case
    with pytest.raises(ApiError) as err:
        validate_issue(body)
    e = err.value
    assert 400 <= e.status < 500
    assert e.message.startswith(field + ":"), (field, e.message)
    assert e.body()["error"] and e.body()["message"]


def test_special_invoice_needs_buyer_tax_id() -> None:
    body = {"request_id": "r", "order_ref": "o", "seller_tax_id": "91110000600001760P",
            "buyer": {"name": "张三"}, "kind": "special",
            "lines": [{"name": "a", "quantity": "1", "unit_price": "1", "tax_rate": "0.13"}]}
    with pytest.raises(ApiError) as err:
        validate_issue(body)
    assert err.value.code == "buyer_tax_id_required" and "buyer.tax_id" in err.value.message


def test_rate_zero_line_must_have_zero_tax() -> None:
    body = {"request_id": "r", "order_ref": "o", "seller_tax_id": "91110000600001760P",
            "buyer": {"name": "张三"}, "kind": "normal",
            "lines": [{"name": "a", "quantity": "1", "unit_price": "10", "tax_rate": "0",
                       "tax": "0.05"}]}
    with pytest.raises(ApiError) as err:
        validate_issue(body)
    assert err.value.message.startswith("lines[0].tax:")


def test_invoice_tax_tolerance_is_1_27_over_the_whole_invoice() -> None:
    # 30 lines each 0.05 over: every line is within 0.06, the invoice is 1.50 over -> refused
    line = {"name": "a", "quantity": "1", "unit_price": "10.00", "tax_rate": "0.13",
            "amount": "10.00", "tax": "1.35"}
    body = {"request_id": "r", "order_ref": "o", "seller_tax_id": "91110000600001760P",
            "buyer": {"name": "张三"}, "kind": "normal", "lines": [dict(line)] * 30}
    with pytest.raises(ApiError) as err:
        validate_issue(body)
    assert err.value.code == "tax_mismatch" and err.value.message.startswith("lines:")
    body["lines"] = [dict(line)] * 25                          # 1.25 over: accepted
    assert validate_issue(body).tax == Decimal("33.75")


@pytest.mark.parametrize("reason,ok", [("01", True), ("04", True), ("05", False), (1, False), ({}, False), ([], False),
                                       (None, False)])
def test_red_reason_codes(reason: object, ok: bool) -> None:
    body = {"request_id": "x", "reason": reason}
    if ok:
        assert validate_red(body).reason == reason
    else:
        with pytest.raises(ApiError) as err:
            validate_red(body)
        assert err.value.status == 422 and err.value.message.startswith("reason:")
