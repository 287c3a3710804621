"""The clearance profile's client (design.md s.5): the platform decides each invoice as it
is uploaded, and de-duplicates as the run's `PLATFORM_DEDUP` says.

One issuing step, robust: mark the row `uncertain` durably, call, record the answer. 2xx ->
issued; 4xx -> failed (nothing exists); 429 -> wait `Retry-After`; 5xx/timeout/reset ->
unknown. After an unknown outcome the next step depends on the de-duplication:
`request_id`: resend the same serial; `invoice_number`: re-upload the number assigned before
the first upload ("already exists" = issued); `none`: wait `settle_s` for the read replica,
search by `order_ref`, and only upload again if nothing is there.

The clearance defect modes' places are marked `DEFECT` (modes.py).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from typing import Any

from ..amounts import Order, platform_lines
from ..store import OrderRow
from .base import Core, Platform, Reply, backoff, register
from .bearer import PlatformClient

__all__ = ["ClearancePlatform"]

log = logging.getLogger("fakes.merchant")

_MAX_REFUND_ATTEMPTS = 30
_EXISTS_CODES = ("invoice_exists", "invoice_no_exists", "duplicate_invoice_no", "already_exists",
                 "duplicate", "invoice_no_taken", "duplicate_invoice")


def _is_exists(reply: Reply) -> bool:
    code = (reply.error_code or "").lower()
    return reply.status == 409 and (code in _EXISTS_CODES or "exist" in code or "duplicate" in code)


@register("clearance")
class ClearancePlatform(Platform):
    group_commit = True

    def __init__(self, core: Core, sellers: list[dict[str, Any]]) -> None:
        super().__init__(core, sellers)
        self.client = PlatformClient(self.cfg.platform_url, core.secrets, self.cfg.platform_timeout_s)
        self._local_seq = itertools.count(int(time.time() * 1000) % 10**9)
        self._range_locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self.client.aclose()

    def payload(self, order: Order, content: Order) -> dict[str, Any]:
        return {"order_ref": order.order_id, "seller_tax_id": order.seller_tax_id,
                "buyer": dict(content.buyer), "lines": platform_lines(content.lines),
                "kind": content.kind}

    async def probe(self, seller: str) -> None:
        await self.client.call("GET", "/v1/quota", seller, params={"seller_tax_id": seller})

    async def attempt_issue(self, row: OrderRow, timeout: float) -> float | None:
        cfg, seller = self.cfg, row.seller_tax_id
        if cfg.dedup == "none" and row.uncertain and not self.b.new_serial_per_attempt:
            trust_at = row.uncertain_at + cfg.settle_s
            if time.time() < trust_at:
                self.m._later(row, trust_at - time.time())
                return None
            found = await self.client.call("GET", "/v1/invoices", seller,
                                           params={"order_ref": row.order_id}, timeout=timeout)
            if found.kind != "ok":
                return self.m._later(row, backoff(row.attempts, found.retry_after))
            mine = [i for i in (found.body or {}).get("items", [])
                    if i.get("order_ref") == row.order_id and i.get("kind", "blue") == "blue"]
            if mine:
                self.m._issued(row, mine[0]["invoice_no"])
                return None
            row.uncertain = False          # the replica is trusted: nothing was stored
        if cfg.dedup == "invoice_number" and (row.assigned_no is None or self.b.new_serial_per_attempt):
            number = await self._next_number(seller, timeout)
            if number is None:
                return self.m._later(row, backoff(row.attempts + 1, None))
            row.assigned_no = number
        if self.b.new_serial_per_attempt and row.attempts > 0:   # DEFECT naive-retry
            row.request_id = uuid.uuid4().hex
        was_uncertain = row.uncertain
        row.uncertain, row.uncertain_at, row.attempts = True, time.time(), row.attempts + 1
        await self.m._put(row)           # a crash during the call leaves "may exist" on disk
        body = dict(row.payload, request_id=row.request_id)
        if row.assigned_no:
            body["invoice_no"] = row.assigned_no
        reply = await self.client.call("POST", "/v1/invoices", seller, json=body, timeout=timeout)
        if reply.kind == "ok":
            row.status, row.uncertain = "issued", False
            row.invoice_no = (reply.body or {}).get("invoice_no") or row.assigned_no
            row.error = row.message = None
            await self.m._put(row)       # durable before the customer hears "issued"
            return None
        if reply.kind == "refused":
            if cfg.dedup == "invoice_number" and row.assigned_no and _is_exists(reply):
                self.m._issued(row, row.assigned_no)   # our number is on the platform: issued
                return None
            self.refused(row, reply.error_code or "refused", reply.message or "", was_uncertain)
            return None
        if reply.kind == "throttled":
            return self.throttled(row, reply, was_uncertain)
        # unknown: the platform may or may not hold the invoice
        log.info("order %s: unknown outcome (%s)", row.order_id, reply.error)
        if self.b.unknown_is_failure:                        # DEFECT swallow-errors
            row.status, row.drive = "failed", False
            row.error, row.message = "platform_error", f"upload failed: {reply.error}"
            self.m.store.put(row)
            return None
        if self.b.drop_unknown_as_issued:                    # DEFECT fire-and-forget
            row.status, row.invoice_no, row.drive = "issued", None, False
            self.m.store.put(row)
            return None
        if self.b.offline_numbers and (reply.status is None or reply.status >= 500):
            row.extra.setdefault("offline_no", self._local_number())   # DEFECT offline-numbering
            self.m._later(row, backoff(row.attempts, reply.retry_after))
            return None
        wait = self.m._later(row, backoff(row.attempts, reply.retry_after))
        return None if cfg.dedup == "none" and not self.b.new_serial_per_attempt else wait

    def _local_number(self) -> str:
        """A 20-digit number of our own making: year, Beijing (11), direct-connect own system (76)."""
        yy = time.strftime("%y")
        return f"{yy}1176{next(self._local_seq) % 10**14:014d}"

    async def _next_number(self, seller: str, timeout: float) -> str | None:
        """invoice_number dedup: a number from the seller's downloaded range, drawing a new range
        (at most 5,000, domain.md) from the platform when the stored one is used up."""
        number = self.m.store.take_number(seller)
        if number is not None:
            return number
        lock = self._range_locks.setdefault(seller, asyncio.Lock())
        async with lock:
            number = self.m.store.take_number(seller)
            if number is not None:
                return number
            reply = await self.client.call("POST", "/v1/invoice-numbers/ranges", seller,
                                           json={"seller_tax_id": seller, "count": 1000}, timeout=timeout)
            if reply.kind != "ok":
                log.warning("number range for %s: %s %s", seller, reply.status, reply.error_code)
                return None
            first, last = _parse_range(reply.body)
            self.m.store.add_range(seller, first, last)
            return self.m.store.take_number(seller)

    async def _find_red(self, row: OrderRow, timeout: float) -> tuple[bool, str | None]:
        """(searched ok, red invoice number) for this order's blue invoice."""
        for params in ({"request_id": row.refund_request_id or ""}, {"order_ref": row.order_id}):
            found = await self.client.call("GET", "/v1/invoices", row.seller_tax_id, params=params,
                                           timeout=timeout)
            if found.kind != "ok":
                return False, None
            for inv in (found.body or {}).get("items", []):
                if inv.get("kind") == "red" and inv.get("original_invoice_no") == row.invoice_no:
                    return True, inv.get("invoice_no")
        return True, None

    async def attempt_refund(self, row: OrderRow, timeout: float) -> float | None:
        if row.refund_uncertain and self.cfg.dedup != "request_id":
            ok, red = await self._find_red(row, timeout)
            if red:
                self.m._refunded(row, red)
                return None
        row.refund_uncertain, row.refund_attempts = True, row.refund_attempts + 1
        self.m.store.put(row)
        reply = await self.client.call("POST", f"/v1/invoices/{row.invoice_no}/red", row.seller_tax_id,
                                       json={"request_id": row.refund_request_id, "reason": "01"},
                                       timeout=timeout)
        if reply.kind == "ok":
            self.m._refunded(row, (reply.body or {}).get("invoice_no"))
            return None
        if reply.kind == "refused" and reply.status in (404, 409):
            # 409: a reversal already exists (ours, after a lost answer); 404: the platform
            # does not know the blue one yet. Look, and come back if nothing is visible yet.
            red = (reply.body or {}).get("red_invoice_no") if reply.status == 409 else None
            if not red:
                ok, red = await self._find_red(row, timeout)
            if red:
                self.m._refunded(row, red)
                return None
            if row.refund_attempts < _MAX_REFUND_ATTEMPTS:
                return self.m._later(row, backoff(row.refund_attempts, None))
        if reply.kind == "refused":
            row.refund_status, row.refund_uncertain = "failed", False
            row.error, row.message = reply.error_code or "refund_refused", reply.message or ""
            self.m.store.put(row)
            return None
        if reply.kind == "throttled":
            return self.m._later(row, reply.retry_after or 1.0)
        return self.m._later(row, backoff(row.refund_attempts, reply.retry_after))


def _parse_range(body: Any) -> tuple[str, str]:
    """A downloaded number range, accepting {start, end} / {first, last} / {numbers: [...]}."""
    if not isinstance(body, dict):
        raise ValueError(f"unexpected number range answer: {body!r}")
    if body.get("numbers"):
        nums = sorted(body["numbers"])
        return nums[0], nums[-1]
    for a, b in (("start", "end"), ("first", "last"), ("from", "to")):
        if a in body and b in body:
            return str(body[a]), str(body[b])
    raise ValueError(f"unexpected number range answer: {body!r}")
