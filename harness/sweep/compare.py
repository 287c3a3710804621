"""`invoice-chaos compare SWEEP_A SWEEP_B`: two sweeps' knees side by side, then every
offered rate of either with both achieved rates, p95s and verdicts."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..rundir import read_json
from .steps import Step

__all__ = ["compare_sweeps", "is_sweep_dir"]


def is_sweep_dir(path: Path) -> bool:
    return (Path(path) / "sweep.json").is_file()


def _load(path: Path) -> dict[str, Any]:
    rec = read_json(Path(path) / "sweep.json", None)
    if not isinstance(rec, dict):
        raise InputError(f"{Path(path) / 'sweep.json'}:1: not a sweep record")
    return rec


def _c(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.1f}".rstrip("0").rstrip(".")
    return str(v)


def _diff(a: Any, b: Any) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        d = b - a
        return "=" if d == 0 else f"{'+' if d > 0 else ''}{_c(float(d))}"
    return "" if a == b else "changed"


def compare_sweeps(dir_a: Path, dir_b: Path) -> str:
    a, b = _load(dir_a), _load(dir_b)
    rows = [("figure", f"A: {Path(dir_a).name}", f"B: {Path(dir_b).name}", "B - A")]
    for label, key in (("scenario", "scenario"), ("seed", "seed"), ("knee /s", "knee_rps"),
                       ("knee under faults /s", "knee_rps_faults"),
                       ("headroom under faults", "headroom_under_faults"),
                       ("knee limited by", "knee_limited_by"),
                       ("harness ceiling /s", "harness_ceiling_rps"),
                       ("harness-limited steps", "harness_limited_steps")):
        rows.append((label, _c(a.get(key)), _c(b.get(key)), _diff(a.get(key), b.get(key))))
    sa = {(s.target_rps, s.faults): s for s in map(Step.from_json, a.get("steps") or [])}
    sb = {(s.target_rps, s.faults): s for s in map(Step.from_json, b.get("steps") or [])}
    for key in sorted(set(sa) | set(sb), key=lambda k: (k[1], k[0])):
        x, y = sa.get(key), sb.get(key)
        name = f"{key[0]:g}/s{' faults' if key[1] else ''}"
        for label, attr in (("achieved /s", "achieved_rps"), ("p95 ms", "p95_ms")):
            va = getattr(x, attr) if x else None
            vb = getattr(y, attr) if y else None
            rows.append((f"{name} {label}", _c(va), _c(vb), _diff(va, vb)))
        la, lb = (x.label if x else None), (y.label if y else None)
        rows.append((f"{name} verdict", _c(la), _c(lb), _diff(la, lb)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for i, r in enumerate(rows):
        out.append("  ".join([r[0].ljust(widths[0])] + [r[j].rjust(widths[j]) for j in (1, 2, 3)])
                   .rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out) + "\n"
