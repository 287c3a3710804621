"""The direct-connect profile (乐企, design.md s.12): number ranges and batched uploads that the
platform decides later.

A merchant downloads ranges (`POST /v1/number-ranges`), numbers its invoices itself, hands
them to the customer and uploads up to 100 at a time (`POST /v1/uploads` -> 202 upload_id,
受理流水号). Nothing is decided at receipt: after `upload_delay` the processor decides each
invoice (accepted / rejected with a code) and writes the accepted ones into the same ledger
as the clearance profile, so the read path, red-letter and quota are the clearance rules.

Durability: a range is committed before the 201 and an upload before the 202 (the same group
commit and WAL as every invoice), so a `kill -9` loses neither; a restarted processor picks
up every upload still `processing`. Decisions happen on one task, one upload at a time, so
two uploads of one number can never both be accepted.

Faults (`/_admin/faults`): `upload_loss` marks a share of received uploads, durably, as
never finishing ("uploaded, never received"); `upload_stall` holds every decision while it
is set. The existing knobs apply to the new calls as to the old: throttle (429), injected
5xx before or after the commit, slow commits, the quota cut, replica lag, token revocation.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from fakes.common.money import money_str

from .. import numbering
from ..core import Outcome, body_hash, china_month
from ..errors import ApiError, invalid, missing
from ..store import INSERT_INVOICE, Exec, InvoiceRow, connect
from ..validation import MAX_ID, tax_id, text, validate_issue
from .base import register
from .processor import Processor
from .clearance import ClearanceFrontend

if TYPE_CHECKING:
    from ..core import Ledger

__all__ = ["DirectFrontend", "REJECTION_CODES", "MAX_UPLOAD", "MAX_RANGE", "SCHEMA"]

log = logging.getLogger("fakes.taxplatform.frontends.direct")

MAX_UPLOAD = 100          # invoices per upload (domain.md)
MAX_RANGE = 5000          # numbers per range call (domain.md)
FUTURE_SKEW_S = 1.0       # an issued_at this far ahead of receipt is still "now"
REJECTION_CODES = ("number_not_allocated", "duplicate_number", "upload_overdue",
                   "quota_exceeded", "invalid_invoice")

SCHEMA = """
CREATE TABLE IF NOT EXISTS direct_ranges (
    range_id TEXT PRIMARY KEY, seller_tax_id TEXT NOT NULL, request_id TEXT NOT NULL,
    body_hash TEXT NOT NULL, first TEXT NOT NULL, last TEXT NOT NULL, count INTEGER NOT NULL,
    granted_at REAL NOT NULL, UNIQUE (seller_tax_id, request_id));
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, seller_tax_id TEXT NOT NULL, request_id TEXT NOT NULL,
    body_hash TEXT NOT NULL, invoices TEXT NOT NULL, received_at REAL NOT NULL,
    lost INTEGER NOT NULL, status TEXT NOT NULL, results TEXT NOT NULL DEFAULT '[]',
    finished_at REAL, UNIQUE (seller_tax_id, request_id));
