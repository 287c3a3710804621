"""When a fault of faults.jsonl counts as active: the one definition that the checker's
evidence, the recovery figures, the report's timelines and its per-fault figures all use.

A fault is active over [start_s, end_s); one without an end (a kill, a token revocation)
from start_s until its `restart_after`, else for INSTANT_FAULT_S.
"""
from __future__ import annotations

import math
from typing import Any

from .durations import DurationError, parse_duration

__all__ = ["INSTANT_FAULT_S", "duration_s", "fault_end", "fault_window", "active_at",
           "active_faults"]

#: How long a fault without an end (a kill, a token revocation) counts as active when it
#: names no `restart_after`.
INSTANT_FAULT_S = 1.0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def duration_s(value: Any) -> float | None:
    """Seconds from a number or a scenario duration ("500ms", "5s", "1m"); None otherwise."""
    n = _number(value)
    if n is not None:
        return n if n >= 0 else None
    try:
        return parse_duration(value)
    except DurationError:
        return None


def fault_end(fault: dict[str, Any]) -> float | None:
    """A fault's end time, or None for an instantaneous one (a kill) or a bad value."""
    return _number(fault.get("end_s"))


def fault_window(fault: dict[str, Any]) -> tuple[float, float] | None:
    """When a fault of faults.jsonl counts as active: [start, end), or for an instantaneous
    one such as a kill, until its `restart_after` (else INSTANT_FAULT_S). None without a
    start. The one definition: the checker's evidence, the report's timelines and its
    per-fault figures all use it."""
    start = _number(fault.get("start_s"))
    if start is None:
        return None
    end = fault_end(fault)
    if end is None:
        params = fault.get("params")
        params = params if isinstance(params, dict) else {}
        end = start + (duration_s(params.get("restart_after")) or INSTANT_FAULT_S)
    return start, end


def active_at(fault: dict[str, Any], t: Any) -> bool:
    """Was the fault active at run time `t`?"""
    window = fault_window(fault)
    t = _number(t)
    return window is not None and t is not None and window[0] <= t < window[1]


def active_faults(faults: list[dict[str, Any]], times: list[float]) -> list[dict[str, Any]]:
    """The faults active at any of `times`."""
    return [f for f in faults if any(active_at(f, t) for t in times)]
