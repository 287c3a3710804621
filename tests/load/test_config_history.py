"""LoadConfig round trip and validation; HistoryWriter lines (design.md s.7)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.load import MIX_KINDS, HistoryWriter, LoadConfig, history
from harness.load.history import seal_part
from harness.load.remote import close_open_invokes
from harness.rundir import SkippedLines, iter_jsonl

ROOT = Path(__file__).resolve().parents[2]

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


def _lines(path, skipped=None):
    """The events on file now, as the run directory's readers see them (NUL = blank)."""
    return list(iter_jsonl(path, strict=skipped is None, skipped=skipped))


def test_every_line_is_on_file_at_once_and_close_cuts_the_padding(tmp_path):
    """The driver's writer: an invoke is on file (in the page cache) before its request goes
    out, a completion as soon as it is recorded; close() leaves exactly the lines."""
    p = tmp_path / "w0.jsonl"
    h = HistoryWriter(p, "w0", t0=1000.0)
    h.invoke("issue", "O1-1", journey=1, ts=1001.0)
    assert [e["type"] for e in _lines(p)] == ["invoke"]          # written at once
    assert p.stat().st_size == history.CHUNK                     # mapped, padded with NULs
    h.complete("issue", "ok", "O1-1", journey=1, result="issued", status=201, ts=1001.2)
    assert [(e["proc"], e["type"]) for e in _lines(p)] == [("w0.1", "invoke"), ("w0.1", "ok")]
    assert _lines(p)[1]["t"] == 1.2 and _lines(p)[1]["ts"] == 1001.2   # to the microsecond
    h.close()
    data = p.read_bytes()
    assert data.endswith(b"\n") and b"\0" not in data and data.count(b"\n") == h.lines == 2
    with pytest.raises(ValueError, match="closed"):
        h.invoke("issue", "O1-3", journey=3)
    h2 = HistoryWriter(p, "w0", t0=1000.0)                        # continues after the lines
    h2.invoke("query", "O1-1", ts=1003.0)
    h2.close()
    assert [e["op"] for e in _lines(p)] == ["issue", "issue", "query"]


def test_lines_across_chunks_and_from_threads(tmp_path, monkeypatch):
    """Lines that straddle a chunk's end, a line longer than a chunk, and four threads at once
    (the drain's lanes): every line whole, none lost, in each thread's order."""
    monkeypatch.setattr(history, "CHUNK", 4096)
    p = tmp_path / "drain.jsonl"
    h = HistoryWriter(p, "drain", t0=0.0)
    h.invoke("issue", "O-big", order={"note": "x" * 9000}, ts=1.0)
    def lane(k):
        for i in range(500):
            h.invoke("query", f"O{k}-{i}", journey=k, ts=2.0)
            h.complete("query", "ok", f"O{k}-{i}", journey=k, result="issued", ts=2.0)
    threads = [threading.Thread(target=lane, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    h.close()
    events = _lines(p)
    assert len(events) == 1 + 4 * 1000 == h.lines
    assert events[0]["order"]["note"] == "x" * 9000
    for k in range(4):
        mine = [e["order_id"] for e in events if e["proc"] == f"drain.{k}"]
        assert mine == [f"O{k}-{i}" for i in range(500) for _ in (0, 1)]


_KILLED_WRITER = """
import os, signal, sys
from harness.load.history import HistoryWriter
h = HistoryWriter(sys.argv[1], "w0", t0=1000.0)
for i in range(3):
    h.invoke("issue", f"O1-{i}", journey=i, ts=1001.0)
    if i < 2:
        h.complete("issue", "ok", f"O1-{i}", journey=i, result="issued", status=201, ts=1001.5)
h._copy(b'{"t":1.7,"proc":"w0.9","op":"iss')         # a line being copied at the kill
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_writer_loses_no_line_and_its_part_is_sealed(tmp_path):
    """SIGKILL: every line copied is on file; the padding and the torn line are cut when the
    part is sealed, and the open invoke gets its `info` right after the last line."""
    p = tmp_path / "w0.jsonl"
    r = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(p)], cwd=ROOT)
    assert r.returncode == -signal.SIGKILL
    assert p.read_bytes().endswith(b"\0")                         # the rest of the chunk
    torn = SkippedLines()
    assert [e["type"] for e in _lines(p, torn)] == ["invoke", "ok", "invoke", "ok", "invoke"]
    assert torn.count == 1                                          # only the line cut short
    assert close_open_invokes(p, 1000.0, "interrupted: load stopped", ts=1002.0) == 1
    data = p.read_bytes()
    assert b"\0" not in data and b'"op":"iss"' not in data and b'"w0.9"' not in data
    assert [(e["proc"], e["type"]) for e in _lines(p)][-2:] == [("w0.2", "invoke"), ("w0.2", "info")]
    assert seal_part(p) == 0                                        # nothing more to cut
