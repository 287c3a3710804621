"""Smaller candidates of a failing try (pure): drop a fault, shorten a window, move a fault
later, lower the rate, shorten the load. The search keeps a candidate only when it still
fails with the same class, then asks for candidates of the smaller one (greedy, like
QuickCheck's shrinking), until none fails or the step budget is spent."""
from __future__ import annotations

import math
from typing import Any, Iterator

from ..durations import format_duration, parse_duration
from .draw import MARGIN_S, window_of
from .tryfile import TrySpec

__all__ = ["candidates", "describe", "MIN_TRY_S"]

MIN_TRY_S = 8.0


def describe(f: dict[str, Any]) -> str:
    kind = f.get("toxic") or f.get("action")
    where = f.get("link") or f.get("target")
    span = f"at {f['at']}" + (f" for {f['for']}" if "for" in f else "")
    return f"{kind} {where} {span}"


def _last_end(faults: tuple[dict[str, Any], ...]) -> float:
    return max((window_of(f)[1] for f in faults), default=0.0)


def candidates(spec: TrySpec) -> Iterator[tuple[str, TrySpec]]:
    """(what changed, the smaller spec), the biggest simplifications first."""
    faults = spec.faults
    for i, f in enumerate(faults):
        yield f"drop {describe(f)}", spec.with_(faults=faults[:i] + faults[i + 1:])
    for i, f in enumerate(faults):
        if "for" in f and parse_duration(f["for"]) > 1:
            new = dict(f, **{"for": format_duration(max(1, math.floor(parse_duration(f["for"]) / 2)))})
            yield f"shorten {describe(f)} to {new['for']}", spec.with_(faults=faults[:i] + (new,) + faults[i + 1:])
    if spec.peak_rps > 1:
        rate = max(1.0, math.floor(spec.peak_rps / 2))
        yield f"lower the rate to {rate:g}/s", spec.with_(peak_rps=rate)
    shorter = max(MIN_TRY_S, math.ceil(_last_end(faults)) + MARGIN_S, math.ceil(spec.duration_s / 2))
    if shorter < spec.duration_s:
        yield f"shorten the load to {format_duration(shorter)}", spec.with_(duration_s=float(shorter))
    for i, f in enumerate(faults):
        start, end = window_of(f)
        latest = spec.duration_s - MARGIN_S - (end - start)
        step = math.ceil((latest - start) / 2)
        if step >= 1:
            new = dict(f, at=format_duration(start + step))
            yield f"move {describe(f)} to {new['at']}", spec.with_(faults=faults[:i] + (new,) + faults[i + 1:])
