"""The fast paths give exactly the simple path's verdict: the parallel checker (forced on
small files), the sequential fused reader, and the pure check() on the parsed records."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from checker_build import blue, call, red

import harness.checker.files as files
from harness.checker import CheckOptions, check, check_files
from harness.checker.fastfold import partition_of
from harness.errors import InputError


def _generate():
    """benchmarks/gen_history.py by path (benchmarks is not an installed package)."""
    import importlib.util
    src = Path(__file__).resolve().parents[2] / "benchmarks" / "gen_history.py"
    spec = importlib.util.spec_from_file_location("gen_history", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


def _records(path: Path) -> list:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _run(monkeypatch, h: Path, led: Path, parallel: bool, opts: CheckOptions):
    monkeypatch.setattr(files, "PARALLEL_MIN_BYTES", 0 if parallel else 1 << 60)
    monkeypatch.setattr(files, "PARTS", 2)
    return check_files(h, led, opts)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[Path, dict]:
    d = tmp_path_factory.mktemp("gen")
    expected = _generate()(d, orders=3000, plant_every=40, procs=50)
    # add reversals across the file: a refund with its red, and a red nobody asked for
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    extra_h = (call(9000.0, "w0.0", "issue", "R1", result="issued", no="29000000000000000001")
               + call(9001.0, "w0.0", "refund", "R1", result="issued", no="29000000000000000009")
               + call(9002.0, "w1.1", "issue", "R2", result="issued", no="29000000000000000002"))
    b1, b2 = blue("29000000000000000001", "R1"), blue("29000000000000000002", "R2")
    extra_l = [b1, red("29000000000000000009", b1), b2, red("29000000000000000010", b2)]
    with open(h, "ab") as f:
        f.write(b"".join(orjson.dumps(e) + b"\n" for e in extra_h))
    with open(led, "ab") as f:
        f.write(b"".join(orjson.dumps(e) + b"\n" for e in extra_l))
    return d, expected


def test_parallel_sequential_and_pure_agree_exactly(run_dir, monkeypatch):
    d, expected = run_dir
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    opts = CheckOptions(max_evidence=5)
    par = _run(monkeypatch, h, led, True, opts).to_dict()
    seq = _run(monkeypatch, h, led, False, opts).to_dict()
    assert par == seq
    # same key order too (summary.json is written from these dicts)
    assert list(par["anomalies"]) == list(seq["anomalies"])
    assert list(par["totals"]) == list(seq["totals"])
    pure = check(_records(h), _records(led), opts).to_dict()
    for k in ("valid", "counts", "totals", "time_to_consistency_s", "acceptance_delay_s",
              "requests"):
        assert par[k] == pure[k], k
    # the planted counts, plus R1/R2: R2's only invoice is cancelled by a red nobody asked
    # for, so R2 is lost and that red is misreversed
    want = dict(expected, requested=expected["requested"] + 2,
                acknowledged=expected["acknowledged"] + 2, lost=expected["lost"] + 1)
    for k, v in want.items():
        assert par["counts"][k] == v, k
    assert par["counts"]["misreversed"] == 1
    assert par["valid"] is False
    assert par["requests"]["latency_ms"]["p99"] is not None
    # evidence: max_evidence kept per class, in the sequential order
    assert all(len(v) <= 5 for v in par["anomalies"].values())


def test_the_parallel_path_really_ran(run_dir, monkeypatch):
    """Not a silent fallback: the partitions decide this history on their own."""
    from harness.checker import parallel
    d, _ = run_dir
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    seen = {}

    def ev(ref):
        seen["ev"] = True
        return orjson.loads(h.read_bytes()[ref:].split(b"\n", 1)[0])

    res = parallel.check_files_parallel(h, led, CheckOptions(), ev, lambda r: {}, 2)
    assert res is not None
    assert res.counts["lost"] > 0 and seen.get("ev")


def _write(tmp_path: Path, history: list, ledger: list, tail: bytes = b"") -> tuple[Path, Path]:
    h, led = tmp_path / "history.jsonl", tmp_path / "platform-ledger.jsonl"
    h.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in history) + tail)
    led.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in ledger))
    return h, led


def _two_partitions() -> tuple[str, str]:
    a = next(f"A{i}" for i in range(100) if partition_of(f"A{i}", 2) == 0)
    b = next(f"B{i}" for i in range(100) if partition_of(f"B{i}", 2) == 1)
    return a, b


def test_pairing_across_partitions_is_still_refused(tmp_path, monkeypatch):
    """Proc w0 invokes A, then B while A is open: each partition alone sees a valid
    history; the interval check sends it to the sequential reader, which names the line."""
    a, b = _two_partitions()
    inv_a, done_a = call(1.0, "w0", "issue", a, result="issued", no="26117000000000000001")
    inv_b, done_b = call(1.1, "w0", "issue", b, result="issued", no="26117000000000000002")
    h, led = _write(tmp_path, [inv_a, inv_b, done_a, done_b], [])
    with pytest.raises(InputError, match=rf"^history.jsonl:2: proc w0 invoked 'issue' for "
                                         rf"order {b} while"):
        _run(monkeypatch, h, led, True, CheckOptions())


@pytest.mark.parametrize("parallel", [True, False])
def test_file_line_errors_on_both_paths(tmp_path, monkeypatch, parallel):
    a, b = _two_partitions()
    hist = (call(1.0, "w0", "issue", a, result="issued", no="26117000000000000001")
            + call(2.0, "w1", "issue", b, result="issued", no="26117000000000000002"))
    led = [blue("26117000000000000001", a), blue("26117000000000000002", b)]
    h, lp = _write(tmp_path, hist, led, tail=b'{"t": 9.0, "proc": "w')
    with pytest.raises(InputError, match=r"^history.jsonl:5: truncated last line"):
        _run(monkeypatch, h, lp, parallel, CheckOptions())
    bad = dict(hist[3], type="started")
    h, lp = _write(tmp_path, hist[:3] + [bad], led)
    with pytest.raises(InputError, match=r"^history.jsonl:4: unknown event type 'started'"):
        _run(monkeypatch, h, lp, parallel, CheckOptions())
    h, lp = _write(tmp_path, hist[1:], led)
    with pytest.raises(InputError, match=r"^history.jsonl:1: proc w0 completed 'issue'"):
        _run(monkeypatch, h, lp, parallel, CheckOptions())
    bad_l = dict(led[1])
    del bad_l["amount"]
    h, lp = _write(tmp_path, hist, [led[0], bad_l])
    with pytest.raises(InputError, match=r"^platform-ledger.jsonl:2: missing field 'amount'"):
        _run(monkeypatch, h, lp, parallel, CheckOptions())


def test_cross_partition_verify_and_red_fall_back_exactly(tmp_path, monkeypatch):
    """A verify filed under another order and a red invoice whose order_ref differs from
    its blue's: partitions cannot decide alone, and the answer is still the simple one."""
    a, b = _two_partitions()
    na, nb = "26117000000000000001", "26117000000000000002"
    hist = (call(1.0, "w0", "issue", a, result="issued", no=na)
            + call(2.0, "w1", "issue", b, result="issued", no=nb)
            + call(3.0, "c0", "verify", b, result="issued", no=na)     # a's number, b's line
            + call(4.0, "w0", "refund", a, result="issued", no="26117000000000000009"))
    ba = blue(na, a)
    r = dict(red("26117000000000000009", ba), order_ref=b)
    h, lp = _write(tmp_path, hist, [ba, blue(nb, b), r])
    par = _run(monkeypatch, h, lp, True, CheckOptions()).to_dict()
    seq = _run(monkeypatch, h, lp, False, CheckOptions()).to_dict()
    assert par == seq
    assert seq["counts"]["misreversed"] == 0
    assert seq["time_to_consistency_s"] is None        # nb was never verified


def test_escaped_and_spaced_order_ids_partition_exactly(tmp_path, monkeypatch):
    """json.dumps style (spaces) and escaped ids take the slow routing; same verdict."""
    import json
    hist = (call(1.0, "w0", "issue", "O\u00e91", result="issued", no="26117000000000000001")
            + call(2.0, "w1", "issue", 'O"2', result="issued", no="26117000000000000002"))
    h, lp = tmp_path / "history.jsonl", tmp_path / "platform-ledger.jsonl"
    h.write_text("".join(json.dumps(e) + "\n" for e in hist))
    lp.write_text(json.dumps(blue("26117000000000000001", "O\u00e91")) + "\n")
    par = _run(monkeypatch, h, lp, True, CheckOptions()).to_dict()
    seq = _run(monkeypatch, h, lp, False, CheckOptions()).to_dict()
    assert par == seq
    assert seq["counts"]["lost"] == 1 and seq["counts"]["requested"] == 2
