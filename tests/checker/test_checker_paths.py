"""check_files on a generated run with planted anomalies of every class gives exactly the
pure check's verdict, on each reader (conftest.py runs this module on both)."""
from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from support.history import blue, call

from harness.checker import CheckOptions, check, check_files


def _records(path: Path) -> list:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


@pytest.mark.parametrize("max_evidence", [3, 1000])
def test_a_generated_run_gives_the_pure_verdict(generated_run, checker_path, max_evidence):
    d, expected = generated_run
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    faults = [{"id": "f1", "kind": "latency", "start_s": 1.0, "end_s": 2.0}]
    opts = CheckOptions(max_evidence=max_evidence, faults=faults)
    res = check_files(h, led, opts)
    assert (res.path, res.fallback_reason) == (checker_path, None)
    got = res.to_dict()
    pure = check(_records(h), _records(led), opts).to_dict()
    assert got == pure
    assert list(got["totals"]) == list(pure["totals"])
    assert list(got["anomalies"]) == list(pure["anomalies"])
    for k in ("lost", "duplicated", "phantom", "mismatched", "unresolved", "recovered",
              "stale_reads"):
        assert got["counts"][k] >= expected[k] > 0, k
    assert got["counts"]["orphaned"] == expected["orphaned"] + 2      # ZZ's blue and red
    assert got["counts"]["misreversed"] == 1                  # R2's red nobody asked for
    assert got["requests"]["latency_ms"]["p99"] is not None
    assert got["acceptance_delay_s"]["count"] > 2900
    assert all(len(v) <= max_evidence for v in got["anomalies"].values())


def test_escaped_and_spaced_json_gives_the_same_verdict(tmp_path, checker_path):
    """json.dumps style (spaces, \\u escapes) and ids holding quotes."""
    hist = (call(1.0, "w0", "issue", "O\u00e91", result="issued", no="26117000000000000001")
            + call(2.0, "w1", "issue", 'O"2', result="issued", no="26117000000000000002"))
    h, lp = tmp_path / "history.jsonl", tmp_path / "platform-ledger.jsonl"
    h.write_text("".join(json.dumps(e) + "\n" for e in hist))
    lp.write_text(json.dumps(blue("26117000000000000001", "O\u00e91")) + "\n")
    res = check_files(h, lp)
    assert res.path == checker_path
    assert res.to_dict() == check(hist, [blue("26117000000000000001", "O\u00e91")]).to_dict()
    assert res.counts["lost"] == 1 and res.counts["requested"] == 2


def test_a_factory_run_gives_the_planted_counts_and_the_pure_verdict(factory_run, checker_path):
    """Orders as the load generator makes them (every one distinct, both buyer kinds, every
    rate, weights with three decimals) give exactly the planted counts, on each reader."""
    d, expected = factory_run
    h, led = d / "history.jsonl", d / "platform-ledger.jsonl"
    opts = CheckOptions(max_evidence=5)
    res = check_files(h, led, opts)
    assert (res.path, res.fallback_reason) == (checker_path, None)
    assert {k: res.counts[k] for k in expected} == expected
    assert all(expected[k] > 0 for k in expected)
    assert res.to_dict() == check(_records(h), _records(led), opts).to_dict()
