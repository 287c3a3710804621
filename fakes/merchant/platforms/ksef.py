"""The ksef profile's client (design.md s.13, KSeF API 2.0): the bundled merchant as a Polish
ERP. Written against the protocol (CIRFMF/ksef-docs open-api.json), not against the fake.

The wire, per seller: the seller's KSeF token (SELLERS_FILE, `secret`) is exchanged for an
access token (`/auth/challenge`, `/auth/ksef-token` with RSA-OAEP of `token|timestampMs`,
`/auth/{ref}`, `/auth/token/redeem`); one online session is kept open per seller
(`/sessions/online` with an AES-256 key RSA-encrypted under KSeF's certificate); each
invoice is an FA(3) document, AES-256-CBC encrypted, sent into it.

The robust rules, in order:
1. the ERP numbers its invoices itself: P_2 is fixed when the order row is first written
   (durable), and every send of the order carries the same P_2; KSeF refuses a second
   invoice with the same seller NIP + RodzajFaktury + P_2 (status 440);
2. a send with an unknown outcome (timeout, reset, 5xx) is sent again with the same P_2;
   while KSeF is unreachable or failing (an outage) the invoice is queued and, when KSeF
   answers again, sent with `offlineMode: true`;
3. after a 202 the invoice's status is polled until it is decided: 200 (the KSeF number is
   the invoice's number), 440 (a duplicate: an earlier send of ours landed, the original
   KSeF number is in `extensions`: issued), 405/435 (send again), other 4xx codes (failed);
   one that stays 100/150 far longer than KSeF takes is sent again (440 if it did land);
4. 429 is waited out for `Retry-After`; 401 logs in again; a session KSeF no longer keeps
   open (21180, 21173) is replaced by a new one.
Refunds are corrections (KOR invoices) in KSeF; this client does not send them (the
customer's refund is refused as not supported; docs/platform-api.md).

The ksef defect modes' places are marked `DEFECT` (modes.py).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fakes.common.fa3 import Fa3Line, Fa3Party, build_fa3

from ..amounts import Order
from ..http import AsyncHttp, Response, TransportError
from ..ksef_crypto import SessionKey, encrypt_token, pick_certificate
from ..store import OrderRow
from .base import Core, Platform, Reply, backoff, register

__all__ = ["KsefPlatform", "KsefWire", "p2_of"]

log = logging.getLogger("fakes.merchant.ksef")

_SESSION_GONE = (21173, 21180)
_FORM = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
#: an invoice still 100/150 this long after its 202 was dropped by KSeF: send it again
STUCK_S = 15.0


def p2_of(order_id: str) -> str:
    """The ERP's own invoice number (P_2) of an order."""
    return f"FV/{order_id}"


def _codes(body: Any) -> list[int]:
    """The KSeF error codes of a 400 body in either format."""
    if not isinstance(body, dict):
        return []
    exc = body.get("exception")
    if isinstance(exc, dict):
        return [d.get("exceptionCode") for d in exc.get("exceptionDetailList") or []
                if isinstance(d, dict)]
    return [e.get("code") for e in body.get("errors") or [] if isinstance(e, dict)]


def _reply(resp: Response) -> Reply:
    try:
        body = resp.json() if resp.content else None
    except ValueError:
        body = None
    ra = resp.headers.get("retry-after")
    try:
        wait = float(ra) if ra else None
    except ValueError:
        wait = None
    s = resp.status_code
    if s == 429:
        return Reply("throttled", s, body, wait or 1.0, "http_429")
    if s >= 500:
        return Reply("unknown", s, body, wait, f"http_{s}")
    if s in (401, 403):
        return Reply("refused", s, body, None, f"http_{s}")
    if s >= 400:
        codes = _codes(body)
        return Reply("refused", s, body, None, str(codes[0]) if codes else f"http_{s}",
                     str(body)[:300])
    return Reply("ok", s, body)


@dataclass
class _Session:
    ref: str
    key: SessionKey


