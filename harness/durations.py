"""Durations as the scenario writes them: strings with a unit ("500ms", "90s", "5m", "24h")."""
from __future__ import annotations

import re

__all__ = ["parse_duration", "format_duration", "DurationError"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_COMPOUND = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


class DurationError(ValueError):
    pass


def parse_duration(value: object) -> float:
    """Seconds from '90s', '5m', '500ms', '1h30m'; a bare number is refused (which unit?)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise DurationError(
            f"{value!r} is not a duration; write a string with a unit, e.g. '500ms', '90s', '5m', '24h'")
    text = value.strip()
    m = _RE.match(text)
    if m:
        return float(m.group(1)) * _UNITS[m.group(2)]
    parts = _COMPOUND.findall(text)
    if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
        return sum(float(n) * _UNITS[u] for n, u in parts)
    raise DurationError(
        f"{value!r} is not a duration; write a number and a unit (ms, s, m, h, d), e.g. '90s'")


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120 or seconds % 60:
        return f"{seconds:g}s"
    if seconds < 7200 or seconds % 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"
