"""The scenario's `explore:` block (`invoice-chaos explore`'s fault space): its grammar and
validation, with `file:line` errors like every other key. The exploration itself
(harness/explore/) reads the validated block; the scenario never imports it.
"""
from __future__ import annotations

from typing import Any, Callable

from ..durations import DurationError, parse_duration

__all__ = ["EXPLORE_KEYS", "check_explore", "fault_kind"]

Problem = Callable[[str, str], None]

EXPLORE_KEYS = ("faults", "targets", "links", "count", "for", "overlap", "duration")


def fault_kind(name: str) -> tuple[Any, str] | None:
    """A fault kind's class and whether a scenario names it as `toxic` or `action`."""
    from ..faults.plan import action_kinds          # the fault kinds load only when asked
    from ..faults.registry import kinds_of
    cls = kinds_of("toxic").get(name)
    if cls is not None:
        return cls, "toxic"
    cls = action_kinds().get(name)
    return (cls, "action") if cls is not None else None


def _range(raw: Any, parse: Callable[[Any], float], what: str, problem: Problem, key: str) -> tuple | None:
    items = raw if isinstance(raw, list) else [raw, raw]
    if len(items) != 2:
        problem(key, f"{what}: one value or [min, max]")
        return None
    try:
        lo, hi = parse(items[0]), parse(items[1])
    except (DurationError, ValueError, TypeError) as e:
        problem(key, f"{what}: {e}")
        return None
    if lo > hi:
        problem(key, f"{what}: [min, max] with min <= max")
        return None
    return lo, hi


def _count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 20:
        raise ValueError(f"a whole number 0..20, got {v!r}")
    return v


def check_explore(raw: Any, duration_s: float, problem: Problem) -> dict[str, Any] | None:
    """Validate an `explore:` block; report through `problem(key, message)`. Returns the
    block with durations in seconds (or None when absent or broken)."""
    if raw is None:
        return None
    from ..faults.registry import LINKS, TARGETS
    if not isinstance(raw, dict):
        problem("", "explore is a mapping such as {faults: [latency, kill], count: [1, 2], for: [2s, 6s]}")
        return None
    out: dict[str, Any] = {}
    for key in raw:
        if key not in EXPLORE_KEYS:
            problem(str(key), f"unknown key {key!r}; keys: {', '.join(EXPLORE_KEYS)}")
    names = raw.get("faults")
    if names is not None:
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            problem("faults", "a non-empty list of fault kinds, e.g. [latency, down, kill] (see 'invoice-chaos list')")
        else:
            for n in names:
                if fault_kind(n) is None:
                    problem("faults", f"unknown fault kind {n!r} (see 'invoice-chaos list')")
            out["faults"] = list(names)
    for key, allowed in (("targets", TARGETS), ("links", LINKS)):
        if key in raw:
            v = raw[key]
            if not (isinstance(v, list) and v and all(x in allowed for x in v)):
                problem(key, f"a non-empty list of {', '.join(allowed)}")
            else:
                out[key] = list(v)
    if "count" in raw:
        r = _range(raw["count"], _count, "count", problem, "count")
        if r:
            out["count"] = r
    if "for" in raw:
        r = _range(raw["for"], parse_duration, "for", problem, "for")
        if r:
            if r[0] < 1:
                problem("for", "windows of at least 1s")
            out["for"] = r
    if "overlap" in raw:
        if not isinstance(raw["overlap"], bool):
            problem("overlap", "true or false")
        else:
            out["overlap"] = raw["overlap"]
    if "duration" in raw:
        try:
            d = parse_duration(raw["duration"])
            if d < 8:
                problem("duration", "a try needs at least 8s of load")
            elif d > duration_s:
                problem("duration", f"longer than the scenario's duration ({duration_s:g}s)")
            out["duration"] = d
        except DurationError as e:
            problem("duration", str(e))
    if "for" in out and "duration" in out and out["for"][1] > out["duration"] - 4:
        problem("for", "the longest window must fit in a try with 2s before and after it")
    return out
