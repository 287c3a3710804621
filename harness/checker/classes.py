"""Per-order and per-invoice classes of design.md s.7, as set arithmetic over the fold.

Priority per order (exactly one class each): lost > phantom > duplicated > mismatched >
unresolved > recovered > ok (see result.ORDER_CLASSES for why). orphaned, misreversed and
stale_reads are counted per invoice / per answer, independently of the order's class.
"""
from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any, Callable, Sequence

from harness.checker.fold import Blue, Fold, OrderFacts

__all__ = ["Collector", "link_reds", "is_cancelled", "classify_order", "check_orders",
           "check_orphans", "check_reversals", "check_stale_reads", "own_numbers",
           "count_chances", "CHANCES"]

#: What counts as a chance for each anomaly class to show up (design: no pass without
#: evidence). A gate on a class that had none in a run cannot vouch for the system.
CHANCES: dict[str, str] = {
    "lost": "final reads answered",
    "phantom": "final reads answered",
    "unresolved": "final reads answered",
    "duplicated": "orders with a blue invoice on the platform",
    "mismatched": "invoices compared with their order",
    "orphaned": "invoices on the platform",
    "misreversed": "refunds answered and red invoices",
    "stale_reads": "queries answered about orders the merchant had said issued, and verifies answered",
}


class Collector:
    """Counts anomalies of each class and keeps at most `limit` per class as evidence stubs
    `(order_id, reason, event_refs, ledger_refs)`; evidence is filled in later.

    What is kept is a sample a person can read however long the run: the first half of the
    slots take the first anomalies as they come, the other half an evenly spread sample of
    all later ones (every `stride`-th, the stride doubling whenever the slots fill), so a
    run with ten million anomalies lists some from its end too. Deterministic: both readers
    of check_files add the same anomalies in the same order and keep the same sample."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = (limit + 1) // 2
        self.totals: dict[str, int] = {}
        self.kept: dict[str, list[tuple[str | None, str, list[Any], list[Any]]]] = {}
        self._tail: dict[str, list[tuple[int, tuple[str | None, str, list[Any], list[Any]]]]] = {}
        self._stride: dict[str, int] = {}

    def add(self, cls: str, order_id: str | None, reason: Callable[[], str] | str,
            event_refs: list[Any], ledger_refs: Callable[[], list[Any]] | list[Any]) -> None:
        n = self.totals.get(cls, 0)
        self.totals[cls] = n + 1
        if n < self.head:
            self.kept.setdefault(cls, []).append(self._stub(order_id, reason, event_refs,
                                                            ledger_refs))
            return
        k = n - self.head                       # position among the later anomalies
        stride = self._stride.get(cls, 1)
        if k % stride or self.limit <= self.head:
            return
        tail = self._tail.setdefault(cls, [])
        tail.append((k, self._stub(order_id, reason, event_refs, ledger_refs)))
        if len(tail) > self.limit - self.head:
            stride *= 2
            self._stride[cls] = stride
            tail[:] = [(j, stub) for j, stub in tail if j % stride == 0]
        self.kept[cls] = self.kept[cls][:self.head] + [stub for _, stub in tail]

    @staticmethod
    def _stub(order_id: str | None, reason: Callable[[], str] | str, event_refs: list[Any],
              ledger_refs: Callable[[], list[Any]] | list[Any]
              ) -> tuple[str | None, str, list[Any], list[Any]]:
        r = reason() if callable(reason) else reason
        lr = ledger_refs() if callable(ledger_refs) else ledger_refs
        return (order_id, r, list(event_refs), list(lr))


def link_reds(fold: Fold) -> None:
    """Attach each red invoice to the blue it reverses (ledger order kept)."""
    for red in fold.reds:
        blue = fold.blues.get(red.original)
        if blue is None:
            continue
        if blue.reds is None:
            blue.reds = [red]
        else:
            blue.reds.append(red)


def _reversed_total(blue: Blue) -> Decimal:
    return sum((abs(Decimal(r.total)) for r in blue.reds or ()), Decimal(0))


def is_cancelled(blue: Blue) -> bool:
    """Fully reversed by red invoices (a partial allowance leaves it live)."""
    return blue.reds is not None and _reversed_total(blue) >= abs(Decimal(blue.total))


def own_numbers(st: OrderFacts) -> set[str]:
    """Invoice numbers the customer was given for the order."""
    nos = set(st.given_more or ())
    if st.given is not None:
        nos.add(st.given)
    return nos


def _ledger_refs(st: OrderFacts) -> list[Any]:
    refs = []
    for b in st.blues or ():
        refs.append(b.ref)
        refs.extend(r.ref for r in b.reds or ())
    return refs


def denies(st: OrderFacts) -> bool:
    """Is the merchant's last word a denial of the order? `failed`, or a 404 asked after
    every issue attempt had ended (a query that overtook a POST still on its way to an
    overloaded merchant says nothing of the order yet)."""
    return st.last == "failed" or (st.last == "not_found" and st.last_inv_t > st.issue_end)


def classify_order(st: OrderFacts) -> tuple[str, str]:
    """(class, reason) of one requested order."""
    blues = st.blues or []
    live = [b for b in blues if not is_cancelled(b)] if blues else []
    # what the customer may legitimately hold: live invoices, and ones its own refund reversed
    kept = blues if st.refund_invoked else live
    accepted = st.first_accept_ts is not None
    last = st.last
    if accepted and last != "pending":
        if last == "not_found" or last == "failed":
            return "lost", f"the merchant accepted the order, then its final answer was {last}"
        if not kept:
            return "lost", ("the merchant accepted the order but the platform holds no "
                            "uncancelled blue invoice for it")
        held = {b.invoice_no for b in kept}
        missing = sorted(own_numbers(st) - held)
        if missing:
            return "lost", (f"the customer was given {', '.join(missing)} but the platform "
                            f"holds {', '.join(sorted(held))} for the order")
    if not accepted and denies(st) and live:
        # the merchant's last word denies the order (a refusal, `failed`, or 404 "unknown
        # order" - the final read's, else the last the customer got), whatever the customer
        # was told before, yet the platform holds an uncancelled blue invoice for it
        word = "failed" if last == "failed" else "404 (unknown order)"
        return "phantom", (f"the merchant's last word on the order was {word}, yet the "
                           f"platform holds {', '.join(b.invoice_no for b in live)} for it")
    if len(live) > 1:
        return "duplicated", (f"{len(live)} uncancelled blue invoices: "
                              f"{', '.join(b.invoice_no for b in live)}")
    for b in blues:
        if b.mismatch is not None:
            return "mismatched", f"invoice {b.invoice_no}: {b.mismatch}"
    if last == "pending":
        return "unresolved", "the merchant's last answer was still pending"
    if st.refund_open and not st.refund_told and not any(b.reds for b in blues):
        return "unresolved", ("the merchant answered the refund pending, but after the drain "
                              "no red-letter invoice reverses the order's invoice")
    if st.infos > 0 and len(kept) == 1:
        return "recovered", f"an issue attempt had an unknown outcome; one invoice {kept[0].invoice_no}"
    return "ok", ""


def check_orders(fold: Fold, col: Collector, counts: dict[str, int]) -> None:
    """requested/acknowledged/failed/indeterminate and the per-order classes."""
    requested = acknowledged = failed = indeterminate = 0
    for oid, st in fold.orders.items():
        if st.invokes == 0:
            continue
        requested += 1
        if st.first_accept_ts is not None:
            acknowledged += 1
        if st.last == "failed":
            failed += 1
        if st.infos >= st.invokes and not st.definite_query:
            indeterminate += 1
        # fast path: one live matching invoice for an order the customer was told issued
        if (st.last == "issued" and st.infos == 0 and st.blues is not None
                and len(st.blues) == 1 and st.given_more is None and not st.refund_open):
            b = st.blues[0]
            if b.reds is None and b.mismatch is None and b.invoice_no == st.given:
                continue
        cls, reason = classify_order(st)
        if cls != "ok":
            col.add(cls, oid, reason, st.refs, functools.partial(_ledger_refs, st))
    counts.update(requested=requested, acknowledged=acknowledged, failed=failed,
                  indeterminate=indeterminate)


def count_chances(fold: Fold) -> dict[str, int]:
    """How many chances the run gave each anomaly class (CHANCES says what they are)."""
    final = with_blue = compared = issued_queries = 0
    for st in fold.orders.values():
        if st.invokes == 0:
            continue
        if st.final_answered:
            final += 1
        if st.blues:
            with_blue += 1
            compared += len(st.blues)
        if st.issued_min_t is not None:
            issued_queries += st.answered_queries
    return {"lost": final, "phantom": final, "unresolved": final, "duplicated": with_blue,
            "mismatched": compared, "orphaned": len(fold.blues) + len(fold.reds),
            "misreversed": fold.answered_refunds + len(fold.reds),
            "stale_reads": issued_queries + fold.answered_verifies}


def check_orphans(fold: Fold, col: Collector) -> None:
    """Invoices whose order_ref no customer ever sent (blue, and red with unknown order)."""
    for order_ref, invoice_no, ref in fold.orphans:
        st = fold.orders.get(order_ref) if order_ref is not None else None
        col.add("orphaned", order_ref, f"invoice {invoice_no}: no customer ever sent order "
                f"{order_ref}", st.refs if st else [], [ref])
    for red in fold.reds:
        blue = fold.blues.get(red.original)
        ref_ = red.order_ref if red.order_ref is not None else (blue.order_ref if blue else None)
        st = fold.orders.get(ref_) if ref_ is not None else None
        if ref_ is not None and (st is None or st.invokes == 0):
            col.add("orphaned", ref_, f"red invoice {red.invoice_no}: no customer ever sent "
                    f"order {ref_}", st.refs if st else [], [red.ref])


def _expected_invoices(st: OrderFacts) -> int:
    """How many live invoices the order should end with: none when the merchant's last word
    denies it (failed or 404, never accepted), so a red invoice cancelling a stray one is a
    repair, not a misreversal; else one."""
    return 0 if (st.first_accept_ts is None and denies(st)) else 1


def check_reversals(fold: Fold, col: Collector) -> None:
    """misreversed: per red invoice (no refund / over the original) and per order told its
    refund succeeded without a red invoice for its own invoice."""
    for blue in fold.blues.values():
        if blue.reds is None:
            continue
        st = fold.orders.get(blue.order_ref) if blue.order_ref is not None else None
        if st is None or st.invokes == 0:
            continue                     # orphaned already
        limit = abs(Decimal(blue.total))
        running = Decimal(0)
        live_after = sum(1 for b in st.blues or () if not is_cancelled(b))
        own = own_numbers(st)
        for red in blue.reds:
            running += abs(Decimal(red.total))
            if running > limit:
                col.add("misreversed", blue.order_ref,
                        f"red invoice {red.invoice_no} reverses {running} of {blue.invoice_no}, "
                        f"more than its total {blue.total}", st.refs, [blue.ref, red.ref])
            elif not st.refund_invoked:
                extra = (live_after >= _expected_invoices(st)
                         and blue.invoice_no not in own)
                if not extra:
                    col.add("misreversed", blue.order_ref,
                            f"red invoice {red.invoice_no} reverses {blue.invoice_no} of an "
                            "order nobody refunded", st.refs, [blue.ref, red.ref])
    for red in fold.reds:
        if red.original not in fold.blues:
            st = fold.orders.get(red.order_ref) if red.order_ref is not None else None
            if st is None or st.invokes == 0:
                continue                 # orphaned
            col.add("misreversed", red.order_ref, f"red invoice {red.invoice_no} reverses "
                    f"{red.original}, which the platform does not hold", st.refs, [red.ref])
    for oid, st in fold.orders.items():
        if not st.refund_told or st.invokes == 0:
            continue
        own = own_numbers(st) or {b.invoice_no for b in st.blues or ()}
        if not any(b.reds for b in st.blues or () if b.invoice_no in own):
            col.add("misreversed", oid, "the customer was told the refund succeeded, but no red "
                    f"invoice reverses {', '.join(sorted(own)) or 'any invoice of the order'}",
                    st.refs, functools.partial(_ledger_refs, st))


def check_stale_reads(fold: Fold, col: Collector, allowed_lag_s: float,
                      lag_windows: Sequence[tuple[float, float, float]] = ()) -> None:
    """(a) a merchant answer pending/not_found invoked after it had said issued;
    (b) a verify not_found for an invoice stored more than allowed_lag_s before (or more
    than an injected replica_lag fault's lag, while that fault was on)."""
    for oid, st in fold.orders.items():
        if st.negs is None or st.issued_min_t is None:
            continue
        for inv_t, ref in st.negs:
            if inv_t > st.issued_min_t:
                col.add("stale_reads", oid, f"asked at t={inv_t} after the merchant had said "
                        f"issued at t={st.issued_min_t}, got pending/not_found",
                        st.refs, functools.partial(_ledger_refs, st))
    for vm in fold.verify_misses:
        blue = fold.blues.get(vm.invoice_no) if vm.invoice_no is not None else None
        if blue is None:
            continue
        age = vm.invoke_ts - blue.issued_at
        allowed = allowed_lag_s
        for start, end, lag in lag_windows:
            if start <= vm.invoke_ts <= end and lag > allowed:
                allowed = lag
        if age > allowed:
            owner = fold.orders.get(vm.order_id)
            col.add("stale_reads", vm.order_id, f"verify of {vm.invoice_no} answered not_found "
                    f"{age:.3f}s after the platform stored it (allowed lag {allowed}s)",
                    owner.refs if owner else [], [blue.ref])
