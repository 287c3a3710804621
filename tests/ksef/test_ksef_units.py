"""Unit tests of the KSeF protocol pieces: numbers, NIPs, FA(3), crypto, limits, errors."""
from __future__ import annotations

import base64
import random
from datetime import date
from decimal import Decimal

import orjson
import pytest

from fakes.common import nip
from fakes.common.fa3 import Fa3Line, Fa3Party, build_fa3, line_amounts
from fakes.merchant.ksef_crypto import SessionKey, encrypt_token
from fakes.taxplatform.frontends.ksef import fa3, ids
from fakes.taxplatform.frontends.ksef.crypto import CryptoError, aes_cbc_decrypt
from fakes.taxplatform.frontends.ksef.errors import KsefError, render
from fakes.taxplatform.frontends.ksef.limits import RateLimiter, group_of

from .ksef_support import BUYER, SELLER, invoice, keys


def test_ksef_number_crc8_matches_the_documented_example() -> None:
    # faktury/numer-ksef.md of CIRFMF/ksef-docs
    assert ids.is_ksef_number("5265877635-20250826-0100001AF629-AF")
    assert not ids.is_ksef_number("5265877635-20250826-0100001AF629-AE")
    assert ids.crc8(b"123456789") == 0xF4          # the CRC-8 (poly 0x07) check value
    n = ids.ksef_number(SELLER, 1_780_000_000.0, 0x1AF629)
    assert len(n) == 35 and ids.is_ksef_number(n) and n.startswith(SELLER + "-2026")


def test_reference_numbers_have_the_documented_shape() -> None:
    for kind, infix in ids.INFIX.items():
        r = ids.reference_number(kind)
        assert len(r) == 36 and ids.is_reference_number(r) and r[9:11] == infix


def test_nip_checksum() -> None:
    assert nip.is_valid("5265877635") and nip.is_valid("7352765225")
    assert "check digit" in (nip.invalid_reason("5265877636") or "")
    assert nip.invalid_reason("0265877635") and nip.invalid_reason("12345")
    rng = random.Random(1)
    assert all(nip.is_valid(nip.generate(rng)) for _ in range(200))


def test_fa3_built_invoices_pass_the_official_xsd_and_parse() -> None:
    lines = [Fa3Line("a", Decimal(3), Decimal("9.99"), Decimal("0.23")),
             Fa3Line("b", Decimal(1), Decimal("10.00"), Decimal("0.08")),
             Fa3Line("c", Decimal(2), Decimal("0.55"), Decimal("0.05")),
             Fa3Line("d", Decimal(1), Decimal("7.00"), Decimal("0"))]
    xml = build_fa3(seller=Fa3Party(SELLER, "S"), buyer=Fa3Party(BUYER, "B"), number="FV/1",
                    issue_date="2026-01-05", lines=lines, order_ref="ORD-1")
    f = fa3.check(xml, date(2026, 1, 5))
    nets = [line_amounts(ln)[0] for ln in lines]
    vats = [line_amounts(ln)[1] for ln in lines]
    assert f.net == sum(nets) and f.vat == sum(vats) and f.gross == f.net + f.vat
    assert f.order_ref == "ORD-1" and f.duplicate_key == (SELLER, "VAT", "FV/1")
    assert [ln["tax"] for ln in f.lines] == [str(v) for v in vats]


def test_fa3_refusals_are_450_with_reasons() -> None:
    good = invoice("FV/2", issue_date="2026-01-05")
    with pytest.raises(fa3.Fa3Error) as exc:
        fa3.check(good.replace(b"<JST>2</JST>", b""), date(2026, 1, 5))
    assert exc.value.code == 450 and "GV" in exc.value.details[0]
    with pytest.raises(fa3.Fa3Error, match="later than"):
        fa3.check(good, date(2026, 1, 4))
    with pytest.raises(fa3.Fa3Error, match="P_15"):
        fa3.check(good.replace(b"<P_15>123.00", b"<P_15>124.00"), date(2026, 1, 5))
    with pytest.raises(fa3.Fa3Error, match="well-formed"):
        fa3.check(b"<Faktura", date(2026, 1, 5))
    with pytest.raises(fa3.Fa3Error, match="byte order"):
        fa3.check(b"\xef\xbb\xbf" + good, date(2026, 1, 5))
    with pytest.raises(ValueError, match="not a Polish rate"):
        build_fa3(seller=Fa3Party(SELLER, "S"), buyer=Fa3Party(BUYER, "B"), number="x",
                  issue_date="2026-01-05",
                  lines=[Fa3Line("a", Decimal(1), Decimal(1), Decimal("0.13"))])


def test_crypto_round_trip_token_and_invoice() -> None:
    ring = keys()
    tok = ring.by_usage["KsefTokenEncryption"]
    cert = tok.to_json()
    enc = base64.b64decode(encrypt_token(str(cert["certificate"]), "T|x", 1234))
    assert tok.decrypt(enc) == b"T|x|1234"
    with pytest.raises(CryptoError):
        ring.by_usage["SymmetricKeyEncryption"].decrypt(enc)     # the other key
    sk = SessionKey.new()
    body = sk.send_body(b"<x/>")
    content = base64.b64decode(body["encryptedInvoiceContent"])
    assert len(content) == body["encryptedInvoiceSize"] == 16
    assert aes_cbc_decrypt(content, sk.key, sk.iv) == b"<x/>"
    assert ring.for_usage("KsefTokenEncryption", str(cert["publicKeyId"])) is tok
    assert ring.for_usage("SymmetricKeyEncryption", str(cert["publicKeyId"])) is None


def test_rate_limiter_windows_and_retry_after() -> None:
    now = [1000.0]
    rl = RateLimiter(lambda: now[0])
    assert group_of("POST", "/sessions/online/{ref}/invoices") == "invoice_send"
    assert [rl.check("c", "invoice_send") for _ in range(10)] == [None] * 10
    assert rl.check("c", "invoice_send") == 1             # 10/s
    assert rl.check("other", "invoice_send") is None      # per (context, IP)
    now[0] += 1.0
    for _ in range(20):                                   # 30/min: 20 more over 4 s
        now[0] += 0.2
        assert rl.check("c", "invoice_send") is None
    now[0] += 0.5
    wait = rl.check("c", "invoice_send")
    assert wait is not None and 50 <= wait <= 60
    fast = RateLimiter(lambda: now[0], time_scale=60)     # the minute lasts 1 s
    assert [fast.check("c", "invoice_download") for _ in range(8)] == [None] * 8
    assert fast.check("c", "invoice_download") == 1
    assert RateLimiter(lambda: now[0], factor=0).check("c", "auth") is None


def test_error_formats() -> None:
    e = KsefError(400, "Błąd", 21405, ["d"])
    legacy = orjson.loads(render(e, "/v2/x", False).body)
    assert legacy["exception"]["exceptionDetailList"][0] == {
        "exceptionCode": 21405, "exceptionDescription": "Błąd", "details": ["d"]}
    prob = render(e, "/v2/x", True)
    assert prob.media_type == "application/problem+json"
    assert orjson.loads(prob.body)["errors"][0]["code"] == 21405
    t = render(KsefError(429, "limit", retry_after=7), "/v2/x", False)
    assert t.headers["retry-after"] == "7" and orjson.loads(t.body)["status"]["code"] == 429
    u = render(KsefError(401, "no"), "/v2/x", False)         # 401 is always problem+json
    assert u.media_type == "application/problem+json"
