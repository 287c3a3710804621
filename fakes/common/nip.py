"""Polish tax identification numbers (NIP): 10 digits, the last a weighted check digit.

Weights 6 5 7 2 3 4 5 6 7 over the first nine digits, sum mod 11; a remainder of 10 is
never issued. The FA(3) schema also requires the first digit to be 1-9 and the next two not
to be "00". The KSeF fake (validation of a seller's NIP) and the Polish data of the load
model and the merchant (generation) share this one rule.
"""
from __future__ import annotations

import random
import re

__all__ = ["WEIGHTS", "check_digit", "invalid_reason", "is_valid", "generate"]

WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_SHAPE = re.compile(r"[1-9]((\d[1-9])|([1-9]\d))\d{7}")


def check_digit(first9: str) -> int | None:
    """The check digit for nine digits, or None when no valid NIP starts with them."""
    r = sum(int(c) * w for c, w in zip(first9, WEIGHTS)) % 11
    return None if r == 10 else r


def invalid_reason(nip: object) -> str | None:
    """Why `nip` is not a valid NIP, or None when it is."""
    if not isinstance(nip, str):
        return "must be a string of 10 digits"
    if not _SHAPE.fullmatch(nip):
        return "must be 10 digits, the first 1-9 and the second and third not both 0"
    expected = check_digit(nip[:9])
    if expected is None or int(nip[9]) != expected:
        return f"check digit is {nip[9]}, expected {expected}"
    return None


def is_valid(nip: object) -> bool:
    return invalid_reason(nip) is None


def generate(rng: random.Random) -> str:
    """A random valid NIP (prefixes of tax offices are not modelled)."""
    while True:
        first9 = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))
        d = check_digit(first9)
        nip = f"{first9}{d}"
        if d is not None and _SHAPE.fullmatch(nip):
            return nip
