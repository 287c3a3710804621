"""After the load: let the system settle, then read every open order once more.

The drain asks the merchant (directly, faults healed) about every order whose last answer
was not final, checks every issued invoice number on the platform's read path, and looks
on the platform for the red invoice of every refund the merchant answered 202 pending,
until all are settled, visible and reversed or the drain deadline passes. The final read then asks about
every order once more, like Jepsen's final read: a merchant that forgets an order it had
confirmed (a lost write on a crash) shows itself there. Everything is
recorded as history events (procs `drain` and `final`), so `check` can re-derive the
time to consistency from the files alone.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import httpx
import orjson

from .load.history import HistoryWriter

__all__ = ["OrderState", "scan_history", "Drainer"]

FINAL = ("issued", "failed")


@dataclass(slots=True)
class OrderState:
    """What the harness knows of one order from the history so far."""
    last_result: str | None = None        # last merchant answer's result
    last_t: float = -1.0
    invoice_no: str | None = None
    seller_tax_id: str | None = None
    verified: bool = False
    accepted: bool = False                # ever told issued or pending
    refund_open: bool = False             # the latest refund answer was 202 pending
    refund_t: float = -1.0

    def settled(self) -> bool:
        """Final: issued or failed, or unknown to a merchant that never accepted it."""
        return self.last_result in FINAL or (self.last_result == "not_found" and not self.accepted)


def scan_history(paths: Iterable[Path]) -> dict[str, OrderState]:
    """Each order's last merchant answer, its invoice number and whether it was verified."""
    orders: dict[str, OrderState] = {}
    verified: set[str] = set()
    for path in paths:
        with open(path, "rb") as fh:
            for raw in fh:
                try:
                    e = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue                      # a line cut by Ctrl-C; the checker reports it
                op, typ, oid = e.get("op"), e.get("type"), e.get("order_id")
                if op == "issue" and typ == "invoke":
                    st = orders.setdefault(oid, OrderState())
                    st.seller_tax_id = (e.get("order") or {}).get("seller_tax_id") or st.seller_tax_id
                    continue
                if op == "verify" and typ == "ok" and e.get("result") == "issued" and e.get("invoice_no"):
                    verified.add(e["invoice_no"])
                    continue
                if op == "refund" and typ in ("ok", "fail") and oid in orders:
                    st = orders[oid]
                    if e["t"] >= st.refund_t:
                        st.refund_t = e["t"]
                        st.refund_open = typ == "ok" and e.get("result") == "pending"
                    continue
                if op not in ("issue", "query") or typ not in ("ok", "fail") or oid not in orders:
                    continue
                st = orders[oid]
                # only the merchant's word on the order counts; a request refused with another
                # 4xx (or never sent) issued nothing but says nothing of the order
                result = e.get("result")
                if result in ("issued", "pending"):
                    st.accepted = True
                if e["t"] >= st.last_t and result:
                    st.last_result, st.last_t = result, e["t"]
                    if e.get("invoice_no"):
                        st.invoice_no = e["invoice_no"]
    for st in orders.values():
        st.verified = st.invoice_no in verified if st.invoice_no else False
    return orders


