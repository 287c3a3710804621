"""Traffic curves: time of day -> relative load, and the arrival rate they imply.

A curve is data (design.md s.8): `(t, rel)` points read from a CSV file or given
inline. `LoadShape` turns a curve into an arrival rate over the run's own time,
`rate_at(t)` arrivals per second at `t` seconds after t0, so the open-model
scheduler (schedule.py) and the load-stats target use the very same numbers. It is
pure: no clock, no Locust, so it is tested on its own.

Between points the load is linear; before the first point it is the first value
and after the last one the last value. `compress_s` is the span of the curve's own
time played back within `duration_s` (24 h in 6 min = 240x); None plays the curve
as-is, one curve second per second.
"""
from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["CurveError", "parse_time", "read_curve", "bundled_curves", "curves_dir",
           "LoadShape", "rate_at"]

_HMS = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?$")


class CurveError(ValueError):
    """A curve file line that cannot be read; `path` and `line` (1-based) name it."""

    def __init__(self, path: Path | str, line: int, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


def parse_time(text: str) -> float:
    """Seconds from `"90"`, `"90.5"`, `"HH:MM"` or `"HH:MM:SS[.f]"`.

    Hours may pass 23 (`24:00:26` is 26 s after the next midnight), so a curve can
    start the evening before a midnight spike and run through the day after.
    """
    s = text.strip()
    m = _HMS.match(s)
    if m:
        h, mi, sec = m.groups()
        return int(h) * 3600 + int(mi) * 60 + (float(sec) if sec else 0.0)
    try:
        v = float(s)
    except ValueError:
        raise ValueError(f"time {s!r} is neither seconds nor HH:MM[:SS]") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"time {s!r} must be a finite number of seconds >= 0")
    return v


