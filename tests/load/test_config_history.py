"""LoadConfig round trip and validation; HistoryWriter lines (design.md s.7)."""
from __future__ import annotations

import json

import pytest

from harness.load import MIX_KINDS, HistoryWriter, LoadConfig

BASE = dict(merchant_url="http://127.0.0.1:1", platform_url="http://127.0.0.1:2",
            sellers=[{"seller_tax_id": "91110000600001760P", "name": "s", "secret": "x"}],
            seed=1, duration_s=10, curve=[[0, 1]], compress_s=None, peak_rps=5,
            mix={"checkout": 1})


def test_round_trip():
    c = LoadConfig(**BASE, workers=2, t0=123.5)
    assert LoadConfig.from_json(c.to_json()) == c
    assert MIX_KINDS == ("checkout", "query", "refund", "verify")


@pytest.mark.parametrize("change,needle", [
    ({"mix": {"checkout": 1, "buy": 1}}, "unknown kinds"),
    ({"duration_s": 0}, "duration_s"),
    ({"workers": 0}, "workers"),
    ({"curve": []}, "curve"),
    ({"compress_s": -1}, "compress_s"),
])
def test_invalid(change, needle):
    with pytest.raises(ValueError, match=needle):
        LoadConfig(**{**BASE, **change})


def test_unknown_field_refused():
    data = json.loads(LoadConfig(**BASE).to_json())
    data["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        LoadConfig.from_json(json.dumps(data))


def test_history_writer_lines(tmp_path):
    p = tmp_path / "h" / "drain.jsonl"
    with HistoryWriter(p, "drain", t0=1000.0) as h:
        h.invoke("issue", "O1-1", journey=3, order={"kind": "normal"}, ts=1001.5)
        h.complete("issue", "ok", "O1-1", journey=3, invoice_no="2611", result="issued",
                   status=201, latency_ms=12.3456, ts=1002.0)
        h.invoke("query", "O1-1", ts=1003.0)
        with pytest.raises(ValueError):
            h.complete("query", "done", "O1-1")
    lines = [json.loads(l) for l in p.read_text().splitlines()]
    keys = {"t", "ts", "proc", "op", "type", "order_id", "invoice_no", "result", "status",
            "latency_ms", "error"}
    assert set(lines[0]) == keys | {"order"} and set(lines[1]) == keys
    assert lines[0]["t"] == 1.5 and lines[0]["proc"] == "drain.3"
    assert lines[1]["type"] == "ok" and lines[1]["latency_ms"] == 12.346
    assert lines[2]["proc"] == "drain" and lines[2]["t"] == 3.0


def test_held_completions_go_out_with_the_next_invoke_or_a_flush(tmp_path):
    """The driver's writer: an invoke is on file before its request goes out; a completion
    waits for the next write (an invoke, a flush, close), in order, never a line lost."""
    p = tmp_path / "w0.jsonl"
    h = HistoryWriter(p, "w0", t0=1000.0, hold_completions=True)
    read = lambda: [json.loads(l) for l in p.read_text().splitlines()]  # noqa: E731
    h.invoke("issue", "O1-1", journey=1, ts=1001.0)
    assert [e["type"] for e in read()] == ["invoke"]          # written at once
    h.complete("issue", "ok", "O1-1", journey=1, result="issued", status=201, ts=1001.2)
    assert len(read()) == 1                                    # held
    h.invoke("issue", "O1-2", journey=2, ts=1001.5)            # goes out with this invoke
    assert [(e["proc"], e["type"]) for e in read()] == [
        ("w0.1", "invoke"), ("w0.1", "ok"), ("w0.2", "invoke")]
    assert read()[1]["t"] == 1.2 and read()[1]["ts"] == 1001.2     # to the microsecond
    h.complete("issue", "info", "O1-2", journey=2, error="timeout: RequestDeadline", ts=1002.0)
    h.flush()                                                  # the driver's 50 ms tick
    assert [e["type"] for e in read()][-1] == "info" and h.lines == 4
    h.complete("query", "ok", "O1-1", journey=1, ts=1003.0)
    h.close()                                                  # close writes what is held
    assert len(read()) == 5 and h.lines == 5
    with pytest.raises(ValueError):
        h.invoke("issue", "O1-3", journey=3)
