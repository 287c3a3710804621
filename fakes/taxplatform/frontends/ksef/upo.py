"""UPO (Urzędowe Poświadczenie Odbioru): KSeF's official receipt, as XML.

The fake writes a receipt with the fields an ERP reads (session reference, seller NIP,
KSeF number, invoice number and dates, the invoice hash) in the namespace of UPO v4-3; it
is not signed and is not checked against `upo-v4-3.xsd` (docs/platform-api.md says so).
"""
from __future__ import annotations

import datetime as dt
from xml.sax.saxutils import escape

__all__ = ["UPO_NS", "invoice_upo", "session_upo", "iso"]

UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"


def _doc(d: dict[str, object]) -> str:
    return ("<Dokument>"
            f"<NipSprzedawcy>{escape(str(d['nip']))}</NipSprzedawcy>"
            f"<NumerKSeFDokumentu>{escape(str(d['ksef_number']))}</NumerKSeFDokumentu>"
            f"<NumerFaktury>{escape(str(d['invoice_number']))}</NumerFaktury>"
            f"<DataWystawieniaFaktury>{escape(str(d['issue_date']))}</DataWystawieniaFaktury>"
            f"<DataPrzeslaniaDokumentu>{iso(float(d['received']))}</DataPrzeslaniaDokumentu>"
            f"<DataNadaniaNumeruKSeF>{iso(float(d['decided']))}</DataNadaniaNumeruKSeF>"
            f"<SkrotDokumentu>{escape(str(d['hash']))}</SkrotDokumentu>"
            f"<TrybWysylki>{'Offline' if d.get('offline') else 'Online'}</TrybWysylki>"
            "</Dokument>")


def _wrap(session_ref: str, nip: str, docs: list[dict[str, object]]) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Potwierdzenie xmlns="{UPO_NS}">'
            "<NazwaPodmiotuPrzyjmujacego>invoice-chaos fake KSeF</NazwaPodmiotuPrzyjmujacego>"
            f"<NumerReferencyjnySesji>{session_ref}</NumerReferencyjnySesji>"
            f"<Uwierzytelnienie><IdKontekstu><Nip>{nip}</Nip></IdKontekstu></Uwierzytelnienie>"
            + "".join(_doc(d) for d in docs) + "</Potwierdzenie>").encode("utf-8")


def invoice_upo(session_ref: str, doc: dict[str, object]) -> bytes:
    return _wrap(session_ref, str(doc["nip"]), [doc])


def session_upo(session_ref: str, nip: str, docs: list[dict[str, object]]) -> bytes:
    return _wrap(session_ref, nip, docs)