class KsefWire:
    """Access tokens and one open online session per seller; never raises for the network."""

    def __init__(self, base_url: str, sellers: list[dict[str, Any]], timeout_s: float) -> None:
        self.http = AsyncHttp(base_url.rstrip("/") + "/v2", max_connections=64)
        self.timeout_s = timeout_s
        self.tokens = {s["seller_tax_id"]: str(s.get("ksef_token") or s["secret"])
                       for s in sellers}
        self._certs: list[dict[str, Any]] | None = None
        self._access: dict[str, str] = {}
        self._sessions: dict[str, _Session] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, timeout: float, *, json: Any = None,
                    token: str | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            resp = await self.http.request(method, path, json=json, headers=headers,
                                           timeout=timeout)
        except TransportError as e:
            return Reply("unknown", None, None, None, type(e).__name__, str(e))
        return _reply(resp)

    async def _login(self, seller: str, timeout: float) -> Reply:
        if self._certs is None:
            r = await self._call("GET", "/security/public-key-certificates", timeout)
            if r.kind != "ok":
                return r
            self._certs = list(r.body)
        cert = pick_certificate(self._certs, "KsefTokenEncryption")
        ch = await self._call("POST", "/auth/challenge", timeout)
        if ch.kind != "ok":
            return ch
        init = await self._call("POST", "/auth/ksef-token", timeout, json={
            "challenge": ch.body["challenge"],
            "contextIdentifier": {"type": "Nip", "value": seller},
            "encryptedToken": encrypt_token(cert["certificate"], self.tokens[seller],
                                            ch.body["timestampMs"]),
            "publicKeyId": cert["publicKeyId"]})
        if init.kind != "ok":
            return init
        auth = init.body["authenticationToken"]["token"]
        for _ in range(20):
            st = await self._call("GET", f"/auth/{init.body['referenceNumber']}", timeout,
                                  token=auth)
            if st.kind != "ok":
                return st
            code = st.body["status"]["code"]
            if code == 200:
                break
            if code != 100:
                return Reply("refused", 200, st.body, None, f"auth_{code}",
                             st.body["status"].get("description"))
            await asyncio.sleep(0.1)
        red = await self._call("POST", "/auth/token/redeem", timeout, token=auth)
        if red.kind == "ok":
            self._access[seller] = red.body["accessToken"]["token"]
        return red

    async def session(self, seller: str, timeout: float) -> tuple[Reply, _Session | None]:
        """The seller's open session (logging in and opening one when needed)."""
        if seller in self._sessions and seller in self._access:
            return Reply("ok"), self._sessions[seller]
        async with self._locks.setdefault(seller, asyncio.Lock()):
            if seller not in self._access:
                r = await self._login(seller, timeout)
                if r.kind != "ok":
                    return r, None
            if seller in self._sessions:
                return Reply("ok"), self._sessions[seller]
            assert self._certs is not None
            key = SessionKey.new()
            r = await self.authed("POST", seller, "/sessions/online", timeout, json={
                "formCode": _FORM,
                "encryption": key.encryption(pick_certificate(self._certs,
                                                              "SymmetricKeyEncryption"))})
            if r.kind != "ok":
                return r, None
            s = _Session(r.body["referenceNumber"], key)
            self._sessions[seller] = s
            return Reply("ok"), s

    def forget_session(self, seller: str, ref: str | None = None) -> None:
        s = self._sessions.get(seller)
        if s is not None and (ref is None or s.ref == ref):
            del self._sessions[seller]

    async def authed(self, method: str, seller: str, path: str, timeout: float, *,
                     json: Any = None) -> Reply:
        """A call with the seller's access token; a 401 logs in again and repeats it once."""
        for attempt in range(2):
            if seller not in self._access:
                r = await self._login(seller, timeout)
                if r.kind != "ok":
                    return r
            r = await self._call(method, path, timeout, json=json, token=self._access[seller])
            if r.status == 401 and attempt == 0:
                self._access.pop(seller, None)
                continue
            return r
        raise AssertionError("unreachable")