def read_curve(path: Path) -> list[tuple[float, float]]:
    """Read a `time,load` CSV (a header line and `#` comments allowed).

    Raises CurveError(path, line, message) on the first bad line: a bad time or
    load, a negative load, a time going backwards, or no points at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise CurveError(path, 0, f"cannot read curve file: {e.strerror or e}") from None
    points: list[tuple[float, float]] = []
    seen_data = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        if not seen_data and cells[0].lower() in ("time", "t"):
            seen_data = True          # the header
            continue
        seen_data = True
        if len(cells) != 2:
            raise CurveError(path, lineno, f"expected 'time,load', got {len(cells)} fields")
        try:
            t = parse_time(cells[0])
        except ValueError as e:
            raise CurveError(path, lineno, str(e)) from None
        try:
            load = float(cells[1])
        except ValueError:
            raise CurveError(path, lineno, f"load {cells[1]!r} is not a number") from None
        if not math.isfinite(load) or load < 0:
            raise CurveError(path, lineno, f"load must be a finite number >= 0, got {cells[1]}")
        if points and t < points[-1][0]:
            raise CurveError(path, lineno, f"time {cells[0]} goes backwards "
                             f"(previous point is at {points[-1][0]:g} s)")
        points.append((t, load))
    if not points:
        raise CurveError(path, 0, "no points: a curve needs at least one 'time,load' line")
    if max(p[1] for p in points) <= 0:
        raise CurveError(path, 0, "every load is 0: a curve needs a positive maximum")
    return points


def curves_dir() -> Path:
    """The bundled curves: `scenarios/curves/` of this repository."""
    return Path(__file__).resolve().parents[2] / "scenarios" / "curves"


def bundled_curves() -> dict[str, Path]:
    """Bundled curve files by name (file stem): singles_day, six18, ..."""
    d = curves_dir()
    return {p.stem: p for p in sorted(d.glob("*.csv"))} if d.is_dir() else {}


@dataclass(frozen=True)
class LoadShape:
    """A curve played over a run: `rate_at(t)` arrivals/s at run time `t`."""

    points: tuple[tuple[float, float], ...]
    duration_s: float
    peak_rps: float
    compress_s: float | None = None

    @classmethod
    def of(cls, points: Iterable[Sequence[float]], duration_s: float, peak_rps: float,
           compress_s: float | None = None) -> "LoadShape":
        pts = tuple((float(p[0]), float(p[1])) for p in points)
        if not pts:
            raise ValueError("a curve needs at least one point")
        if any(b[0] < a[0] for a, b in zip(pts, pts[1:])):
            raise ValueError("curve times must not go backwards")
        if max(p[1] for p in pts) <= 0 or min(p[1] for p in pts) < 0:
            raise ValueError("curve loads must be >= 0 with a positive maximum")
        if duration_s <= 0:
            raise ValueError("duration_s must be > 0")
        return cls(pts, float(duration_s), float(peak_rps),
                   None if compress_s is None else float(compress_s))

    # -- time mapping -------------------------------------------------------
    @property
    def speed(self) -> float:
        """Curve seconds per run second (240 for 24 h in 6 min; 1 when not compressed)."""
        return 1.0 if self.compress_s is None else self.compress_s / self.duration_s

    def curve_time(self, t: float) -> float:
        """The curve's own time at run time `t`."""
        return self.points[0][0] + t * self.speed

    @cached_property
    def max_rel(self) -> float:
        return max(p[1] for p in self.points)

    @cached_property
    def _times(self) -> list[float]:
        return [p[0] for p in self.points]

    def rel_at(self, ct: float) -> float:
        """Relative load at curve time `ct` (linear between points, flat outside)."""
        pts = self.points
        if ct <= pts[0][0]:
            return pts[0][1]
        if ct >= pts[-1][0]:
            return pts[-1][1]
        i = bisect.bisect_right(self._times, ct)
        (t1, v1), (t2, v2) = pts[i - 1], pts[i]
        if t2 == t1:
            return v2
        return v1 + (v2 - v1) * (ct - t1) / (t2 - t1)

    # -- rates --------------------------------------------------------------
    def rate_at(self, t: float) -> float:
        """Arrivals per second at run time `t` (0 outside [0, duration_s))."""
        if t < 0 or t >= self.duration_s:
            return 0.0
        return self.peak_rps * self.rel_at(self.curve_time(t)) / self.max_rel

    @property
    def max_rate(self) -> float:
        return self.peak_rps

    def expected_arrivals(self, a: float, b: float) -> float:
        """The integral of rate_at over [a, b]: exact for the piecewise-linear curve."""
        a, b = max(a, 0.0), min(b, self.duration_s)
        if b <= a:
            return 0.0
        knots = {a, b}
        for ct, _ in self.points:
            t = (ct - self.points[0][0]) / self.speed
            if a < t < b:
                knots.add(t)
        ks = sorted(knots)
        total = 0.0
        for x, y in zip(ks, ks[1:]):
            # linear on [x, y]: the trapezoid is exact (values just inside the ends,
            # so a step at a knot is taken from the right side of x / left of y)
            vx = self.peak_rps * self.rel_at(self.curve_time(x) + 1e-9) / self.max_rel
            vy = self.peak_rps * self.rel_at(self.curve_time(y) - 1e-9) / self.max_rel
            total += (vx + vy) / 2 * (y - x)
        return total

    def target_per_second(self) -> list[list[float]]:
        """`[[t, rps], ...]` for each whole second of the run: the load-stats target."""
        n = int(math.ceil(self.duration_s))
        return [[float(s), round(self.expected_arrivals(s, s + 1), 4)] for s in range(n)]


def rate_at(t: float, points: Iterable[Sequence[float]], duration_s: float, peak_rps: float,
            compress_s: float | None = None) -> float:
    """Arrivals/s at run time `t` for a curve: `LoadShape.of(...).rate_at(t)` in one call."""
    return LoadShape.of(points, duration_s, peak_rps, compress_s).rate_at(t)
