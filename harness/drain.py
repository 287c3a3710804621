"""After the load: let the system settle, then read every order once more, within a bound.

The drain asks the merchant (directly, faults healed) about every order whose last answer
was not final, checks every issued invoice number on the platform's read path, and looks
on the platform for the red invoice of every refund the merchant answered 202 pending,
until all are settled, visible and reversed or its time is up. The final read then asks
about every order once more, like Jepsen's final read: a merchant that forgets an order it
had confirmed (a lost write on a crash) shows itself there.

Both together keep the scenario's drain timeout plus one request timeout, whatever the
system does: they ask on `lanes` concurrent lanes, each request's timeout is cut to the
time left, and what could not be asked in time is counted as unanswered (the checker then
lacks evidence and the verdict is `unknown`, never `pass`). A system that stops answering
for good therefore costs the drain timeout, not one request timeout per open order.

Every request is a history event under its lane's proc, `drain.<k>` or `final.<k>`, one
request at a time per proc like any customer, so the checker pairs them as any other proc
and leaves them out of the customers' figures by their prefix. Answers are read with the
customers' own table (harness/wire/classify.py), and the platform is read through the
harness's one platform client (harness/platform_client.py).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import httpx
import orjson

from .client.http import transport_error
from .wire.classify import Outcome, classify_exception, classify_response
from .load.history import HistoryWriter
from .platform_client import PlatformClient
from .stack.tls import verify

__all__ = ["OrderState", "scan_history", "Drainer", "DRAIN_PROC", "FINAL_PROC", "LANES"]

#: Proc prefixes of the harness's own requests (docs/internals.md "History").
DRAIN_PROC = "drain"
FINAL_PROC = "final"
#: Concurrent requests of the drain and of the final read (one per proc `drain.<k>`).
LANES = 16
#: Below this much time left a lane asks nothing more (the request could not end in time).
_MIN_REQUEST_S = 0.05

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


def _asked(op: str, call: Callable[[], Any]) -> tuple[Outcome, int | None]:
    """One request of the drain, classified exactly as a customer's (wire/classify.py):
    (the outcome, the HTTP status or None when no answer came)."""
    status: int | None = None
    try:
        r = call()
        status = r.status_code
        try:
            body = r.json()
        except ValueError:
            body = None
        return classify_response(op, status, body), status
    except Exception as e:  # noqa: BLE001 - classified like a customer's request
        return classify_exception(op, transport_error(e)), status



@dataclass
class Drainer:
    """The drain and the final read of one run, on `lanes` concurrent procs each.

    The budget counts from the first call of `drain` (or `final_read`): the drain stops in
    time to leave the final read what it needs (estimated from the merchant's answers so
    far), and the final read stops at `timeout_s + request_timeout_s` after that start.
    """

    merchant_url: str
    platform_url: str
    sellers: dict[str, str]               # seller_tax_id -> secret
    history_dir: Path
    t0: float
    timeout_s: float = 10.0               # the scenario's drain timeout
    request_timeout_s: float = 5.0        # one request's timeout (the scenario's load.timeout)
    lanes: int = LANES
    say: Callable[[str], None] = print
    #: A client adapter's `Invoker` (harness/client/invoke.py): the merchant is then asked
    #: through its `query`, the platform as always.
    client: Any = None
    http: httpx.Client = field(init=False, repr=False)
    platform: PlatformClient = field(init=False, repr=False)
    _start: float | None = field(default=None, init=False, repr=False)
    _answered_s: list[float] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=self.request_timeout_s,
                                 verify=verify(self.platform_url),   # the run's CA (s.13)
                                 limits=httpx.Limits(max_connections=self.lanes + 4,
                                                     max_keepalive_connections=self.lanes + 4,
                                                     # below a server's usual idle close (5 s)
                                                     keepalive_expiry=2.0))
        self.platform = PlatformClient(self.http, self.platform_url, self.sellers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Drainer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the budget ----------------------------------------------------------------------
    def _begin(self) -> float:
        if self._start is None:
            self._start = time.monotonic()
        return self._start

    def end_of_budget(self) -> float:
        """Monotonic time by which the final read is over: drain timeout + one request."""
        return self._begin() + self.timeout_s + self.request_timeout_s

    def _drain_deadline(self, final_orders: int) -> float:
        """When the drain must stop so that the final read of `final_orders` fits: the time
        it is likely to take at the pace the merchant answered so far (half the drain
        timeout at most; nothing reserved while no answer has been seen)."""
        start = self._begin()
        reserve = 0.0
        if self._answered_s:
            mean = sum(self._answered_s[-200:]) / len(self._answered_s[-200:])
            reserve = min(self.timeout_s / 2, 1.5 * final_orders * mean / max(1, self.lanes) + 0.5)
        return min(start + self.timeout_s, self.end_of_budget() - self.request_timeout_s - reserve)

    # -- one request -----------------------------------------------------------------------
    def _query(self, w: HistoryWriter, lane: int, oid: str, timeout: float) -> Outcome:
        """Ask the merchant about one order; one invoke and its completion under `lane`.

        A reset before any answer is asked once more, at once: the harness's own read is a
        GET, and a kept-alive connection that the server (or Toxiproxy in front of it)
        closed while it sat idle between the drain's phases resets the first request sent
        on it (seen: 1 of 9,908 final reads at 540/s). Both attempts are in the history; a
        merchant that resets every request still goes unanswered."""
        began = time.monotonic()
        out = self._query_once(w, lane, oid, timeout)
        left = timeout - (time.monotonic() - began)        # the lane's bound holds for both
        if out.type == "info" and (out.error or "").startswith("reset") and left >= _MIN_REQUEST_S:
            out = self._query_once(w, lane, oid, left)
        return out

    def _query_once(self, w: HistoryWriter, lane: int, oid: str, timeout: float) -> Outcome:
        ts = w.invoke("query", oid, journey=lane)
        if self.client is not None:
            out, status = self.client.run("query", oid, timeout_s=timeout)
        else:
            out, status = _asked("query", lambda: self.http.get(
                f"{self.merchant_url}/v1/invoices/{oid}", timeout=timeout))
        lat = time.time() - ts
        if out.type == "ok":
            self._answered_s.append(lat)
        w.complete("query", out.type, oid, journey=lane, invoice_no=out.invoice_no,
                   result=out.result, status=status, latency_ms=lat * 1000, error=out.error)
        return out

    def _verify(self, w: HistoryWriter, lane: int, oid: str, invoice_no: str,
                seller: str | None, timeout: float) -> Outcome:
        """Look the order's invoice number up on the platform's read path."""
        ts = w.invoke("verify", oid, journey=lane, invoice_no=invoice_no)
        out, status = _asked("verify", lambda: self.platform.invoice(invoice_no, seller, timeout=timeout))
        no = out.invoice_no or invoice_no
        w.complete("verify", out.type, oid, journey=lane, invoice_no=no, result=out.result,
                   status=status, latency_ms=(time.time() - ts) * 1000, error=out.error)
        return out

    def _reversed(self, oid: str, seller: str | None, timeout: float) -> bool:
        """Does the platform's read path show a red invoice for the order? (A refund the
        merchant answered 202 is done when it does; the merchant contract has no refund
        status to ask for.)"""
        try:
            items = self.platform.search(seller, timeout=timeout, order_ref=oid)
        except Exception:  # noqa: BLE001 - not yet: asked again next round
            return False
        return any(i.get("kind") == "red" for i in items)

    def _on_lanes(self, items: list[Any], fn: Callable[[int, Any, float], Any],
                  deadline: float) -> tuple[dict[Any, Any], int]:
        """fn(lane, item, timeout) for every item, `lanes` at a time, none started after
        `deadline` and none allowed to outlast it. (results by item, items started)."""
        todo = deque(items)
        results: dict[Any, Any] = {}
        lock = threading.Lock()
        started = [0]

        def lane(k: int) -> None:
            while True:
                left = deadline - time.monotonic()
                if left < _MIN_REQUEST_S:
                    return
                with lock:
                    if not todo:
                        return
                    item = todo.popleft()
                    started[0] += 1
                try:
                    results[item] = fn(k, item, min(self.request_timeout_s, left))
                except Exception:  # noqa: BLE001 - e.g. the history closed under a late lane
                    return

        threads = [threading.Thread(target=lane, args=(k,), name=f"drain-lane-{k}", daemon=True)
                   for k in range(min(self.lanes, len(items)))]
        for th in threads:
            th.start()
        for th in threads:   # each request's timeout ends by the deadline; a little grace
            th.join(timeout=max(0.0, deadline - time.monotonic()) + 2.0)
        return results, started[0]

    # -- the two stages ------------------------------------------------------------------
    def drain(self, orders: dict[str, OrderState]) -> dict[str, int]:
        """Ask until every order is final, every issued number visible and every refund
        answered pending reversed on the platform, or the drain's share of the budget is up."""
        self._begin()
        open_ids = {o for o, s in orders.items() if not s.settled()}
        unseen = {o for o, s in orders.items() if s.last_result == "issued" and s.invoice_no and not s.verified}
        refunds = {o for o, s in orders.items() if s.refund_open}
        rounds = 0
        with HistoryWriter(self.history_dir / "drain.jsonl", DRAIN_PROC, self.t0) as w:
            while open_ids or unseen or refunds:
                stop_at = self._drain_deadline(len(orders))
                if time.monotonic() + _MIN_REQUEST_S >= stop_at:
                    break
                rounds += 1
                answers, _ = self._on_lanes(sorted(open_ids),
                                            lambda k, o, to: self._query(w, k, o, to), stop_at)
                for oid, out in answers.items():
                    st = orders[oid]
                    if out.type == "ok" and out.result:
                        st.last_result = out.result
                        st.invoice_no = out.invoice_no or st.invoice_no
                        st.accepted = st.accepted or out.result in ("issued", "pending")
                    if st.settled():
                        open_ids.discard(oid)
                        if st.last_result == "issued" and st.invoice_no and not st.verified:
                            unseen.add(oid)
                seen, _ = self._on_lanes(
                    sorted(unseen), lambda k, o, to: self._verify(
                        w, k, o, orders[o].invoice_no or "", orders[o].seller_tax_id, to), stop_at)
                for oid, out in seen.items():
                    if out.type == "ok" and out.result == "issued":
                        orders[oid].verified = True
                        unseen.discard(oid)
                done, _ = self._on_lanes(
                    sorted(refunds), lambda k, o, to: self._reversed(o, orders[o].seller_tax_id, to),
                    stop_at)
                refunds.difference_update(o for o, ok in done.items() if ok)
                if open_ids or unseen or refunds:
                    self.say(f"  drain: {len(open_ids)} orders open, {len(unseen)} invoices not yet "
                             f"visible on the read path, {len(refunds)} pending refunds not yet reversed")
                    time.sleep(max(0.0, min(1.0, stop_at - time.monotonic())))
        return {"rounds": rounds, "open": len(open_ids), "unseen": len(unseen),
                "refunds_open": len(refunds)}

    def final_read(self, order_ids: Iterable[str]) -> dict[str, int]:
        """Ask about every order once more, in the given order (open ones first), until the
        budget ends. `unasked` orders and unanswered requests are the checker's missing
        evidence."""
        ids = list(order_ids)
        with HistoryWriter(self.history_dir / "final.jsonl", FINAL_PROC, self.t0) as w:
            results, started = self._on_lanes(
                ids, lambda k, o, to: self._query(w, k, o, to), self.end_of_budget())
        answered = sum(1 for out in results.values() if out.type == "ok")
        return {"orders": len(ids), "asked": started, "answered": answered,
                "unasked": len(ids) - started}