@register("ksef")
class KsefPlatform(Platform):
    """Per order in `row.extra`: `p2` (only once renumber-on-timeout changed it); `offline`
    (KSeF was unavailable: the next send says offlineMode); `sref`/`iref` (the session and
    invoice reference numbers of the last 202); `sent_at`."""

    def __init__(self, core: Core, sellers: list[dict[str, Any]]) -> None:
        super().__init__(core, sellers)
        self.wire = KsefWire(self.cfg.platform_url, sellers, self.cfg.platform_timeout_s)
        self.names = {s["seller_tax_id"]: s.get("name") or s["seller_tax_id"] for s in sellers}

    async def aclose(self) -> None:
        await self.wire.aclose()

    def payload(self, order: Order, content: Order) -> dict[str, Any]:
        return {"p2": p2_of(order.order_id), "order_ref": order.order_id,
                "issue_date": time.strftime("%Y-%m-%d", time.gmtime()),
                "buyer": dict(content.buyer),
                "lines": [{"name": ln.name, "quantity": str(ln.quantity),
                           "unit_price": str(ln.unit_price), "tax_rate": str(ln.tax_rate)}
                          for ln in content.lines]}

    def _xml(self, row: OrderRow, p2: str) -> bytes:
        p = row.payload
        buyer = p["buyer"]
        return build_fa3(
            seller=Fa3Party(row.seller_tax_id, self.names.get(row.seller_tax_id, "")),
            buyer=Fa3Party(buyer.get("tax_id") or "", buyer.get("name") or "-"),
            number=p2, issue_date=p["issue_date"], order_ref=p["order_ref"],
            lines=[Fa3Line(ln["name"], Decimal(ln["quantity"]), Decimal(ln["unit_price"]),
                           Decimal(ln["tax_rate"])) for ln in p["lines"]])

    async def probe(self, seller: str) -> None:
        await self.wire.session(seller, self.cfg.platform_timeout_s)

    async def attempt_issue(self, row: OrderRow, timeout: float) -> float | None:
        if row.extra.get("iref"):
            return await self._poll(row, timeout)
        return await self._send(row, timeout)

    async def _send(self, row: OrderRow, timeout: float) -> float | None:
        seller = row.seller_tax_id
        r, session = await self.wire.session(seller, timeout)
        if session is None:
            return self._not_sent(row, r)
        if self.b.renumber_on_timeout and row.uncertain:     # DEFECT renumber-on-timeout
            row.extra["p2"] = f"{row.payload['p2']}/R{row.attempts}"
        p2 = str(row.extra.get("p2") or row.payload["p2"])
        offline = bool(row.extra.get("offline"))
        was_uncertain = row.uncertain
        row.uncertain, row.uncertain_at, row.attempts = True, time.time(), row.attempts + 1
        await self.m._put(row)             # a crash during the call leaves "may exist" on disk
        reply = await self.wire.authed(
            "POST", seller, f"/sessions/online/{session.ref}/invoices", timeout,
            json=session.key.send_body(self._xml(row, p2), offline))
        if reply.kind == "ok":
            if self.b.trust_202:                             # DEFECT trust-202
                row.status, row.invoice_no, row.drive, row.uncertain = "issued", None, False, False
                self.m.store.put(row)
                return None
            row.extra.update(sref=session.ref, iref=reply.body["referenceNumber"],
                             sent_at=time.time())
            row.uncertain = False          # KSeF holds it now; the poll decides
            await self.m._put(row)
            return self.cfg.poll_s
        row.uncertain = was_uncertain or reply.kind == "unknown"
        if reply.kind == "refused" and reply.error and reply.error.isdigit() and \
                int(reply.error) in _SESSION_GONE:
            self.wire.forget_session(seller, session.ref)
            self.m.store.put(row)
            return 0.0
        return self._not_sent(row, reply)

    def _not_sent(self, row: OrderRow, reply: Reply) -> float | None:
        """A step that did not get a 202 (from the send, the login or the session)."""
        if reply.kind == "throttled":
            log.info("order %s: 429, Retry-After %s", row.order_id, reply.retry_after)
            if self.b.drop_on_429:                           # DEFECT drop-on-429
                row.status, row.invoice_no, row.drive = "issued", None, False
                self.m.store.put(row)
                return None
            return self.m._later(row, reply.retry_after or 1.0)
        if reply.kind == "unknown":
            row.extra["offline"] = True    # KSeF unavailable: the resend is an offline invoice
            log.info("order %s: unknown outcome (%s)", row.order_id, reply.error)
            return self.m._later(row, backoff(row.attempts, reply.retry_after))
        if reply.status in (401, 403) or (reply.error or "").startswith("auth_"):
            return self.m._later(row, 1.0)   # a token matter, not the customer's invoice
        row.status = "failed"
        row.error, row.message = reply.error or "refused", reply.message or ""
        self.m.store.put(row)
        return None

    async def _poll(self, row: OrderRow, timeout: float) -> float | None:
        sref, iref = row.extra["sref"], row.extra["iref"]
        reply = await self.wire.authed("GET", row.seller_tax_id,
                                       f"/sessions/{sref}/invoices/{iref}", timeout)
        if reply.kind == "throttled":
            return self.m._later(row, reply.retry_after or 1.0)
        if reply.kind != "ok":
            if reply.kind == "refused" and reply.error == "21173":   # KSeF forgot the session
                self._resend(row)
                return 0.0
            return self.m._later(row, backoff(row.attempts, reply.retry_after))
        st = reply.body.get("status") or {}
        code = st.get("code")
        if code in (100, 150):
            if time.time() - float(row.extra.get("sent_at", 0)) > STUCK_S:
                log.info("order %s: still %s after %.0f s, sending again", row.order_id, code,
                         STUCK_S)
                self._resend(row)
                return 0.0
            return self.m._later(row, self.cfg.poll_s)
        if code == 200:
            self.m._issued(row, reply.body.get("ksefNumber"))
            return None
        if code == 440:
            if self.b.duplicate_means_failed:                # DEFECT duplicate-means-failed
                row.status, row.drive = "failed", False
                row.error, row.message = "440", "; ".join(st.get("details") or [])
                self.m.store.put(row)
                return None
            original = (st.get("extensions") or {}).get("originalKsefNumber")
            self.m._issued(row, original)                    # an earlier send of ours landed
            return None
        if code in (405, 435):
            self._resend(row)
            if code == 435:
                self.wire.forget_session(row.seller_tax_id, sref)
            return 0.0
        row.status = "failed"
        row.error, row.message = str(code), "; ".join(st.get("details") or [])[:500]
        self.m.store.put(row)
        return None

    def _resend(self, row: OrderRow) -> None:
        for k in ("sref", "iref", "sent_at"):
            row.extra.pop(k, None)
        row.uncertain = True               # the earlier send may still land: same P_2
        self.m.store.put(row)

    async def attempt_refund(self, row: OrderRow, timeout: float) -> float | None:
        row.refund_status, row.refund_uncertain = "failed", False
        row.error, row.message = ("refund_not_supported", "a KSeF refund is a correction "
                                  "(KOR invoice); this ERP does not send corrections")
        self.m.store.put(row)
        return None
