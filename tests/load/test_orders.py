"""Order data: deterministic from (seed, index), valid tax ids, Decimal strings, VAT rates."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from fakes.common import uscc
from fakes.common.sellers import generate_sellers
from harness.load.orders import OrderFactory, order_total

SELLERS = generate_sellers(20, 11)
RATES = {"0.13", "0.09", "0.06", "0.03", "0.01", "0"}


def test_same_seed_same_orders_in_any_order():
    a, b = OrderFactory(11, SELLERS), OrderFactory(11, SELLERS)
    forward = [a.order(i) for i in range(200)]
    backward = [b.order(i) for i in reversed(range(200))][::-1]
    assert forward == backward
    assert forward != [OrderFactory(12, SELLERS).order(i) for i in range(200)]
    assert forward[17]["order_id"] == "O11-17"


def test_orders_are_well_formed():
    f = OrderFactory(3, SELLERS, special_share=0.2)
    seller_ids = {s["seller_tax_id"] for s in SELLERS}
    kinds = Counter()
    for i in range(500):
        o = f.order(i)
        kinds[o["kind"]] += 1
        assert o["seller_tax_id"] in seller_ids
        assert 1 <= len(o["lines"]) <= 5
        for line in o["lines"]:
            assert line["tax_rate"] in RATES
            for k in ("quantity", "unit_price", "tax_rate"):
                assert isinstance(line[k], str)
                assert Decimal(line[k]) >= 0
            assert Decimal(line["unit_price"]).as_tuple().exponent == -2
            assert line["name"].startswith("*")
        if o["kind"] == "special":
            assert uscc.is_valid(o["buyer"]["tax_id"])
        else:
            assert "tax_id" not in o["buyer"] and o["buyer"]["name"]
        assert isinstance(order_total(o), Decimal) and order_total(o) > 0
    assert kinds["special"] / 500 == pytest.approx(0.2, abs=0.05)


def test_sellers_are_skewed_like_a_mall():
    f = OrderFactory(3, SELLERS)
    counts = Counter(f.seller_for(i)["seller_tax_id"] for i in range(4000)).most_common()
    top3 = sum(n for _, n in counts[:3])
    assert top3 / 4000 > 0.4                     # a few stores take most orders
    assert len(counts) >= 15                     # but most stores see some


def test_every_rate_class_appears():
    f = OrderFactory(9, SELLERS)
    seen = {l["tax_rate"] for i in range(400) for l in f.order(i)["lines"]}
    assert seen == RATES
