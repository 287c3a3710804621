"""The DuckDB path's own workings (harness/checker/duck.py): that it decides by itself
(no silent fallback on valid input: integer numbers, blank lines, other writers' JSON text),
that it really sets the clean orders aside, that it refuses ill-typed fields, and which
path check_files picks. That it agrees with the Python reader on every checker test is
tests/checker/conftest.py's job.
"""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from support.history import blue, call, red
from support.history import write_files as _write

import harness.checker.files as files
from harness.checker import CheckOptions, check, check_files
from harness.checker import duck
from harness.checker.files import _LineAt

pytestmark = pytest.mark.skipif(not duck.available(), reason="duckdb is not installed")
#: this module tests the DuckDB path itself (conftest.py)
CHECKER_PATHS = ("duckdb",)

_pure_check = check


def _duck_direct(h: Path, led: Path, opts: CheckOptions):
    """DuckDB's verdict, or None where it hands over to Python."""
    ev, lg = _LineAt(h), _LineAt(led)
    try:
        return duck.check_files_duck(h, led, opts, ev, lg)[0]
    finally:
        ev.close()
        lg.close()


def _python_files(h: Path, led: Path, opts: CheckOptions):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(files.PATH_ENV, "python")
        return check_files(h, led, opts)


def test_the_clean_set_is_most_orders(generated_run):
    """The fast path really sets clean orders aside (else it would just be the slow one)."""
    d, _ = generated_run
    con = duck.connect()
    duck._load_history(con, d / "history.jsonl")
    duck._load_ledger(con, d / "platform-ledger.jsonl")
    duck._specs(con, d / "history.jsonl")
    duck._classify_clean(con)
    n_clean = con.execute("SELECT count(*) FROM clean").fetchone()[0]
    assert 2800 < n_clean < 3000


def test_integer_numbers_and_blank_lines_are_decided_by_duckdb(tmp_path):
    """Valid input never falls back: 7 and 7.0 are both numbers, blank lines are skipped
    by both readers (design.md s.7 allows both)."""
    hist = (call(1.0, "w0", "issue", "A", result="issued", no="26117000000000000001")
            + call(2.0, "w0", "issue", "B", typ="info")
            + call(3.0, "w0", "query", "B", result="pending"))
    led = [blue("26117000000000000001", "A"), dict(blue("26117000000000000002", "B"), issued_at=1)]
    ints = [dict(hist[0], t=1, ts=1_767_225_601), dict(hist[1], latency_ms=12)] + hist[2:]
    h, lp = _write(tmp_path, ints, led)
    dk = _duck_direct(h, lp, CheckOptions())
    assert dk is not None
    assert dk.to_dict() == _python_files(h, lp, CheckOptions()).to_dict() \
        == _pure_check(ints, led).to_dict()
    assert dk.requests["latency_ms"]["max"] == 12.0
    lines = [orjson.dumps(e) for e in ints]
    h.write_bytes(b"\n\n".join(lines[:3]) + b"\n  \t\n" + b"\r\n".join(lines[3:]) + b"\n\n")
    lp.write_bytes(b"\n" + b"\n\n".join(orjson.dumps(x) for x in led))
    dk = _duck_direct(h, lp, CheckOptions())
    assert dk is not None
    assert dk.to_dict() == _python_files(h, lp, CheckOptions()).to_dict() \
        == _pure_check(ints, led).to_dict()
    res = check_files(h, lp)
    assert (res.path, res.fallback_reason) == ("duckdb", None)


def test_a_fallback_says_why(tmp_path):
    hist = call(1.0, "w0", "issue", "A", result="issued", no="26117000000000000001")
    h, lp = _write(tmp_path, [hist[1], hist[0]], [])
    with pytest.raises(Exception, match=r"^history.jsonl:1: proc w0 completed"):
        check_files(h, lp)
    h, lp = _write(tmp_path, hist, [])
    lp.write_bytes(b'{"invoice_no": 1}\n')
    ev, lg = _LineAt(h), _LineAt(lp)
    try:
        res, why = duck.check_files_duck(h, lp, CheckOptions(), ev, lg)
    finally:
        ev.close()
        lg.close()
    assert res is None and "ledger line" in why


def test_strings_that_look_like_numbers_are_refused(tmp_path):
    """DuckDB would cast "2.5" to a DOUBLE and 7 to a VARCHAR: the types are checked."""
    hist = call(1.0, "w0", "issue", "A", result="issued", no="26117000000000000001")
    led = [blue("26117000000000000001", "A")]
    for bad, msg in ((dict(hist[1], t="2.5"), "field 't' must be a number"),
                     (dict(hist[1], order_id=7), "field 'order_id' must be a string"),
                     (dict(hist[1], status="201"), "field 'status' must be an integer"),
                     (dict(hist[1], invoice_no=26117), "field 'invoice_no' must be a string")):
        h, lp = _write(tmp_path, [hist[0], bad], led)
        assert _duck_direct(h, lp, CheckOptions()) is None
        with pytest.raises(Exception, match=rf"^history.jsonl:2: {msg}"):
            check_files(h, lp)
    bad = dict(led[0])
    del bad["buyer_tax_id"]
    h, lp = _write(tmp_path, hist, [bad])
    assert _duck_direct(h, lp, CheckOptions()) is None
    with pytest.raises(Exception, match=r"^platform-ledger.jsonl:1: missing field 'buyer_tax_id'"):
        check_files(h, lp)


