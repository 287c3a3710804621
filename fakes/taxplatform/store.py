"""SQLite storage of the platform: the primary (ledger, idempotency) and its lagging replica.

WAL mode with `synchronous=NORMAL`: a commit is appended to the WAL before COMMIT returns,
so it lives in the OS page cache and survives a `kill -9` of the process (only a power
loss or OS crash could drop the last commits; `synchronous=FULL` is a config switch for
that). All writes go through one thread (`GroupCommitter`), which batches whatever
arrived while the previous transaction was committing; each caller is answered only after
its own row is committed.

The replica is the same file seen through a time filter: a row is visible on the read
path once `now >= committed_at + lag`.
"""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from .clock import SYSTEM_CLOCK, Clock

__all__ = ["Store", "GroupCommitter", "InvoiceRow", "Bump", "RangeGrant", "Exec", "LEDGER_FIELDS", "connect",
           "INSERT_INVOICE"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS invoices (
    invoice_no TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    request_id TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    seller_tax_id TEXT NOT NULL,
    buyer_name TEXT NOT NULL,
    buyer_tax_id TEXT,
    invoice_type TEXT NOT NULL,
    amount TEXT NOT NULL,
    tax TEXT NOT NULL,
    total TEXT NOT NULL,
    issued_at REAL NOT NULL,
    original_invoice_no TEXT,
    reason TEXT,
    quota_month TEXT,
    body_hash TEXT NOT NULL,
    lines TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_request ON invoices(seller_tax_id, request_id);
CREATE INDEX IF NOT EXISTS ix_order ON invoices(seller_tax_id, order_ref);
CREATE INDEX IF NOT EXISTS ix_original ON invoices(original_invoice_no)
    WHERE original_invoice_no IS NOT NULL;
CREATE INDEX IF NOT EXISTS ix_month ON invoices(quota_month);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ranges (
    seller_tax_id TEXT NOT NULL, prefix TEXT NOT NULL, start_seq INTEGER NOT NULL,
    end_seq INTEGER NOT NULL, granted_at REAL NOT NULL);
"""

COLUMNS = ("invoice_no", "kind", "request_id", "order_ref", "seller_tax_id", "buyer_name",
           "buyer_tax_id", "invoice_type", "amount", "tax", "total", "issued_at",
           "original_invoice_no", "reason", "quota_month", "body_hash", "lines", "extra")
_SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM invoices"
INSERT_INVOICE = _INSERT = (f"INSERT INTO invoices ({', '.join(COLUMNS)}) VALUES "
           f"({', '.join('?' for _ in COLUMNS)})")
LEDGER_FIELDS = ("invoice_no", "kind", "request_id", "order_ref", "seller_tax_id",
                 "buyer_tax_id", "amount", "tax", "total", "issued_at", "original_invoice_no")


@dataclass(slots=True)
class InvoiceRow:
    """One invoice as stored; `issued_at` is filled in by the writer (= commit time)."""
    invoice_no: str
    kind: str
    request_id: str
    order_ref: str
    seller_tax_id: str
    buyer_name: str
    buyer_tax_id: str | None
    invoice_type: str
    amount: str
    tax: str
    total: str
    issued_at: float
    original_invoice_no: str | None
    reason: str | None
    quota_month: str | None
    body_hash: str
    lines: list[dict[str, str]]
    seq_next: int = 0          # the sequence value after this number (0: merchant-numbered)
    #: a front-end's own fields of the ledger line (`profile`, a protocol's number); None
    #: for the clearance and direct profiles, whose lines are s.5's alone
    extra: dict[str, Any] | None = None

    def values(self) -> tuple[Any, ...]:
        return (self.invoice_no, self.kind, self.request_id, self.order_ref,
                self.seller_tax_id, self.buyer_name, self.buyer_tax_id, self.invoice_type,
                self.amount, self.tax, self.total, self.issued_at, self.original_invoice_no,
                self.reason, self.quota_month, self.body_hash, orjson.dumps(self.lines).decode(),
                None if self.extra is None else orjson.dumps(self.extra).decode())

    def to_json(self) -> dict[str, Any]:
        """The wire form: the ledger fields plus lines, buyer name, type and reason."""
        return {"invoice_no": self.invoice_no, "kind": self.kind,
                "request_id": self.request_id, "order_ref": self.order_ref,
                "seller_tax_id": self.seller_tax_id, "buyer_tax_id": self.buyer_tax_id,
                "amount": self.amount, "tax": self.tax, "total": self.total,
                "issued_at": self.issued_at, "original_invoice_no": self.original_invoice_no,
                "buyer_name": self.buyer_name, "invoice_type": self.invoice_type,
                "reason": self.reason, "lines": self.lines}

    @classmethod
    def from_db(cls, row: tuple[Any, ...]) -> InvoiceRow:
        vals = list(row)
        vals[16] = orjson.loads(vals[16])
        inv = cls(*vals[:17])
        inv.extra = orjson.loads(vals[17]) if vals[17] else None
        return inv


@dataclass(slots=True)
class Bump:
    """Advance the persisted sequence without storing a row (a number that was handed out)."""
    seq_next: int


@dataclass(slots=True)
class RangeGrant:
    seller_tax_id: str
    prefix: str
    start_seq: int
    end_seq: int
    granted_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class Exec:
    """Statements of another module's tables (the direct profile), written in the same group
    commit as everything else; `seq_next` advances the persisted number sequence too."""
    statements: list[tuple[str, tuple[Any, ...]]]
    seq_next: int = 0


WriteOp = InvoiceRow | Bump | RangeGrant | Exec


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Store:
    """Reads of the primary and the replica; writes only through `commit` (writer thread)."""

    def __init__(self, path: Path, synchronous: str = "NORMAL", clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(path)
        self.clock = clock
        self.synchronous = synchronous
        self._w = connect(self.path, synchronous)
        self._w.executescript(SCHEMA)
        self._w.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('next_seq', 1)")
        # accepted_at: when an uploaded (direct-profile) invoice was accepted; the replica
        # shows a row from max(issued_at, accepted_at) on, so an upload decided later is not
        # visible "in the past". NULL for the clearance profile's rows.
        cols = {r[1] for r in self._w.execute("PRAGMA table_info(invoices)")}
        if "accepted_at" not in cols:
            self._w.execute("ALTER TABLE invoices ADD COLUMN accepted_at REAL")
        # extra: a front-end's own ledger fields as a JSON object (InvoiceRow.extra)
        if "extra" not in cols:
            self._w.execute("ALTER TABLE invoices ADD COLUMN extra TEXT")
        self._r = connect(self.path, synchronous)
        self._lock = threading.Lock()

    def add_schema(self, sql: str) -> None:
        """A front-end's own tables (CREATE ... IF NOT EXISTS), before any write."""
        with self._lock:
            self._w.executescript(sql)

    # --- writer side (one thread) -------------------------------------------------
    def commit(self, ops: list[WriteOp], delay_s: float = 0.0) -> float:
        """Write a batch in one transaction; returns the commit time stamped on its rows."""
        with self._lock:
            c = self._w
            c.execute("BEGIN IMMEDIATE")
            try:
                if delay_s > 0:
                    time.sleep(delay_s)      # slow_commit_ms: the lock is held meanwhile
                ts = self.clock()
                seq_next = 0
                rows = []
                for op in ops:
                    if isinstance(op, InvoiceRow):
                        op.issued_at = ts
                        rows.append(op.values())
                    elif isinstance(op, RangeGrant):
                        c.execute("INSERT INTO ranges VALUES (?, ?, ?, ?, ?)",
                                  (op.seller_tax_id, op.prefix, op.start_seq, op.end_seq,
                                   op.granted_at))
                        seq_next = max(seq_next, op.end_seq + 1)
                        continue
                    elif isinstance(op, Exec):
                        for sql, args in op.statements:
                            c.execute(sql, args)
                    seq_next = max(seq_next, op.seq_next)
                if rows:
                    c.executemany(_INSERT, rows)
                if seq_next:
                    c.execute("UPDATE meta SET value = MAX(value, ?) WHERE key = 'next_seq'",
                              (seq_next,))
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return ts

    # --- primary reads (event-loop thread) ---------------------------------------
    def next_seq(self) -> int:
        return int(self._r.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0])

    def by_request(self, seller: str, request_id: str) -> InvoiceRow | None:
        row = self._r.execute(_SELECT + " WHERE seller_tax_id=? AND request_id=? "
                              "ORDER BY rowid LIMIT 1", (seller, request_id)).fetchone()
        return InvoiceRow.from_db(row) if row else None

    def request_keys(self) -> set[tuple[str, str]]:
        """Every (seller, request_id) stored: the platform's in-memory index of idempotency
        keys, so a first request (nearly all of them) costs no lookup."""
        return set(self._r.execute("SELECT seller_tax_id, request_id FROM invoices"))

    def get(self, invoice_no: str) -> InvoiceRow | None:
        row = self._r.execute(_SELECT + " WHERE invoice_no=?", (invoice_no,)).fetchone()
        return InvoiceRow.from_db(row) if row else None

    def exists(self, invoice_no: str) -> bool:
        return self._r.execute("SELECT 1 FROM invoices WHERE invoice_no=?",
                               (invoice_no,)).fetchone() is not None

    def red_of(self, invoice_no: str) -> str | None:
        row = self._r.execute("SELECT invoice_no FROM invoices WHERE original_invoice_no=?",
                              (invoice_no,)).fetchone()
        return row[0] if row else None

    def month_used(self, month: str) -> dict[str, Decimal]:
        used: dict[str, Decimal] = {}
        for seller, amount in self._r.execute(
                "SELECT seller_tax_id, amount FROM invoices WHERE quota_month=?", (month,)):
            used[seller] = used.get(seller, Decimal(0)) + Decimal(amount)
        return used

    def ranges(self) -> list[tuple[str, str, int, int]]:
        return list(self._r.execute("SELECT seller_tax_id, prefix, start_seq, end_seq "
                                    "FROM ranges ORDER BY rowid"))

    def counts(self) -> dict[str, int]:
        out = {"blue": 0, "red": 0}
        for kind, n in self._r.execute("SELECT kind, COUNT(*) FROM invoices GROUP BY kind"):
            out[kind] = n
        return out

    # --- replica reads ----------------------------------------------------------------
    def replica_get(self, invoice_no: str, cutoff: float) -> InvoiceRow | None:
        row = self._r.execute(_SELECT + " WHERE invoice_no=? "
                              "AND COALESCE(accepted_at, issued_at)<=?",
                              (invoice_no, cutoff)).fetchone()
        return InvoiceRow.from_db(row) if row else None

    def replica_search(self, seller: str, column: str, value: str,
                       cutoff: float) -> list[InvoiceRow]:
        assert column in ("request_id", "order_ref")
        rows = self._r.execute(_SELECT + f" WHERE seller_tax_id=? AND {column}=? "
                               "AND COALESCE(accepted_at, issued_at)<=? ORDER BY rowid LIMIT 100",
                               (seller, value, cutoff)).fetchall()
        return [InvoiceRow.from_db(r) for r in rows]

    # --- ledger export -------------------------------------------------------------------
    def iter_ledger(self, chunk: int = 2000) -> Iterator[bytes]:
        """NDJSON lines of every committed invoice, from its own connection (a snapshot)."""
        conn = connect(self.path, self.synchronous)
        try:
            cur = conn.execute("SELECT " + ", ".join(LEDGER_FIELDS) +
                               ", extra FROM invoices ORDER BY rowid")
            n = len(LEDGER_FIELDS)
            while True:
                rows = cur.fetchmany(chunk)
                if not rows:
                    break
                yield b"".join(orjson.dumps(_ledger_line(r, n)) + b"\n" for r in rows)
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            self._w.close()
        self._r.close()


def _ledger_line(r: tuple[Any, ...], n: int) -> dict[str, Any]:
    """s.5's fields, then the front-end's own (`extra`), which never replace one of s.5's."""
    line = dict(zip(LEDGER_FIELDS, r[:n]))
    if r[n]:
        for k, v in orjson.loads(r[n]).items():
            line.setdefault(k, v)
    return line


class GroupCommitter:
    """Batches writes: while one transaction commits, the next batch gathers.

    Callers `await submit(op)` and resume only after their op is committed, so a 201 is
    never sent for a row that is not yet in the WAL.
    """

    def __init__(self, store: Store, delay_s: Callable[[], float]) -> None:
        self._store = store
        self._delay_s = delay_s
        self._pending: list[tuple[WriteOp, asyncio.Future[float]]] = []
        self._running = False
        self._exe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="platform-writer")
        self.batches = 0
        self.ops = 0
        self.max_batch = 0

    async def submit(self, op: WriteOp) -> float:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[float] = loop.create_future()
        self._pending.append((op, fut))
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        return await asyncio.shield(fut)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                ops = [op for op, _ in batch]
                try:
                    ts = await loop.run_in_executor(self._exe, self._store.commit, ops,
                                                    self._delay_s())
                except Exception as exc:  # noqa: BLE001 - every waiter learns the outcome
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                self.batches += 1
                self.ops += len(batch)
                self.max_batch = max(self.max_batch, len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(ts)
        finally:
            self._running = False

    def close(self) -> None:
        self._exe.shutdown(wait=True)
