"""The DuckDB path (harness/checker/duck.py) gives exactly the Python path's CheckResult.

Forced with INVOICE_CHAOS_CHECKER_PATH=duckdb whatever the size: on a generated run with
planted anomalies of every class, on the Hypothesis histories of test_checker_property, on
every literal history of the class/refusal tests (their `check` is wrapped so that each
history also goes through both file paths), and the file:line errors of
test_checker_files on the DuckDB path.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
import pytest
import test_checker_classes
import test_checker_files
import test_checker_property
import test_checker_request_refusals
from checker_build import blue, call, red
# re-run these here, under this module's fixtures (the DuckDB path forced, `check` wrapped)
from test_checker_classes import *  # noqa: F401,F403
from test_checker_files import *  # noqa: F401,F403
from test_checker_property import (test_clean_histories_have_no_anomalies,  # noqa: F401
                                   test_planted_anomalies_are_counted_exactly)
from test_checker_request_refusals import *  # noqa: F401,F403

import harness.checker.files as files
from harness.checker import CheckOptions, check, check_files
from harness.checker import duck
from harness.checker.files import _LineAt

pytestmark = pytest.mark.skipif(not duck.available(), reason="duckdb is not installed")

_pure_check = check


def _write(d: Path, history: list, ledger: list) -> tuple[Path, Path]:
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    h.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in history))
    led.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in ledger))
    return h, led


def _duck_direct(h: Path, led: Path, opts: CheckOptions):
    ev, lg = _LineAt(h), _LineAt(led)
    try:
        return duck.check_files_duck(h, led, opts, ev, lg)
    finally:
        ev.close()
        lg.close()


def _python_files(h: Path, led: Path, opts: CheckOptions, monkeypatch=None):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(files.PATH_ENV, "python")
        return check_files(h, led, opts)


def _dual_check(events, ledger, opts=None):
    """check(), plus the same history through the DuckDB and the Python file paths: all
    three must agree exactly (the DuckDB path must decide, not fall back)."""
    opts = opts or CheckOptions()
    events, ledger = list(events), list(ledger)
    pure = _pure_check(events, ledger, opts)
    with tempfile.TemporaryDirectory() as tmp:
        h, led = _write(Path(tmp), [e if isinstance(e, dict) else e.to_dict() for e in events],
                        [x if isinstance(x, dict) else x.to_dict() for x in ledger])
        py = _python_files(h, led, opts)
        dk = _duck_direct(h, led, opts)
    if pure.errors:
        # a crashed sub-check: DuckDB hands it to the sequential path, which reports it
        assert dk is None
        assert py.to_dict() == pure.to_dict()
        return pure
    assert dk is not None, "the DuckDB path fell back on a valid history"
    assert dk.to_dict() == py.to_dict() == pure.to_dict()
    assert list(dk.totals) == list(py.totals)
    assert list(dk.anomalies) == list(py.anomalies)
    return pure


@pytest.fixture(autouse=True)
def _duck_everywhere(monkeypatch):
    monkeypatch.setenv(files.PATH_ENV, "duckdb")
    for mod in (test_checker_classes, test_checker_property, test_checker_request_refusals):
        monkeypatch.setattr(mod, "check", _dual_check)


def _generate():
    import importlib.util
    src = Path(__file__).resolve().parents[2] / "benchmarks" / "gen_history.py"
    spec = importlib.util.spec_from_file_location("gen_history", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, dict]:
    """3,000 generated orders with every planted class, plus refunds and reds, a pending
    answer before `issued`, a verify filed under another order, an orphan's red."""
    d = tmp_path_factory.mktemp("gen")
    expected = _generate()(d, orders=3000, plant_every=40, procs=50)
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    n = [f"2900000000000000000{i}" for i in range(10)]
    extra_h = (call(9000.0, "w0.0", "issue", "R1", result="issued", no=n[1])
               + call(9001.0, "w0.0", "refund", "R1", result="issued", no=n[9])
               + call(9002.0, "w1.1", "issue", "R2", result="issued", no=n[2])
               + call(9003.0, "w1.1", "issue", "R3", result="pending")
               + call(9004.0, "drain", "query", "R3", result="issued", no=n[3])
               + call(9005.0, "c1", "verify", "R1", result="issued", no=n[3])
               + call(9006.0, "w0.0", "refund", "R4", result="issued", no=n[8]))
    b1, b2, b3 = blue(n[1], "R1"), blue(n[2], "R2"), blue(n[3], "R3", t=9003.5)
    orphan = blue(n[5], "ZZ")
    extra_l = [b1, red(n[9], b1), b2, red("29000000000000000010", b2), b3, orphan,
               red("29000000000000000011", orphan)]
    with open(h, "ab") as f:
        f.write(b"".join(orjson.dumps(e) + b"\n" for e in extra_h))
    with open(led, "ab") as f:
        f.write(b"".join(orjson.dumps(e) + b"\n" for e in extra_l))
    return d, expected


