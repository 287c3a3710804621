"""`invoice-chaos compare RUN_A RUN_B`: two runs' figures side by side.

The question is usually "did my change make it better or worse", so every
numeric row gets a difference (B - A); gates are matched by name, and a gate
only one run had shows "—" on the other side. Plain text with aligned columns
so it reads in a terminal and pastes into a ticket.
"""
from __future__ import annotations

import math
import unicodedata
from pathlib import Path
from typing import Any

from harness.checker.result import COUNT_KEYS
from harness.summary import Summary

__all__ = ["compare", "compare_summaries"]

#: summary.json's `invoices`, `recovered` next to the outcomes it belongs with
_INVOICE_KEYS = COUNT_KEYS[:4] + ("recovered",) + tuple(k for k in COUNT_KEYS[4:]
                                                         if k != "recovered")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _diff(a: Any, b: Any) -> str:
    if a is None and b is not None:
        return "only B"
    if b is None and a is not None:
        return "only A"
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return "" if _cell(a) == _cell(b) else "changed"
    d = y - x
    if d == 0:
        return "="
    text = _cell(d if not float(d).is_integer() else int(d))
    return text if d < 0 else f"+{text}"


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def _get(d: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


Row = tuple[str, Any, Any, Any, Any]   # label, shown A, shown B, value A, value B (for the diff)


def _gate_cell(gate: dict[str, Any]) -> str | None:
    if not gate:
        return None
    return f"{_cell(gate.get('value'))} {'ok' if gate.get('passed') else 'FAIL'}"


def _rows(a: dict[str, Any], b: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []

    def both(label: str, *path: str) -> None:
        va, vb = _get(a, *path), _get(b, *path)
        rows.append((label, va, vb, va, vb))

    both("scenario", "scenario")
    both("verdict", "verdict")
    both("seed", "seed")
    both("duration (s)", "duration_s")
    for key in _INVOICE_KEYS:
        both(f"invoices.{key}", "invoices", key)
    both("requests.total", "requests", "total")
    both("requests.rps", "requests", "rps")
    both("requests.error_rate", "requests", "error_rate")
    for p in ("p50", "p95", "p99", "max"):
        both(f"latency {p} (ms)", "requests", "latency_ms", p)
    both("time to consistency (s)", "time_to_consistency_s")
    for p in ("p50", "p95", "max"):
        both(f"acceptance delay {p} (s)", "acceptance_delay_s", p)
    both("load.target_rps_mean", "load", "target_rps_mean")
    both("load.achieved_rps_mean", "load", "achieved_rps_mean")
    both("load.unsent", "load", "unsent")
    both("load.harness_saturated", "load", "harness_saturated")
    gates_a = {g.get("name"): g for g in a.get("gates") or [] if isinstance(g, dict)}
    gates_b = {g.get("name"): g for g in b.get("gates") or [] if isinstance(g, dict)}
    for name in list(gates_a) + [n for n in gates_b if n not in gates_a]:
        ga, gb = gates_a.get(name, {}), gates_b.get(name, {})
        limit = ga.get("limit", gb.get("limit"))
        rows.append((f"gate {name} ({limit})", _gate_cell(ga), _gate_cell(gb),
                     ga.get("value"), gb.get("value")))
    return rows


def compare_summaries(a: Summary | dict[str, Any], b: Summary | dict[str, Any],
                      name_a: str = "A", name_b: str = "B") -> str:
    """The side-by-side table of two summaries (pure)."""
    table = [("figure", name_a, name_b, "B - A")]
    da, db = Summary.coerce(a).to_dict(), Summary.coerce(b).to_dict()
    for label, va, vb, raw_a, raw_b in _rows(da, db):
        table.append((label, _cell(va), _cell(vb), _diff(raw_a, raw_b)))
    widths = [max(_width(r[i]) for r in table) for i in range(4)]
    lines = []
    for i, r in enumerate(table):
        lines.append("  ".join([_pad(r[0], widths[0], False)]
                               + [_pad(r[j], widths[j], i > 0) for j in (1, 2, 3)]).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def compare(run_a: Path, run_b: Path) -> str:
    """Compare two run directories; `InputError` if either has no readable summary.json."""
    a, b = Summary.read(Path(run_a)), Summary.read(Path(run_b))
    name_a = f"A: {a.run_id or Path(run_a).name}"
    name_b = f"B: {b.run_id or Path(run_b).name}"
    return compare_summaries(a, b, name_a, name_b)
