"""Property: random histories with a known number of planted anomalies of each class
(retries, unknown outcomes, red-letter reversals, interleaved procs) get exact counts;
clean histories get none."""
from __future__ import annotations

from collections import Counter
from typing import Callable

from support.history import blue, call, red
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checker import ANOMALY_CLASSES, CheckOptions, check

Case = tuple[list, list, Counter]


def _no(k: int, j: int = 0) -> str:
    return f"2611700{k:09d}{j:04d}"


# Each kind builds one order (id O<k>) starting at time b on its own procs p<k>.<n>.
def k_clean(k, b) -> Case:
    return (call(b, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k)),
            [blue(_no(k), f"O{k}", t=b + 0.05)], Counter(requested=1, acknowledged=1))


def k_pending_then_issued(k, b) -> Case:
    h = (call(b, f"p{k}.0", "issue", f"O{k}", result="pending")
         + call(b + 1, f"p{k}.1", "query", f"O{k}", result="issued", no=_no(k)))
    return h, [blue(_no(k), f"O{k}", t=b + 0.5)], Counter(requested=1, acknowledged=1)


def k_failed(k, b) -> Case:
    return (call(b, f"p{k}.0", "issue", f"O{k}", typ="fail", result="failed"), [],
            Counter(requested=1, failed=1))


def k_retry_after_info(k, b) -> Case:
    h = (call(b, f"p{k}.0", "issue", f"O{k}", typ="info")
         + call(b + 1, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k)))
    return h, [blue(_no(k), f"O{k}", t=b + 0.05)], Counter(requested=1, acknowledged=1,
                                                           recovered=1)


def k_info_with_invoice(k, b) -> Case:
    return (call(b, f"p{k}.0", "issue", f"O{k}", typ="info"), [blue(_no(k), f"O{k}", t=b)],
            Counter(requested=1, indeterminate=1, recovered=1))


def k_info_nothing(k, b) -> Case:
    return (call(b, f"p{k}.0", "issue", f"O{k}", typ="info"), [],
            Counter(requested=1, indeterminate=1))


def k_refunded(k, b) -> Case:
    h = (call(b, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k))
         + call(b + 2, f"p{k}.1", "refund", f"O{k}", result="issued", no=_no(k, 9)))
    bl = blue(_no(k), f"O{k}", t=b)
    return h, [bl, red(_no(k, 9), bl, t=b + 2.05)], Counter(requested=1, acknowledged=1)


def k_cancelled_extra(k, b) -> Case:
    h = call(b, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k))
    extra = blue(_no(k, 1), f"O{k}", t=b)
    return h, [blue(_no(k), f"O{k}", t=b), extra, red(_no(k, 9), extra, t=b + 3)], \
        Counter(requested=1, acknowledged=1)


def k_lost(k, b) -> Case:
    return (call(b, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k)), [],
            Counter(requested=1, acknowledged=1, lost=1))


def k_lost_other_number(k, b) -> Case:
    return (call(b, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k)),
            [blue(_no(k, 1), f"O{k}", t=b)], Counter(requested=1, acknowledged=1, lost=1))


def k_lost_forgotten(k, b) -> Case:
    h = (call(b, f"p{k}.0", "issue", f"O{k}", result="pending")
         + call(b + 5, f"final.{k}", "query", f"O{k}", typ="fail", result="not_found"))
    return h, [], Counter(requested=1, acknowledged=1, lost=1)


def k_duplicated(k, b) -> Case:
    h = (call(b, f"p{k}.0", "issue", f"O{k}", typ="info")
         + call(b + 1, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k)))
    return h, [blue(_no(k, 1), f"O{k}", t=b), blue(_no(k), f"O{k}", t=b + 1)], \
        Counter(requested=1, acknowledged=1, duplicated=1)


def k_phantom(k, b) -> Case:
    h = (call(b, f"p{k}.0", "issue", f"O{k}", typ="info")
         + call(b + 1, f"p{k}.0", "issue", f"O{k}", typ="fail", result="failed"))
    return h, [blue(_no(k), f"O{k}", t=b)], Counter(requested=1, failed=1, phantom=1)


def k_mismatched(k, b) -> Case:
    return (call(b, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k)),
            [blue(_no(k), f"O{k}", t=b, amount="21.00")],
            Counter(requested=1, acknowledged=1, mismatched=1))


