"""The bundled merchant in the direct-connect profile (乐企, design.md s.12).

The mall's way of working: the merchant numbers its invoices itself from ranges it
downloaded ahead of need, tells the customer `issued` with that number at checkout, and
uploads in batches that the platform decides later. The robust rules, in order:

1. ranges are fetched ahead (before they run out) with a request_id stored before the
   call, so an unknown answer is replayed into the same range; the range and its cursor are
   in SQLite, so a restart never hands a number out twice;
2. at checkout the number, the order row and its outbox entry are one transaction, committed
   before the customer hears the number;
3. the outbox uploads per seller in batches (`upload_batch`, or whatever gathered within
   `upload_wait_s`); the upload's body and request_id are stored before the call, so an
   unknown answer is resent byte for byte (the platform replays the same upload_id);
4. every upload is polled; one with no result within `upload_stuck_s` (lost, stalled) has
   its undecided invoices uploaded again in a new upload with the SAME numbers and content
   (the platform accepts an identical invoice again and stores it once);
5. the customer hears `failed` only for an invoice the platform definitively rejected and
   never accepted.

Defect modes (modes.py, `DEFECT` marks the places): trust-upload-ack, reuse-range-after-
restart, renumber-on-retry, late-upload.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from ..amounts import Order, platform_lines
from ..answer import Answer
from ..store import OrderRow
from .base import Core, register
from .clearance import ClearancePlatform

__all__ = ["DirectPlatform", "SCHEMA"]

log = logging.getLogger("fakes.merchant.direct")

SCHEMA = """
CREATE TABLE IF NOT EXISTS dc_ranges (
  range_id TEXT PRIMARY KEY, seller_tax_id TEXT NOT NULL, first TEXT NOT NULL,
  last TEXT NOT NULL, next TEXT NOT NULL, fetched_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dc_range_requests (
  seller_tax_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dc_outbox (
  invoice_no TEXT NOT NULL, order_id TEXT NOT NULL, seller_tax_id TEXT NOT NULL,
  item TEXT NOT NULL, state TEXT NOT NULL, upload TEXT, created_at REAL NOT NULL, error TEXT,
  PRIMARY KEY (invoice_no, order_id));
CREATE INDEX IF NOT EXISTS dc_outbox_state ON dc_outbox(state, seller_tax_id, created_at);
CREATE TABLE IF NOT EXISTS dc_uploads (
  request_id TEXT PRIMARY KEY, seller_tax_id TEXT NOT NULL, body TEXT NOT NULL,
  upload_id TEXT, state TEXT NOT NULL, created_at REAL NOT NULL, sent_at REAL,
  next_at REAL NOT NULL DEFAULT 0, resent INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS dc_uploads_state ON dc_uploads(state, next_at);
"""
# An outbox row is (number, order): one number per order for the robust merchant; keyed by
# both so that a defect mode that hands a number out twice is not stopped by its own table.
# outbox states: queued -> inflight (in an undecided upload) -> accepted | rejected
#                (renumber-on-retry only: abandoned)
# upload states:  sending (no receipt yet) -> sent (polling) -> done | gone

_LATE_IDLE_S = 2.0          # late-upload: the outbox waits for this long without checkouts
_TICK_S = 0.1


def _next_no(number: str) -> str:
    return str(int(number) + 1).zfill(len(number))


def _left(nxt: str, last: str) -> int:
    return max(0, int(last) - int(nxt) + 1)


@register("direct")
class DirectPlatform(ClearancePlatform):
    """Ranges, checkout numbering, the outbox, polling and re-upload of one merchant. The
    token, the search and the reversal are the clearance API's (design.md s.12), so a refund
    takes the clearance client's steps."""

    group_commit = False

    def __init__(self, core: Core, sellers: list[dict[str, Any]]) -> None:
        super().__init__(core, sellers)
        self.db = core.store.db
        self.db.executescript(SCHEMA)
        self._cursor: dict[str, str] = {}     # DEFECT reuse-range-after-restart: in memory only
        self._range_locks: dict[str, asyncio.Lock] = {}
        self._last_checkout = 0.0
        self._busy: set[str] = set()          # upload request_ids with a call in flight

    # -- lifecycle -------------------------------------------------------------------------
    def tasks(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._keeper(), name="ranges"),
                asyncio.create_task(self._uploader(), name="outbox")]

    # -- number ranges ---------------------------------------------------------------------
    def _ranges(self, seller: str) -> list[tuple[str, str, str]]:
        """(range_id, next, last) of the seller's ranges with numbers left, oldest first."""
        rows = self.db.execute("SELECT range_id, next, last FROM dc_ranges WHERE "
                               "seller_tax_id=? ORDER BY fetched_at, rowid", (seller,)).fetchall()
        out = []
        for rid, nxt, last in rows:
            nxt = self._cursor.get(rid, nxt) if self.b.volatile_range_cursor else nxt
            if nxt <= last:                     # same length: text order is number order
                out.append((rid, nxt, last))
        return out

    def remaining(self, seller: str) -> int:
        return sum(_left(n, last) for _, n, last in self._ranges(seller))

    async def fetch_range(self, seller: str, timeout: float) -> bool:
        """Download one range (replay-safe); whether the seller now has numbers."""
        lock = self._range_locks.setdefault(seller, asyncio.Lock())
        async with lock:
            if self.remaining(seller) >= self.cfg.range_low:
                return True
            hit = self.db.execute("SELECT request_id, count FROM dc_range_requests WHERE "
                                  "seller_tax_id=?", (seller,)).fetchone()
            if hit is None:                   # stored before the call: an unknown answer replays
                hit = (uuid.uuid4().hex, self.cfg.range_size)
                self.db.execute("INSERT INTO dc_range_requests VALUES (?, ?, ?)",
                                (seller, hit[0], hit[1]))
            reply = await self.client.call(
                "POST", "/v1/number-ranges", seller, timeout=timeout,
                json={"request_id": hit[0], "seller_tax_id": seller, "count": hit[1]})
            if reply.kind == "ok" and isinstance(reply.body, dict):
                b = reply.body
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    self.db.execute("INSERT OR IGNORE INTO dc_ranges VALUES (?, ?, ?, ?, ?, ?)",
                                    (b["range_id"], seller, b["first"], b["last"], b["first"],
                                     time.time()))
                    self.db.execute("DELETE FROM dc_range_requests WHERE seller_tax_id=?",
                                    (seller,))
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
            elif reply.kind == "refused":
                log.warning("number range for %s refused: %s %s", seller, reply.status,
                            reply.error_code)
                self.db.execute("DELETE FROM dc_range_requests WHERE seller_tax_id=?", (seller,))
            return self.remaining(seller) > 0

    async def _keeper(self) -> None:
        """Keep every seller's numbers above `range_low`, ahead of need."""
        while True:
            for seller in self.m.secrets:
                if self.remaining(seller) < self.cfg.range_low:
                    try:
                        await self.fetch_range(seller, self.cfg.platform_timeout_s)
                    except Exception:  # noqa: BLE001 - try again next round
                        log.exception("range keeper")
            await asyncio.sleep(0.5)

    # -- checkout --------------------------------------------------------------------------
    async def checkout(self, order: Order) -> Answer:
        m = self.m
        row = m.store.get(order.order_id)
        if row is not None:
            await m._await_inflight(order.order_id)
            return m.answer(m.store.get(order.order_id) or row)
        self._last_checkout = time.monotonic()
        if not self._ranges(order.seller_tax_id):
            await self.fetch_range(order.seller_tax_id, self.cfg.sync_budget_s)
            again = m.store.get(order.order_id)   # a double submit won while we waited
            if again is not None:
                return m.answer(again)
        taken = self._take(order.seller_tax_id)
        if taken is None:
            return Answer(503, {"order_id": order.order_id, "error": "no_invoice_numbers",
                                "message": "no invoice number range could be downloaded from "
                                           "the platform; nothing was issued, try again"})
        range_id, number = taken
        now = time.time()
        item = {"invoice_no": number, "order_ref": order.order_id, "buyer": dict(order.buyer),
                "lines": platform_lines(order.lines), "kind": order.kind, "issued_at": now}
        row = OrderRow(order_id=order.order_id, seller_tax_id=order.seller_tax_id,
                       order=order.to_json(), payload={}, request_id="", status="issued",
                       invoice_no=number, assigned_no=number, created_at=now,
                       extra={"direct": True})
        also = [("INSERT INTO dc_outbox (invoice_no, order_id, seller_tax_id, item, state, "
                 "created_at) VALUES (?, ?, ?, ?, 'queued', ?)",
                 (number, order.order_id, order.seller_tax_id,
                  json.dumps(item, ensure_ascii=False), now))]
        also += self._advance(range_id, number)
        m.store.put(row, also=also)        # number, order and outbox: one transaction
        return m.answer(row)

    def _take(self, seller: str) -> tuple[str, str] | None:
        ranges = self._ranges(seller)
        return (ranges[0][0], ranges[0][1]) if ranges else None

    def _advance(self, range_id: str, number: str) -> list[tuple[str, tuple[Any, ...]]]:
        if self.b.volatile_range_cursor:                 # DEFECT reuse-range-after-restart
            self._cursor[range_id] = _next_no(number)
            return []
        return [("UPDATE dc_ranges SET next=? WHERE range_id=?", (_next_no(number), range_id))]

    # -- the outbox ------------------------------------------------------------------------
    async def _uploader(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # noqa: BLE001 - one bad round must not stop the outbox
                log.exception("outbox")
            await asyncio.sleep(_TICK_S)

    async def step(self) -> None:
        """One round: form batches, send what is unsent, poll what is sent."""
        self._form_batches()
        now = time.time()
        due = self.db.execute("SELECT request_id, seller_tax_id, body, upload_id, state, "
                              "sent_at, resent FROM dc_uploads WHERE state IN ('sending', "
                              "'sent') AND next_at<=? ORDER BY created_at LIMIT 64",
                              (now,)).fetchall()
        calls = [self._drive(*u) for u in due if u[0] not in self._busy]
        if calls:
            await asyncio.gather(*calls)

    def _form_batches(self) -> None:
        if self.b.late_upload and (                     # DEFECT late-upload
                self._last_checkout and time.monotonic() - self._last_checkout < _LATE_IDLE_S):
            return
        now = time.time()
        sellers = self.db.execute("SELECT seller_tax_id, COUNT(*), MIN(created_at) FROM "
                                  "dc_outbox WHERE state='queued' GROUP BY seller_tax_id"
                                  ).fetchall()
        for seller, n, oldest in sellers:
            while n >= self.cfg.upload_batch or (n > 0 and now - oldest >= self.cfg.upload_wait_s):
                rows = self.db.execute(
                    "SELECT invoice_no, item FROM dc_outbox WHERE state='queued' AND "
                    "seller_tax_id=? ORDER BY created_at LIMIT ?",
                    (seller, self.cfg.upload_batch)).fetchall()
                if not rows:
                    break
                rid = uuid.uuid4().hex
                body = {"request_id": rid, "seller_tax_id": seller,
                        "invoices": [json.loads(item) for _, item in rows]}
                self.db.execute("BEGIN IMMEDIATE")      # the body is fixed before any call
                try:
                    self.db.execute("INSERT INTO dc_uploads (request_id, seller_tax_id, body, "
                                    "state, created_at) VALUES (?, ?, ?, 'sending', ?)",
                                    (rid, seller, json.dumps(body, ensure_ascii=False), now))
                    self.db.executemany("UPDATE dc_outbox SET state='inflight', upload=? "
                                        "WHERE invoice_no=?", [(rid, no) for no, _ in rows])
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
                n -= len(rows)

    def _set_upload(self, rid: str, **cols: Any) -> None:
        keys = ", ".join(f"{k}=?" for k in cols)
        self.db.execute(f"UPDATE dc_uploads SET {keys} WHERE request_id=?", (*cols.values(), rid))

    async def _drive(self, rid: str, seller: str, body: str, upload_id: str | None, state: str,
                     sent_at: float | None, resent: int) -> None:
        self._busy.add(rid)
        try:
            if state == "sending":
                await self._send(rid, seller, body)
            else:
                await self._poll(rid, seller, upload_id or "", sent_at or 0.0, bool(resent))
        finally:
            self._busy.discard(rid)

    async def _send(self, rid: str, seller: str, body: str) -> None:
        reply = await self.client.call("POST", "/v1/uploads", seller, json=json.loads(body))
        now = time.time()
        if reply.kind == "ok" and isinstance(reply.body, dict) and reply.body.get("upload_id"):
            if self.b.trust_upload_ack:                  # DEFECT trust-upload-ack
                self._set_upload(rid, upload_id=reply.body["upload_id"], state="done",
                                 sent_at=now)
                self.db.execute("UPDATE dc_outbox SET state='accepted' WHERE upload=? AND "
                                "state='inflight'", (rid,))
                return
            self._set_upload(rid, upload_id=reply.body["upload_id"], state="sent", sent_at=now,
                             next_at=now + self.cfg.upload_poll_s)
        elif reply.kind == "refused":       # the whole upload refused: nothing was received
            log.warning("upload %s refused: %s %s", rid, reply.status, reply.error_code)
            self._set_upload(rid, state="done")
            self._reject(rid, None, reply.error_code or "refused", reply.message or "")
        else:                               # unknown or throttled: resend the same body
            self._set_upload(rid, next_at=now + (reply.retry_after or 0.5))

    async def _poll(self, rid: str, seller: str, upload_id: str, sent_at: float,
                    resent: bool) -> None:
        reply = await self.client.call("GET", f"/v1/uploads/{upload_id}", seller)
        now = time.time()
        body = reply.body if isinstance(reply.body, dict) else {}
        if reply.kind == "ok" and body.get("status") == "done":
            self._apply(rid, body.get("results") or [])
            self._set_upload(rid, state="done")
            return
        gone = reply.kind == "refused" and reply.status == 404
        if (gone or now - sent_at >= self.cfg.upload_stuck_s) and not resent:
            self._reupload(rid)
        if gone:
            self._set_upload(rid, state="gone")
            return
        wait = reply.retry_after if reply.kind == "throttled" else self.cfg.upload_poll_s
        self._set_upload(rid, next_at=now + (wait or self.cfg.upload_poll_s))

    def _apply(self, rid: str, results: list[dict[str, Any]]) -> None:
        for res in results:
            no = res.get("invoice_no")
            if res.get("result") == "accepted":
                self.db.execute("UPDATE dc_outbox SET state='accepted', error=NULL "
                                "WHERE invoice_no=?", (no,))
            elif res.get("result") == "rejected":      # applies to this upload's own rows
                self._reject(rid, no, str(res.get("error") or "rejected"),
                             str(res.get("message") or ""))

    def _reject(self, rid: str, number: str | None, code: str, message: str) -> None:
        """A definitive rejection: the customer is told `failed`, unless some upload already
        got that number accepted (acceptance is final)."""
        where, args = (("invoice_no=? AND upload=?", (number, rid)) if number is not None
                       else ("upload=?", (rid,)))
        rows = self.db.execute(f"SELECT invoice_no, order_id FROM dc_outbox WHERE {where} "
                               "AND state NOT IN ('accepted', 'rejected')", args).fetchall()
        for no, order_id in rows:
            self.db.execute("UPDATE dc_outbox SET state='rejected', error=? WHERE invoice_no=? "
                            "AND order_id=?", (code, no, order_id))
            row = self.m.store.get(order_id)
            if row is not None and row.invoice_no == no and row.status != "failed":
                row.status, row.error, row.message = "failed", code, message
                self.m.store.put(row)

    def _reupload(self, rid: str) -> None:
        """A stuck upload: its undecided invoices go into a new upload, same numbers."""
        self._set_upload(rid, resent=1)
        if self.b.renumber_on_retry:                     # DEFECT renumber-on-retry
            self._renumber(rid)
            return
        self.db.execute("UPDATE dc_outbox SET state='queued', upload=NULL WHERE upload=? "
                        "AND state='inflight'", (rid,))

    def _renumber(self, rid: str) -> None:
        rows = self.db.execute("SELECT invoice_no, order_id, seller_tax_id, item FROM dc_outbox "
                               "WHERE upload=? AND state='inflight'", (rid,)).fetchall()
        for old, order_id, seller, item in rows:
            taken = self._take(seller)
            row = self.m.store.get(order_id)
            if taken is None or row is None:
                continue
            range_id, number = taken
            data = json.loads(item)
            data["invoice_no"] = number
            data["issued_at"] = time.time()
            row.invoice_no = row.assigned_no = number
            self.db.execute("UPDATE dc_outbox SET state='abandoned' WHERE invoice_no=? AND "
                            "order_id=?", (old, order_id))
            self.m.store.put(row, also=[
                ("INSERT INTO dc_outbox (invoice_no, order_id, seller_tax_id, item, state, "
                 "created_at) VALUES (?, ?, ?, ?, 'queued', ?)",
                 (number, order_id, seller, json.dumps(data, ensure_ascii=False), time.time())),
                *self._advance(range_id, number)])

    def counts(self) -> dict[str, Any] | None:
        out = dict(self.db.execute("SELECT state, COUNT(*) FROM dc_outbox GROUP BY state"))
        ups = dict(self.db.execute("SELECT state, COUNT(*) FROM dc_uploads GROUP BY state"))
        return {"outbox": out, "uploads": ups}
