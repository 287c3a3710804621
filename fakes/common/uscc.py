"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

18 characters from a 31-character alphabet (no I, O, S, V, Z); the 18th is a
check character over the first 17 with weights 3^(i-1) mod 31. Faker's zh_CN
locale has no generator, so the platform (validation) and the load model
(generation) share this one.
"""
from __future__ import annotations

import random

__all__ = ["CHARSET", "WEIGHTS", "check_char", "is_valid", "generate", "invalid_reason"]

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(CHARSET)}
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Beijing district codes (GB/T 2260, 1101xx) used for generated sellers and buyers.
BEIJING_DISTRICTS = ("110101", "110102", "110105", "110106", "110107", "110108",
                     "110109", "110111", "110112", "110113", "110114", "110115")


def check_char(first17: str) -> str:
    """The check character for the first 17 characters (raises KeyError on a bad one)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS))
    return CHARSET[(31 - total % 31) % 31]


def invalid_reason(code: object) -> str | None:
    """Why `code` is not a valid unified social credit code, or None when it is."""
    if not isinstance(code, str):
        return "must be a string of 18 characters"
    if len(code) != 18:
        return f"must be 18 characters, got {len(code)}"
    bad = [c for c in code if c not in _VALUE]
    if bad:
        return f"character {bad[0]!r} is not allowed (alphabet {CHARSET})"
    expected = check_char(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, expected {expected!r}"
    return None


def is_valid(code: object) -> bool:
    return invalid_reason(code) is None


def generate(rng: random.Random, region: str | None = None, authority: str = "9",
             entity: str = "1") -> str:
    """A valid code: authority 9 (market regulation), entity 1 (company), a Beijing region."""
    region = region or rng.choice(BEIJING_DISTRICTS)
    org = "".join(rng.choice(CHARSET) for _ in range(9))
    first17 = f"{authority}{entity}{region}{org}"
    return first17 + check_char(first17)