def test_json_text_forms_are_read_exactly(tmp_path):
    """Other writers' JSON: spaces, \\u escapes for Chinese, quotes and backslashes inside
    ids, exponents. The DuckDB path must decide (no fall-back) and agree with Python."""
    import json
    ids = ['A"1', "B\\2", "订单3", "D/4"]
    hist, led = [], []
    for i, oid in enumerate(ids):
        no = f"2611700000000000000{i + 1}" if i != 1 else 'N"2\\'   # quote, backslash
        buyer = None if i % 2 else "911101017967003199"
        if i == 1:                    # an unknown first attempt: left to the Python fold
            hist += call(0.5, "w0", "issue", oid, typ="info", buyer=buyer)
        hist += call(1.0 + i, "w0", "issue", oid, result="issued", no=no, dt=1.5e-1,
                     buyer=buyer)
        led.append(blue(no, oid, buyer=buyer))
    # the read path names the dirty order's number: its text must match the fold's
    hist += call(9.0, "c1", "verify", ids[1], result="issued", no='N"2\\')
    hist[1]["t"] = 1.1                    # written as 1.1; t of another line below as 2e0
    hist[2]["t"] = 2e0
    hist[-1]["latency_ms"] = 1e-05
    led[2] = dict(led[2], amount="21.00")        # one mismatched order
    h, lp = tmp_path / "history.jsonl", tmp_path / "platform-ledger.jsonl"
    h.write_text("".join(json.dumps(e) + "\n" for e in hist))          # ensure_ascii, spaces
    lp.write_text("".join(json.dumps(x, ensure_ascii=False, separators=(" , ", " : ")) + "\n"
                          for x in led))
    dk = _duck_direct(h, lp, CheckOptions())
    assert dk is not None
    py = _python_files(h, lp, CheckOptions())
    assert dk.to_dict() == py.to_dict()
    assert dk.counts["requested"] == 4 and dk.counts["mismatched"] == 1
    # the values DuckDB holds are the decoded strings, as orjson reads them
    con = duck.connect()
    duck._load_history(con, h)
    got = con.execute("SELECT proc, oid, inv FROM e ORDER BY rowid").fetchall()
    assert got == [(e["proc"], e["order_id"], e["invoice_no"]) for e in hist]


def test_null_is_not_a_missing_ledger_key(tmp_path):
    """Every ledger key must be present; the nullable ones may be null (design.md s.5)."""
    hist = call(1.0, "w0", "issue", "A", result="issued", no="26117000000000000001")
    base = blue("26117000000000000001", "A")
    for key in ("request_id", "order_ref", "seller_tax_id", "buyer_tax_id",
                "original_invoice_no"):
        h, lp = _write(tmp_path, hist, [dict(base, **{key: None})])
        dk = _duck_direct(h, lp, CheckOptions())
        assert dk is not None, key
        assert dk.to_dict() == _python_files(h, lp, CheckOptions()).to_dict(), key
        gone = dict(base)
        del gone[key]
        h, lp = _write(tmp_path, hist, [gone])
        assert _duck_direct(h, lp, CheckOptions()) is None, key
        with pytest.raises(Exception, match=rf"^platform-ledger.jsonl:1: missing field '{key}'"):
            check_files(h, lp)


def test_default_path_is_duckdb_for_large_runs(monkeypatch):
    monkeypatch.setenv(files.PATH_ENV, "auto")
    big, small = Path("/b"), Path("/s")
    sizes = {big: files.DUCK_MIN_BYTES, small: 1}

    class _St:
        def __init__(self, n): self.st_size = n

    monkeypatch.setattr(Path, "stat", lambda self, **kw: _St(sizes[self]))
    assert files._choice(big, small) == (True, None)
    assert files._choice(small, small) == (False, None)
    monkeypatch.setattr(duck, "available", lambda: False)
    assert files._choice(big, small) == (False, "duckdb is not installed")


def test_the_latest_answer_is_by_time_not_by_line(tmp_path):
    """A history need not be sorted by `t`: the merchant's latest answer is the one with
    the latest `t` (Fold.event), here a `failed` query written on an earlier line than the
    `issued` checkout it follows in time. SQL must not take the last line's `issued` as the
    final word and set the order aside as clean."""
    no = "26117000000000000001"
    checkout = call(1.0, "w0", "issue", "A", result="issued", no=no, dt=4.0)   # ok at t=5
    query = call(5.5, "w1", "query", "A", typ="ok", result="failed", dt=0.5)   # at t=6
    hist = [checkout[0], *query, checkout[1]]
    h, led = _write(tmp_path, hist, [blue(no, "A")])
    pure = _pure_check(hist, [blue(no, "A")])
    assert pure.counts["lost"] == 1          # the final word calls an accepted order failed
    got = _duck_direct(h, led, CheckOptions())
    assert got is not None and got.to_dict() == pure.to_dict()


