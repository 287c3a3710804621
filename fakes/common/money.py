"""Money is Decimal, never float: two places, half-up (domain.md: rounding not stated)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["CENT", "to_money", "quantize", "money_str", "parse_decimal"]

CENT = Decimal("0.01")


def quantize(value: Decimal) -> Decimal:
    """Round half-up to the cent."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_decimal(value: object) -> Decimal:
    """A Decimal from a JSON value; floats are refused so no binary rounding sneaks in."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("must be a decimal string such as \"123.45\", not a float")
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError("must be a decimal string such as \"123.45\"")
    try:
        d = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not d.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return d


def to_money(value: object) -> Decimal:
    return quantize(parse_decimal(value))


def money_str(value: Decimal) -> str:
    """The wire form: a string with exactly two decimals ("-12.30")."""
    return str(quantize(value))
