"""Order data: what a customer buys, from (seed, arrival index) alone.

Reproducible by construction: every order draws from its own generator seeded
with `order:<seed>:<index>`, never from a shared stream whose position would
depend on timing, so the same scenario and seed give the same orders whether
the system under test is fast or slow, in one worker process or many.

Buyers come from the word lists of Faker's zh_CN locale, in its own formats (a person is
a surname, weighted as Faker weights it, and a given name; a company a prefix and a
suffix): persons for ordinary invoices (普票), and for a share of special invoices (专票)
companies with a valid unified social credit code (fakes.common.uscc, GB 32100; Faker has
no generator for it). The name is drawn from the order's own generator after everything
else, so a name costs two draws (a seeded Faker instance cost ~45 µs an order, a tenth of
the load path's CPU per journey; docs/performance.md "Load path"). Items
carry the 数电票 tax-classification short name between asterisks, and the VAT
rate of their category (domain.md): 13 % goods, 9 % agricultural food and
transport, 6 % services, 3 % / 1 % small-taxpayer simplified levy, 0 for exempt
fresh vegetables. Quantities and prices are decimal strings, never floats.
Sellers are skewed like a mall: Zipf-like, a few stores take most orders.

Polish sellers (a KSeF run: their tax ids are NIPs, fakes/common/regime.py) get Polish
orders from the same draws: a catalogue at the Polish VAT rates (23 % goods and services,
8 % some food, restaurants and transport, 5 % basic food and books, 0 % exports), buyers
from the word lists of Faker's pl_PL locale, and for the company share a valid NIP.
"""
from __future__ import annotations

import bisect
import random
from decimal import Decimal
from typing import Any, Sequence

from faker.providers.company.pl_PL import Provider as _PlCompanies
from faker.providers.company.zh_CN import Provider as _Companies
from faker.providers.person.pl_PL import Provider as _PlPersons
from faker.providers.person.zh_CN import Provider as _Persons

from fakes.common import nip, uscc
from fakes.common.regime import regime_of
from fakes.common.money import quantize

__all__ = ["CATALOGUE", "OrderFactory", "order_id", "order_total"]

# The catalogue, one row a line of it: how often the line is picked, then what a Chinese
# seller sells there and what a Polish seller sells there (a KSeF run), each as: item name,
# VAT rate, lowest-highest price, and `kg` where it is sold by weight. One table, so the two
# regimes cannot drift apart in length or weights.
_TABLE = """
# China: 13 % goods (goods picked most)  | Poland: 23 % goods and services
8 | *计算机外部设备*无线鼠标 0.13 49.00-399.00 | Mysz bezprzewodowa 0.23 49.00-399.00
4 | *通信终端设备*智能手机 0.13 999.00-8999.00 | Smartfon 0.23 999.00-8999.00
6 | *服装*羊毛衫 0.13 199.00-1299.00           | Sweter wełniany 0.23 199.00-1299.00
8 | *日用杂品*保温杯 0.13 39.90-299.00         | Kubek termiczny 0.23 39.90-299.00
5 | *化妆品*保湿面霜 0.13 89.00-1580.00        | Krem nawilżający 0.23 89.00-1580.00
2 | *家用电器*空气净化器 0.13 699.00-4999.00   | Oczyszczacz powietrza 0.23 699.00-4999.00
6 | *乳制品*纯牛奶 0.13 39.90-89.90            | Kawa ziarnista 0.23 39.90-89.90
3 | *酒*白葡萄酒 0.13 68.00-888.00             | Wino białe 0.23 68.00-888.00
4 | *鞋*运动鞋 0.13 299.00-1499.00             | Buty sportowe 0.23 299.00-1499.00
3 | *玩具*拼装积木 0.13 59.00-999.00           | Klocki konstrukcyjne 0.23 59.00-999.00
# 9 % agricultural food, transport      | 5 % basic food and books, 8 % restaurants, transport
6 | *谷物*东北大米 0.09 4.50-12.80 kg          | Ryż 0.05 4.50-12.80 kg
3 | *食用植物油*压榨花生油 0.09 59.90-139.00   | Olej rzepakowy 0.05 9.90-39.00
6 | *水果*富士苹果 0.09 6.80-19.80 kg          | Jabłka 0.05 3.80-9.80 kg
4 | *肉类*冷鲜猪肉 0.09 18.00-42.00 kg         | Wieprzowina 0.05 18.00-42.00 kg
4 | *运输服务*快递费 0.09 8.00-30.00           | Usługa kurierska 0.23 8.00-30.00
# 6 % services
8 | *餐饮服务*餐费 0.06 35.00-680.00           | Usługa gastronomiczna 0.08 35.00-680.00
2 | *现代服务*会员服务费 0.06 88.00-388.00     | Abonament członkowski 0.23 88.00-388.00
2 | *生活服务*美容服务 0.06 128.00-980.00      | Przejazd autobusem 0.08 4.00-60.00
# 3 % / 1 % small-taxpayer levy (rare)
1 | *日用杂品*手工编织篮 0.03 25.00-168.00     | Książka 0.05 25.00-168.00
1 | *焙烤食品*手工面包 0.01 8.00-36.00         | Pieczywo 0.05 3.00-16.00
# 0: exempt fresh vegetables in retail  | 0 % exports
2 | *蔬菜*新鲜蔬菜 0 2.50-9.80 kg              | Dostawa eksportowa 0 20.00-900.00
"""

# (item name, VAT rate, lowest price, highest price, sold by weight)
Item = tuple[str, str, str, str, bool]


