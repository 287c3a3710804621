"""Order data: what a customer buys, from (seed, arrival index) alone.

Reproducible by construction: every order draws from its own generator seeded
with `order:<seed>:<index>`, never from a shared stream whose position would
depend on timing, so the same scenario and seed give the same orders whether
the system under test is fast or slow, in one worker process or many.

Buyers come from Faker's zh_CN locale: persons for ordinary invoices (普票), and
for a share of special invoices (专票) companies with a valid unified social
credit code (fakes.common.uscc, GB 32100; Faker has no generator for it). Items
carry the 数电票 tax-classification short name between asterisks, and the VAT
rate of their category (domain.md): 13 % goods, 9 % agricultural food and
transport, 6 % services, 3 % / 1 % small-taxpayer simplified levy, 0 for exempt
fresh vegetables. Quantities and prices are decimal strings, never floats.
Sellers are skewed like a mall: Zipf-like, a few stores take most orders.
"""
from __future__ import annotations

import bisect
import random
from decimal import Decimal
from typing import Any, Sequence

from faker import Faker

from fakes.common import uscc
from fakes.common.money import quantize

__all__ = ["CATALOGUE", "OrderFactory", "order_id", "order_total"]

# (item name, VAT rate, lowest price, highest price, sold by weight)
CATALOGUE: tuple[tuple[str, str, str, str, bool], ...] = (
    # 13 %: goods
    ("*计算机外部设备*无线鼠标", "0.13", "49.00", "399.00", False),
    ("*通信终端设备*智能手机", "0.13", "999.00", "8999.00", False),
    ("*服装*羊毛衫", "0.13", "199.00", "1299.00", False),
    ("*日用杂品*保温杯", "0.13", "39.90", "299.00", False),
    ("*化妆品*保湿面霜", "0.13", "89.00", "1580.00", False),
    ("*家用电器*空气净化器", "0.13", "699.00", "4999.00", False),
    ("*乳制品*纯牛奶", "0.13", "39.90", "89.90", False),
    ("*酒*白葡萄酒", "0.13", "68.00", "888.00", False),
    ("*鞋*运动鞋", "0.13", "299.00", "1499.00", False),
    ("*玩具*拼装积木", "0.13", "59.00", "999.00", False),
    # 9 %: agricultural food, transport
    ("*谷物*东北大米", "0.09", "4.50", "12.80", True),
    ("*食用植物油*压榨花生油", "0.09", "59.90", "139.00", False),
    ("*水果*富士苹果", "0.09", "6.80", "19.80", True),
    ("*肉类*冷鲜猪肉", "0.09", "18.00", "42.00", True),
    ("*运输服务*快递费", "0.09", "8.00", "30.00", False),
    # 6 %: services
    ("*餐饮服务*餐费", "0.06", "35.00", "680.00", False),
    ("*现代服务*会员服务费", "0.06", "88.00", "388.00", False),
    ("*生活服务*美容服务", "0.06", "128.00", "980.00", False),
    # 3 % / 1 %: small-taxpayer simplified levy
    ("*日用杂品*手工编织篮", "0.03", "25.00", "168.00", False),
    ("*焙烤食品*手工面包", "0.01", "8.00", "36.00", False),
    # 0: exempt (fresh vegetables in retail circulation)
    ("*蔬菜*新鲜蔬菜", "0", "2.50", "9.80", True),
)

# How often each catalogue line is picked (goods most, exempt and 1 % rare).
_ITEM_WEIGHTS = (8, 4, 6, 8, 5, 2, 6, 3, 4, 3, 6, 3, 6, 4, 4, 8, 2, 2, 1, 1, 2)


def order_id(seed: int, index: int) -> str:
    """`O<seed>-<index>`: unique per run, readable in a timeline."""
    return f"O{seed}-{index}"


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


class OrderFactory:
    """Builds order `index` of a run; one per process (Faker's locale loads once)."""

    def __init__(self, seed: int, sellers: Sequence[dict[str, str]], special_share: float = 0.1,
                 seller_skew: float = 1.1):
        if not sellers:
            raise ValueError("OrderFactory needs at least one seller")
        self.seed = seed
        self.sellers = list(sellers)
        self.special_share = special_share
        # Zipf over a seeded permutation: which store is the big one depends on the seed.
        ranked = list(range(len(self.sellers)))
        random.Random(f"sellers-rank:{seed}").shuffle(ranked)
        self._ranked = ranked
        self._seller_cum = _cumulative([1.0 / (r + 1) ** seller_skew for r in range(len(ranked))])
        self._item_cum = _cumulative(_ITEM_WEIGHTS)
        self._faker = Faker("zh_CN")

    def seller_for(self, index: int) -> dict[str, str]:
        rng = random.Random(f"seller:{self.seed}:{index}")
        x = rng.random() * self._seller_cum[-1]
        rank = min(bisect.bisect_right(self._seller_cum, x), len(self._ranked) - 1)
        return self.sellers[self._ranked[rank]]

    def order(self, index: int) -> dict[str, Any]:
        """The order as sent: `{order_id, seller_tax_id, buyer, lines, kind}`."""
        rng = random.Random(f"order:{self.seed}:{index}")
        fake = self._faker
        fake.seed_instance(f"buyer:{self.seed}:{index}")
        seller = self.seller_for(index)
        special = rng.random() < self.special_share
        if special:
            buyer: dict[str, str] = {"name": fake.company(), "tax_id": uscc.generate(rng)}
        else:
            buyer = {"name": fake.name()}
        lines = []
        for _ in range(rng.randint(1, 5)):
            k = min(bisect.bisect_right(self._item_cum, rng.random() * self._item_cum[-1]),
                    len(CATALOGUE) - 1)
            name, rate, lo, hi, by_weight = CATALOGUE[k]
            lo_c, hi_c = int(Decimal(lo) * 100), int(Decimal(hi) * 100)
            price = quantize(Decimal(rng.randint(lo_c, hi_c)) / 100)
            if by_weight:      # kilograms on a scale: three decimals
                qty = str((Decimal(rng.randint(200, 3000)) / 1000).quantize(Decimal("0.001")))
            else:
                qty = str(rng.choices((1, 2, 3, 4, 6, 10), weights=(60, 20, 8, 5, 4, 3))[0])
            lines.append({"name": name, "quantity": qty, "unit_price": str(price),
                          "tax_rate": rate})
        return {"order_id": order_id(self.seed, index), "seller_tax_id": seller["seller_tax_id"],
                "buyer": buyer, "lines": lines, "kind": "special" if special else "normal"}


def order_total(order: dict[str, Any]) -> Decimal:
    """Σ quantity × unit price, to the cent (for reports and tests; the merchant computes its own)."""
    return quantize(sum((Decimal(l["quantity"]) * Decimal(l["unit_price"]) for l in order["lines"]),
                        Decimal(0)))