def k_unresolved(k, b) -> Case:
    h = (call(b, f"p{k}.0", "issue", f"O{k}", result="pending")
         + call(b + 5, f"final.{k}", "query", f"O{k}", result="pending"))
    return h, [], Counter(requested=1, acknowledged=1, unresolved=1)


def k_orphaned(k, b) -> Case:
    h, led, c = k_clean(k, b)
    return h, led + [blue(_no(k, 5), f"X{k}", t=b)], c + Counter(orphaned=1)


def k_misreversed_over(k, b) -> Case:
    h, led, c = k_refunded(k, b)
    return h, led + [red(_no(k, 8), led[0], t=b + 3, fraction="0.5")], c + Counter(misreversed=1)


def k_misreversed_told(k, b) -> Case:
    h = (call(b, f"p{k}.0", "issue", f"O{k}", result="issued", no=_no(k))
         + call(b + 2, f"p{k}.1", "refund", f"O{k}", result="issued", no=_no(k, 9)))
    return h, [blue(_no(k), f"O{k}", t=b)], Counter(requested=1, acknowledged=1, misreversed=1)


def k_stale_merchant(k, b) -> Case:
    h, led, c = k_clean(k, b)
    h = h + call(b + 1, f"p{k}.1", "query", f"O{k}", result="pending") \
        + call(b + 3, f"final.{k}", "query", f"O{k}", result="issued", no=_no(k))
    return h, led, c + Counter(stale_reads=1)


def k_stale_verify(k, b) -> Case:
    h, led, c = k_clean(k, b)
    h = h + call(b + 0.2, f"p{k}.1", "verify", f"O{k}", result="not_found", no=_no(k)) \
        + call(b + 2, f"p{k}.1", "verify", f"O{k}", result="not_found", no=_no(k))
    return h, led, c + Counter(stale_reads=1)


CLEAN: list[Callable[[int, float], Case]] = [
    k_clean, k_pending_then_issued, k_failed, k_retry_after_info, k_info_with_invoice,
    k_info_nothing, k_refunded, k_cancelled_extra]
PLANTED: list[Callable[[int, float], Case]] = [
    k_lost, k_lost_other_number, k_lost_forgotten, k_duplicated, k_phantom, k_mismatched,
    k_unresolved, k_orphaned, k_misreversed_over, k_misreversed_told, k_stale_merchant,
    k_stale_verify]


def build(kinds: list, starts: list[float], ledger_order: list[int]) -> Case:
    events, ledger, expected = [], [], Counter()
    for k, (kind, b) in enumerate(zip(kinds, starts)):
        h, led, c = kind(k, b)
        events += h
        ledger += led
        expected += c
    events.sort(key=lambda e: e["t"])            # interleave orders; each proc stays in order
    ledger = [ledger[i % len(ledger)] for i in ledger_order[:0]] or \
        sorted(ledger, key=lambda x: x["issued_at"])
    return events, ledger, expected


def _check(kinds, starts):
    events, ledger, expected = build(kinds, starts, [])
    r = check(events, ledger, CheckOptions(allowed_lag_s=0.5))
    assert r.errors == []
    got = Counter({k: v for k, v in r.counts.items() if v})
    assert got == expected
    assert r.valid is (not any(expected[c] for c in ANOMALY_CLASSES))
    for cls, listed in r.anomalies.items():
        assert len(listed) == r.totals[cls] == r.counts[cls]


orders = st.lists(st.sampled_from(CLEAN + PLANTED), max_size=25)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_planted_anomalies_are_counted_exactly(data):
    kinds = data.draw(orders)
    starts = data.draw(st.lists(st.floats(0, 50, allow_nan=False).map(lambda x: round(x, 3)),
                                min_size=len(kinds), max_size=len(kinds)))
    _check(kinds, starts)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_clean_histories_have_no_anomalies(data):
    kinds = data.draw(st.lists(st.sampled_from(CLEAN), max_size=25))
    starts = data.draw(st.lists(st.floats(0, 50, allow_nan=False).map(lambda x: round(x, 3)),
                                min_size=len(kinds), max_size=len(kinds)))
    events, ledger, expected = build(kinds, starts, [])
    r = check(events, ledger, CheckOptions())
    assert r.valid is True and r.errors == []
    assert not set(r.anomalies) & set(ANOMALY_CLASSES)
    assert not any(r.counts[c] for c in ANOMALY_CLASSES)
