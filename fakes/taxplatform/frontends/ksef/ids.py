"""KSeF's identifiers: KSeF numbers with their CRC-8 and the 36-character reference numbers.

KSeF number (faktury/numer-ksef.md of CIRFMF/ksef-docs): `NIP-YYYYMMDD-<12 hex>-<CRC8>`,
35 characters; the CRC-8 (polynomial 0x07, initial value 0x00, no reflection, no final
XOR) runs over the first 32 characters, dashes included, and is written as two upper-case
hex digits. Reference numbers (`20250625-SO-2C3E6C8000-B675CF5D68-07`): the date, a
two-letter infix naming what it refers to, two blocks of 10 hex digits and a 2-hex check.
"""
from __future__ import annotations

import re
import secrets
import time

__all__ = ["crc8", "ksef_number", "is_ksef_number", "reference_number", "is_reference_number",
           "INFIX"]

# what a reference number names (ksef.md s.1)
INFIX = {"challenge": "CR", "auth": "AU", "session": "SO", "invoice": "EE", "upo": "EU"}
_KSEF = re.compile(r"^([1-9](\d[1-9]|[1-9]\d)\d{7})-(\d{8})-([0-9A-F]{12})-([0-9A-F]{2})$")
_REF = re.compile(r"^\d{8}-[A-Z]{2}-[0-9A-F]{10}-[0-9A-F]{10}-[0-9A-F]{2}$")


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, init 0x00 (the 'CRC-8/SMBUS' parameters)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _day(ts: float) -> str:
    return time.strftime("%Y%m%d", time.gmtime(ts))


def ksef_number(nip: str, ts: float, technical: int) -> str:
    """The KSeF number of an invoice of seller `nip` accepted at `ts`; `technical` (the
    platform's sequence, unique per platform) fills the 12 hex digits."""
    data = f"{nip}-{_day(ts)}-{technical & 0xFFFFFFFFFFFF:012X}"
    return f"{data}-{crc8(data.encode('ascii')):02X}"


def is_ksef_number(value: str) -> bool:
    """The documented validation: 35 characters, shape, and the CRC-8 of the first 32."""
    if len(value) != 35 or not _KSEF.match(value):
        return False
    return f"{crc8(value[:32].encode('ascii')):02X}" == value[33:]


def reference_number(kind: str, ts: float | None = None) -> str:
    """A fresh reference number of `kind` (a key of INFIX) in the documented shape."""
    ts = time.time() if ts is None else ts
    body = f"{_day(ts)}-{INFIX[kind]}-{secrets.token_hex(5).upper()}-{secrets.token_hex(5).upper()}"
    return f"{body}-{crc8(body.encode('ascii')):02X}"


def is_reference_number(value: str) -> bool:
    return len(value) == 36 and _REF.match(value) is not None
