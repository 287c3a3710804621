"""The KSeF desk: authentication, online sessions and invoice decisions over the ledger core.

What an ERP sees (ksef.md, open-api.json of CIRFMF/ksef-docs): a KSeF token exchanged for
access tokens; an online session whose AES key it sends RSA-encrypted; each invoice sent
encrypted and answered 202 with a reference number, then *decided later* (status 100/150,
then 200 with a KSeF number or a failure code) by a processing loop; UPOs; the invoice read
back by KSeF number through the lagging replica.

Durability: an invoice is written (with its XML) before its 202, and its decision (ledger
row + KSeF number + duplicate key) in one transaction, so a kill -9 loses nothing answered:
after a restart the undecided invoices are decided as if nothing happened. Tokens and auth
operations live in memory (after a restart an ERP authenticates again, as after a token
expiry).

The platform fault knobs map as: `error_rate` -> every call answers `error_status` (an
outage, KSeF's "awaria", when 1), on a send after the invoice was stored with
`error_after_commit`; `throttle_rate` -> 429 + Retry-After; `slow_commit_ms` and
`processing_delay_ms` -> invoices stay 150 that much longer; `replica_lag_ms` -> `GET /invoices/ksef/{n}` says 21165 (not
yet available) for that long; `revoke_tokens` -> every access token gets 401;
`ack_without_commit` -> the 202 is given and the invoice never gets a KSeF number.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from ...store import INSERT_INVOICE, Exec, InvoiceRow
from ..processor import Processor
from . import fa3, ids
from .crypto import CryptoError, KeyRing, aes_cbc_decrypt, sha256_b64
from .errors import KsefError, bad_request
from .upo import iso

__all__ = ["KsefDesk", "KsefSettings", "SCHEMA"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS ksef_sessions (
    ref TEXT PRIMARY KEY, nip TEXT NOT NULL, aes_key BLOB, iv BLOB, key_ok INTEGER NOT NULL,
    created REAL NOT NULL, valid_until REAL NOT NULL, closed REAL);
CREATE TABLE IF NOT EXISTS ksef_invoices (
    ref TEXT PRIMARY KEY, session_ref TEXT NOT NULL, ordinal INTEGER NOT NULL,
    nip TEXT NOT NULL, invoice_hash TEXT NOT NULL, received REAL NOT NULL,
    offline INTEGER NOT NULL, xml BLOB, pre_status INTEGER, lost INTEGER NOT NULL,
    status INTEGER, description TEXT, details TEXT, extensions TEXT, ksef_number TEXT,
    invoice_number TEXT, issue_date TEXT, decided REAL);
CREATE INDEX IF NOT EXISTS ix_ksef_number ON ksef_invoices(ksef_number)
    WHERE ksef_number IS NOT NULL;
CREATE TABLE IF NOT EXISTS ksef_dups (
    seller TEXT NOT NULL, kind TEXT NOT NULL, number TEXT NOT NULL, ksef_number TEXT NOT NULL,
    session_ref TEXT NOT NULL, PRIMARY KEY (seller, kind, number));
"""

MAX_INVOICE = 1_000_000            # 1 MB per invoice without attachments
MAX_PER_SESSION = 10_000
SESSION_TTL_S = 12 * 3600
CHALLENGE_TTL_S = 600
REFRESH_TTL_S = 7 * 24 * 3600
FORM_CODE = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}

# invoice statuses (SessionInvoiceStatusResponse.status, ksef.md s.1)
STATUS_TEXT = {
    100: "Faktura przyjęta do dalszego przetwarzania",
    150: "Trwa przetwarzanie",
    200: "Sukces",
    405: "Przetwarzanie anulowane z powodu błędu sesji",
    410: "Nieprawidłowy zakres uprawnień",
    435: "Błąd odszyfrowania pliku",
    440: "Duplikat faktury",
    450: "Błąd weryfikacji semantyki dokumentu faktury",
}
SESSION_TEXT = {100: "Sesja interaktywna otwarta", 170: "Sesja interaktywna zamknięta",
                200: "Sesja interaktywna przetworzona pomyślnie",
                415: "Błąd odszyfrowania dostarczonego klucza",
                440: "Sesja anulowana", 445: "Błąd weryfikacji, brak poprawnych faktur"}


