"""The streaming fold: history events and ledger lines into compact per-order state.

This is the only part that sees every record, so it keeps O(1) work per record and a few
small fields per order (no event objects: evidence is fetched again by `ref` for the few
orders that end up listed). Events must all be folded before the ledger.
"""
from __future__ import annotations

from typing import Any

from harness.checker.amounts import Spec, mismatch_reason, spec_of
from harness.checker.history import Pairing, is_final_read, is_harness_proc

__all__ = ["OrderFacts", "Blue", "Red", "VerifyMiss", "Fold"]


class OrderFacts:
    """What the history says about one order_id (customer-side view)."""

    __slots__ = (
        "refs", "invokes", "infos", "spec", "first_accept_ts", "issued_min_t", "negs",
        "last_t", "last", "defs", "nondef_max", "refund_invoked", "refund_told",
        "refund_open", "refund_t", "refund_red_no", "given", "given_more", "blues", "definite_query", "rejects", "reject_t",
        "answered_queries", "final_answered", "last_inv_t", "issue_end",
    )

    def __init__(self) -> None:
        self.refs: list[Any] = []            # where its events are (file offsets / indices)
        self.invokes = 0                     # issue invokes (retries of one order count here)
        self.infos = 0                       # issue attempts that ended info (or never ended)
        self.spec: Spec | None = None        # expected invoice (first issue invoke)
        self.first_accept_ts: float | None = None
        self.issued_min_t: float | None = None   # earliest completion t of an `issued` answer
        self.negs: list[tuple[float, Any]] | None = None  # (invoke t, ref) of pending/not_found answers
        self.last_t = float("-inf")          # completion t of the merchant's latest answer
        self.last: str | None = None         # that answer: issued|pending|failed|not_found
        self.defs: list[float] | None = None # completion t of definite (issued/failed) answers
        self.nondef_max = float("-inf")      # latest pending/not_found answer
        self.refund_invoked = False
        self.refund_told = False             # a refund ok said `issued` (reversed)
        self.refund_open = False             # the latest refund answer was `pending` (202)
        self.refund_t = float("-inf")        # completion t of that latest ok/fail answer
        self.refund_red_no: str | None = None
        self.given: str | None = None        # invoice number the customer was given
        self.given_more: set[str] | None = None  # further, different numbers (rare)
        self.blues: list[Blue] | None = None
        self.definite_query = False          # a query answered issued/pending/failed
        # issue attempts refused as requests (a 4xx other than 422 `failed`, a connection that
        # was never made): each issued nothing, but says nothing of the order's other attempts
        self.rejects = 0
        self.reject_t = float("-inf")
        # chances (compose.chances): merchant queries answered, and the final read answered
        self.answered_queries = 0
        self.final_answered = False
        # a 404 denies the order only if asked after every issue attempt had ended (not one
        # that overtook a POST still on its way): the invoke t of the latest answer, and the
        # latest end of an issue attempt (inf while one never ended)
        self.last_inv_t = float("-inf")
        self.issue_end = float("-inf")


def settle_rejections(orders: Any) -> None:
    """An order refused as a request on every attempt (and never accepted, never unknown)
    was definitely not issued: its final word is `failed`, at the last refusal."""
    for st in orders:
        if st.rejects and not st.infos and st.first_accept_ts is None and st.last in (None, "not_found"):
            st.last = "failed"
            st.last_t = max(st.last_t, st.reject_t)
            st.defs = (st.defs or []) + [st.reject_t]


class Blue:
    """A blue invoice on the platform; `reversed` sums its red invoices' totals."""

    __slots__ = ("invoice_no", "order_ref", "total", "issued_at", "ref", "mismatch", "reds")

    def __init__(self, invoice_no: str, order_ref: str | None, total: str, issued_at: float,
                 ref: Any, mismatch: str | None) -> None:
        self.invoice_no = invoice_no
        self.order_ref = order_ref
        self.total = total
        self.issued_at = issued_at
        self.ref = ref
        self.mismatch = mismatch
        self.reds: list[Red] | None = None


class Red:
    __slots__ = ("invoice_no", "order_ref", "original", "total", "ref")

    def __init__(self, invoice_no: str, order_ref: str | None, original: str, total: str,
                 ref: Any) -> None:
        self.invoice_no = invoice_no
        self.order_ref = order_ref
        self.original = original
        self.total = total
        self.ref = ref


class VerifyMiss:
    """A verify that answered not_found: a stale read if the invoice was stored long before."""

    __slots__ = ("order_id", "invoice_no", "invoke_ts", "ref")

    def __init__(self, order_id: str, invoice_no: str | None, invoke_ts: float, ref: Any) -> None:
        self.order_id = order_id
        self.invoice_no = invoice_no
        self.invoke_ts = invoke_ts
        self.ref = ref


_ACCEPT = frozenset({"issued", "pending"})


