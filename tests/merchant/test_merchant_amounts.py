"""The merchant computes line amount and tax itself: Decimal, half-up to the cent."""
from __future__ import annotations

from decimal import Decimal

import pytest

from fakes.merchant.amounts import Line, OrderError, line_amounts, parse_order, platform_lines

SELLER = "91110000600001760P"
BUYER = "91350100M000100Y43"


def _body(**over):
    body = {"order_id": "A1", "seller_tax_id": SELLER, "buyer": {"name": "张三"},
            "lines": [{"name": "茶叶", "quantity": "3", "unit_price": "33.335", "tax_rate": "0.13"}],
            "kind": "normal"}
    body.update(over)
    return body


@pytest.mark.parametrize("qty, price, rate, amount, tax", [
    ("3", "33.335", "0.13", "100.01", "13.00"),     # 100.005 -> 100.01 half-up; 13.0013 -> 13.00
    ("1", "0.05", "0.13", "0.05", "0.01"),          # 0.0065 -> 0.01 (banker's would give 0.01 too)
    ("1", "0.25", "0.06", "0.25", "0.02"),          # 0.015 -> 0.02 half-up (banker's: 0.02)
    ("1", "0.45", "0.03", "0.45", "0.01"),          # 0.0135 -> 0.01
    ("2", "1.125", "0.09", "2.25", "0.20"),         # 0.2025 -> 0.20
    ("1", "0.5", "0.01", "0.50", "0.01"),           # 0.005 -> 0.01 half-up (banker's: 0.00)
    ("1.5", "10", "0", "15.00", "0.00"),
])
def test_line_amounts_half_up(qty, price, rate, amount, tax):
    got = line_amounts(Line("x", Decimal(qty), Decimal(price), Decimal(rate)))
    assert got == (Decimal(amount), Decimal(tax))


def test_platform_lines_are_strings_within_tolerance():
    out = platform_lines([Line("x", Decimal("7"), Decimal("19.99"), Decimal("0.13"))])
    assert out == [{"name": "x", "quantity": "7", "unit_price": "19.99", "tax_rate": "0.13",
                    "amount": "139.93", "tax": "18.19"}]
    a = Decimal(out[0]["amount"])
    assert abs(a * Decimal("0.13") - Decimal(out[0]["tax"])) <= Decimal("0.06")


def test_parse_order_ok():
    order = parse_order(_body(buyer={"name": "某公司", "tax_id": BUYER}, kind="special"), {SELLER})
    assert order.order_id == "A1" and order.buyer == {"name": "某公司", "tax_id": BUYER}
    assert order.lines[0].unit_price == Decimal("33.335")


@pytest.mark.parametrize("over, status, code", [
    ({"order_id": ""}, 400, "invalid_field"),
    ({"order_id": "x" * 65}, 400, "invalid_field"),
    ({"seller_tax_id": "91110000600001760Q"}, 422, "invalid_seller"),
    ({"seller_tax_id": "9144030071526726XG"}, 422, "unknown_seller"),
    ({"kind": "special"}, 422, "buyer_tax_id_required"),
    ({"kind": "blue"}, 400, "invalid_field"),
    ({"lines": []}, 400, "invalid_field"),
    ({"lines": [{"name": "x", "quantity": 1.5, "unit_price": "1", "tax_rate": "0.13"}]}, 400, "invalid_field"),
    ({"lines": [{"name": "x", "quantity": "1", "unit_price": "1", "tax_rate": "0.17"}]}, 422, "invalid_tax_rate"),
    ({"lines": [{"name": "x", "quantity": "0", "unit_price": "1", "tax_rate": "0.13"}]}, 422, "invalid_field"),
    ({"lines": [{"name": "x", "quantity": "1", "unit_price": "NaN", "tax_rate": "0.13"}]}, 400, "invalid_field"),
    ({"buyer": "张三"}, 400, "invalid_field"),
])
def test_parse_order_refusals(over, status, code):
    with pytest.raises(OrderError) as e:
        parse_order(_body(**over), {SELLER})
    assert (e.value.status, e.value.error) == (status, code)


def test_parse_order_not_an_object():
    with pytest.raises(OrderError) as e:
        parse_order([1, 2], {SELLER})
    assert e.value.error == "invalid_json"