def test_duckdb_gets_more_memory_for_a_large_merchants_day():
    """1 M orders (about 1.2 GB of files) keep the 1.2 GB budget; larger inputs get a third
    of their size, never more than MEMORY_LIMIT_MAX_MB (10 M orders, 12 GB: the cap)."""
    assert duck.memory_limit(1_200_000_000) == duck.MEMORY_LIMIT
    assert duck.memory_limit(5_000_000_000) == "1589MB"
    assert duck.memory_limit(100_000_000_000) == f"{duck.MEMORY_LIMIT_MAX_MB}MB"


def _refund_case(variant: str) -> tuple[list, list]:
    """Order A issued and refunded; the ledger's reds vary around the one clean shape (one
    red reversing the whole blue, naming A or nothing)."""
    no, red_no = "26117000000000000001", "26117000000000000009"
    hist = call(1.0, "w0", "issue", "A", result="issued", no=no)
    told = call(3.0, "w1", "refund", "A", result="issued", no=red_no)
    b = blue(no, "A")
    whole = red(red_no, b)
    other = call(1.5, "w2", "issue", "B", result="issued", no="26117000000000000002")
    bb = blue("26117000000000000002", "B")
    cases = {
        "whole": (hist + told, [b, whole]),
        "whole, names no order": (hist + told, [b, dict(whole, order_ref=None)]),
        "half": (hist + told, [b, red(red_no, b, fraction="0.5")]),
        "two halves": (hist + told, [b, red(red_no, b, fraction="0.5"),
                                     red("26117000000000000008", b, fraction="0.5")]),
        "twice the total": (hist + told, [b, whole, red("26117000000000000008", b)]),
        "names another order": (hist + told + other, [b, bb, dict(whole, order_ref="B")]),
        "another red names the order": (hist + told + other,
                                        [b, bb, whole, dict(red("26117000000000000008", bb),
                                                            order_ref="A")]),
        "no refund told": (hist, [b, whole]),
        "refund told, no red": (hist + told, [b]),
        "refund answered pending": (hist + call(3.0, "w1", "refund", "A", result="pending"),
                                    [b, whole]),
        "refund failed": (hist + call(3.0, "w1", "refund", "A", typ="fail", result="failed"),
                          [b, whole]),
    }
    return cases[variant]


@pytest.mark.parametrize("variant", [
    "whole", "whole, names no order", "half", "two halves", "twice the total",
    "names another order", "another red names the order", "no refund told",
    "refund told, no red", "refund answered pending", "refund failed"])
def test_refunded_orders_are_proved_clean_only_as_python_finds_them(tmp_path, variant):
    """SQL sets a refunded order aside only when one red reverses its whole blue for the
    customer's own refund; every other shape is decided by the fold, and both readers agree."""
    hist, led = _refund_case(variant)
    h, lp = _write(tmp_path, hist, led)
    dk = _duck_direct(h, lp, CheckOptions())
    assert dk is not None
    assert dk.to_dict() == _pure_check(hist, led).to_dict()
    con = duck.connect()
    duck._load_history(con, h)
    duck._load_ledger(con, lp)
    duck._specs(con, h)
    duck._classify_clean(con)
    clean = {r[0] for r in con.execute("SELECT oid FROM clean").fetchall()}
    assert ("A" in clean) == variant.startswith("whole"), clean
    if variant.startswith("whole"):
        assert dk.chances["misreversed"] == 2 and dk.chances["orphaned"] == 2
        assert sum(dk.totals.values()) == 0


@pytest.mark.parametrize("bad", [
    {"buyer": "张三"}, {"buyer": None}, {"buyer": {"name": "张三", "tax_id": 7}},
    {"seller_tax_id": 91110108}, {"lines": []}, {"lines": "2 x 10.00"},
    {"lines": [{"quantity": 2.5, "unit_price": "10.00", "tax_rate": "0.13"}]},
    {"lines": [{"quantity": "2", "unit_price": None, "tax_rate": "0.13"}]},
    {"lines": [{"quantity": "2", "unit_price": "10.00"}]},
])
def test_an_invalid_order_is_named_by_the_python_reader(tmp_path, bad):
    """An order check_order refuses is never priced by SQL: DuckDB hands the run over and
    the Python reader names the line."""
    hist = (call(0.5, "w0", "issue", "B", result="issued", no="26117000000000000002")
            + call(1.0, "w0", "issue", "A", result="issued", no="26117000000000000001"))
    hist[2] = dict(hist[2], order=dict(hist[2]["order"], **bad))
    led = [blue("26117000000000000002", "B"), blue("26117000000000000001", "A")]
    h, lp = _write(tmp_path, hist, led)
    assert _duck_direct(h, lp, CheckOptions()) is None
    with pytest.raises(Exception, match=r"^history.jsonl:3: .*order"):
        check_files(h, lp)
