"""check_files on real JSONL files: the same verdict as check(), and file:line errors."""
from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from support.history import blue, call, done, issue, red

from harness.checker import CheckOptions, check, check_files
from harness.errors import InputError

N1, N2 = "26117000000000000001", "26117000000000000002"


def write(tmp_path: Path, history: list, ledger: list, tail: bytes = b"") -> tuple[Path, Path]:
    h, l = tmp_path / "history.jsonl", tmp_path / "platform-ledger.jsonl"
    h.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in history) + tail)
    l.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in ledger))
    return h, l


def sample() -> tuple[list, list]:
    h = (call(1.0, "w0", "issue", "A", result="issued", no=N1)
         + call(1.5, "w1", "issue", "B", result="issued", no=N2)
         + call(3.0, "w0", "refund", "A", result="issued", no="26117000000000000900"))
    b1 = blue(N1, "A")
    return h, [b1, red("26117000000000000900", b1)]


def test_files_give_the_same_verdict_as_check(tmp_path):
    h, led = sample()
    r = check_files(*write(tmp_path, h, led), CheckOptions())
    assert r.to_dict() == check(h, led, CheckOptions()).to_dict()
    assert r.counts["lost"] == 1
    # evidence is read back from the file by offset: the events of B, as written
    assert r.anomalies["lost"][0]["events"] == h[2:4]


def test_truncated_last_line(tmp_path):
    h, led = sample()
    hp, lp = write(tmp_path, h, led, tail=b'{"t": 9.0, "ts": 1767225609.0, "proc": "w')
    with pytest.raises(InputError, match=r"^history.jsonl:7: truncated last line"):
        check_files(hp, lp)


def test_unknown_event_type(tmp_path):
    h, led = sample()
    h[2] = dict(h[2], type="started")
    with pytest.raises(InputError, match=r"^history.jsonl:3: unknown event type 'started'"):
        check_files(*write(tmp_path, h, led))


def test_unknown_op_and_ill_typed_field(tmp_path):
    h, led = sample()
    bad = dict(h[0], op="cancel")
    with pytest.raises(InputError, match=r"^history.jsonl:1: unknown op 'cancel'"):
        check_files(*write(tmp_path, [bad] + h[1:], led))
    bad = dict(h[1], t="soon")
    with pytest.raises(InputError, match=r"^history.jsonl:2: field 't' must be a number"):
        check_files(*write(tmp_path, [h[0], bad] + h[2:], led))


def test_completion_without_invoke(tmp_path):
    h, led = sample()
    with pytest.raises(InputError, match=r"^history.jsonl:1: proc w0 completed 'issue' for "
                                         r"order A without invoking it first"):
        check_files(*write(tmp_path, h[1:], led))


def test_the_harness_procs_pair_like_any_proc(tmp_path):
    """drain.<k> / final.<k> do one request at a time, like customers: no special pairing.
    A bare `drain` asking about two orders at once (histories from before the drain had
    lanes) is refused with the line, as any proc would be."""
    h, led = sample()
    lanes = (call(5.0, "drain.0", "query", "A", result="issued", no=N1)
             + call(5.0, "drain.1", "query", "B", result="issued", no=N2))
    interleaved = [lanes[0], lanes[2], lanes[1], lanes[3]]
    res = check_files(*write(tmp_path, h + interleaved, led))
    assert res.requests["total"] == 3                  # the harness's own are left out
    bare = [dict(e, proc="drain") for e in interleaved]
    with pytest.raises(InputError, match=r"^history.jsonl:8: proc drain invoked 'query' for "
                                         r"order B while its 'query' for order A was still open"):
        check_files(*write(tmp_path, h + bare, led))


def test_ledger_line_missing_a_field(tmp_path):
    h, led = sample()
    bad = dict(led[1])
    del bad["original_invoice_no"]
    with pytest.raises(InputError, match=r"^platform-ledger.jsonl:2: missing field "
                                         r"'original_invoice_no'"):
        check_files(*write(tmp_path, h, [led[0], bad]))


def test_issue_invoke_needs_its_order(tmp_path):
    h, led = sample()
    bad = dict(h[0])
    del bad["order"]
    with pytest.raises(InputError, match=r"^history.jsonl:1: an 'issue' invoke needs field 'order'"):
        check_files(*write(tmp_path, [bad] + h[1:], led))


def test_check_names_the_record_too():
    with pytest.raises(InputError, match=r"^history\[0\]: proc w0 completed"):
        check([done(1.0, "w0", "issue", "A", result="issued")], [])
    with pytest.raises(InputError, match=r"^history\[1\]: proc w0 invoked 'issue' for order B"):
        check([issue(1.0, "w0", "A"), issue(1.1, "w0", "B")], [])