class Fold:
    """Accumulates events, then ledger lines. Raises ValueError on a broken history."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderFacts] = {}
        self.pairing = Pairing()
        self.seen_on_read: dict[str, float] = {}     # invoice_no -> first verify `issued` t
        self.verify_misses: list[VerifyMiss] = []
        self.blues: dict[str, Blue] = {}
        self.reds: list[Red] = []
        self.orphans: list[tuple[str | None, str, Any]] = []   # (order_ref, invoice_no, ref)
        self.answered_refunds = 0                    # refund completions ok/fail (chances)
        self.answered_verifies = 0                   # verify completions ok/fail (chances)
        # request statistics (load procs only)
        self.by_op: dict[str, list[int]] = {}        # op -> [total, ok, fail, info]
        self.latencies: list[float] = []
        self.load_first_t: float | None = None
        self.load_last_t: float | None = None
        self.max_t = float("-inf")

    # -- history ---------------------------------------------------------------------
    def event(self, t: float, ts: float, proc: str, op: str, typ: str, oid: str,
              inv: str | None, result: str | None, status: int | None,
              latency: float | None, order: dict | None, ref: Any) -> None:
        if t > self.max_t:
            self.max_t = t
        load = not is_harness_proc(proc)
        if load:
            if self.load_first_t is None or t < self.load_first_t:
                self.load_first_t = t
            if self.load_last_t is None or t > self.load_last_t:
                self.load_last_t = t
        st = self.orders.get(oid)
        if st is None:
            st = self.orders[oid] = OrderFacts()
        st.refs.append(ref)

        if typ == "invoke":
            self.pairing.invoke(proc, op, oid, t, ts)
            if op == "issue":
                st.invokes += 1
                if st.spec is None and order is not None:   # an issue invoke carries it
                    st.spec = spec_of(order)
            elif op == "refund":
                st.refund_invoked = True
            return

        _, _, inv_t, inv_ts = self.pairing.complete(proc, op, oid)
        if load:
            c = self.by_op.get(op)
            if c is None:
                c = self.by_op[op] = [0, 0, 0, 0]
            c[0] += 1
            c[1 if typ == "ok" else 2 if typ == "fail" else 3] += 1
            if latency is not None:
                self.latencies.append(latency)

        if op == "issue" or op == "query":
            if op == "issue" and t > st.issue_end:
                st.issue_end = t
            if typ == "info":
                if op == "issue":
                    st.infos += 1
                return
            answer = result
            if answer is None:
                if status == 404:
                    answer = "not_found"
                elif typ == "fail" and op == "issue":
                    st.rejects += 1             # this attempt issued nothing (design.md s.6)
                    if t > st.reject_t:
                        st.reject_t = t
                    return
                else:
                    return          # a bad request that told nothing about the order
            if op == "query":
                st.answered_queries += 1
                if is_final_read(proc):
                    st.final_answered = True
            if t >= st.last_t:
                st.last_t = t
                st.last = answer
                st.last_inv_t = inv_t
            if answer == "issued" or answer == "failed":
                if st.defs is None:
                    st.defs = [t]
                else:
                    st.defs.append(t)
                if op == "query":
                    st.definite_query = True
            else:
                if t > st.nondef_max:
                    st.nondef_max = t
                if st.negs is None:
                    st.negs = [(inv_t, ref)]
                else:
                    st.negs.append((inv_t, ref))
            if answer in _ACCEPT:
                if op == "query":
                    st.definite_query = True
                if st.first_accept_ts is None or ts < st.first_accept_ts:
                    st.first_accept_ts = ts
                if answer == "issued":
                    if st.issued_min_t is None or t < st.issued_min_t:
                        st.issued_min_t = t
                if inv is not None:
                    if st.given is None:
                        st.given = inv
                    elif inv != st.given:
                        if st.given_more is None:
                            st.given_more = {inv}
                        else:
                            st.given_more.add(inv)
        elif op == "refund":
            if typ != "info":
                self.answered_refunds += 1
            if typ != "info" and t >= st.refund_t:    # the latest definite word counts
                st.refund_t = t
                st.refund_open = typ == "ok" and result == "pending"
            if typ == "ok" and result == "issued":
                st.refund_told = True
                if inv is not None:
                    st.refund_red_no = inv
        else:  # verify
            if typ == "info":
                return
            self.answered_verifies += 1
            if result == "issued" and inv is not None:
                prev = self.seen_on_read.get(inv)
                if prev is None or t < prev:
                    self.seen_on_read[inv] = t
            elif result == "not_found" or (result is None and status == 404):
                self.verify_misses.append(VerifyMiss(oid, inv, inv_ts, ref))

    def end_of_history(self) -> None:
        """Invokes never completed are `info` (Jepsen): an issue may or may not have happened.
        Then orders whose every attempt was refused as a request count as refused: no
        invoice may exist for them (an attempt with an unknown outcome, or an acceptance,
        leaves the order open or accepted instead)."""
        for proc, (op, oid, t, ts) in self.pairing.open.items():
            if op == "issue":
                self.orders[oid].infos += 1
                self.orders[oid].issue_end = float("inf")
            if not is_harness_proc(proc):
                c = self.by_op.setdefault(op, [0, 0, 0, 0])
                c[0] += 1
                c[3] += 1
        self.pairing.open.clear()
        settle_rejections(self.orders.values())

    # -- ledger ----------------------------------------------------------------------
    def ledger(self, invoice_no: str, kind: str, request_id: Any, order_ref: str | None,
               seller: Any, buyer: Any, amount: str, tax: str, total: str, issued_at: float,
               original: str | None, ref: Any) -> None:
        st = self.orders.get(order_ref) if order_ref is not None else None
        if kind == "red":
            assert original is not None          # ledger_fields refuses a red without it
            self.reds.append(Red(invoice_no, order_ref, original, total, ref))
            return
        if invoice_no in self.blues:
            raise ValueError(f"invoice_no {invoice_no} appears twice in the ledger")
        mismatch = None
        if st is not None and st.spec is not None:
            mismatch = mismatch_reason(st.spec, seller, buyer, amount, tax, total)
        b = Blue(invoice_no, order_ref, total, issued_at, ref, mismatch)
        self.blues[invoice_no] = b
        if st is None or st.invokes == 0:
            self.orphans.append((order_ref, invoice_no, ref))
            return
        if st.blues is None:
            st.blues = [b]
        else:
            st.blues.append(b)