@pytest.mark.parametrize("max_evidence", [3, 1000])
def test_duck_equals_python_on_a_generated_run(run_dir, max_evidence):
    d, expected = run_dir
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    faults = [{"id": "f1", "kind": "latency", "start_s": 1.0, "end_s": 2.0}]
    opts = CheckOptions(max_evidence=max_evidence, faults=faults)
    dk = _duck_direct(h, led, opts)
    assert dk is not None                        # decided by DuckDB, not a fallback
    py = _python_files(h, led, opts).to_dict()
    got = dk.to_dict()
    assert got == py
    assert list(got["totals"]) == list(py["totals"])
    assert list(got["anomalies"]) == list(py["anomalies"])
    pure = check([orjson.loads(x) for x in h.read_bytes().splitlines()],
                 [orjson.loads(x) for x in led.read_bytes().splitlines()], opts).to_dict()
    assert got == pure
    for k in ("lost", "duplicated", "phantom", "mismatched", "unresolved", "recovered",
              "stale_reads"):
        assert got["counts"][k] >= expected[k] > 0, k
    assert got["counts"]["orphaned"] == expected["orphaned"] + 2      # ZZ's blue and red
    assert got["counts"]["misreversed"] == 1                  # R2's red nobody asked for
    assert got["requests"]["latency_ms"]["p99"] is not None
    assert got["acceptance_delay_s"]["count"] > 2900
    # and check_files picks it when forced
    assert check_files(h, led, opts).to_dict() == py


def test_the_clean_set_is_most_orders(run_dir):
    """The fast path really sets clean orders aside (else it would just be the slow one)."""
    d, _ = run_dir
    con = duck.connect()
    duck._load_history(con, d / "history.jsonl")
    duck._load_ledger(con, d / "platform-ledger.jsonl")
    duck._specs(con)
    duck._classify_clean(con)
    n_clean = con.execute("SELECT count(*) FROM clean").fetchone()[0]
    assert 2800 < n_clean < 3000


def test_integer_times_and_blank_lines_fall_back_exactly(tmp_path):
    hist = call(1.0, "w0", "issue", "A", result="issued", no="26117000000000000001")
    led = [blue("26117000000000000001", "A")]
    h, lp = _write(tmp_path, hist, led)
    assert _duck_direct(h, lp, CheckOptions()) is not None
    ints = [dict(hist[0], t=1), hist[1]]
    h, lp = _write(tmp_path, ints, led)
    assert _duck_direct(h, lp, CheckOptions()) is None
    assert check_files(h, lp).to_dict() == _pure_check(ints, led).to_dict()
    h.write_bytes(orjson.dumps(hist[0]) + b"\n\n" + orjson.dumps(hist[1]) + b"\n")
    assert _duck_direct(h, lp, CheckOptions()) is None
    assert check_files(h, lp).counts["requested"] == 1


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
    monkeypatch.delenv(files.PATH_ENV, raising=False)
    big, small = Path("/b"), Path("/s")
    sizes = {big: files.DUCK_MIN_BYTES, small: 1}

    class _St:
        def __init__(self, n): self.st_size = n

    monkeypatch.setattr(Path, "stat", lambda self, **kw: _St(sizes[self]))
    assert files._use_duck(big, small) is True
    assert files._use_duck(small, small) is False