CREATE INDEX IF NOT EXISTS ix_uploads_open ON uploads(status, lost, received_at);
"""


@dataclass(slots=True)
class _Upload:
    upload_id: str
    seller_tax_id: str
    request_id: str
    invoices: list[Any]
    received_at: float


@register
class DirectFrontend(ClearanceFrontend):
    """The direct profile's calls and its processor, beside the clearance calls (which the
    direct profile keeps: the read path, red-letter, the quota)."""

    name = "direct"
    index_request_keys = False          # the processor writes invoice rows of its own
    SCHEMA = SCHEMA

    def __init__(self, ledger: Ledger, clock: Callable[[], float] | None = None) -> None:
        super().__init__(ledger)
        self.p = ledger
        self.clock = clock or ledger.clock        # the platform's injectable clock (clock.py)
        self.store = ledger.store
        self.stats: Counter[str] = Counter()
        self._inflight: dict[tuple[str, str, str], asyncio.Future[dict[str, Any]]] = {}
        self.processor = Processor("uploads", self.process_due,
                                   lambda: log.exception("upload processor"))

    # --- shared: replay by request_id ------------------------------------------------
    def _stored(self, table: str, seller: str, request_id: str) -> tuple[str, dict] | None:
        if table == "direct_ranges":
            row = self.store._r.execute(
                "SELECT body_hash, range_id, first, last, count FROM direct_ranges "
                "WHERE seller_tax_id=? AND request_id=?", (seller, request_id)).fetchone()
            if row is None:
                return None
            return row[0], {"range_id": row[1], "seller_tax_id": seller, "first": row[2],
                            "last": row[3], "count": row[4]}
        row = self.store._r.execute("SELECT body_hash, upload_id FROM uploads WHERE "
                                    "seller_tax_id=? AND request_id=?",
                                    (seller, request_id)).fetchone()
        return None if row is None else (row[0], {"upload_id": row[1]})

    def _answer(self, after: bool, outcome: Outcome) -> Outcome:
        """`outcome`, unless an injected error after the commit hides it ("未知异常")."""
        self.p.after_commit(after)
        return outcome

    async def _begin(self, table: str, seller: str,
                     body: Any) -> tuple[bool, str, str, Outcome | None]:
        """What every direct-profile write does first: draw the write fault, replay a
        repeated request_id, check the body is an object for this seller. Returns
        (error after commit?, body hash, request_id, the replayed answer or None)."""
        after = self.p.write_fault()
        h = body_hash(body)
        replay = await self._replay(table, seller, body, h, after)
        if replay is not None:
            return after, h, "", replay
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_type", "body: must be a JSON object", field="body")
        rid = self._request_id(body)
        self._seller(seller, body)
        return after, h, rid, None

    async def _replay(self, table: str, seller: str, body: Any, h: str,
                      after: bool) -> Outcome | None:
        """The first answer again for a repeated request_id (200), 409 for another body, or
        None for a new one. Concurrent duplicates wait for the first one's commit."""
        if not isinstance(body, dict) or not isinstance(body.get("request_id"), str):
            return None
        rid = body["request_id"].strip()
        fut = self._inflight.get((table, seller, rid))
        first: tuple[str, dict] | None
        if fut is not None:
            try:
                first = (fut_hash(fut), await asyncio.shield(fut))
            except Exception:  # noqa: BLE001 - the first attempt was not stored
                return None
        else:
            first = self._stored(table, seller, rid)
        if first is None:
            return None
        if first[0] != h:
            raise ApiError(409, "request_id_reused",
                           f"request_id {rid!r} was already used for a different request; "
                           "use a new request_id for a new one", **first[1])
        self.stats[f"replayed_{table}"] += 1
        return self._answer(after, Outcome(200, dict(first[1]), {"Idempotent-Replayed": "true"}))

    async def _write(self, table: str, seller: str, rid: str, h: str, exec_: Exec,
                     answer: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        fut.body_hash = h  # type: ignore[attr-defined]
        key = (table, seller, rid)
        self._inflight[key] = fut
        try:
            await self.p.committer.submit(exec_)
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()
            self.p.stats["commit_failed"] += 1
            raise ApiError(503, "storage_error", f"nothing was stored: {exc}") from None
        else:
            fut.set_result(answer)
        finally:
            if self._inflight.get(key) is fut:
                del self._inflight[key]

    def _seller(self, seller: str, body: dict[str, Any]) -> str:
        who = tax_id(text(body, "seller_tax_id", "seller_tax_id") or "", "seller_tax_id")
        if who != seller:
            raise ApiError(403, "seller_mismatch", f"seller_tax_id: this token acts for seller "
                           f"{seller}, not {who}", field="seller_tax_id")
        return who

    @staticmethod
    def _request_id(body: dict[str, Any]) -> str:
        return text(body, "request_id", "request_id", max_len=MAX_ID) or ""

    # --- POST /v1/number-ranges ----------------------------------------------------------
    async def number_range(self, seller: str, body: Any) -> Outcome:
        after, h, rid, replay = await self._begin("direct_ranges", seller, body)
        if replay is not None:
            return replay
        count = body.get("count")
        if count is None:
            raise missing("count")
        if isinstance(count, bool) or not isinstance(count, int):
            raise ApiError(422, "invalid_type", "count: must be an integer", field="count")
        if not 1 <= count <= MAX_RANGE:
            raise invalid("count", f"must be between 1 and {MAX_RANGE}")
        now = self.clock()
        start = self.p.take_seq(count)
        end = start + count - 1
        first = numbering.format_number(start, numbering.CHANNEL_DIRECT, when=now)
        last = numbering.format_number(end, numbering.CHANNEL_DIRECT, when=now)
        range_id = "R" + uuid.uuid4().hex[:19]
        answer = {"range_id": range_id, "seller_tax_id": seller, "first": first, "last": last,
                  "count": count}
        exec_ = Exec([("INSERT INTO ranges VALUES (?, ?, ?, ?, ?)",
                       (seller, first[:5], start, end, now)),
                      ("INSERT INTO direct_ranges VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (range_id, seller, rid, h, first, last, count, now))], seq_next=end + 1)
        await self._write("direct_ranges", seller, rid, h, exec_, answer)
        self.p.add_range(seller, first[:5], start, end)
        self.stats["ranges_granted"] += 1
        return self._answer(after, Outcome(201, answer))

    # --- POST /v1/uploads ----------------------------------------------------------------
    async def upload(self, seller: str, body: Any) -> Outcome:
        after, h, rid, replay = await self._begin("uploads", seller, body)
        if replay is not None:
            return replay
        invoices = body.get("invoices")
        if invoices is None:
            raise missing("invoices")
        if not isinstance(invoices, list):
            raise ApiError(422, "invalid_type", "invoices: must be a list", field="invoices")
        if not 1 <= len(invoices) <= MAX_UPLOAD:
            raise invalid("invoices", f"an upload holds 1 to {MAX_UPLOAD} invoices, "
                          f"not {len(invoices)}")
        for i, item in enumerate(invoices):
            if not isinstance(item, dict):
                raise ApiError(422, "invalid_type", f"invoices[{i}]: must be a JSON object",
                               field=f"invoices[{i}]")
            if not isinstance(item.get("invoice_no"), str):
                raise missing(f"invoices[{i}].invoice_no")
        now = self.clock()
        lost = self.p.dice.hit(self.p.faults.upload_loss)
        upload_id = "U" + uuid.uuid4().hex[:23]
        answer = {"upload_id": upload_id}
        exec_ = Exec([("INSERT INTO uploads (upload_id, seller_tax_id, request_id, body_hash, "
                       "invoices, received_at, lost, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (upload_id, seller, rid, h, orjson.dumps(invoices).decode(), now,
                        int(lost), "processing"))])
        await self._write("uploads", seller, rid, h, exec_, answer)
        self.stats["uploads_received"] += 1
        self.stats["invoices_received"] += len(invoices)
        if lost:
            self.stats["uploads_lost"] += 1
        self.processor.wake()
        return self._answer(after, Outcome(202, answer))

    # --- GET /v1/uploads/{upload_id} -----------------------------------------------------
    def upload_status(self, seller: str, upload_id: str) -> Outcome:
        self.p.throttle()
        row = self.store._r.execute("SELECT seller_tax_id, status, results FROM uploads "
                                    "WHERE upload_id=?", (upload_id,)).fetchone()
        if row is None or row[0] != seller:
            # another seller's upload is not even acknowledged to exist
            raise ApiError(404, "not_found", f"未查询到发票上传结果: no upload {upload_id} of "
                           f"seller {seller}")
        return Outcome(200, {"upload_id": upload_id, "status": row[1],
                             "results": orjson.loads(row[2]) if row[1] == "done" else []})

    # --- the processor -------------------------------------------------------------------
    def start(self) -> None:
        """Start deciding uploads (called from the app's lifespan, inside the event loop)."""
        self.processor.start()

    async def stop(self) -> None:
        await self.processor.stop()

    def _due(self, now: float) -> list[_Upload]:
        cutoff = now - self.p.config.upload_delay_ms / 1000.0
        rows = self.store._r.execute(
            "SELECT upload_id, seller_tax_id, request_id, invoices, received_at FROM uploads "
            "WHERE status='processing' AND lost=0 AND received_at<=? ORDER BY received_at, "
            "rowid LIMIT 50", (cutoff,)).fetchall()
        return [_Upload(r[0], r[1], r[2], orjson.loads(r[3]), r[4]) for r in rows]

    async def process_due(self) -> int:
        """Decide every upload whose delay has passed (unless stalled); how many were."""
        if self.p.faults.upload_stall:
            return 0
        done = 0
        for up in self._due(self.clock()):
            if self.p.faults.upload_stall:
                break
            await self._finish(up)
            done += 1
        return done

    async def _finish(self, up: _Upload) -> None:
        now = self.clock()
        results: list[dict[str, Any]] = []
        rows: list[InvoiceRow] = []
        batch: dict[str, str] = {}          # invoice_no -> content hash accepted in this upload
        charged: list[tuple[str, str, Decimal]] = []     # (month, seller, amount) to undo
        for item in up.invoices:
            res, row = self._decide(up, item, batch, charged)
            results.append(res)
            if row is not None:
                rows.append(row)
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for row in rows:
            statements.append((INSERT_INVOICE, row.values()))
            statements.append(("UPDATE invoices SET accepted_at=? WHERE invoice_no=?",
                               (now, row.invoice_no)))
        statements.append(("UPDATE uploads SET status='done', results=?, finished_at=? "
                           "WHERE upload_id=?", (orjson.dumps(results).decode(), now,
                                                 up.upload_id)))
        try:
            await self.p.committer.submit(Exec(statements))
        except Exception:
            for month, seller, amount in charged:      # not stored: give the quota back
                self.p.charge(seller, month, -amount)
            raise
        for r in results:
            self.stats["accepted" if r["result"] == "accepted" else
                       "rejected_" + r.get("error", "")] += 1
        self.p.stats["issued_blue"] += len(rows)
        self.stats["uploads_finished"] += 1

    def _decide(self, up: _Upload, item: Any, batch: dict[str, str],
                charged: list[tuple[str, str, Decimal]]
                ) -> tuple[dict[str, Any], InvoiceRow | None]:
        """One uploaded invoice -> its result, and the row to store when it is new."""
        no = item.get("invoice_no") if isinstance(item, dict) else None

        def reject(code: str, message: str) -> tuple[dict[str, Any], None]:
            return {"invoice_no": no, "result": "rejected", "error": code,
                    "message": message}, None

        if not isinstance(item, dict) or not isinstance(no, str) \
                or not numbering.NUMBER_RE.match(no):
            return reject("invalid_invoice", "invoice_no: must be a 20-digit invoice number")
        issued_at = item.get("issued_at")
        if isinstance(issued_at, bool) or not isinstance(issued_at, (int, float)):
            return reject("invalid_invoice", "issued_at: must be Unix epoch seconds")
        try:
            order = validate_issue({"request_id": up.request_id,
                                    "order_ref": item.get("order_ref"),
                                    "seller_tax_id": up.seller_tax_id,
                                    "buyer": item.get("buyer"), "lines": item.get("lines"),
                                    "kind": item.get("kind")})
        except ApiError as exc:
            return reject("invalid_invoice", exc.message)
        if not self.p.in_range(up.seller_tax_id, no):
            return reject("number_not_allocated", f"{no} is not in a range downloaded by "
                          f"seller {up.seller_tax_id} (POST /v1/number-ranges)")
        year = time.gmtime(float(issued_at) + 8 * 3600).tm_year % 100
        if int(no[:2]) != year:
            return reject("invalid_invoice", f"issued_at: a number of year {no[:2]} cannot "
                          f"carry an issue date of year {year:02d}")
        h = body_hash(item)
        first = batch.get(no)
        if first is None:
            stored = self.store.get(no)
            first = stored.body_hash if stored is not None else None
        if first is not None:
            if first == h:
                return {"invoice_no": no, "result": "accepted"}, None   # stored once
            return reject("duplicate_number", f"发票号码{no}在数据库中已存在 with other content")
        if issued_at > up.received_at + FUTURE_SKEW_S:
            return reject("invalid_invoice", "issued_at: lies in the future")
        deadline = self.p.config.upload_deadline_s
        if issued_at < up.received_at - deadline:
            return reject("upload_overdue", f"issued {up.received_at - issued_at:.1f}s before "
                          f"the upload; the deadline is {deadline:g}s")
        month = china_month(float(issued_at))
        used = self.p.used_map(month)
        limit = self.p.quota_limit()
        if used.get(up.seller_tax_id, Decimal(0)) + order.amount > limit:
            return reject("quota_exceeded", f"发票总额度不足: {order.amount} would exceed the "
                          f"monthly quota (limit {money_str(limit)}, used "
                          f"{money_str(used.get(up.seller_tax_id, Decimal(0)))})")
        used[up.seller_tax_id] = used.get(up.seller_tax_id, Decimal(0)) + order.amount
        charged.append((month, up.seller_tax_id, order.amount))
        batch[no] = h
        row = InvoiceRow(
            invoice_no=no, kind="blue", request_id=up.request_id, order_ref=order.order_ref,
            seller_tax_id=up.seller_tax_id, buyer_name=order.buyer_name,
            buyer_tax_id=order.buyer_tax_id, invoice_type=order.invoice_type,
            amount=str(order.amount), tax=str(order.tax), total=str(order.total),
            issued_at=float(issued_at), original_invoice_no=None, reason=None,
            quota_month=month, body_hash=h, lines=[ln.to_json() for ln in order.lines])
        return {"invoice_no": no, "result": "accepted"}, row

    # --- admin ------------------------------------------------------------------------------
    def iter_uploads(self, chunk: int = 500) -> Iterator[bytes]:
        """NDJSON of every upload as the harness reports it (`/_admin/uploads`)."""
        conn = connect(self.store.path, self.store.synchronous)
        try:
            yield from self._upload_lines(conn, chunk)
        finally:
            conn.close()

    @staticmethod
    def _upload_lines(conn: Any, chunk: int) -> Iterator[bytes]:
        cur = conn.execute("SELECT upload_id, seller_tax_id, request_id, received_at, lost, "
                           "status, results, finished_at, invoices FROM uploads ORDER BY rowid")
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                break
            out = []
            for r in rows:
                invs = orjson.loads(r[8])
                out.append(orjson.dumps({
                    "upload_id": r[0], "seller_tax_id": r[1], "request_id": r[2],
                    "received_at": r[3], "lost": bool(r[4]), "status": r[5],
                    "finished_at": r[7], "results": orjson.loads(r[6]),
                    "invoices": [{"invoice_no": i.get("invoice_no"),
                                  "order_ref": i.get("order_ref"),
                                  "issued_at": i.get("issued_at")}
                                 for i in invs if isinstance(i, dict)]}) + b"\n")
            yield b"".join(out)

    def stats_json(self) -> dict[str, Any]:
        return {"direct": dict(self.stats)}


def fut_hash(fut: asyncio.Future[Any]) -> str:
    return getattr(fut, "body_hash", "")
