"""One literal history per class, with the exact expected counts (as checker_test.clj)."""
from __future__ import annotations

from support.history import blue, call, done, ev, issue, nonzero, red

from harness.checker import COUNT_KEYS, CheckOptions, check

N1, N2, N3 = "26117000000000000001", "26117000000000000002", "26117000000000000003"
R1 = "26117000000000000901"


def run(events, ledger, **opts):
    return check(events, ledger, CheckOptions(**opts))


def test_clean_order_is_valid_and_counts_every_key():
    r = run(call(1.0, "w0", "issue", "A", result="issued", no=N1), [blue(N1, "A", t=1.05)])
    assert set(r.counts) == set(COUNT_KEYS)
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1}
    assert r.valid is True and r.errors == [] and r.anomalies == {}


def test_lost_when_platform_has_no_invoice():
    r = run(call(1.0, "w0", "issue", "A", result="issued", no=N1), [])
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1, "lost": 1}
    assert r.valid is False
    ev0 = r.anomalies["lost"][0]
    assert ev0["order_id"] == "A" and ev0["class"] == "lost"
    assert [e["type"] for e in ev0["events"]] == ["invoke", "ok"]


def test_lost_when_platform_holds_another_number():
    r = run(call(1.0, "w0", "issue", "A", result="issued", no=N1), [blue(N2, "A")])
    assert r.counts["lost"] == 1
    assert N1 in r.anomalies["lost"][0]["reason"]


def test_lost_when_final_answer_is_not_found_even_with_invoice():
    h = call(1.0, "w0", "issue", "A", result="pending") + call(9.0, "final", "query", "A",
                                                               typ="fail", result="not_found")
    r = run(h, [blue(N1, "A")])
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1, "lost": 1}


def test_pending_to_the_end_is_unresolved_not_lost():
    h = call(1.0, "w0", "issue", "A", result="pending") + call(9.0, "final", "query", "A",
                                                               result="pending")
    r = run(h, [])
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1, "unresolved": 1}
    assert r.time_to_consistency_s is None


def test_duplicated_two_live_blues_but_cancelled_extra_is_fine():
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1)
    b1, b2 = blue(N1, "A"), blue(N2, "A")
    r = run(h, [b1, b2])
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1, "duplicated": 1}
    # the merchant reverses its own extra invoice: not duplicated, and the red is not misreversed
    r = run(h, [b1, b2, red(R1, b2)])
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1}
    assert r.valid is True


def test_phantom_told_failed_but_issued():
    r = run(call(1.0, "w0", "issue", "A", typ="fail", result="failed"), [blue(N1, "A")])
    assert nonzero(r.counts) == {"requested": 1, "failed": 1, "phantom": 1}


def test_failed_without_invoice_is_fine():
    r = run(call(1.0, "w0", "issue", "A", typ="fail", result="failed"), [])
    assert nonzero(r.counts) == {"requested": 1, "failed": 1}
    assert r.valid is True


def test_mismatched_amount_tax_seller_and_tolerances():
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1)      # 2 x 10.00 @ 13%: 20.00 + 2.60
    assert run(h, [blue(N1, "A", amount="20.01", tax="2.60")]).counts["mismatched"] == 0
    assert run(h, [blue(N1, "A", amount="20.02", tax="2.60")]).counts["mismatched"] == 1
    assert run(h, [blue(N1, "A", amount="20.00", tax="2.66")]).counts["mismatched"] == 0
    assert run(h, [blue(N1, "A", amount="20.00", tax="2.67")]).counts["mismatched"] == 1
    assert run(h, [blue(N1, "A", seller="91350100M000100Y43")]).counts["mismatched"] == 1
    assert run(h, [blue(N1, "A", buyer="91350100M000100Y43")]).counts["mismatched"] == 1
    r = run(h, [blue(N1, "A", amount="20.02")])
    assert "amount 20.02" in r.anomalies["mismatched"][0]["reason"]


def test_orphaned_invoice_and_its_red():
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1)
    b = blue(N2, "ZZ")
    r = run(h, [blue(N1, "A"), b, red(R1, b)])
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1, "orphaned": 2}
    assert r.anomalies["orphaned"][0]["order_id"] == "ZZ"


