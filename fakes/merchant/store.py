"""The merchant's durable outbox: one SQLite row per order, committed before any platform call
and before the customer hears anything (the robust merchant's first rule).

`Store(lazy=True)` is the ack-before-commit defect: writes go to an in-memory overlay that
`flush()` copies to SQLite every few seconds, so a SIGKILL loses what was acknowledged since.
`Store(ignore_write_errors=True)` is ignore-write-errors: a write that fails (disk full) is
kept in that overlay only, and the caller never hears of the failure.

`due()` treats a retry time more than `CLOCK_JUMP_S` ahead as due now: no backoff is that
long, so it was scheduled by a wall clock that has since jumped back.
"""
from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import orjson

__all__ = ["OrderRow", "Store", "CLOCK_JUMP_S"]

CLOCK_JUMP_S = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
  order_id TEXT PRIMARY KEY,
  data TEXT NOT NULL,
  status TEXT NOT NULL,
  refund_status TEXT,
  next_try_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS orders_due ON orders(status, next_try_at);
CREATE INDEX IF NOT EXISTS orders_refund_due ON orders(refund_status, next_try_at);
CREATE TABLE IF NOT EXISTS number_ranges (
  seller_tax_id TEXT PRIMARY KEY,
  next_no TEXT NOT NULL,
  end_no TEXT NOT NULL
);
"""


@dataclass(slots=True)
class OrderRow:
    """Everything the merchant knows about one order. `payload` is the platform body without
    `request_id`/`invoice_no`; it is built once so every resend carries the same bytes."""

    order_id: str
    seller_tax_id: str
    order: dict[str, Any]
    payload: dict[str, Any]
    request_id: str
    status: str = "pending"            # pending | issued | failed
    invoice_no: str | None = None      # what the customer is told
    assigned_no: str | None = None     # invoice_number dedup: our number, fixed before upload
    uncertain: bool = False            # a call whose outcome we do not know may have issued
    uncertain_at: float = 0.0
    attempts: int = 0
    next_try_at: float = 0.0
    drive: bool = True                 # False: nobody will ever upload it (defect modes)
    error: str | None = None
    message: str | None = None
    created_at: float = 0.0
    refund_status: str | None = None   # None | pending | refunded | failed
    refund_request_id: str | None = None
    red_invoice_no: str | None = None
    refund_uncertain: bool = False
    refund_attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        # orjson over the fields as they are: every value is JSON already (dicts of strings),
        # so the deep copy of dataclasses.asdict bought nothing and cost a tenth of the
        # merchant's CPU under load (docs/performance.md, "Capacity").
        return orjson.dumps({f: getattr(self, f) for f in _ROW_FIELDS}).decode()

    @classmethod
    def from_json(cls, text: str) -> "OrderRow":
        data = orjson.loads(text)
        return cls(**{k: v for k, v in data.items() if k in _ROW_FIELD_SET})


_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(OrderRow))
_ROW_FIELD_SET = frozenset(_ROW_FIELDS)


def _values(r: OrderRow) -> tuple[Any, ...]:
    """The orders-table columns of a row, as of now."""
    return (r.order_id, r.to_json(), r.status if r.drive else "dropped", r.refund_status,
            r.next_try_at)


class Store:
    """SQLite in WAL mode. A committed transaction is in the WAL file (the OS's page cache) on
    return, so it survives SIGKILL of the merchant, which is the crash the harness injects.
    `synchronous=NORMAL` skips the fsync per commit (that only matters for a power loss) and
    is what keeps the merchant's event loop from stalling on the disk under peak load;
    MERCHANT_SQLITE_SYNC=FULL restores it."""

    def __init__(self, data_dir: Path, lazy: bool = False, synchronous: str = "NORMAL",
                 ignore_write_errors: bool = False):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / "merchant.sqlite3"
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous={synchronous!r}: use NORMAL, FULL or EXTRA")
        self.db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self.db.executescript(_SCHEMA)
        self.lazy = lazy
        self.ignore_write_errors = ignore_write_errors
        self._dirty: dict[str, OrderRow] = {}
        # put_async: rows waiting for the group commit of this loop turn, and their waiters
        self._staged: dict[str, tuple[Any, ...]] = {}
        self._staged_waiters: list[asyncio.Future[None]] = []
        self.group_commits = 0
        self.group_rows = 0

    def close(self) -> None:
        try:
            self.flush()
        except sqlite3.OperationalError:
            if not self.ignore_write_errors:
                raise
        self.db.close()

    # -- orders ------------------------------------------------------------------------
    def get(self, order_id: str) -> OrderRow | None:
        if order_id in self._dirty:
            return dataclasses.replace(self._dirty[order_id])
        cur = self.db.execute("SELECT data FROM orders WHERE order_id = ?", (order_id,))
        hit = cur.fetchone()
        return OrderRow.from_json(hit[0]) if hit else None

    def put(self, row: OrderRow, also: Sequence[tuple[str, tuple[Any, ...]]] = ()) -> None:
        """Insert or replace the whole row; durable on return unless the store is lazy.
        `also`: statements of another table (the direct profile's outbox) committed in the
        same transaction, so the order and its upload can never be found apart."""
        if self.lazy and not also:
            self._dirty[row.order_id] = dataclasses.replace(row)
            return
        self._staged.pop(row.order_id, None)     # this state is newer than a staged one
        try:
            self._write([row], also)
        except sqlite3.OperationalError:
            if not self.ignore_write_errors:
                raise
            self._dirty[row.order_id] = dataclasses.replace(row)   # DEFECT ignore-write-errors
            return
        self._dirty.pop(row.order_id, None)

    # -- group commit (the robust merchant's hot path) ----------------------------------
    def get_latest(self, order_id: str) -> OrderRow | None:
        """As `get`, but a row put by `put_async` and not committed yet is seen too: what a
        second submit of the same order must find (it then waits for the first one)."""
        staged = self._staged.get(order_id)
        if staged is not None:
            return OrderRow.from_json(staged[1])
        return self.get(order_id)

    async def put_async(self, row: OrderRow) -> None:
        """`put`, group-committed: every row put by any coroutine during one turn of the
        event loop goes into one transaction, committed at the end of that turn, and each
        caller resumes only once that commit returned, so its row is as durable as after
        `put` (a write error is raised to every caller of the batch). `get` (what queries
        read) sees a row only once it is committed; `get_latest` sees it at once."""
        loop = asyncio.get_running_loop()
        if not self._staged_waiters:
            loop.call_soon(self._commit_staged)
        fut: asyncio.Future[None] = loop.create_future()
        self._staged[row.order_id] = _values(row)      # the state as of this call
        self._staged_waiters.append(fut)
        await fut

    async def settled(self, order_id: str) -> None:
        """Wait until a row of this order staged by `put_async` is committed (or its commit
        failed); at once when there is none. A query arriving in the same loop turn as the
        order's first write must not answer "unknown order" for a row about to commit."""
        if order_id not in self._staged:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._staged_waiters.append(fut)         # resolved by the commit already scheduled
        try:
            await fut
        except Exception:                        # noqa: BLE001 - the writer hears of it
            pass

    def _commit_staged(self) -> None:
        values, waiters = list(self._staged.values()), self._staged_waiters
        self._staged, self._staged_waiters = {}, []
        try:
            self._write_values(values)
        except BaseException as e:          # noqa: BLE001 - every waiter hears it
            for f in waiters:
                if not f.done():
                    f.set_exception(e)
            return
        self.group_commits += 1
        self.group_rows += len(values)
        for v in values:
            self._dirty.pop(v[0], None)
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def _write(self, rows: list[OrderRow],
               also: Sequence[tuple[str, tuple[Any, ...]]] = ()) -> None:
        self._write_values([_values(r) for r in rows], also)

    def _write_values(self, values: list[tuple[Any, ...]],
                      also: Sequence[tuple[str, tuple[Any, ...]]] = ()) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in also:
                self.db.execute(sql, args)
            self.db.executemany(
                "INSERT INTO orders(order_id, data, status, refund_status, next_try_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(order_id) DO UPDATE SET data=excluded.data, "
                "status=excluded.status, refund_status=excluded.refund_status, "
                "next_try_at=excluded.next_try_at", values)
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise

    def flush(self) -> int:
        """Write the lazy overlay to SQLite; the number of rows written."""
        if not self._dirty:
            return 0
        rows = list(self._dirty.values())
        self._write(rows)
        for r in rows:
            if self._dirty.get(r.order_id) is r:
                del self._dirty[r.order_id]
        return len(rows)

    def due(self, now: float, limit: int = 64) -> list[OrderRow]:
        """Orders the settler should drive now: pending issues and pending refunds."""
        cur = self.db.execute(
            "SELECT data FROM orders WHERE (status = 'pending' OR refund_status = 'pending') "
            "AND (next_try_at <= ? OR next_try_at > ?) ORDER BY next_try_at LIMIT ?",
            (now, now + CLOCK_JUMP_S, limit))
        rows = {r.order_id: r for r in (OrderRow.from_json(d) for (d,) in cur.fetchall())}
        for r in self._dirty.values():
            if r.drive and (r.status == "pending" or r.refund_status == "pending") and \
                    (r.next_try_at <= now or r.next_try_at > now + CLOCK_JUMP_S):
                rows[r.order_id] = dataclasses.replace(r)
        return [r for r in rows.values() if r.drive][:limit]

    def counts(self) -> dict[str, int]:
        cur = self.db.execute("SELECT status, count(*) FROM orders GROUP BY status")
        out = {k: v for k, v in cur.fetchall()}
        out["unflushed"] = len(self._dirty)
        return out

    # -- invoice number ranges (invoice_number dedup) ----------------------------------
    def take_number(self, seller_tax_id: str) -> str | None:
        """The next number of the seller's downloaded range, used up durably; None when empty."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            hit = self.db.execute("SELECT next_no, end_no FROM number_ranges WHERE seller_tax_id = ?",
                                  (seller_tax_id,)).fetchone()
            if not hit or int(hit[0]) > int(hit[1]):
                self.db.execute("COMMIT")
                return None
            number = hit[0]
            self.db.execute("UPDATE number_ranges SET next_no = ? WHERE seller_tax_id = ?",
                            (str(int(number) + 1).zfill(len(number)), seller_tax_id))
            self.db.execute("COMMIT")
            return number
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def add_range(self, seller_tax_id: str, first: str, last: str) -> None:
        self.db.execute(
            "INSERT INTO number_ranges(seller_tax_id, next_no, end_no) VALUES (?, ?, ?) "
            "ON CONFLICT(seller_tax_id) DO UPDATE SET next_no=excluded.next_no, end_no=excluded.end_no",
            (seller_tax_id, first, last))
