"""Reading and checking the history parts a load run wrote."""
from __future__ import annotations

import json
from pathlib import Path

KEYS = {"t", "ts", "proc", "op", "type", "order_id", "invoice_no", "result", "status",
        "latency_ms", "error"}


def read_history(files: list[Path]) -> list[dict]:
    events = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            e = json.loads(line)
            extra = set(e) - KEYS
            assert set(e) >= KEYS and extra <= {"order"}, f"{f}:{n}: keys {sorted(e)}"
            if "order" in e:
                assert e["op"] == "issue" and e["type"] == "invoke", f"{f}:{n}"
            events.append(e)
    return sorted(events, key=lambda e: e["t"])


def check_pairs(events: list[dict]) -> None:
    """Each proc alternates invoke -> completion of the same op and order (Jepsen)."""
    open_ops: dict[str, dict] = {}
    for e in events:
        p = e["proc"]
        if e["type"] == "invoke":
            assert p not in open_ops, f"proc {p} invoked {e['op']} with one open: {open_ops[p]}"
            assert "order" in e or e["op"] != "issue", e
            open_ops[p] = e
        else:
            inv = open_ops.pop(p, None)
            assert inv is not None, f"proc {p} completed {e['op']} without invoking it first"
            assert (inv["op"], inv["order_id"]) == (e["op"], e["order_id"]), (inv, e)
            assert e["latency_ms"] is not None and e["latency_ms"] >= 0
    assert not open_ops, f"invokes never completed: {list(open_ops.values())[:3]}"