def test_recovered_info_then_one_invoice():
    h = call(1.0, "w0", "issue", "A", typ="info")
    r = run(h, [blue(N1, "A")])
    assert nonzero(r.counts) == {"requested": 1, "indeterminate": 1, "recovered": 1}
    assert r.valid is True
    # a retry that is answered makes it acknowledged, still recovered, no longer indeterminate
    h2 = h + call(2.0, "w0", "issue", "A", result="issued", no=N1)
    assert nonzero(run(h2, [blue(N1, "A")]).counts) == {"requested": 1, "acknowledged": 1,
                                                          "recovered": 1}
    # an unanswered attempt with nothing on the platform never happened: fine
    assert nonzero(run(h, []).counts) == {"requested": 1, "indeterminate": 1}


def test_invoke_without_completion_counts_as_info():
    r = run([issue(1.0, "w0", "A")], [blue(N1, "A")])
    assert nonzero(r.counts) == {"requested": 1, "indeterminate": 1, "recovered": 1}
    assert r.requests["by_op"]["issue"] == {"total": 1, "ok": 0, "fail": 0, "info": 1}


def test_misreversed_red_nobody_asked_for():
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1)
    b = blue(N1, "A")
    r = run(h, [b, red(R1, b)])
    # the customer's only invoice was reversed: lost for the order, misreversed for the red
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1, "lost": 1, "misreversed": 1}


def test_refund_reverses_and_is_not_lost():
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1) + \
        call(3.0, "w1", "refund", "A", result="issued", no=R1)
    b = blue(N1, "A")
    r = run(h, [b, red(R1, b)])
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1}


def test_refund_left_pending_without_red_is_unresolved():
    """A refund answered 202 is still open until a red invoice reverses the order's own
    invoice; one that never comes is unresolved (the merchant dropped the reversal)."""
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1) + \
        call(3.0, "w1", "refund", "A", result="pending")
    b = blue(N1, "A")
    r = run(h, [b])
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1, "unresolved": 1}
    assert "refund" in r.anomalies["unresolved"][0]["reason"]
    # the reversal arrived later: fine
    assert nonzero(run(h, [b, red(R1, b)]).counts) == {"requested": 1, "acknowledged": 1}
    # a later definite answer closes it: 201 with the red (misreversed if the red is
    # missing) or 409 (the customer was told it cannot be refunded)
    told = h + call(5.0, "w1", "refund", "A", result="issued", no=R1)
    assert nonzero(run(told, [b, red(R1, b)]).counts) == {"requested": 1, "acknowledged": 1}
    assert nonzero(run(told, [b]).counts) == {"requested": 1, "acknowledged": 1,
                                              "misreversed": 1}
    refused = h + call(5.0, "w1", "refund", "A", typ="fail", result=None)
    assert nonzero(run(refused, [b]).counts) == {"requested": 1, "acknowledged": 1}
    # the latest answer by time decides, not the line order of a merged file
    late_pending = (h[:2] + call(5.0, "w2", "refund", "A", result="pending")
                    + call(4.0, "w3", "refund", "A", typ="fail", result=None))
    assert run(late_pending, [b]).counts["unresolved"] == 1


def test_misreversed_refund_told_success_without_red_and_over_reversal():
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1) + \
        call(3.0, "w1", "refund", "A", result="issued", no=R1)
    b = blue(N1, "A")
    assert run(h, [b]).counts["misreversed"] == 1
    r = run(h, [b, red(R1, b), red("26117000000000000902", b, fraction="0.5")])
    assert r.counts["misreversed"] == 1
    assert "more than" in r.anomalies["misreversed"][0]["reason"]


def test_stale_read_merchant_goes_backwards():
    h = (call(1.0, "w0", "issue", "A", result="issued", no=N1)
         + call(2.0, "w1", "query", "A", result="pending")          # invoked after 1.1: stale
         + call(1.05, "w2", "query", "A", result="pending", dt=0.2))  # concurrent: not stale
    r = run(sorted(h, key=lambda e: e["t"]), [blue(N1, "A")])
    assert r.counts["stale_reads"] == 1


def test_stale_read_verify_lag():
    b = blue(N1, "A", t=1.0)
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1, dt=0.01)
    ok = h + call(1.3, "w1", "verify", "A", result="not_found", no=N1)
    assert run(ok, [b], allowed_lag_s=0.5).counts["stale_reads"] == 0
    late = h + call(2.0, "w1", "verify", "A", result="not_found", no=N1)
    r = run(late, [b], allowed_lag_s=0.5)
    assert r.counts["stale_reads"] == 1
    assert r.anomalies["stale_reads"][0]["invoices"][0]["invoice_no"] == N1


