"""What the harness, not the system, got wrong in a run driven through a client adapter:
exceptions inside the adapter (or returns that are not an Answer) and responses the
adapter could not map. Counted from `history.jsonl` by the error prefixes of answer.py, so
`invoice-chaos check DIR` finds the same figures as the run; either makes the verdict
`unknown` (the run could not ask what it claims to check).
"""
from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import orjson

from .answer import ADAPTER_ERROR, UNMAPPED

__all__ = ["client_problems", "problem_reasons", "blames_adapter", "EXAMPLES"]

#: How many distinct messages of each kind summary.json keeps.
EXAMPLES = 3
_KINDS = {"adapter_errors": ADAPTER_ERROR, "unmapped": UNMAPPED}


def client_problems(history: Path) -> dict[str, Any]:
    """`{adapter_errors, unmapped, examples: {kind: [{op, order_id, error}]}}`: a byte search
    over the file (no JSON decoding but for the example lines), so a large history costs
    a fraction of a second."""
    out: dict[str, Any] = {k: 0 for k in _KINDS}
    examples: dict[str, list[dict[str, Any]]] = {k: [] for k in _KINDS}
    if not history.is_file() or history.stat().st_size == 0:
        return {**out, "examples": examples}
    with open(history, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        for kind, prefix in _KINDS.items():
            needle = b'"error":"' + prefix.encode()
            at = mm.find(needle)
            seen: set[str] = set()
            while at >= 0:
                out[kind] += 1
                if len(examples[kind]) < EXAMPLES:
                    start = mm.rfind(b"\n", 0, at) + 1
                    end = mm.find(b"\n", at)
                    try:
                        e = orjson.loads(mm[start:end if end >= 0 else len(mm)])
                    except orjson.JSONDecodeError:
                        e = {}
                    msg = str(e.get("error") or "")
                    key = msg.split(" (", 1)[0]
                    if key not in seen:
                        seen.add(key)
                        examples[kind].append({"op": e.get("op"), "order_id": e.get("order_id"),
                                               "error": msg})
                at = mm.find(needle, at + len(needle))
    return {**out, "examples": examples}


def problem_reasons(client: dict[str, Any]) -> list[str]:
    """The verdict's `unknown_reasons` for a run's adapter problems (empty when none)."""
    reasons = []
    label = client.get("adapter") or "the client adapter"
    n = int(client.get("adapter_errors") or 0)
    if n:
        first = (client.get("examples") or {}).get("adapter_errors") or [{}]
        reasons.append(f"the client adapter {label} failed {n} time(s) (the harness, not the "
                       f"system, failed to ask); first: {first[0].get('error', '?')}")
    n = int(client.get("unmapped") or 0)
    if n:
        first = (client.get("examples") or {}).get("unmapped") or [{}]
        reasons.append(f"{n} answer(s) the client adapter {label} could not map (recorded "
                       f"unknown, never guessed); first: {first[0].get('error', '?')}")
    return reasons


def blames_adapter(client: dict[str, Any], failed_gates: list[str]) -> str | None:
    """Why a `fail` must be `unknown`: with adapter problems, every request the adapter failed
    to ask counts as one the system left unanswered (answered share, error rate, recovery,
    latency), and an order whose last asking failed stays `unresolved`: such a failing gate
    may be the adapter's doing. Another anomaly class (lost, duplicated, ...: made by what
    the system answered or stored, never by an unknown outcome) still convicts the system."""
    from ..checker.result import ANOMALY_CLASSES
    if not (client.get("adapter_errors") or client.get("unmapped")):
        return None
    convicting = set(ANOMALY_CLASSES) - {"unresolved"}
    if not failed_gates or any(g in convicting for g in failed_gates):
        return None
    return (f"the failing gates ({', '.join(failed_gates)}) count the client adapter's failures "
            "as requests the system left unanswered: they cannot tell what the system did")
