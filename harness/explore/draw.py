"""Seeded fault schedules for the tries (pure: no clock, no I/O).

Try `i` of seed `S` draws from its own generator `explore:S:i`, never from a shared
stream, so try 7 is the same whether or not tries 1-6 ran, and two explorations with the
same seed and space draw the same tries.
"""
from __future__ import annotations

import random
from typing import Any

from ..durations import format_duration
from .space import PRESETS, ExploreSpace

__all__ = ["draw_schedule", "draw_tries", "MARGIN_S", "window_of"]

#: quiet seconds at the start of a try (the stack settles) and at its end (faults are over
#: before the load ends)
MARGIN_S = 3


def window_of(fault: dict[str, Any]) -> tuple[float, float]:
    """(start, end) seconds a drawn fault occupies; an instant holds its restart delay."""
    from ..durations import parse_duration
    at = parse_duration(fault["at"])
    if "for" in fault:
        return at, at + parse_duration(fault["for"])
    return at, at + max(1.0, parse_duration(fault.get("restart_after", "1s")))


def _params(kind: str, rng: random.Random) -> dict[str, Any]:
    return {name: rng.choice(values) for name, values in sorted(PRESETS.get(kind, {}).items())}


def draw_schedule(space: ExploreSpace, rng: random.Random) -> list[dict[str, Any]]:
    """One try's `faults:` entries, sorted by start; whole seconds, so they read well."""
    if not space.choices:
        return []
    lo_n, hi_n = space.count
    n = rng.randint(lo_n, hi_n)
    out: list[dict[str, Any]] = []
    taken: list[tuple[float, float]] = []
    last_start = int(space.try_s) - MARGIN_S
    for _ in range(n):
        for _attempt in range(20):
            choice = rng.choice(space.choices)
            length = 0 if choice.instant else rng.randint(int(space.window_s[0]), int(space.window_s[1]))
            params = _params(choice.kind, rng)
            hold = length or int(window_of({"at": "0s", **params})[1])   # an instant: its restart delay
            latest = last_start - hold
            if latest < MARGIN_S:
                continue
            at = rng.randint(MARGIN_S, latest)
            entry: dict[str, Any] = {"at": format_duration(at)}
            if not choice.instant:
                entry["for"] = format_duration(length)
            entry["link" if choice.key == "toxic" else "target"] = choice.where
            entry[choice.key] = choice.kind
            entry.update(params)
            span = window_of(entry)
            if not space.overlap and any(span[0] < b + 1 and a < span[1] + 1 for a, b in taken):
                continue
            taken.append(span)
            out.append(entry)
            break
    out.sort(key=lambda f: window_of(f)[0])
    return out


def draw_tries(space: ExploreSpace, seed: int, n: int) -> list[list[dict[str, Any]]]:
    """The schedules of tries 1..n."""
    return [draw_schedule(space, random.Random(f"explore:{seed}:{i}")) for i in range(1, n + 1)]
