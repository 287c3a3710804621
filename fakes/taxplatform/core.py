"""The ledger core of the fake platform: what every protocol front-end shares (design.md s.13).

The core owns the store and its group commit (durability: an answer is sent only after its
row is in the WAL), the number sequence, idempotency by key, the monthly quota, the tokens,
the replica (reads lag the primary by `replica_lag`), the fault knobs of `/_admin/faults`
and the figures of `/_admin/stats`. It knows nothing of any wire format: a front-end
(`frontends/`) maps its protocol onto these calls and maps the core's refusals (`ApiError`
with the core's codes: `throttled`, `unknown_error`, `quota_exceeded`, `storage_error`,
`request_id_reused`) onto its own codes.

All state that must be decided atomically (the next number, the month's quota used, the
idempotency keys and reversals in flight) lives in this object and is touched only on the
event loop, between awaits; the only await in a write is the group commit. So two
concurrent requests can never take the same number, both pass one quota, or both reverse
one invoice.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from fakes.common.money import money_str

from . import numbering
from .config import Dice, Faults, PlatformConfig
from .errors import ApiError
from .store import Bump, GroupCommitter, InvoiceRow, Store
from .tokens import TokenBook

if TYPE_CHECKING:
    from .frontends.base import Frontend

__all__ = ["Ledger", "Outcome", "china_month", "body_hash"]

_CN = 8 * 3600


def china_month(ts: float) -> str:
    t = time.gmtime(ts + _CN)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}"


def body_hash(body: Any) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@dataclass(slots=True)
class Outcome:
    """One answer of a front-end: HTTP status, JSON body, extra headers."""
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _InFlight:
    """A write between reservation and commit: later duplicates wait for it."""
    hash: str
    done: asyncio.Future[InvoiceRow]


class Ledger:
    """The core: one per platform process, shared by exactly one front-end (`frontend`)."""

    def __init__(self, store: Store, sellers: dict[str, str], config: PlatformConfig,
                 index_request_keys: bool = True) -> None:
        self.store = store
        self.clock = store.clock             # one clock for commit stamps and the replica
        self.config = config
        self.sellers = sellers
        #: the SELLERS_FILE entries (a front-end may need more than the secret: app keys)
        self.accounts: list[dict[str, Any]] = []
        self.faults = Faults()
        self.dice = Dice(config.seed)
        self.tokens = TokenBook(sellers, config.token_ttl_s)
        self.committer = GroupCommitter(store, lambda: self.faults.slow_commit_ms / 1000.0)
        self.next_seq = store.next_seq()
        self._month = ""
        self._used: dict[str, Decimal] = {}
        self._ranges: dict[str, list[tuple[str, int, int]]] = {}
        for seller, prefix, start, end in store.ranges():
            self._ranges.setdefault(seller, []).append((prefix, start, end))
        self._by_request: dict[tuple[str, str], _InFlight] = {}
        # (seller, request_id) of every stored invoice, when the core's `commit` is the only
        # writer of invoice rows (a front-end that writes its own rows passes False): a key
        # not in it has no row, so the idempotency lookup in SQLite is skipped for it
        self._keys: set[tuple[str, str]] | None = (
            store.request_keys() if index_request_keys else None)
        self.numbers_in_flight: set[str] = set()     # merchant numbers in flight
        self.reversing: set[str] = set()             # blue numbers with a red in flight
        self.stats: Counter[str] = Counter()
        self.started = self.clock()
        self.frontend: Frontend | None = None        # set by the front-end that wraps this core

    # --- the fault gates -------------------------------------------------------------------
    def throttle(self) -> None:
        """429 `throttled` with a share of `throttle_rate` (front-ends map the code)."""
        if self.dice.hit(self.faults.throttle_rate):
            self.stats["injected_429"] += 1
            ra = self.faults.retry_after_s
            raise ApiError(429, "throttled", "系统繁忙，请稍后再试 (rate limited)",
                           headers={"Retry-After": str(max(1, round(ra)))}, retry_after_s=ra)

    def write_fault(self) -> bool:
        """Roll the injected error of a write: raise it now (before commit) or return True
        when it must replace the answer after the commit."""
        self.throttle()
        if not self.dice.hit(self.faults.error_rate):
            return False
        if self.dice.hit(self.faults.error_after_commit):
            return True
        self.stats["injected_error_before_commit"] += 1
        raise self.injected()

    def injected(self) -> ApiError:
        return ApiError(self.faults.error_status, "unknown_error",
                        "未知异常 (injected fault: the outcome is unknown to the client)")

    def after_commit(self, after: bool) -> None:
        """Raise the injected error that hides a committed answer, when one was drawn."""
        if after:
            self.stats["injected_error_after_commit"] += 1
            raise self.injected()

    def ack_without_commit_drawn(self) -> bool:
        """Whether this write is the storage defect: acknowledged, never stored."""
        if self.dice.hit(self.faults.ack_without_commit):
            self.stats["injected_ack_without_commit"] += 1
            return True
        return False

    # --- replica ---------------------------------------------------------------------------
    def lag_s(self) -> float:
        lag = self.faults.replica_lag_ms
        return (self.config.replica_lag_ms if lag is None else lag) / 1000.0

    def visible(self, invoice_no: str) -> InvoiceRow | None:
        """The invoice as the lagging replica shows it now (None: not (yet) visible)."""
        return self.store.replica_get(invoice_no, self.clock() - self.lag_s())

    def visible_search(self, seller: str, column: str, value: str) -> list[InvoiceRow]:
        return self.store.replica_search(seller, column, value, self.clock() - self.lag_s())

    # --- quota -----------------------------------------------------------------------------
    def quota_limit(self) -> Decimal:
        q = self.faults.quota_per_seller
        return self.config.quota_per_seller if q is None else q

    def used_map(self, month: str) -> dict[str, Decimal]:
        """The month's amount issued per seller (kept in memory, loaded once a month)."""
        if month != self._month:
            self._used = self.store.month_used(month)
            self._month = month
        return self._used

    def check_quota(self, seller: str, amount: Decimal, month: str) -> None:
        """403 `quota_exceeded` when `amount` would take the seller over the month's quota."""
        used = self.used_map(month).get(seller, Decimal(0))
        limit = self.quota_limit()
        if used + amount > limit:
            self.stats["refused_quota"] += 1
            raise ApiError(403, "quota_exceeded",
                           f"发票总额度不足: this invoice's amount {amount} would exceed the "
                           f"seller's monthly quota (limit {money_str(limit)}, used "
                           f"{money_str(used)})")

    def charge(self, seller: str, month: str | None, delta: Decimal) -> bool:
        """Add `delta` to the seller's use of `month` when that month is the one in memory
        (True: charged, so a failed commit must `charge` it back)."""
        if month is None or month != self._month:
            return False
        self._used[seller] = self._used.get(seller, Decimal(0)) + delta
        return True

    def quota_json(self, seller: str) -> dict[str, str]:
        month = china_month(self.clock())
        used = self.used_map(month).get(seller, Decimal(0))
        limit = self.quota_limit()
        return {"seller_tax_id": seller, "month": month, "limit": money_str(limit),
                "used": money_str(used), "remaining": money_str(max(Decimal(0), limit - used))}

    # --- numbering -------------------------------------------------------------------------
    def take_seq(self, n: int = 1) -> int:
        seq = self.next_seq
        self.next_seq += n
        return seq

    def new_number(self, when: float) -> tuple[str, int]:
        """A fresh platform number and the sequence value after it (persisted on commit)."""
        seq = self.take_seq()
        return numbering.format_number(seq, when=when), seq + 1

    def add_range(self, seller: str, prefix: str, start: int, end: int) -> None:
        self._ranges.setdefault(seller, []).append((prefix, start, end))

    def in_range(self, seller: str, number: str) -> bool:
        """Whether `number` lies in a range this seller downloaded (either range call): the
        one rule for "allocated", shared by dedup=invoice_number and the direct profile."""
        try:
            prefix, seq = numbering.parse_number(number)
        except ValueError:
            return False
        return any(p == prefix and a <= seq <= b for p, a, b in self._ranges.get(seller, ()))

    # --- idempotency -----------------------------------------------------------------------
    async def replayed(self, key: tuple[str, str], h: str, after: bool) -> InvoiceRow | None:
        """The invoice already stored under this idempotency key (idempotency first), or
        None; an injected after-commit error applies to a replay as to a fresh write."""
        row = await self._replay(key, h)
        if row is None:
            return None
        self.stats["replayed"] += 1
        self.after_commit(after)
        return row

    async def _replay(self, key: tuple[str, str], h: str) -> InvoiceRow | None:
        """The invoice already issued for this idempotency key, or None; 409 on another body."""
        fl = self._by_request.get(key)
        if fl is not None:
            try:
                row = await asyncio.shield(fl.done)
            except Exception:  # noqa: BLE001 - the first attempt failed: not issued
                return None
            stored_hash = fl.hash
        else:
            if self._keys is not None and key not in self._keys:
                return None
            found = self.store.by_request(*key)
            if found is None:
                return None
            row = found
            stored_hash = row.body_hash
        if stored_hash != h:
            raise ApiError(409, "request_id_reused",
                           f"request_id {key[1]!r} was already used for a different request "
                           f"(invoice {row.invoice_no}); use a new request_id for a new invoice",
                           invoice_no=row.invoice_no)
        return row

    # --- durable writes --------------------------------------------------------------------
    async def burn(self, row: InvoiceRow) -> None:
        """The seeds' storage defect: persist the sequence past `row`'s number (so it can
        never name another invoice) without storing the row."""
        row.issued_at = (await self.committer.submit(Bump(row.seq_next)) if row.seq_next
                         else self.clock())

    async def commit(self, row: InvoiceRow, seller: str, quota_delta: Decimal,
                     month: str | None, key: tuple[str, str] | None,
                     reversing: str | None = None) -> InvoiceRow:
        """Store one invoice row durably (group commit) and account for it: the quota, the
        idempotency key (concurrent duplicates wait for this commit), the number and the
        reversal in flight. 503 `storage_error` when the commit failed (nothing stored)."""
        loop = asyncio.get_running_loop()
        fl = _InFlight(row.body_hash, loop.create_future())
        if key is not None:
            self._by_request[key] = fl
        if row.seq_next == 0:
            self.numbers_in_flight.add(row.invoice_no)
        if reversing:
            self.reversing.add(reversing)
        charged = self.charge(seller, month, quota_delta)
        try:
            await self.committer.submit(row)
        except Exception as exc:
            if charged:
                self.charge(seller, month, -quota_delta)
            fl.done.set_exception(exc)
            fl.done.exception()          # retrieved: waiters see it through _replay
            self.stats["commit_failed"] += 1
            raise ApiError(503, "storage_error", f"the invoice was not stored: {exc}") from None
        else:
            if self._keys is not None and row.request_id:
                self._keys.add((seller, row.request_id))
            fl.done.set_result(row)
        finally:
            if key is not None and self._by_request.get(key) is fl:
                del self._by_request[key]
            self.numbers_in_flight.discard(row.invoice_no)
            if reversing:
                self.reversing.discard(reversing)
        self.stats["issued_" + row.kind] += 1
        return row

    # --- admin -----------------------------------------------------------------------------
    def set_faults(self, body: Any) -> dict[str, Any]:
        if self.faults.update(body):
            self.stats["tokens_revoked"] += self.tokens.revoke_all()
            if self.frontend is not None:
                self.stats["tokens_revoked"] += self.frontend.revoke_tokens()
        return self.faults.to_json()

    def stats_json(self) -> dict[str, Any]:
        counts = self.store.counts()
        up = self.clock() - self.started
        c = self.committer
        out = {"uptime_s": round(up, 3), "invoices": counts, "events": dict(self.stats),
               "issued_per_s": round((self.stats["issued_blue"] + self.stats["issued_red"])
                                     / up, 2) if up > 0 else 0.0,
               "commits": {"batches": c.batches, "ops": c.ops, "max_batch": c.max_batch,
                           "mean_batch": round(c.ops / c.batches, 2) if c.batches else 0.0},
               "logins": self.tokens.logins, "next_seq": self.next_seq,
               "config": self.config.to_json(), "faults": self.faults.to_json(),
               "direct": None}
        if self.frontend is not None:
            out.update(self.frontend.stats_json())
        return out