def test_time_to_consistency_and_acceptance_delay():
    h = (call(1.0, "w0", "issue", "A", result="pending")
         + call(2.0, "w0", "issue", "B", result="issued", no=N2)
         + call(4.0, "drain", "query", "A", result="issued", no=N1)
         + call(6.0, "final", "verify", "A", result="issued", no=N1)
         + call(6.5, "final", "verify", "B", result="issued", no=N2))
    led = [blue(N1, "A", t=3.0), blue(N2, "B", t=2.05)]
    r = run(h, led)
    assert r.valid is True
    # load ends at t=2.1 (last w0 event); settled and read by t=6.6
    assert r.time_to_consistency_s == 4.5
    assert r.acceptance_delay_s == {"p50": 0.0, "p95": 1.9, "max": 1.9, "count": 2}
    assert r.requests["total"] == 2 and r.requests["by_op"] == {
        "issue": {"total": 2, "ok": 2, "fail": 0, "info": 0}}
    # without the verify of N2 the read path never showed it
    assert run(h[:-2], led).time_to_consistency_s is None


def test_request_stats():
    h = (call(0.0, "w0", "issue", "A", result="issued", no=N1)
         + [issue(1.0, "w0", "B"), done(2.0, "w0", "issue", "B", typ="info", latency_ms=1000.0)]
         + call(3.0, "w1", "query", "A", typ="fail", status=400))
    r = run(h, [blue(N1, "A")], load_end_t=3.1)
    q = r.requests
    assert q["total"] == 3 and q["error_rate"] == round(2 / 3, 6)
    assert q["rps"] == round(3 / 3.1, 3)
    assert q["latency_ms"] == {"p50": 10.0, "p95": 1000.0, "p99": 1000.0, "max": 1000.0}


def test_evidence_carries_active_faults_and_is_capped():
    h, led = [], []
    for i in range(5):
        h += call(float(i), "w0", "issue", f"O{i}", result="issued", no=f"2611700000000000010{i}")
    faults = [{"id": "f1", "kind": "latency", "start_s": 2.5, "end_s": 3.5},
              {"id": "f2", "kind": "down", "start_s": 10.0, "end_s": None}]
    r = run(h, led, faults=faults, max_evidence=2)
    assert r.counts["lost"] == 5 and r.totals["lost"] == 5
    assert len(r.anomalies["lost"]) == 2
    r = run(h, led, faults=faults, max_evidence=5)
    assert [a["faults"] for a in r.anomalies["lost"]] == [[], [], [], [faults[0]], []]


def test_sub_check_crash_is_unknown_not_pass():
    # a ledger total that is not a number only breaks the reversal arithmetic
    h = call(1.0, "w0", "issue", "A", result="issued", no=N1) + \
        call(3.0, "w1", "refund", "A", result="issued", no=R1)
    b = blue(N1, "A")
    bad = dict(red(R1, b), total="lots")
    r = run(h, [b, bad])
    assert r.valid == "unknown"
    assert r.errors and r.errors[0].startswith("orders:")


def test_the_harness_lanes_are_not_customer_traffic():
    """`drain.<k>` and `final.<k>` (the drain's and the final read's lanes) are merchant
    answers like any other, but not part of the customers' request figures."""
    h = (call(0.5, "w0.1", "issue", "A", result="pending")
         + call(30.0, "drain.3", "query", "A", result="issued", no=N1)
         + call(30.5, "drain.3", "verify", "A", result="issued", no=N1)
         + call(31.0, "final.0", "query", "A", result="issued", no=N1))
    r = run(h, [blue(N1, "A", t=20.0)], load_end_t=1.0)
    assert nonzero(r.counts) == {"requested": 1, "acknowledged": 1}
    assert r.requests["total"] == 1 and set(r.requests["by_op"]) == {"issue"}
    assert r.time_to_consistency_s == 29.6


def _only_timeouts_then_final_404():
    """The customer got only timeouts; after the drain the merchant's final read says 404."""
    return (call(1.0, "w0.1", "issue", "A", typ="info")
            + call(7.0, "w0.1", "issue", "A", typ="info")
            + call(40.0, "final.0", "query", "A", result="not_found"))


