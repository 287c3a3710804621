"""Pricing an order in SQL (harness/checker/duck.py `line_amount` / `line_tax`) is the same
rule as amounts.py's Python (domain.md: half-up to the cent, line by line): on every
catalogue rate and price bound of the load generator, on every x.xx5 tie, at the digit
limits of the plain form; and orders whose numbers are not plain (exponents, signs,
long fractions, spaces) are priced by the Python rule on the DuckDB path too, so
both paths agree on them (conftest.py runs `check` through both readers)."""
from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from support.history import SELLER, call, nonzero

from harness.checker import CheckOptions, check, duck
from harness.checker.amounts import _line, spec_of
from harness.load.orders import CATALOGUE

pytestmark = pytest.mark.skipif(not duck.available(), reason="duckdb is not installed")

_RATES = sorted({r for _, r, *_ in CATALOGUE} | {"0.00", "0.005", "0.125", "1", "99.999999"})
_PRICES = sorted({p for _, _, lo, hi, _ in CATALOGUE for p in (lo, hi)}
                 | {"0.01", "0.05", "0.15", "0.25", "1.005", "2.675", "10.125", "0.045",
                    "0.994999", "0.995", "4.35", "9999999.999999", "1", "0"})
_QTYS = ("1", "2", "3", "0.5", "0.333", "1.005", "2.675", "0.001", "0.125", "7.5",
         "9999999.999999", "0")


def _sql_lines(rows: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    con = duck.connect()
    try:
        qs, ps, rs = (list(c) for c in zip(*rows))
        return [(a, t) for a, t in con.execute("""
SELECT a::VARCHAR, line_tax(a, r)::VARCHAR FROM (
  SELECT i, line_amount(q, p) AS a, r FROM (
    SELECT generate_subscripts(?::VARCHAR[], 1) AS i, unnest(?::VARCHAR[]) AS q,
      unnest(?::VARCHAR[]) AS p, unnest(?::VARCHAR[]) AS r)) ORDER BY i""",
                                                 [qs, qs, ps, rs]).fetchall()]
    finally:
        con.close()


def test_every_rate_price_and_tie_prices_as_python():
    rows = list(itertools.product(_QTYS, _PRICES, _RATES))
    # ties of the amount (x.xx5 exactly) and of the tax, at every rate
    rows += [("1", f"{c}.{d:02d}5", r) for c in (0, 1, 19, 123) for d in range(0, 100, 7)
             for r in _RATES]
    rows += [("1", f"{a / 100:.2f}", r) for a in range(1, 2000, 3) for r in _RATES]
    sql = _sql_lines(rows)
    ties = 0
    for (q, p, r), got in zip(rows, sql):
        a, t = _line(q, p, r)
        assert got == (str(a), str(t)), (q, p, r)
        ties += (Decimal(q) * Decimal(p)).as_tuple().exponent < -2 and \
            str(Decimal(q) * Decimal(p)).endswith("5")
    assert ties > 100             # the half-way cases were really exercised


def test_the_plain_form_is_what_python_multiplies_exactly():
    """At the plain form's digit limits, Python's 28-digit context is still exact."""
    big = "9999999.999999"
    a, t = _line(big, big, "99.999999")
    exact_a = (Decimal(big) * Decimal(big))
    assert len(exact_a.as_tuple().digits) <= 28
    assert len((a * Decimal("99.999999")).as_tuple().digits) <= 28
    assert _sql_lines([(big, big, "99.999999")]) == [(str(a), str(t))]


def _order_of(lines: list[tuple[object, object, object]], buyer: str | None = None) -> dict:
    return {"seller_tax_id": SELLER, "buyer": {"name": "李四", "tax_id": buyer},
            "lines": [{"name": "商品", "quantity": q, "unit_price": p, "tax_rate": r}
                      for q, p, r in lines], "kind": "normal"}


@pytest.mark.parametrize("lines", [
    [(2, "10.00", "0.13")],                                  # a JSON integer
    [("1E+1", "2.5", "0.13")],                              # an exponent
    [("-1", "10.00", "0.13")],                              # a sign (a credit line)
    [("1.0000001", "3.33", "0.06")],                        # more than six decimals
    [("12345678", "1.00", "0.09")],                         # more than seven digits
    [("2", "10.00", "0.13"), ("1", "0.005", "0.13")],       # one plain line, one tie
    [(" 2", "10.00", "0.13")],                              # what Decimal() strips
    [("1_0", "1.00", "0.13")],                              # what Decimal() reads as 10
], ids=["int", "exponent", "sign", "decimals", "digits", "tie", "space", "underscore"])
def test_orders_that_are_not_plain_get_the_python_price_on_both_paths(lines):
    order = _order_of(lines, buyer="911101017967003199")
    s = spec_of(order)
    h = call(1.0, "w0", "issue", "A", result="issued", no="26117000000000000001")
    h[0]["order"] = order
    good = {"invoice_no": "26117000000000000001", "kind": "blue", "request_id": "r1",
            "order_ref": "A", "seller_tax_id": SELLER, "buyer_tax_id": "911101017967003199",
            "amount": s.amount, "tax": s.tax, "total": s.total, "issued_at": 1_767_225_601.05,
            "original_invoice_no": None}
    r = check(h, [good], CheckOptions())
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1}
    off = dict(good, amount=str(Decimal(s.amount) + Decimal("0.05")),
               total=str(Decimal(s.total) + Decimal("0.05")))
    assert check(h, [off], CheckOptions()).counts["mismatched"] == 1