class Core(Protocol):
    """What the desk needs of the ledger core (store, committer, faults, numbering)."""
    store: Any
    committer: Any
    faults: Any
    dice: Any
    stats: Any

    def clock(self) -> float: ...

    def take_seq(self) -> int: ...

    def lag_s(self) -> float: ...


@dataclass(slots=True)
class KsefSettings:
    processing_delay_s: float = 0.2     # how long an invoice stays 100/150 before a decision
    ksef_tokens: dict[str, str] = field(default_factory=dict)   # KSeF token -> NIP
    access_ttl_s: float = 900.0


@dataclass(slots=True)
class _AuthOp:
    ref: str
    nip: str
    auth_token: str
    started: float
    valid_until: float
    code: int
    details: list[str]
    redeemed: bool = False


@dataclass(slots=True)
class _Session:
    ref: str
    nip: str
    key: bytes | None
    iv: bytes | None
    key_ok: bool
    created: float
    valid_until: float
    closed: float | None = None
    invoices: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Invoice:
    ref: str
    session_ref: str
    ordinal: int
    nip: str
    invoice_hash: str
    received: float
    offline: bool
    xml: bytes | None
    pre_status: int | None
    lost: bool
    status: int | None = None
    description: str = ""
    details: list[str] = field(default_factory=list)
    extensions: dict[str, str] | None = None
    ksef_number: str | None = None
    invoice_number: str | None = None
    issue_date: str | None = None
    decided: float | None = None


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise bad_request(21405, "Błąd walidacji danych wejściowych.", f"{name}: required "
                          "Base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                          f"{name}: not valid Base64") from None


def _obj(body: Any, *required: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                          "body: a JSON object is required")
    missing = [k for k in required if body.get(k) is None]
    if missing:
        raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                          *(f"{k}: required" for k in missing))
    return body


