"""The merchant's issuing core: accept an order, issue its invoice on the platform exactly
once, and settle whatever could not be settled while the customer waited. The wire is the
platform client's (platforms/, one per protocol, chosen by `PLATFORM_PROFILE`); the order's
life is here, the same for every protocol.

The robust path, in order:
1. the order row, with its request serial (流水号) and the exact platform body, is committed
   before any platform call and before the customer hears anything;
2. the platform client takes one step at a time towards a decided invoice (`attempt_issue`),
   each recorded durably before and after its call, and says when to take the next one;
3. a POST waits at most `sync_budget_s`, then answers 202 and the settler finishes the job;
4. a refund is one row field, driven the same way (`attempt_refund`).

Defect modes flip one `Behaviour` switch each (modes.py); the places are marked `DEFECT`,
here for the modes that are about the order's life, in the platform clients for those
about one protocol's wire.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from typing import Any

from .amounts import Order
from .answer import Answer
from .config import MerchantConfig
from .modes import Behaviour, behaviour_for
from .platforms import make_platform
from .store import OrderRow, Store

__all__ = ["Merchant", "Answer"]

log = logging.getLogger("fakes.merchant")

# DEFECT shared-state-race: request data kept in a module-level variable across an await.
_CURRENT_ORDER: Order | None = None

#: DEFECT stale-final-answer: how far behind its queue the merchant stores an order whose
#: upload had an unknown outcome (longer than any customer waits).
_BACKLOG_S = 30.0


class Merchant:
    def __init__(self, cfg: MerchantConfig, secrets: dict[str, str],
                 sellers: list[dict[str, Any]] | None = None):
        """`secrets`: seller tax number -> secret (design.md s.6); `sellers`: the whole
        SELLERS_FILE entries, for protocols that need more of a seller (app keys)."""
        self.cfg = cfg
        self.b = behaviour_for(cfg.mode)
        self.secrets = secrets
        self.store = Store(cfg.data_dir, lazy=self.b.lazy_persist, synchronous=cfg.sqlite_sync,
                           ignore_write_errors=self.b.ignore_write_errors)
        self._busy: set[str] = set()
        self._caches: tuple[dict[str, tuple[float, Answer]], ...] = ({}, {})
        self._rr = itertools.count()
        # DEFECT stale-final-answer: orders not yet "stored" (their first upload under way, or
        # queued behind an unknown outcome: order -> when), and the cache of "unknown order"
        self._arriving: set[str] = set()
        self._backlog: dict[str, float] = {}
        self._unknown: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.platform = make_platform(cfg.profile, self, sellers if sellers is not None else
                                      [{"seller_tax_id": k, "secret": v} for k, v in secrets.items()])
        # The robust clearance merchant group-commits its outbox (Store.put_async): the rows of
        # every order handled in one turn of the event loop share one SQLite transaction, and
        # each order goes on (to the platform, to the customer) only after it returned. Defect
        # modes and the other profiles keep one transaction per write, exactly as they were.
        self._group = self.b == Behaviour() and self.platform.group_commit

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._settler(), name="settler"))
        self._tasks.extend(self.platform.tasks())
        if self.b.lazy_persist:
            self._tasks.append(asyncio.create_task(self._flusher(), name="flusher"))

    async def stop(self) -> None:
        self._stopping.set()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.platform.aclose()
        self.store.close()

    # -- answers -----------------------------------------------------------------------
    def answer(self, row: OrderRow) -> Answer:
        offline_no = row.extra.get("offline_no")
        if offline_no and row.status != "failed":          # DEFECT offline-numbering
            return Answer(201, {"order_id": row.order_id, "status": "issued", "invoice_no": offline_no})
        if row.status == "issued":
            return Answer(201, {"order_id": row.order_id, "status": "issued", "invoice_no": row.invoice_no})
        if row.status == "failed":
            return Answer(422, {"order_id": row.order_id, "status": "failed",
                                "error": row.error or "refused", "message": row.message or ""})
        return Answer(202, {"order_id": row.order_id, "status": "pending"})

    def query(self, order_id: str) -> Answer | None:
        """GET /v1/invoices/{order_id}: 200 with the status body, None for an unknown order."""
        if self.b.late_store_cached_404:                    # DEFECT stale-final-answer
            if order_id in self._unknown:
                return None
            if (order_id in self._arriving or order_id in self._backlog
                    or self.store.get(order_id) is None):
                self._unknown.add(order_id)                 # never invalidated
                return None
        if self.b.stale_cache:                              # DEFECT stale-status-cache
            cache = self._caches[next(self._rr) % 2]
            hit = cache.get(order_id)
            if hit and time.monotonic() - hit[0] < self.cfg.cache_ttl_s:
                return Answer(200, hit[1].body)
        row = self.store.get(order_id)
        if row is None:
            return None
        ans = self.answer(row)
        body = dict(ans.body)
        if row.refund_status:
            body["refund"] = {"status": row.refund_status, "red_invoice_no": row.red_invoice_no}
        ans = Answer(200, body)
        if self.b.stale_cache:
            cache[order_id] = (time.monotonic(), ans)
        return ans

    # -- issuing -----------------------------------------------------------------------
    async def _payload(self, order: Order) -> dict[str, Any]:
        """The platform body; the order's own keys (its id, its seller) always from `order`."""
        content = order
        if self.b.shared_current_order:                     # DEFECT shared-state-race
            global _CURRENT_ORDER
            _CURRENT_ORDER = order
            # "check the quota first": a real round trip during which other requests run.
            await self.platform.probe(order.seller_tax_id)
            content = _CURRENT_ORDER
        return self.platform.payload(order, content)

    async def submit(self, order: Order) -> Answer:
        """POST /v1/invoices: the same order_id never yields a second invoice (robust)."""
        decided = await self.platform.checkout(order)
        if decided is not None:
            return decided
        get = self.store.get_latest if self._group else self.store.get
        row = get(order.order_id)
        if self.b.late_store_cached_404 and order.order_id in self._backlog:
            return await self._behind(order.order_id)       # DEFECT stale-final-answer
        if row is not None and not self.b.no_order_dedup:
            await self._await_inflight(order.order_id)
            if self.b.late_store_cached_404 and order.order_id in self._backlog:
                return await self._behind(order.order_id)
            return self.answer(self._settled_row(order.order_id, row))
        payload = await self._payload(order)
        # _payload suspends only for shared-state-race; for the robust merchant nothing ran
        # since the look-up above, so a second one (a SQLite read) could only say None again
        again = None if self._group else get(order.order_id)
        if again is not None and not self.b.no_order_dedup:   # a double submit won the race
            await self._await_inflight(order.order_id)
            if self.b.late_store_cached_404 and order.order_id in self._backlog:
                return await self._behind(order.order_id)
            return self.answer(self._settled_row(order.order_id, again))
        row = OrderRow(order_id=order.order_id, seller_tax_id=order.seller_tax_id,
                       order=order.to_json(), payload=payload, request_id=uuid.uuid4().hex,
                       created_at=time.time())
        if self._group:
            # busy first: a second submit of this order (which sees the staged row) waits for
            # this one instead of answering from a row not yet committed
            self._busy.add(row.order_id)
            try:
                await self.store.put_async(row)   # durable before the platform or the customer
            except BaseException:
                self._busy.discard(row.order_id)
                raise
        else:
            self.store.put(row)        # durable before the platform or the customer hears of it
        if self.b.stale_cache:
            self._caches[0][row.order_id] = (time.monotonic(), Answer(200, self.answer(row).body))
        self._busy.add(row.order_id)
        self._arriving.add(row.order_id)
        try:
            row = await self._drive_issue(row, time.monotonic() + self.cfg.sync_budget_s)
        finally:
            self._busy.discard(row.order_id)
            self._arriving.discard(row.order_id)
        if self.b.late_store_cached_404 and (row.order_id in self._unknown
                                             or (row.status == "pending" and row.uncertain)):
            # DEFECT stale-final-answer: behind its queue (an unknown outcome, or an order a
            # query found not yet stored): the customer hears nothing for _BACKLOG_S
            self._backlog[row.order_id] = time.monotonic() + _BACKLOG_S
            return await self._behind(row.order_id)
        return self.answer(row)

    def _settled_row(self, order_id: str, seen: OrderRow) -> OrderRow:
        """The committed row a repeated submit answers from. Under group commit the row it
        saw may have been staged only: if it never became durable (its commit failed), there
        is nothing to answer from, and the caller's error is the answer (500, as the first
        submit's)."""
        row = self.store.get(order_id)
        if row is not None:
            return row
        if self._group:
            raise RuntimeError(f"order {order_id}: its first write did not commit")
        return seen

    async def _behind(self, order_id: str) -> Answer:
        """DEFECT stale-final-answer: the order waits in the queue, unknown to queries, and the
        customer waits with it (and gives up); the settler still uploads it meanwhile."""
        await asyncio.sleep(max(0.0, self._backlog.get(order_id, 0.0) - time.monotonic()))
        self._backlog.pop(order_id, None)
        row = self.store.get(order_id)
        return self.answer(row) if row is not None else Answer(202, {"order_id": order_id,
                                                                     "status": "pending"})

    async def _await_inflight(self, order_id: str) -> None:
        """A repeated POST (a double tap, a retry) while the first one's upload is under way
        waits for it, within the same budget, so both get the same definite answer instead of
        one hearing `pending` for an order the platform may still refuse."""
        deadline = time.monotonic() + self.cfg.sync_budget_s
        while order_id in self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _drive_issue(self, row: OrderRow, deadline: float) -> OrderRow:
        while row.status == "pending" and row.drive and not row.extra.get("offline_no"):
            remaining = deadline - time.monotonic()
            if remaining < 0.1:
                break
            wait = await self._attempt_issue(row, remaining)
            if wait is None or time.monotonic() + wait + 0.1 >= deadline:
                break
            await asyncio.sleep(wait)
        return row

    async def _attempt_issue(self, row: OrderRow, timeout: float) -> float | None:
        """One step towards a final state (the platform client's), or None: stop trying."""
        if (self.b.wallclock_deadline and row.attempts
                and time.time() > row.created_at + self.cfg.order_deadline_s):
            row.status, row.drive = "failed", False          # DEFECT wallclock-deadline
            row.error, row.message = "deadline_passed", "the upload deadline passed"
            self.store.put(row)
            return None
        return await self.platform.attempt_issue(row, timeout)

    def _issued(self, row: OrderRow, invoice_no: str | None) -> None:
        row.status, row.invoice_no, row.uncertain = "issued", invoice_no, False
        row.error = row.message = None
        self.store.put(row)

    async def _put(self, row: OrderRow) -> None:
        """A write the next step waits for: group-committed for the robust merchant."""
        if self._group:
            await self.store.put_async(row)
        else:
            self.store.put(row)

    def _later(self, row: OrderRow, wait: float) -> float:
        row.next_try_at = time.time() + wait
        self.store.put(row)
        return wait

    # -- refunds -----------------------------------------------------------------------
    async def refund(self, order_id: str) -> Answer:
        await self.store.settled(order_id)
        row = self.store.get(order_id)
        if row is None:
            return Answer(404, {"order_id": order_id, "error": "order_not_found",
                                "message": f"no order {order_id!r}"})
        if row.refund_status == "refunded":
            return Answer(201, {"order_id": order_id, "red_invoice_no": row.red_invoice_no})
        if row.status != "issued" or not row.invoice_no or row.extra.get("offline_no"):
            return Answer(409, {"order_id": order_id, "error": "not_refundable",
                                "message": f"the order is {row.status}; only an issued invoice can be reversed"})
        if row.refund_status == "failed":
            return Answer(409, {"order_id": order_id, "error": row.error or "refund_refused",
                                "message": row.message or "the platform refused the reversal"})
        if self.b.forget_refunds and row.refund_status is None:   # DEFECT drop-refunds
            return Answer(202, {"order_id": order_id, "status": "pending"})
        if row.refund_status is None:
            row.refund_status, row.refund_request_id = "pending", uuid.uuid4().hex
            self.store.put(row)
        if order_id not in self._busy:
            self._busy.add(order_id)
            try:
                deadline = time.monotonic() + self.cfg.sync_budget_s
                while row.refund_status == "pending":
                    remaining = deadline - time.monotonic()
                    if remaining < 0.1:
                        break
                    wait = await self.platform.attempt_refund(row, remaining)
                    if wait is None or time.monotonic() + wait + 0.1 >= deadline:
                        break
                    await asyncio.sleep(wait)
            finally:
                self._busy.discard(order_id)
        if row.refund_status == "refunded":
            return Answer(201, {"order_id": order_id, "red_invoice_no": row.red_invoice_no})
        if row.refund_status == "failed":
            return Answer(409, {"order_id": order_id, "error": row.error or "refund_refused",
                                "message": row.message or "the platform refused the reversal"})
        return Answer(202, {"order_id": order_id, "status": "pending"})

    def _refunded(self, row: OrderRow, red_no: str | None) -> None:
        row.refund_status, row.red_invoice_no, row.refund_uncertain = "refunded", red_no, False
        self.store.put(row)

    # -- background --------------------------------------------------------------------
    async def settle_once(self) -> int:
        """Drive every due order one step; the number of orders touched."""
        rows = [r for r in self.store.due(time.time()) if r.order_id not in self._busy]
        sem = asyncio.Semaphore(8)

        async def one(row: OrderRow) -> None:
            async with sem:
                if row.order_id in self._busy:
                    return
                self._busy.add(row.order_id)
                try:
                    fresh = self.store.get(row.order_id) or row
                    if fresh.status == "pending" and fresh.drive:
                        await self._attempt_issue(fresh, self.cfg.platform_timeout_s)
                    if fresh.refund_status == "pending":
                        await self.platform.attempt_refund(fresh, self.cfg.platform_timeout_s)
                except Exception:           # one bad order must not stop the settler
                    log.exception("settling %s", row.order_id)
                finally:
                    self._busy.discard(row.order_id)

        await asyncio.gather(*(one(r) for r in rows))
        return len(rows)

    async def _settler(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.settle_once()
            except Exception:
                log.exception("settler")
            await asyncio.sleep(self.cfg.settler_interval_s)

    async def _flusher(self) -> None:
        while not self._stopping.is_set():       # DEFECT ack-before-commit: lazy persistence
            await asyncio.sleep(self.cfg.lazy_flush_s)
            self.store.flush()