def test_final_404_while_the_platform_holds_a_blue_invoice_is_phantom():
    r = run(_only_timeouts_then_final_404(), [blue(N1, "A", t=3.0)])
    assert nonzero(r.counts) == {"requested": 1, "indeterminate": 1, "phantom": 1}
    (a,) = r.anomalies["phantom"]
    assert a["order_id"] == "A" and "404" in a["reason"] and N1 in a["reason"]
    assert [i["invoice_no"] for i in a["invoices"]] == [N1]
    assert a["events"][-1]["proc"] == "final.0"


def test_final_404_without_an_invoice_is_fine():
    r = run(_only_timeouts_then_final_404(), [])
    assert nonzero(r.counts) == {"requested": 1, "indeterminate": 1}
    assert r.valid is True


def test_final_404_with_the_blue_cancelled_by_a_red_letter_invoice_is_fine():
    b = blue(N1, "A", t=3.0)
    r = run(_only_timeouts_then_final_404(), [b, red(R1, b, t=4.0)])
    assert nonzero(r.counts) == {"requested": 1, "indeterminate": 1}
    assert r.valid is True


def test_final_failed_after_timeouts_is_phantom_too():
    h = (call(1.0, "w0.1", "issue", "A", typ="info")
         + call(40.0, "final.0", "query", "A", result="failed"))
    r = run(h, [blue(N1, "A", t=3.0)])
    assert r.counts["phantom"] == 1 and r.counts["recovered"] == 0


def test_chances_count_what_could_have_shown_each_class():
    b = blue(N1, "A", t=1.05)
    h = (call(1.0, "w0.1", "issue", "A", result="issued", no=N1)
         + call(2.0, "w0.2", "query", "A", result="issued", no=N1)
         + call(3.0, "w0.3", "verify", "A", result="issued", no=N1)
         + call(4.0, "w0.4", "refund", "A", result="issued", no=R1)
         + call(1.0, "w1.1", "issue", "B", typ="info")
         + call(40.0, "final.0", "query", "A", result="issued", no=N1)
         + call(40.0, "final.1", "query", "B", typ="info"))
    r = run(h, [b, red(R1, b, t=4.05)])
    assert r.chances == {"lost": 1, "phantom": 1, "unresolved": 1, "duplicated": 1,
                         "mismatched": 1, "orphaned": 2, "misreversed": 2, "stale_reads": 3}


def test_a_run_without_refunds_gives_misreversed_no_chance():
    r = run(call(1.0, "w0", "issue", "A", result="issued", no=N1), [blue(N1, "A", t=1.05)])
    assert r.chances["misreversed"] == 0 and r.chances["lost"] == 0
    assert r.chances["duplicated"] == 1 and r.chances["stale_reads"] == 0


def test_a_404_that_overtook_the_post_denies_nothing():
    """An overloaded merchant answers a query before the POST still on its way reached it:
    that 404 is not its word on the order (no final read answered: it stays recovered)."""
    h = [issue(10.0, "w0.1", "A"), ev(11.4, "w0.2", "query", "invoke", "A"),
         done(18.0, "w0.2", "query", "A", result="not_found"),
         done(21.5, "w0.1", "issue", "A", typ="info")]
    r = run(h, [blue(N1, "A", t=25.0)])
    assert nonzero(r.counts) == {"requested": 1, "indeterminate": 1, "recovered": 1}
    # the same 404 asked after the POST had ended is the merchant's word: phantom
    h2 = [issue(10.0, "w0.1", "A"), done(21.5, "w0.1", "issue", "A", typ="info"),
          ev(22.0, "w0.2", "query", "invoke", "A"), done(22.1, "w0.2", "query", "A", result="not_found")]
    assert run(h2, [blue(N1, "A", t=25.0)]).counts["phantom"] == 1


def test_evidence_is_the_first_anomalies_and_a_sample_spread_over_the_rest():
    """A run with many anomalies of a class lists a page, not all of them: the first half of
    the slots are the first anomalies, the rest spread to the end of the run."""
    h = []
    for i in range(600):
        h += call(float(i), f"w{i}", "issue", f"O{i:04d}", result="issued",
                  no=f"26117{i:015d}")
    r = run(h, [], max_evidence=6)
    assert r.totals["lost"] == 600
    listed = [a["order_id"] for a in r.anomalies["lost"]]
    assert len(listed) == 6 and listed[:3] == ["O0000", "O0001", "O0002"]
    assert listed == sorted(listed) and int(listed[-1][1:]) >= 300
