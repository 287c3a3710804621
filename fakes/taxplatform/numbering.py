"""数电票 numbers: 20 digits = 2-digit year, region 11 (Beijing), channel digit, 15-digit sequence.

One sequence per platform, persisted with every commit, so a number is never handed out
twice -- not even one that was acknowledged and then thrown away (`ack_without_commit`).
Gaps are allowed (domain.md); reuse is not.
"""
from __future__ import annotations

import re
import time

__all__ = ["REGION", "CHANNEL_PLATFORM", "CHANNEL_DIRECT", "format_number", "parse_number",
           "NUMBER_RE", "SEQ_DIGITS"]

REGION = "11"            # Beijing (GB/T 2260)
CHANNEL_PLATFORM = "2"   # numbered by the platform itself (as in the bureau's sample)
CHANNEL_DIRECT = "7"     # ranges downloaded by direct-connect merchants
SEQ_DIGITS = 15
NUMBER_RE = re.compile(r"^\d{20}$")


def format_number(seq: int, channel: str = CHANNEL_PLATFORM, when: float | None = None) -> str:
    yy = time.gmtime((when if when is not None else time.time()) + 8 * 3600).tm_year % 100
    return f"{yy:02d}{REGION}{channel}{seq:0{SEQ_DIGITS}d}"


def parse_number(number: str) -> tuple[str, int]:
    """(prefix of 5 digits, sequence); ValueError when it is not a 20-digit number."""
    if not isinstance(number, str) or not NUMBER_RE.match(number):
        raise ValueError("must be a 20-digit invoice number")
    return number[:5], int(number[5:])