class KsefDesk:
    def __init__(self, core: Core, keys: KeyRing, settings: KsefSettings) -> None:
        self.core = core
        self.keys = keys
        self.settings = settings
        self.store = core.store
        self.store._w.executescript(SCHEMA)
        self._challenges: dict[str, tuple[int, float]] = {}
        self._auth: dict[str, _AuthOp] = {}
        self._auth_tokens: dict[str, str] = {}           # authenticationToken -> auth ref
        self._access: dict[str, tuple[str, float]] = {}  # access token -> (nip, expires)
        self._refresh: dict[str, tuple[str, float]] = {}
        self.sessions: dict[str, _Session] = {}
        self.invoices: dict[str, _Invoice] = {}
        self._by_ksef: dict[str, str] = {}               # ksef number -> invoice ref
        self._dups: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._undecided: dict[str, _Invoice] = {}
        # a failed round is a failed commit: its invoices stay undecided for the next one
        self.processor = Processor("ksef", self.decide_due, self._round_failed, pause_s=0.2)
        self._load()

    # --- durable state --------------------------------------------------------------
    def _load(self) -> None:
        r = self.store._r
        for ref, nip, key, iv, key_ok, created, valid_until, closed in r.execute(
                "SELECT ref, nip, aes_key, iv, key_ok, created, valid_until, closed "
                "FROM ksef_sessions"):
            self.sessions[ref] = _Session(ref, nip, key, iv, bool(key_ok), created, valid_until,
                                          closed)
        for row in r.execute(
                "SELECT ref, session_ref, ordinal, nip, invoice_hash, received, offline, xml, "
                "pre_status, lost, status, description, details, extensions, ksef_number, "
                "invoice_number, issue_date, decided FROM ksef_invoices ORDER BY rowid"):
            inv = _Invoice(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]),
                           row[7], row[8], bool(row[9]), row[10], row[11] or "",
                           orjson.loads(row[12]) if row[12] else [],
                           orjson.loads(row[13]) if row[13] else None, row[14], row[15],
                           row[16], row[17])
            self.invoices[inv.ref] = inv
            s = self.sessions.get(inv.session_ref)
            if s is not None:
                s.invoices.append(inv.ref)
            if inv.ksef_number:
                self._by_ksef[inv.ksef_number] = inv.ref
            if inv.status is None:
                self._undecided[inv.ref] = inv
        for seller, kind, number, ksef, sref in r.execute(
                "SELECT seller, kind, number, ksef_number, session_ref FROM ksef_dups"):
            self._dups[(seller, kind, number)] = (ksef, sref)

    def start(self) -> None:
        self.processor.start()

    async def stop(self) -> None:
        await self.processor.stop()

    def now(self) -> float:
        return self.core.clock()

    # --- tokens ---------------------------------------------------------------------
    def access_nip(self, authorization: str | None) -> str:
        """The NIP context of a Bearer access token, or 401."""
        token = _bearer(authorization)
        hit = self._access.get(token)
        if hit is None or hit[1] < self.now():
            raise KsefError(401, "Brak autoryzacji: access token unknown, expired or revoked; "
                            "authenticate again (POST /auth/challenge)")
        return hit[0]

    def revoke_all(self) -> int:
        n = len(self._access) + len(self._refresh)
        self._access.clear()
        self._refresh.clear()
        return n

    # --- auth -----------------------------------------------------------------------
    def challenge(self, client_ip: str) -> dict[str, Any]:
        now = self.now()
        for k in [k for k, (_, exp) in self._challenges.items() if exp < now]:
            del self._challenges[k]
        value = ids.reference_number("challenge", now)
        ms = int(now * 1000)
        self._challenges[value] = (ms, now + CHALLENGE_TTL_S)
        return {"challenge": value, "timestamp": iso(now), "timestampMs": ms,
                "clientIp": client_ip}

    def ksef_token(self, body: Any) -> dict[str, Any]:
        b = _obj(body, "challenge", "contextIdentifier", "encryptedToken")
        ctx = b["contextIdentifier"]
        if not isinstance(ctx, dict) or not isinstance(ctx.get("value"), str) or \
                ctx.get("type") not in ("Nip", "InternalId", "NipVatUe", "PeppolId"):
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              "contextIdentifier: {type: Nip|InternalId|NipVatUe|PeppolId, "
                              "value} required")
        enc = _b64(b["encryptedToken"], "encryptedToken")
        pkid = b.get("publicKeyId")
        if pkid is not None and not isinstance(pkid, str):
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              "publicKeyId: must be a string")
        pair = self.keys.for_usage("KsefTokenEncryption", pkid)
        if pair is None:
            raise bad_request(21470, "Nieznany lub wycofany identyfikator klucza publicznego.",
                              f"publicKeyId {pkid}")
        ch = self._challenges.get(b["challenge"]) if isinstance(b["challenge"], str) else None
        now = self.now()
        if ch is None or ch[1] < now:
            raise bad_request(21111, "Nieprawidłowe wyzwanie autoryzacyjne.",
                              "challenge unknown or older than 10 minutes")
        del self._challenges[b["challenge"]]
        code, details, nip = 200, [], str(ctx["value"])
        if ctx["type"] != "Nip":
            code, details = 450, [f"contextIdentifier.type {ctx['type']}: this fake serves "
                                  "NIP contexts only"]
        else:
            try:
                plain = pair.decrypt(enc).decode("utf-8")
                token, _, ts = plain.rpartition("|")
                if not token or ts != str(ch[0]):
                    code, details = 450, ["the encrypted timestamp is not the challenge's "
                                          "timestampMs"]
                elif self.settings.ksef_tokens.get(token) != nip:
                    code, details = 450, [f"unknown KSeF token for context Nip {nip}"]
            except (CryptoError, UnicodeDecodeError):
                code, details = 450, ["encryptedToken does not decrypt with the "
                                      "KsefTokenEncryption key (RSA-OAEP SHA-256)"]
        ref = ids.reference_number("auth", now)
        tok = "auth-" + secrets.token_urlsafe(24)
        op = _AuthOp(ref, nip, tok, now, now + 3600, code, details)
        self._auth[ref] = op
        self._auth_tokens[tok] = ref
        self.core.stats["ksef_auth_" + ("ok" if code == 200 else "refused")] += 1
        return {"referenceNumber": ref,
                "authenticationToken": {"token": tok, "validUntil": iso(op.valid_until)}}

    def _auth_op(self, authorization: str | None) -> _AuthOp:
        ref = self._auth_tokens.get(_bearer(authorization))
        op = self._auth.get(ref or "")
        if op is None or op.valid_until < self.now():
            raise KsefError(401, "Brak autoryzacji: authenticationToken unknown or expired")
        return op

    def auth_status(self, ref: str, authorization: str | None) -> dict[str, Any]:
        op = self._auth_op(authorization)
        if op.ref != ref:
            raise bad_request(21304, "Brak uwierzytelnienia.",
                              f"no authentication operation {ref} for this token")
        desc = {200: "Uwierzytelnianie zakończone sukcesem",
                450: "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu"}
        return {"startDate": iso(op.started), "authenticationMethod": "Token",
                "authenticationMethodInfo": {"category": "Token", "code": "token.ksef",
                                             "displayName": "Token KSeF"},
                "status": {"code": op.code, "description": desc[op.code],
                           "details": op.details or None},
                "isTokenRedeemed": op.redeemed}

    def redeem(self, authorization: str | None) -> dict[str, Any]:
        op = self._auth_op(authorization)
        if op.redeemed:
            raise bad_request(21301, "Brak autoryzacji.", "Tokeny zostały już pobrane.")
        if op.code != 200:
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              f"authentication {op.ref} ended with status {op.code}")
        op.redeemed = True
        now = self.now()
        access = "acc-" + secrets.token_urlsafe(24)
        refresh = "ref-" + secrets.token_urlsafe(24)
        self._access[access] = (op.nip, now + self.settings.access_ttl_s)
        self._refresh[refresh] = (op.nip, now + REFRESH_TTL_S)
        return {"accessToken": {"token": access,
                                "validUntil": iso(now + self.settings.access_ttl_s)},
                "refreshToken": {"token": refresh, "validUntil": iso(now + REFRESH_TTL_S)}}

    def refresh(self, authorization: str | None) -> dict[str, Any]:
        hit = self._refresh.get(_bearer(authorization))
        now = self.now()
        if hit is None or hit[1] < now:
            raise KsefError(401, "Brak autoryzacji: refresh token unknown, expired or revoked")
        access = "acc-" + secrets.token_urlsafe(24)
        self._access[access] = (hit[0], now + self.settings.access_ttl_s)
        return {"accessToken": {"token": access,
                                "validUntil": iso(now + self.settings.access_ttl_s)}}

    # --- sessions -------------------------------------------------------------------
    async def open_session(self, nip: str, body: Any) -> dict[str, Any]:
        b = _obj(body, "formCode", "encryption")
        fc, enc = b["formCode"], b["encryption"]
        if not isinstance(fc, dict) or {k: fc.get(k) for k in FORM_CODE} != FORM_CODE:
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              "formCode: this fake serves FA (3) / 1-0E / FA only")
        e = _obj(enc, "encryptedSymmetricKey", "initializationVector")
        ek = _b64(e["encryptedSymmetricKey"], "encryption.encryptedSymmetricKey")
        iv = _b64(e["initializationVector"], "encryption.initializationVector")
        pkid = e.get("publicKeyId")
        pair = self.keys.for_usage("SymmetricKeyEncryption",
                                   pkid if isinstance(pkid, str) else None)
        if pair is None:
            raise bad_request(21470, "Nieznany lub wycofany identyfikator klucza publicznego.",
                              f"publicKeyId {pkid}")
        try:
            key: bytes | None = pair.decrypt(ek)
            ok = key is not None and len(key) == 32 and len(iv) == 16
        except CryptoError:
            key, ok = None, False
        now = self.now()
        s = _Session(ids.reference_number("session", now), nip, key, iv, ok, now,
                     now + SESSION_TTL_S)
        await self.core.committer.submit(Exec([(
            "INSERT INTO ksef_sessions VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (s.ref, nip, key, iv, int(ok), now, s.valid_until))]))
        self.sessions[s.ref] = s
        self.core.stats["ksef_sessions_opened"] += 1
        return {"referenceNumber": s.ref, "validUntil": iso(s.valid_until)}

    def _session(self, nip: str, ref: str) -> _Session:
        s = self.sessions.get(ref)
        if s is None or s.nip != nip:
            raise bad_request(21173, "Brak sesji o wskazanym numerze referencyjnym.",
                              f"session {ref}")
        return s

    def session_status_code(self, s: _Session) -> int:
        if not s.key_ok:
            return 415
        if s.closed is None and s.valid_until > self.now():
            return 100
        invs = [self.invoices[r] for r in s.invoices]
        if not invs:
            return 440
        if any(i.status is None for i in invs):
            return 170
        return 200 if any(i.status == 200 for i in invs) else 445

    async def send(self, nip: str, ref: str, body: Any, after_commit: bool) -> dict[str, Any]:
        s = self._session(nip, ref)
        code = self.session_status_code(s)
        if code != 100:
            raise bad_request(21180, "Status sesji nie pozwala na wykonanie operacji.",
                              f"session {ref} has status {code} ({SESSION_TEXT[code]})")
        if len(s.invoices) >= MAX_PER_SESSION:
            raise bad_request(21155, "Przekroczono limit faktur w sesji.",
                              f"at most {MAX_PER_SESSION} invoices per online session")
        b = _obj(body, "invoiceHash", "invoiceSize", "encryptedInvoiceHash",
                 "encryptedInvoiceSize", "encryptedInvoiceContent")
        for k in ("invoiceSize", "encryptedInvoiceSize"):
            if isinstance(b[k], bool) or not isinstance(b[k], int) or b[k] < 1:
                raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                                  f"{k}: an integer >= 1")
        for k in ("invoiceHash", "encryptedInvoiceHash"):
            if not isinstance(b[k], str) or len(b[k]) != 44:
                raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                                  f"{k}: SHA-256 in Base64 (44 characters)")
        offline = b.get("offlineMode", False)
        if not isinstance(offline, bool):
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              "offlineMode: true or false")
        content = _b64(b["encryptedInvoiceContent"], "encryptedInvoiceContent")
        if len(content) != b["encryptedInvoiceSize"]:
            raise bad_request(21402, "Nieprawidłowy rozmiar pliku.",
                              f"encryptedInvoiceSize {b['encryptedInvoiceSize']} != "
                              f"{len(content)} bytes received")
        if sha256_b64(content) != b["encryptedInvoiceHash"]:
            raise bad_request(21403, "Nieprawidłowy skrót pliku.",
                              "encryptedInvoiceHash is not the SHA-256 of the content")
        pre: int | None = None
        xml: bytes | None = None
        try:
            assert s.key is not None and s.iv is not None
            xml = aes_cbc_decrypt(content, s.key, s.iv)
        except CryptoError:
            pre = 435
        if xml is not None:
            if len(xml) != b["invoiceSize"]:
                raise bad_request(21402, "Nieprawidłowy rozmiar pliku.",
                                  f"invoiceSize {b['invoiceSize']} != {len(xml)} bytes "
                                  "after decryption")
            if sha256_b64(xml) != b["invoiceHash"]:
                raise bad_request(21403, "Nieprawidłowy skrót pliku.",
                                  "invoiceHash is not the SHA-256 of the decrypted invoice")
            if len(xml) > MAX_INVOICE:
                raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                                  f"an invoice without attachments is at most {MAX_INVOICE} "
                                  "bytes")
        now = self.now()
        lost = self.core.dice.hit(self.core.faults.ack_without_commit)
        inv = _Invoice(ids.reference_number("invoice", now), s.ref, len(s.invoices) + 1, nip,
                       b["invoiceHash"], now, offline, xml, pre, lost)
        s.invoices.append(inv.ref)           # reserve the ordinal before the await
        try:
            await self.core.committer.submit(Exec([(
                "INSERT INTO ksef_invoices (ref, session_ref, ordinal, nip, invoice_hash, "
                "received, offline, xml, pre_status, lost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (inv.ref, s.ref, inv.ordinal, nip, inv.invoice_hash, now, int(offline), xml, pre,
                 int(lost)))]))
        except Exception:
            s.invoices.remove(inv.ref)
            raise
        self.invoices[inv.ref] = inv
        self._undecided[inv.ref] = inv
        self.processor.wake()
        self.core.stats["ksef_invoices_received"] += 1
        if lost:
            self.core.stats["injected_ack_without_commit"] += 1
        if after_commit:
            self.core.stats["injected_error_after_commit"] += 1
            raise KsefError(self.core.faults.error_status,
                            "injected fault after the invoice was stored: the outcome is "
                            "unknown to the client")
        return {"referenceNumber": inv.ref}

    async def close(self, nip: str, ref: str) -> None:
        s = self._session(nip, ref)
        code = self.session_status_code(s)
        if code not in (100, 415):
            raise bad_request(21180, "Status sesji nie pozwala na wykonanie operacji.",
                              f"session {ref} has status {code} ({SESSION_TEXT[code]})")
        now = self.now()
        await self.core.committer.submit(Exec([(
            "UPDATE ksef_sessions SET closed=? WHERE ref=?", (now, ref))]))
        s.closed = now

    def session_status(self, nip: str, ref: str, base: str) -> dict[str, Any]:
        s = self._session(nip, ref)
        code = self.session_status_code(s)
        invs = [self.invoices[r] for r in s.invoices]
        ok = sum(1 for i in invs if i.status == 200)
        failed = sum(1 for i in invs if i.status is not None and i.status != 200)
        updated = max([s.created, s.closed or 0.0] + [i.decided or i.received for i in invs])
        out: dict[str, Any] = {
            "status": {"code": code, "description": SESSION_TEXT[code]},
            "dateCreated": iso(s.created), "dateUpdated": iso(updated),
            "validUntil": iso(s.valid_until), "invoiceCount": len(invs),
            "successfulInvoiceCount": ok, "failedInvoiceCount": failed}
        if code == 200:
            upo_ref = self.session_upo_ref(s.ref)
            out["upo"] = {"pages": [{
                "referenceNumber": upo_ref,
                "downloadUrl": f"{base}/sessions/{s.ref}/upo/{upo_ref}",
                "downloadUrlExpirationDate": iso(self.now() + 3600)}]}
        return out

    @staticmethod
    def session_upo_ref(session_ref: str) -> str:
        """The session's one UPO page: a reference number derived from the session's."""
        h = hashlib.sha256(session_ref.encode()).hexdigest().upper()
        body = f"{session_ref[:8]}-EU-{h[:10]}-{h[10:20]}"
        return f"{body}-{ids.crc8(body.encode()):02X}"

    def delay_s(self) -> float:
        """How long a sent invoice waits for its decision: the processing delay (the
        `processing_delay_ms` knob, else the config's) plus the `slow_commit_ms` knob."""
        f = self.core.faults
        d = self.settings.processing_delay_s if f.processing_delay_ms is None else \
            f.processing_delay_ms / 1000.0
        return d + f.slow_commit_ms / 1000.0

    def invoice_json(self, inv: _Invoice, base: str) -> dict[str, Any]:
        now = self.now()
        code = inv.status
        if code is None:
            half = inv.received + self.delay_s() / 2
            code = 150 if now >= half or inv.lost else 100
        status: dict[str, Any] = {"code": code, "description": STATUS_TEXT[code]}
        if inv.details:
            status["details"] = inv.details
        if inv.extensions:
            status["extensions"] = inv.extensions
        out: dict[str, Any] = {
            "ordinalNumber": inv.ordinal, "referenceNumber": inv.ref,
            "invoiceHash": inv.invoice_hash, "invoicingDate": iso(inv.received),
            "invoicingMode": "Offline" if inv.offline else "Online", "status": status}
        if inv.invoice_number:
            out["invoiceNumber"] = inv.invoice_number
        if code == 200 and inv.ksef_number and inv.decided is not None:
            out["ksefNumber"] = inv.ksef_number
            out["acquisitionDate"] = iso(inv.decided)
            out["permanentStorageDate"] = iso(inv.decided)
            out["upoDownloadUrl"] = f"{base}/sessions/{inv.session_ref}/invoices/{inv.ref}/upo"
        return out

    def invoice_status(self, nip: str, ref: str, inv_ref: str, base: str) -> dict[str, Any]:
        s = self._session(nip, ref)
        inv = self.invoices.get(inv_ref)
        if inv is None or inv.session_ref != s.ref:
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              f"no invoice {inv_ref} in session {ref}")
        return self.invoice_json(inv, base)

    def session_invoices(self, nip: str, ref: str, base: str, failed_only: bool,
                         page_size: int, token: str | None) -> dict[str, Any]:
        s = self._session(nip, ref)
        start = 0
        if token:
            try:
                start = int(token)
            except ValueError:
                raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                                  "x-continuation-token: not a token this session "
                                  "handed out") from None
        invs = [self.invoices[r] for r in s.invoices]
        if failed_only:
            invs = [i for i in invs if i.status is not None and i.status != 200]
        page = invs[start:start + page_size]
        out: dict[str, Any] = {"invoices": [self.invoice_json(i, base) for i in page]}
        if start + page_size < len(invs):
            out["continuationToken"] = str(start + page_size)
        return out

    def _upo_doc(self, inv: _Invoice) -> dict[str, object]:
        return {"nip": inv.nip, "ksef_number": inv.ksef_number,
                "invoice_number": inv.invoice_number, "issue_date": inv.issue_date,
                "received": inv.received, "decided": inv.decided, "hash": inv.invoice_hash,
                "offline": inv.offline}

    def invoice_upo(self, nip: str, ref: str, inv_ref: str | None,
                    ksef_number: str | None) -> dict[str, object]:
        s = self._session(nip, ref)
        if ksef_number is not None:
            inv_ref = self._by_ksef.get(ksef_number)
        inv = self.invoices.get(inv_ref or "")
        if inv is None or inv.session_ref != s.ref or inv.status != 200:
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              "no UPO: the invoice is not in this session or has no KSeF "
                              "number yet")
        return self._upo_doc(inv)

    def session_upo(self, nip: str, ref: str, upo_ref: str) -> list[dict[str, object]]:
        s = self._session(nip, ref)
        if self.session_status_code(s) != 200 or upo_ref != self.session_upo_ref(ref):
            raise bad_request(21405, "Błąd walidacji danych wejściowych.",
                              f"no UPO {upo_ref} for session {ref} (yet)")
        return [self._upo_doc(self.invoices[r]) for r in s.invoices
                if self.invoices[r].status == 200]

    def download(self, nip: str, ksef_number: str, lag_s: float) -> bytes:
        inv = self.invoices.get(self._by_ksef.get(ksef_number, ""))
        if inv is None or inv.nip != nip:
            raise bad_request(21164, "Faktura o podanym identyfikatorze nie istnieje.",
                              f"no invoice {ksef_number}")
        if inv.decided is None or inv.decided + lag_s > self.now():
            self.core.stats["ksef_read_not_yet"] += 1
            raise bad_request(21165, "Faktura o podanym numerze KSeF nie jest jeszcze dostępna.",
                              f"{ksef_number}: try again later")
        assert inv.xml is not None
        return inv.xml

    # --- decisions --------------------------------------------------------------------
    def _round_failed(self) -> None:
        self.core.stats["ksef_decide_failed"] += 1

    async def decide_due(self) -> int:
        """Decide every invoice whose processing time has come; returns how many."""
        now = self.now()
        delay = self.delay_s()
        due = [i for i in self._undecided.values() if not i.lost and i.received + delay <= now]
        if not due:
            return 0
        statements: list[tuple[str, tuple[Any, ...]]] = []
        decided: list[tuple[_Invoice, dict[str, Any]]] = []
        reserved: list[tuple[str, str, str]] = []
        seq_next = 0
        today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
        for inv in due:
            d: dict[str, Any] = {"status": None, "description": "", "details": [],
                                 "extensions": None, "ksef_number": None,
                                 "invoice_number": None, "issue_date": None}
            if inv.pre_status is not None:
                d["status"] = inv.pre_status
                d["details"] = ["the invoice does not decrypt with the session's key and IV "
                                "(AES-256-CBC, PKCS#7)"]
            else:
                assert inv.xml is not None
                try:
                    f = fa3.check(inv.xml, today)
                except fa3.Fa3Error as exc:
                    d["status"], d["details"] = exc.code, exc.details
                else:
                    d["invoice_number"], d["issue_date"] = f.number, f.issue_date
                    key = f.duplicate_key
                    if f.seller_nip != inv.nip:
                        d["status"] = 410
                        d["details"] = [f"Podmiot1/NIP {f.seller_nip} is not the session's "
                                        f"context Nip {inv.nip}"]
                    elif key in self._dups:
                        orig, osess = self._dups[key]
                        d["status"] = 440
                        d["details"] = [f"Duplikat faktury. Faktura o numerze KSeF: {orig} o "
                                        f"zduplikowanych wartościach: {f.seller_nip}, {f.kind}, "
                                        f"{f.number} została już prawidłowo przesłana."]
                        d["extensions"] = {"originalSessionReferenceNumber": osess,
                                           "originalKsefNumber": orig}
                    else:
                        seq = self.core.take_seq()
                        seq_next = max(seq_next, seq + 1)
                        ksef = ids.ksef_number(f.seller_nip, now, seq)
                        self._dups[key] = (ksef, inv.session_ref)
                        reserved.append(key)
                        d["status"], d["ksef_number"] = 200, ksef
                        row = self._ledger_row(f, ksef, inv, now)
                        statements.append((INSERT_INVOICE, row.values()))
                        statements.append(("INSERT INTO ksef_dups VALUES (?, ?, ?, ?, ?)",
                                           (*key, ksef, inv.session_ref)))
            d["description"] = STATUS_TEXT[d["status"]]
            statements.append((
                "UPDATE ksef_invoices SET status=?, description=?, details=?, extensions=?, "
                "ksef_number=?, invoice_number=?, issue_date=?, decided=? WHERE ref=?",
                (d["status"], d["description"], orjson.dumps(d["details"]).decode(),
                 orjson.dumps(d["extensions"]).decode() if d["extensions"] else None,
                 d["ksef_number"], d["invoice_number"], d["issue_date"], now, inv.ref)))
            decided.append((inv, d))
        try:
            await self.core.committer.submit(Exec(statements, seq_next))
        except Exception:
            for key in reserved:
                self._dups.pop(key, None)
            raise
        for inv, d in decided:
            inv.status, inv.description, inv.details = d["status"], d["description"], d["details"]
            inv.extensions, inv.ksef_number = d["extensions"], d["ksef_number"]
            inv.invoice_number, inv.issue_date, inv.decided = (d["invoice_number"],
                                                               d["issue_date"], now)
            if inv.ksef_number:
                self._by_ksef[inv.ksef_number] = inv.ref
            self._undecided.pop(inv.ref, None)
            self.core.stats[f"ksef_status_{inv.status}"] += 1
        return len(decided)

    def _ledger_row(self, f: fa3.Fa3Invoice, ksef: str, inv: _Invoice, now: float) -> InvoiceRow:
        """The ledger line (design.md s.5): invoice_no = the KSeF number, request_id = P_2,
        order_ref = NrZamowienia, amounts in PLN."""
        return InvoiceRow(
            invoice_no=ksef, kind="blue", request_id=f.number, order_ref=f.order_ref,
            seller_tax_id=f.seller_nip, buyer_name=f.buyer_name, buyer_tax_id=f.buyer_nip,
            invoice_type=f.kind, amount=str(f.net), tax=str(f.vat), total=str(f.gross),
            issued_at=now, original_invoice_no=f.corrected_ksef_number, reason=None,
            quota_month=None, body_hash=inv.invoice_hash, lines=list(f.lines),
            extra={"profile": "ksef", "ksef_number": ksef})

    def stats_json(self) -> dict[str, Any]:
        return {"sessions": len(self.sessions), "invoices": len(self.invoices),
                "undecided": len(self._undecided),
                "lost": sum(1 for i in self._undecided.values() if i.lost)}


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise KsefError(401, "Brak autoryzacji: Authorization: Bearer <token> required")
    return authorization[7:].strip()

