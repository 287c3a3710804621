"""The tax regime of a seller: China (数电票, unified social credit codes) or Poland (KSeF,
NIPs). One place says what differs: the tax id's rule, the VAT rates, the currency.

A seller's regime follows from its tax id alone (10 digits: a NIP; 18 characters: a
unified social credit code), so the merchant, the load model and the checker need no
extra setting: the sellers file of a KSeF run holds NIPs (fakes/common/sellers.py). The
amount rule is the same in both (domain.md: each line's amount = quantity x unit price,
its tax = amount x rate, each half-up to the cent / grosz).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from . import nip, uscc

__all__ = ["Regime", "CN", "PL", "regime_of"]


@dataclass(frozen=True, slots=True)
class Regime:
    name: str
    currency: str
    rates: frozenset[Decimal]
    tax_id_reason: Callable[[object], str | None]   # why a tax id is invalid, or None
    tax_id_max_len: int


# domain.md's VAT rates (0 covers exports and exempt lines)
CN = Regime("cn", "CNY", frozenset(Decimal(r) for r in ("0", "0.01", "0.03", "0.05", "0.06",
                                                         "0.09", "0.13")),
            uscc.invalid_reason, 18)
# Polish VAT: 23 % basic, 8 % and 5 % reduced, 0 % (design.md s.13)
PL = Regime("pl", "PLN", frozenset(Decimal(r) for r in ("0", "0.05", "0.08", "0.23")),
            nip.invalid_reason, 10)


def regime_of(tax_id: object) -> Regime:
    """The regime of a seller by its tax id (a 10-digit one is a Polish NIP)."""
    return PL if isinstance(tax_id, str) and len(tax_id) == 10 and tax_id.isdigit() else CN
