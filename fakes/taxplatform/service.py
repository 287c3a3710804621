"""The platform's rules: issuance, idempotency, numbering, quota, red-letter, faults.

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
from typing import Any

import orjson

from fakes.common.money import money_str

from . import numbering
from .config import Dice, Faults, PlatformConfig
from .errors import ApiError, invalid
from .store import Bump, GroupCommitter, InvoiceRow, RangeGrant, Store
from .tokens import TokenBook
from .validation import IssueOrder, validate_issue, validate_range, validate_red

__all__ = ["Platform", "Outcome", "china_month", "body_hash"]

_CN = 8 * 3600


def china_month(ts: float) -> str:
    t = time.gmtime(ts + _CN)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}"


def body_hash(body: Any) -> str:
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


@dataclass(slots=True)
class Outcome:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _InFlight:
    """A write between reservation and commit: later duplicates wait for it."""
    hash: str
    done: asyncio.Future[InvoiceRow]


class Platform:
    def __init__(self, store: Store, sellers: dict[str, str], config: PlatformConfig) -> None:
        self.store = store
        self.clock = store.clock             # one clock for commit stamps and the replica
        self.config = config
        self.sellers = sellers
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
        # (seller, request_id) of every stored invoice, when this object is the only writer of
        # invoice rows (the clearance profile; the direct desk writes its own): a key not in it
        # has no row, so the idempotency lookup in SQLite is skipped for it
        self._keys: set[tuple[str, str]] | None = (
            store.request_keys() if config.profile != "direct" else None)
        self._numbers: set[str] = set()        # merchant numbers in flight
        self._reversing: set[str] = set()      # blue numbers with a red in flight
        self.stats: Counter[str] = Counter()
        self.started = self.clock()
        self.direct = None
        if config.profile == "direct":          # design.md s.12: ranges and batched uploads
            from .direct import DirectDesk
            self.direct = DirectDesk(self)

    # --- shared gates --------------------------------------------------------------------
    def throttle(self) -> None:
        if self.dice.hit(self.faults.throttle_rate):
            self.stats["injected_429"] += 1
            ra = self.faults.retry_after_s
            raise ApiError(429, "throttled", "系统繁忙，请稍后再试 (rate limited)",
                           headers={"Retry-After": str(max(1, round(ra)))}, retry_after_s=ra)

    def _write_fault(self) -> bool:
        """Roll the injected error of a write: raise it now (before commit) or return True
        when it must replace the answer after the commit."""
        self.throttle()
        if not self.dice.hit(self.faults.error_rate):
            return False
        if self.dice.hit(self.faults.error_after_commit):
            return True
        self.stats["injected_error_before_commit"] += 1
        raise self._injected()

    def _injected(self) -> ApiError:
        return ApiError(self.faults.error_status, "unknown_error",
                        "未知异常 (injected fault: the outcome is unknown to the client)")

    def _lag_s(self) -> float:
        lag = self.faults.replica_lag_ms
        return (self.config.replica_lag_ms if lag is None else lag) / 1000.0

    def quota_limit(self) -> Decimal:
        q = self.faults.quota_per_seller
        return self.config.quota_per_seller if q is None else q

    def _used_map(self, month: str) -> dict[str, Decimal]:
        if month != self._month:
            self._used = self.store.month_used(month)
            self._month = month
        return self._used

    def _take_seq(self, n: int = 1) -> int:
        seq = self.next_seq
        self.next_seq += n
        return seq

    # --- login and quota --------------------------------------------------------------
    def login(self, seller: str, secret: str) -> Outcome:
        token, ttl = self.tokens.login(seller, secret)
        return Outcome(200, {"token": token, "expires_in": ttl, "token_type": "Bearer"})

    def quota(self, seller: str) -> Outcome:
        self.throttle()
        month = china_month(self.clock())
        used = self._used_map(month).get(seller, Decimal(0))
        limit = self.quota_limit()
        return Outcome(200, {"seller_tax_id": seller, "month": month, "limit": money_str(limit),
                             "used": money_str(used),
                             "remaining": money_str(max(Decimal(0), limit - used))})

    # --- issuance ------------------------------------------------------------------------
    async def _replayed(self, key: tuple, h: str, after: bool) -> "Outcome | None":
        """The first answer again for a repeated request_id (idempotency first), or None; an
        injected after-commit error applies to a replay as to a fresh write."""
        row = await self._replay(key, h)
        if row is None:
            return None
        self.stats["replayed"] += 1
        if after:
            self.stats["injected_error_after_commit"] += 1
            raise self._injected()
        return Outcome(200, row.to_json(), {"Idempotent-Replayed": "true"})

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
            row = self.store.by_request(*key)
            if row is None:
                return None
            stored_hash = row.body_hash
        if stored_hash != h:
            raise ApiError(409, "request_id_reused",
                           f"request_id {key[1]!r} was already used for a different request "
                           f"(invoice {row.invoice_no}); use a new request_id for a new invoice",
                           invoice_no=row.invoice_no)
        return row

    async def issue(self, seller: str, body: Any) -> Outcome:
        after = self._write_fault()
        dedup = self.config.dedup
        if dedup == "request_id" and isinstance(body, dict) and isinstance(
                body.get("request_id"), str):
            key = (seller, body["request_id"].strip())
            h = body_hash(body)
            replay = await self._replayed(key, h, after)
            if replay is not None:
                return replay
        else:
            h = body_hash(body)
        order = validate_issue(body, require_invoice_no=dedup == "invoice_number")
        if order.seller_tax_id != seller:
            raise ApiError(403, "seller_mismatch", f"seller_tax_id: this token acts for seller "
                           f"{seller}, not {order.seller_tax_id}", field="seller_tax_id")
        now = self.clock()
        if dedup == "invoice_number":
            number = self._check_own_number(seller, order)
            seq_next = 0
        else:
            number = ""      # assigned after the quota check, so refusals burn no number
            seq_next = 0
        month = china_month(now)
        used = self._used_map(month)
        limit = self.quota_limit()
        if used.get(seller, Decimal(0)) + order.amount > limit:
            self.stats["refused_quota"] += 1
            raise ApiError(403, "quota_exceeded",
                           f"发票总额度不足: this invoice's amount {order.amount} would exceed the "
                           f"seller's monthly quota (limit {money_str(limit)}, used "
                           f"{money_str(used.get(seller, Decimal(0)))})")
        if not number:
            seq = self._take_seq()
            number, seq_next = numbering.format_number(seq, when=now), seq + 1
        row = self._row(order, number, h, month, seq_next)
        if self.dice.hit(self.faults.ack_without_commit):
            return await self._ack_without_commit(row, seq_next)
        return await self._commit(row, seller, order.amount, month,
                                  (seller, order.request_id) if dedup == "request_id" else None,
                                  after)

    def _check_own_number(self, seller: str, order: IssueOrder) -> str:
        number = order.invoice_no or ""
        if not self.in_range(seller, number):
            raise invalid("invoice_no", f"{number} is not in a range downloaded by seller "
                          f"{seller} (POST /v1/invoice-numbers/ranges)", "invoice_no_not_allocated")
        if number in self._numbers or self.store.exists(number):
            self.stats["refused_invoice_exists"] += 1
            raise ApiError(409, "invoice_exists", f"发票号码{number}在数据库中已存在",
                           invoice_no=number)
        return number

    def in_range(self, seller: str, number: str) -> bool:
        """Whether `number` lies in a range this seller downloaded (either range call): the
        one rule for "allocated", shared by dedup=invoice_number and the direct profile."""
        try:
            prefix, seq = numbering.parse_number(number)
        except ValueError:
            return False
        return any(p == prefix and a <= seq <= b for p, a, b in self._ranges.get(seller, ()))

    def _row(self, order: IssueOrder, number: str, h: str, month: str,
             seq_next: int) -> InvoiceRow:
        return InvoiceRow(
            invoice_no=number, kind="blue", request_id=order.request_id,
            order_ref=order.order_ref, seller_tax_id=order.seller_tax_id,
            buyer_name=order.buyer_name, buyer_tax_id=order.buyer_tax_id,
            invoice_type=order.invoice_type, amount=str(order.amount), tax=str(order.tax),
            total=str(order.total), issued_at=0.0, original_invoice_no=None, reason=None,
            quota_month=month, body_hash=h, lines=[ln.to_json() for ln in order.lines],
            seq_next=seq_next)

    async def _ack_without_commit(self, row: InvoiceRow, seq_next: int) -> Outcome:
        """The seeds' storage defect: a 201 with a number for an invoice never stored. The
        number is still burnt (persisted sequence), so it can never name another invoice."""
        ts = await self.committer.submit(Bump(seq_next)) if seq_next else self.clock()
        row.issued_at = ts
        self.stats["injected_ack_without_commit"] += 1
        return Outcome(201, row.to_json())

    async def _commit(self, row: InvoiceRow, seller: str, quota_delta: Decimal, month: str | None,
                      key: tuple[str, str] | None, after: bool, reversing: str | None = None
                      ) -> Outcome:
        loop = asyncio.get_running_loop()
        fl = _InFlight(row.body_hash, loop.create_future())
        if key is not None:
            self._by_request[key] = fl
        if row.seq_next == 0:
            self._numbers.add(row.invoice_no)
        if reversing:
            self._reversing.add(reversing)
        used = self._used if month == self._month and month is not None else None
        if used is not None:
            used[seller] = used.get(seller, Decimal(0)) + quota_delta
        try:
            await self.committer.submit(row)
        except Exception as exc:
            if used is not None and month == self._month:
                used[seller] = used.get(seller, Decimal(0)) - quota_delta
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
            self._numbers.discard(row.invoice_no)
            if reversing:
                self._reversing.discard(reversing)
        self.stats["issued_" + row.kind] += 1
        if after:
            self.stats["injected_error_after_commit"] += 1
            raise self._injected()
        return Outcome(201, row.to_json())

    # --- red-letter --------------------------------------------------------------------
    async def red(self, seller: str, blue_no: str, body: Any) -> Outcome:
        after = self._write_fault()
        h = body_hash({"red_of": blue_no, "body": body})
        key = None
        if isinstance(body, dict) and isinstance(body.get("request_id"), str):
            key = (seller, body["request_id"].strip())
            replay = await self._replayed(key, h, after)
            if replay is not None:
                return replay
        red = validate_red(body)
        blue = self.store.get(blue_no)
        if blue is None:
            raise ApiError(404, "not_found", f"红冲失败，查无此票: no invoice {blue_no}")
        if blue.seller_tax_id != seller:
            raise ApiError(403, "not_your_invoice",
                           f"invoice {blue_no} belongs to another seller; this token acts for {seller}")
        if blue.kind != "blue":
            raise invalid("invoice_no", f"{blue_no} is a red-letter invoice; only a blue invoice "
                          "can be reversed", "not_blue")
        if blue_no in self._reversing or self.store.red_of(blue_no) is not None:
            raise ApiError(409, "already_reversed", f"invoice {blue_no} is already fully "
                           "reversed; the reversed total cannot exceed the original",
                           invoice_no=blue_no, red_invoice_no=self.store.red_of(blue_no))
        now = self.clock()
        month = china_month(now)
        gives_back = blue.quota_month == month
        seq = self._take_seq()
        row = InvoiceRow(
            invoice_no=numbering.format_number(seq, when=now), kind="red",
            request_id=red.request_id, order_ref=blue.order_ref, seller_tax_id=seller,
            buyer_name=blue.buyer_name, buyer_tax_id=blue.buyer_tax_id,
            invoice_type=blue.invoice_type, amount=_neg(blue.amount), tax=_neg(blue.tax),
            total=_neg(blue.total), issued_at=0.0, original_invoice_no=blue_no,
            reason=red.reason, quota_month=month if gives_back else None, body_hash=h,
            lines=[_neg_line(ln) for ln in blue.lines], seq_next=seq + 1)
        if gives_back:
            self._used_map(month)
        return await self._commit(row, seller, Decimal(row.amount),
                                  month if gives_back else None, key, after, reversing=blue_no)

    # --- number ranges (dedup=invoice_number) -------------------------------------------
    async def grant_range(self, seller: str, body: Any) -> Outcome:
        self.throttle()
        if self.config.dedup != "invoice_number":
            raise ApiError(409, "numbering_by_platform",
                           f"this platform numbers invoices itself (dedup={self.config.dedup}); "
                           "number ranges exist only under dedup=invoice_number")
        who, count = validate_range(body)
        if who != seller:
            raise ApiError(403, "seller_mismatch", f"seller_tax_id: this token acts for seller "
                           f"{seller}, not {who}", field="seller_tax_id")
        start = self._take_seq(count)
        first = numbering.format_number(start, numbering.CHANNEL_DIRECT)
        prefix = first[:5]
        grant = RangeGrant(seller, prefix, start, start + count - 1)
        await self.committer.submit(grant)
        self._ranges.setdefault(seller, []).append((prefix, grant.start_seq, grant.end_seq))
        self.stats["ranges_granted"] += 1
        return Outcome(201, {"seller_tax_id": seller, "start": first,
                             "end": numbering.format_number(grant.end_seq, numbering.CHANNEL_DIRECT),
                             "count": count})

    # --- read path (replica) ------------------------------------------------------------
    def read(self, invoice_no: str) -> Outcome:
        self.throttle()
        row = self.store.replica_get(invoice_no, self.clock() - self._lag_s())
        if row is None:
            self.stats["read_not_found"] += 1
            raise ApiError(404, "not_found", "未找到相关记录")
        return Outcome(200, row.to_json())

    def search(self, seller: str, request_id: str | None, order_ref: str | None) -> Outcome:
        self.throttle()
        if (request_id is None) == (order_ref is None):
            raise invalid("request_id", "give exactly one of request_id or order_ref",
                          "missing_field")
        column, value = ("request_id", request_id) if request_id is not None else (
            "order_ref", order_ref)
        rows = self.store.replica_search(seller, column, value or "", self.clock() - self._lag_s())
        return Outcome(200, {"items": [r.to_json() for r in rows]})

    # --- admin ------------------------------------------------------------------------------
    def set_faults(self, body: Any) -> dict[str, Any]:
        if self.faults.update(body):
            self.stats["tokens_revoked"] += self.tokens.revoke_all()
        return self.faults.to_json()

    def stats_json(self) -> dict[str, Any]:
        counts = self.store.counts()
        up = self.clock() - self.started
        c = self.committer
        return {"uptime_s": round(up, 3), "invoices": counts, "events": dict(self.stats),
                "issued_per_s": round((self.stats["issued_blue"] + self.stats["issued_red"])
                                      / up, 2) if up > 0 else 0.0,
                "commits": {"batches": c.batches, "ops": c.ops, "max_batch": c.max_batch,
                            "mean_batch": round(c.ops / c.batches, 2) if c.batches else 0.0},
                "logins": self.tokens.logins, "next_seq": self.next_seq,
                "config": self.config.to_json(), "faults": self.faults.to_json(),
                "direct": self.direct.stats_json() if self.direct is not None else None}


def _neg(s: str) -> str:
    return money_str(-Decimal(s))


def _neg_line(line: dict[str, str]) -> dict[str, str]:
    out = dict(line)
    for k in ("amount", "tax"):
        out[k] = _neg(line[k])
    out["quantity"] = format(-Decimal(line["quantity"]), "f")
    return out
