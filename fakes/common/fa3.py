"""Building FA(3) invoices (KSeF's schema, namespace of 2025-06-25) from an order's lines.

One builder for everything that writes an FA(3): the bundled merchant as a KSeF ERP, the
example ERP and the tests. Amounts follow the one Polish rule: a line's net amount is
quantity x unit price and its VAT is net x rate, each half-up to the grosz; the invoice's
P_13_x / P_14_x are the sums of its lines per rate, P_15 their total (so a checker that
recomputes per line with the same rule finds the same figures).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from .money import money_str, quantize

__all__ = ["NS", "Fa3Line", "Fa3Party", "build_fa3", "line_amounts", "PL_RATES"]

NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
# Polish VAT rates -> (P_12 code, the P_13/P_14 field suffix; 0 % has no VAT field)
PL_RATES: dict[Decimal, tuple[str, str, bool]] = {
    Decimal("0.23"): ("23", "1", True), Decimal("0.08"): ("8", "2", True),
    Decimal("0.05"): ("5", "3", True), Decimal("0"): ("0 KR", "6_1", False)}


@dataclass(frozen=True, slots=True)
class Fa3Party:
    nip: str
    name: str
    address: str = "ul. Prosta 1, 00-001 Warszawa"


@dataclass(frozen=True, slots=True)
class Fa3Line:
    name: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal                 # a fraction: 0.23, 0.08, 0.05 or 0


def line_amounts(line: Fa3Line) -> tuple[Decimal, Decimal]:
    """(net, VAT) of one line, each half-up to the grosz."""
    net = quantize(line.quantity * line.unit_price)
    return net, quantize(net * line.tax_rate)


def _e(s: str) -> str:
    return escape(s, {'"': "&quot;"})


def build_fa3(*, seller: Fa3Party, buyer: Fa3Party, number: str, issue_date: str,
              lines: list[Fa3Line], order_ref: str | None = None, kind: str = "VAT",
              created: str | None = None, currency: str = "PLN") -> bytes:
    """The FA(3) XML (UTF-8, no BOM) of one invoice; ValueError for a rate not in PL_RATES."""
    net_by: dict[str, Decimal] = {}
    vat_by: dict[str, Decimal] = {}
    rows = []
    for i, ln in enumerate(lines, 1):
        if ln.tax_rate not in PL_RATES:
            raise ValueError(f"line {i}: tax rate {ln.tax_rate} is not a Polish rate "
                             f"({', '.join(str(r) for r in PL_RATES)})")
        code, suffix, has_vat = PL_RATES[ln.tax_rate]
        net, vat = line_amounts(ln)
        net_by[suffix] = net_by.get(suffix, Decimal(0)) + net
        if has_vat:
            vat_by[suffix] = vat_by.get(suffix, Decimal(0)) + vat
        rows.append(
            f"<FaWiersz><NrWierszaFa>{i}</NrWierszaFa><P_7>{_e(ln.name)}</P_7>"
            f"<P_8A>szt.</P_8A><P_8B>{format(ln.quantity, 'f')}</P_8B>"
            f"<P_9A>{format(ln.unit_price, 'f')}</P_9A><P_11>{money_str(net)}</P_11>"
            f"<P_12>{code}</P_12></FaWiersz>")
    sums = []
    for suffix in ("1", "2", "3", "6_1"):        # the schema's order of P_13_x / P_14_x
        if suffix in net_by:
            sums.append(f"<P_13_{suffix}>{money_str(net_by[suffix])}</P_13_{suffix}>")
            if suffix in vat_by:
                sums.append(f"<P_14_{suffix}>{money_str(vat_by[suffix])}</P_14_{suffix}>")
    gross = sum(net_by.values(), Decimal(0)) + sum(vat_by.values(), Decimal(0))
    order = ("" if not order_ref else
             f"<WarunkiTransakcji><Zamowienia><NrZamowienia>{_e(order_ref)}</NrZamowienia>"
             "</Zamowienia></WarunkiTransakcji>")
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Faktura xmlns="{NS}"><Naglowek>'
        '<KodFormularza kodSystemowy="FA (3)" wersjaSchemy="1-0E">FA</KodFormularza>'
        f"<WariantFormularza>3</WariantFormularza>"
        f"<DataWytworzeniaFa>{created or issue_date + 'T00:00:00Z'}</DataWytworzeniaFa>"
        f"</Naglowek><Podmiot1><DaneIdentyfikacyjne><NIP>{seller.nip}</NIP>"
        f"<Nazwa>{_e(seller.name)}</Nazwa></DaneIdentyfikacyjne><Adres><KodKraju>PL</KodKraju>"
        f"<AdresL1>{_e(seller.address)}</AdresL1></Adres></Podmiot1>"
        "<Podmiot2><DaneIdentyfikacyjne>"
        # a consumer has no NIP: BrakID (FA(3) TPodmiot2)
        + (f"<NIP>{buyer.nip}</NIP>" if buyer.nip else "<BrakID>1</BrakID>")
        + f"<Nazwa>{_e(buyer.name)}</Nazwa>"
        "</DaneIdentyfikacyjne><JST>2</JST><GV>2</GV></Podmiot2>"
        f"<Fa><KodWaluty>{currency}</KodWaluty><P_1>{issue_date}</P_1><P_2>{_e(number)}</P_2>"
        + "".join(sums) + f"<P_15>{money_str(gross)}</P_15>"
        "<Adnotacje><P_16>2</P_16><P_17>2</P_17><P_18>2</P_18><P_18A>2</P_18A>"
        "<Zwolnienie><P_19N>1</P_19N></Zwolnienie><NoweSrodkiTransportu><P_22N>1</P_22N>"
        "</NoweSrodkiTransportu><P_23>2</P_23><PMarzy><P_PMarzyN>1</P_PMarzyN></PMarzy>"
        f"</Adnotacje><RodzajFaktury>{kind}</RodzajFaktury>" + "".join(rows) + order
        + "</Fa></Faktura>")
    return xml.encode("utf-8")