def _item(text: str) -> Item:
    """`Name words 0.13 49.00-399.00 [kg]` as an `Item`."""
    words = text.split()
    by_weight = words[-1] == "kg"
    if by_weight:
        words.pop()
    lo, hi = words[-1].split("-")
    return " ".join(words[:-2]), words[-2], lo, hi, by_weight


_ROWS = [[cell.strip() for cell in line.split("|")] for line in _TABLE.splitlines()
         if line.strip() and not line.startswith("#")]
_ITEM_WEIGHTS: tuple[int, ...] = tuple(int(row[0]) for row in _ROWS)
CATALOGUE: tuple[Item, ...] = tuple(_item(row[1]) for row in _ROWS)
CATALOGUE_PL: tuple[Item, ...] = tuple(_item(row[2]) for row in _ROWS)

_PL_FIRST: tuple[str, ...] = tuple(_PlPersons.first_names_male) + tuple(
    _PlPersons.first_names_female)
_PL_LAST: tuple[str, ...] = tuple(_PlPersons.unisex_last_names)
_PL_SUFFIXES: tuple[str, ...] = tuple(_PlCompanies.company_suffixes)


def order_id(seed: int, index: int) -> str:
    """`O<seed>-<index>`: unique per run, readable in a timeline."""
    return f"O{seed}-{index}"


# Faker zh_CN's name() is "{{last_name}}{{first_name}}": surnames weighted by frequency,
# given names uniform; company() is "{{company_prefix}}{{company_suffix}}", both uniform.
_SURNAMES: tuple[str, ...] = tuple(_Persons.last_names)
_GIVEN: tuple[str, ...] = tuple(_Persons.first_names)
_PREFIXES: tuple[str, ...] = tuple(_Companies.company_prefixes)
_SUFFIXES: tuple[str, ...] = tuple(_Companies.company_suffixes)

# The catalogue in integer cents, and the pack-size draw as cumulative weights (the very
# draws `rng.choices(..., weights=...)` makes, without rebuilding them per line).
_PACKS = ("1", "2", "3", "4", "6", "10")
_PACK_CUM = (60, 80, 88, 93, 97, 100)


def _cents(s: str) -> int:
    return int(Decimal(s) * 100)


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


class OrderFactory:
    """Builds order `index` of a run."""

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
        self._item_total = self._item_cum[-1]
        self._surname_cum = _cumulative(list(_Persons.last_names.values()))
        self._surname_total = self._surname_cum[-1]
        # a run's sellers are of one regime (the sellers file of its platform profile)
        self.polish = regime_of(self.sellers[0].get("seller_tax_id")).name == "pl"
        self._catalogue = tuple((name, rate, _cents(lo), _cents(hi), by_weight)
                                for name, rate, lo, hi, by_weight in
                                (CATALOGUE_PL if self.polish else CATALOGUE))

    def seller_for(self, index: int) -> dict[str, str]:
        rng = random.Random(f"seller:{self.seed}:{index}")
        x = rng.random() * self._seller_cum[-1]
        rank = min(bisect.bisect_right(self._seller_cum, x), len(self._ranked) - 1)
        return self.sellers[self._ranked[rank]]

    def order(self, index: int) -> dict[str, Any]:
        """The order as sent: `{order_id, seller_tax_id, buyer, lines, kind}`."""
        rng = random.Random(f"order:{self.seed}:{index}")
        rand, randint = rng.random, rng.randint
        seller = self.seller_for(index)
        special = rand() < self.special_share
        tax_id = ((nip.generate(rng) if self.polish else uscc.generate(rng)) if special
                  else None)
        lines = []
        cat, item_cum, item_total, last = self._catalogue, self._item_cum, self._item_total, \
            len(self._catalogue) - 1
        for _ in range(randint(1, 5)):
            k = min(bisect.bisect_right(item_cum, rand() * item_total), last)
            name, rate, lo_c, hi_c, by_weight = cat[k]
            c = randint(lo_c, hi_c)                       # cents: exact, no rounding
            price = f"{c // 100}.{c % 100:02d}"
            if by_weight:      # kilograms on a scale: three decimals
                g = randint(200, 3000)
                qty = f"{g // 1000}.{g % 1000:03d}"
            else:
                qty = _PACKS[bisect.bisect_right(_PACK_CUM, rand() * 100.0, 0, 5)]
            lines.append({"name": name, "quantity": qty, "unit_price": price, "tax_rate": rate})
        if self.polish:
            last = _PL_LAST[int(rand() * len(_PL_LAST))]
            if special:
                buyer = {"name": f"{last} {_PL_SUFFIXES[int(rand() * len(_PL_SUFFIXES))]}",
                         "tax_id": tax_id or ""}
            else:
                buyer = {"name": f"{_PL_FIRST[int(rand() * len(_PL_FIRST))]} {last}"}
        elif special:
            buyer: dict[str, str] = {"name": _PREFIXES[int(rand() * len(_PREFIXES))]
                                     + _SUFFIXES[int(rand() * len(_SUFFIXES))], "tax_id": tax_id}
        else:
            s = min(bisect.bisect_right(self._surname_cum, rand() * self._surname_total),
                    len(_SURNAMES) - 1)
            buyer = {"name": _SURNAMES[s] + _GIVEN[int(rand() * len(_GIVEN))]}
        return {"order_id": order_id(self.seed, index), "seller_tax_id": seller["seller_tax_id"],
                "buyer": buyer, "lines": lines, "kind": "special" if special else "normal"}


def order_total(order: dict[str, Any]) -> Decimal:
    """Σ quantity × unit price, to the cent (for reports and tests; the merchant computes its own)."""
    return quantize(sum((Decimal(l["quantity"]) * Decimal(l["unit_price"]) for l in order["lines"]),
                        Decimal(0)))
