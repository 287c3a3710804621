"""FA(3) invoices as KSeF receives them: the official XSD, then the fields the ledger needs.

`check` validates a decrypted invoice against the official schema (`xsd/`, copied from
CIRFMF/ksef-docs `faktury/schemy/FA/schemat_FA(3)_v1-0E.xsd` with its imports pointed at
the local copies, because nothing at run time may reach the schemas' home URLs) and then
applies the semantic checks this fake makes. A failure of either is invoice status 450 with
the reason in `details`, as KSeF answers (ksef-api issues #141, #281, #495).

Amounts: each line's net amount is P_11 and its VAT is P_11 x rate, half-up to the grosz;
the invoice's net, VAT and gross are the sums of P_13_x, P_14_x and P_15 (design.md s.13:
the same Decimal rules as domain.md).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from fakes.common import nip
from fakes.common.money import money_str, quantize

__all__ = ["NS", "Fa3Invoice", "Fa3Error", "check", "schema", "RATE_OF"]

NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
_XSD = Path(__file__).with_name("xsd") / "schemat_FA3_v1-0E.xsd"
_N = {"f": NS}
# P_12 (TStawkaPodatku) -> the rate as a fraction; rates this fake does not tax are 0
RATE_OF = {"23": Decimal("0.23"), "22": Decimal("0.22"), "8": Decimal("0.08"),
           "7": Decimal("0.07"), "5": Decimal("0.05"), "4": Decimal("0.04"),
           "3": Decimal("0.03")}
_NET = ("P_13_1", "P_13_2", "P_13_3", "P_13_4", "P_13_5", "P_13_6_1", "P_13_6_2", "P_13_6_3",
        "P_13_7", "P_13_8", "P_13_9", "P_13_10", "P_13_11")
_VAT = ("P_14_1", "P_14_2", "P_14_3", "P_14_4", "P_14_5")
_lock = threading.Lock()
_schema: etree.XMLSchema | None = None


def schema() -> etree.XMLSchema:
    """The official FA(3) schema, parsed once (it takes a fraction of a second)."""
    global _schema
    with _lock:
        if _schema is None:
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            _schema = etree.XMLSchema(etree.parse(str(_XSD), parser))
        return _schema


class Fa3Error(ValueError):
    """Why an invoice is refused: `code` is the invoice status (450 semantic/XSD)."""

    def __init__(self, description: str, details: list[str], code: int = 450) -> None:
        super().__init__(f"{description}: {'; '.join(details)}")
        self.code = code
        self.description = description
        self.details = details


@dataclass(frozen=True, slots=True)
class Fa3Invoice:
    seller_nip: str
    seller_name: str
    buyer_nip: str | None
    buyer_name: str
    kind: str                      # RodzajFaktury: VAT, KOR, ZAL, ...
    number: str                    # P_2, the seller's own invoice number
    issue_date: str                # P_1
    currency: str
    order_ref: str                 # WarunkiTransakcji/Zamowienia/NrZamowienia ("" if none)
    net: Decimal
    vat: Decimal
    gross: Decimal
    lines: tuple[dict[str, str], ...]
    corrected_ksef_number: str | None = None

    @property
    def duplicate_key(self) -> tuple[str, str, str]:
        """KSeF's duplicate key (faktury/weryfikacja-faktury.md): seller NIP + kind + P_2."""
        return (self.seller_nip, self.kind, self.number)


def _text(root: etree._Element, path: str) -> str | None:
    el = root.find(path, _N)
    return None if el is None or el.text is None else el.text.strip()


def _dec(value: str | None) -> Decimal:
    try:
        return Decimal(value) if value else Decimal(0)
    except InvalidOperation:          # the XSD already refused it; be safe anyway
        raise Fa3Error("Błąd weryfikacji semantyki dokumentu faktury",
                       [f"{value!r} is not a number"]) from None


def check(xml: bytes, today: date) -> Fa3Invoice:
    """The invoice, or Fa3Error with the validator's messages (status 450)."""
    if xml.startswith(b"\xef\xbb\xbf"):
        raise Fa3Error("Błąd weryfikacji semantyki dokumentu faktury",
                       ["the XML must be UTF-8 without a byte order mark"])
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                             remove_blank_text=False)
    try:
        doc = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        raise Fa3Error("Błąd weryfikacji semantyki dokumentu faktury",
                       [f"not well-formed XML: {exc}"]) from None
    s = schema()
    if not s.validate(doc):
        details = [f"line {e.line}: {e.message}" for e in list(s.error_log)[:5]]
        raise Fa3Error("Błąd weryfikacji semantyki dokumentu faktury", details)
    return _fields(doc, today)


def _fields(doc: etree._Element, today: date) -> Fa3Invoice:
    bad: list[str] = []
    seller = _text(doc, "f:Podmiot1/f:DaneIdentyfikacyjne/f:NIP") or ""
    why = nip.invalid_reason(seller)
    if why:
        bad.append(f"Podmiot1/NIP {seller}: {why}")
    buyer = _text(doc, "f:Podmiot2/f:DaneIdentyfikacyjne/f:NIP")
    if buyer is not None and (why := nip.invalid_reason(buyer)):
        bad.append(f"Podmiot2/NIP {buyer}: {why}")
    p1 = _text(doc, "f:Fa/f:P_1") or ""
    if p1 and date.fromisoformat(p1) > today:
        bad.append(f"P_1 {p1} is later than the date of receipt {today.isoformat()}")
    net = sum((_dec(_text(doc, f"f:Fa/f:{k}")) for k in _NET), Decimal(0))
    vat = sum((_dec(_text(doc, f"f:Fa/f:{k}")) for k in _VAT), Decimal(0))
    gross = _dec(_text(doc, "f:Fa/f:P_15"))
    if net + vat != gross:
        bad.append(f"P_15 {gross} is not the sum of the net amounts P_13_x ({net}) and the "
                   f"VAT amounts P_14_x ({vat})")
    lines = []
    for w in doc.iterfind("f:Fa/f:FaWiersz", _N):
        amount = _dec(_text(w, "f:P_11"))
        rate = RATE_OF.get(_text(w, "f:P_12") or "", Decimal(0))
        lines.append({"name": _text(w, "f:P_7") or "", "quantity": _text(w, "f:P_8B") or "1",
                      "unit_price": _text(w, "f:P_9A") or money_str(amount),
                      "tax_rate": format(rate.normalize(), "f") if rate else "0",
                      "amount": money_str(amount), "tax": money_str(quantize(amount * rate))})
    if bad:
        raise Fa3Error("Błąd weryfikacji semantyki dokumentu faktury", bad)
    return Fa3Invoice(
        seller_nip=seller, seller_name=_text(doc, "f:Podmiot1/f:DaneIdentyfikacyjne/f:Nazwa") or "",
        buyer_nip=buyer, buyer_name=_text(doc, "f:Podmiot2/f:DaneIdentyfikacyjne/f:Nazwa") or "",
        kind=_text(doc, "f:Fa/f:RodzajFaktury") or "", number=_text(doc, "f:Fa/f:P_2") or "",
        issue_date=p1, currency=_text(doc, "f:Fa/f:KodWaluty") or "",
        order_ref=_text(doc, "f:Fa/f:WarunkiTransakcji/f:Zamowienia/f:NrZamowienia") or "",
        net=quantize(net), vat=quantize(vat), gross=quantize(gross), lines=tuple(lines),
        corrected_ksef_number=_text(doc, "f:Fa/f:DaneFaKorygowanej/f:NrKSeFFaKorygowanej"))