@dataclass
class Drainer:
    merchant_url: str
    platform_url: str
    sellers: dict[str, str]               # seller_tax_id -> secret
    history_dir: Path
    t0: float
    timeout_s: float = 10.0
    say: Callable[[str], None] = print
    _tokens: dict[str, str] = field(default_factory=dict)

    def _token(self, client: httpx.Client, seller: str, fresh: bool = False) -> str | None:
        if fresh or seller not in self._tokens:
            try:
                r = client.post(f"{self.platform_url}/v1/auth/token",
                                json={"seller_tax_id": seller, "secret": self.sellers.get(seller, "")})
            except httpx.HTTPError:
                return None
            if r.status_code != 200:
                return None
            self._tokens[seller] = r.json().get("token")
        return self._tokens.get(seller)

    # Every event is written under the bare proc `drain` or `final` (journey=None): the checker
    # knows these two names, leaves them out of the request figures and pairs their invokes
    # and completions by order, since the harness asks about many orders at once.

    def _query(self, client: httpx.Client, w: HistoryWriter, journey: None, oid: str) -> tuple[str | None, str | None]:
        ts = w.invoke("query", oid, journey=journey)
        try:
            r = client.get(f"{self.merchant_url}/v1/invoices/{oid}")
        except httpx.HTTPError as e:
            w.complete("query", "info", oid, journey=journey, error=f"{type(e).__name__}: {e}",
                       latency_ms=(time.time() - ts) * 1000)
            return None, None
        lat = (time.time() - ts) * 1000
        if r.status_code == 404:
            w.complete("query", "ok", oid, journey=journey, result="not_found", status=404, latency_ms=lat)
            return "not_found", None
        try:
            body = r.json()
        except ValueError:
            body = {}
        status = body.get("status") if isinstance(body, dict) else None
        if r.status_code < 500 and status in ("issued", "pending", "failed"):
            no = body.get("invoice_no")
            w.complete("query", "ok", oid, journey=journey, result=status, status=r.status_code,
                       invoice_no=no, latency_ms=lat)
            return status, no
        w.complete("query", "info", oid, journey=journey, status=r.status_code, latency_ms=lat,
                   error=f"unexpected answer {r.status_code}: {r.text[:120]}")
        return None, None

    def _verify(self, client: httpx.Client, w: HistoryWriter, journey: None, oid: str,
                invoice_no: str, seller: str | None) -> bool:
        token = self._token(client, seller) if seller else None
        ts = w.invoke("verify", oid, journey=journey, invoice_no=invoice_no)
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = client.get(f"{self.platform_url}/v1/invoices/{invoice_no}", headers=headers)
            if r.status_code == 401 and seller:
                token = self._token(client, seller, fresh=True)
                r = client.get(f"{self.platform_url}/v1/invoices/{invoice_no}",
                               headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as e:
            w.complete("verify", "info", oid, journey=journey, invoice_no=invoice_no,
                       error=f"{type(e).__name__}: {e}", latency_ms=(time.time() - ts) * 1000)
            return False
        lat = (time.time() - ts) * 1000
        if r.status_code == 200:
            w.complete("verify", "ok", oid, journey=journey, invoice_no=invoice_no, result="issued",
                       status=200, latency_ms=lat)
            return True
        if r.status_code == 404:
            w.complete("verify", "ok", oid, journey=journey, invoice_no=invoice_no, result="not_found",
                       status=404, latency_ms=lat)
            return False
        w.complete("verify", "info", oid, journey=journey, invoice_no=invoice_no, status=r.status_code,
                   latency_ms=lat, error=r.text[:120])
        return False

    def _reversed(self, client: httpx.Client, oid: str, seller: str | None) -> bool:
        """Does the platform's read path show a red invoice for the order? (A refund the
        merchant answered 202 is done when it does; the merchant contract has no refund
        status to ask for.)"""
        token = self._token(client, seller) if seller else None
        try:
            r = client.get(f"{self.platform_url}/v1/invoices", params={"order_ref": oid},
                           headers={"Authorization": f"Bearer {token}"} if token else {})
            if r.status_code == 401 and seller:
                token = self._token(client, seller, fresh=True)
                r = client.get(f"{self.platform_url}/v1/invoices", params={"order_ref": oid},
                               headers={"Authorization": f"Bearer {token}"})
            items = r.json().get("items", []) if r.status_code == 200 else []
        except (httpx.HTTPError, ValueError, AttributeError):
            return False
        return any(isinstance(i, dict) and i.get("kind") == "red" for i in items)

    def drain(self, orders: dict[str, OrderState]) -> dict[str, int]:
        """Poll until every order is final, every issued number visible and every refund
        answered pending reversed on the platform, or the deadline."""
        open_ids = {o for o, s in orders.items() if not s.settled()}
        unseen = {o for o, s in orders.items() if s.last_result == "issued" and s.invoice_no and not s.verified}
        refunds = {o for o, s in orders.items() if s.refund_open}
        deadline = time.monotonic() + self.timeout_s
        rounds = 0
        with HistoryWriter(self.history_dir / "drain.jsonl", "drain", self.t0) as w, \
                httpx.Client(timeout=5.0) as client, ThreadPoolExecutor(8) as pool:
            while (open_ids or unseen or refunds) and time.monotonic() < deadline:
                rounds += 1
                ids = sorted(open_ids)
                answers = list(pool.map(lambda o: (o, self._query(client, w, None, o)), ids))
                for oid, (result, no) in answers:
                    st = orders[oid]
                    if result:
                        st.last_result = result
                        st.invoice_no = no or st.invoice_no
                        st.accepted = st.accepted or result in ("issued", "pending")
                    if st.settled():
                        open_ids.discard(oid)
                        if result == "issued" and st.invoice_no and not st.verified:
                            unseen.add(oid)
                vids = sorted(unseen)
                seen = list(pool.map(lambda o: (o, self._verify(client, w, None, o, orders[o].invoice_no,
                                                                 orders[o].seller_tax_id)), vids))
                for oid, ok in seen:
                    if ok:
                        orders[oid].verified = True
                        unseen.discard(oid)
                done = list(pool.map(lambda o: (o, self._reversed(client, o, orders[o].seller_tax_id)),
                                     sorted(refunds)))
                refunds.difference_update(o for o, ok in done if ok)
                if open_ids or unseen or refunds:
                    self.say(f"  drain: {len(open_ids)} orders open, {len(unseen)} invoices not yet "
                             f"visible on the read path, {len(refunds)} pending refunds not yet reversed")
                    time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        return {"rounds": rounds, "open": len(open_ids), "unseen": len(unseen),
                "refunds_open": len(refunds)}

    def final_read(self, order_ids: Iterable[str]) -> int:
        ids = sorted(order_ids)
        with HistoryWriter(self.history_dir / "final.jsonl", "final", self.t0) as w, \
                httpx.Client(timeout=5.0) as client, ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda o: self._query(client, w, None, o), ids))
        return len(ids)
