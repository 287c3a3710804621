"""Reading the files of a finished run directory for the report.

The report must render any run that got far enough to write `summary.json`,
including interrupted ones, so every optional file may be missing and a
history may end in a half-written line. Only `summary.json` is required; a
missing or unreadable one is an `InputError` that names the file.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError

__all__ = ["RunFiles", "load_summary", "load_run_files", "iter_history", "read_jsonl",
           "fault_end", "fault_window", "run_time_s", "SkippedLines", "INSTANT_FAULT_S"]

INSTANT_FAULT_S = 1.0   # how long a fault without an end (a kill) counts as active
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


@dataclass(slots=True)
class SkippedLines:
    """History lines the report could not read; shown in the report, never fatal."""

    count: int = 0
    first: str | None = None        # "history.jsonl:12: not JSON" for the first one

    def add(self, where: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = where


@dataclass(slots=True)
class RunFiles:
    """Everything the report reads besides the history, which is streamed."""

    run_dir: Path
    summary: dict[str, Any]
    faults: list[dict[str, Any]] = field(default_factory=list)
    load_stats: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    faults_plan: list[dict[str, Any]] | None = None


def load_summary(run_dir: Path) -> dict[str, Any]:
    """`summary.json` as a dict; `InputError` when it is absent or not a JSON object."""
    path = Path(run_dir) / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no summary.json; run 'invoice-chaos check {run_dir}' "
                         "first, or give a finished run directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read summary.json: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: summary.json must hold a JSON object, "
                         f"not {type(data).__name__}")
    return data


def _read_json(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable (optional files)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_jsonl(path: Path, skipped: SkippedLines | None = None) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSONL file; bad lines go to `skipped`, not an exception."""
    try:
        fh = path.open(encoding="utf-8", errors="replace")
    except OSError:
        return
    with fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                if skipped is not None:
                    skipped.add(f"{path.name}:{lineno}: not JSON")
                continue
            if isinstance(obj, dict):
                yield obj
            elif skipped is not None:
                skipped.add(f"{path.name}:{lineno}: not a JSON object")


def history_paths(run_dir: Path) -> list[Path]:
    """The merged `history.jsonl`, or the per-process parts when a run stopped before merging."""
    merged = run_dir / "history.jsonl"
    if merged.exists():
        return [merged]
    parts = run_dir / "history"
    return sorted(parts.glob("*.jsonl")) if parts.is_dir() else []


def iter_history(run_dir: Path, skipped: SkippedLines | None = None) -> Iterator[dict[str, Any]]:
    """Stream every history event of a run, in file order (not necessarily time order)."""
    for path in history_paths(Path(run_dir)):
        yield from read_jsonl(path, skipped)


def fault_end(fault: dict[str, Any]) -> float | None:
    """A fault's end time, or None for an instantaneous one (a kill) or a bad value."""
    end = fault.get("end_s")
    return float(end) if isinstance(end, (int, float)) and not isinstance(end, bool) else None


def _seconds(value: Any) -> float | None:
    """`5`, `"5s"`, `"500ms"`, `"1m"` as seconds; None for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) and value >= 0 else None
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]


def fault_window(fault: dict[str, Any]) -> tuple[float, float] | None:
    """When a fault counts as active: [start, end), or for an instantaneous one such as a
    kill, until its `restart_after` (else `INSTANT_FAULT_S`). None without a start."""
    start = fault.get("start_s")
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start):
        return None
    end = fault_end(fault)
    if end is None:
        params = fault.get("params") if isinstance(fault.get("params"), dict) else {}
        end = start + (_seconds(params.get("restart_after")) or INSTANT_FAULT_S)
    return float(start), end


def run_time_s(run: dict[str, Any] | None, key: str) -> float | None:
    """A time of run.json (`load_end_t`, `drain_end_t`) in run seconds since t0; an epoch
    value is converted with `t0`. None when absent or not a number."""
    value, t0 = (run or {}).get(key), (run or {}).get("t0")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if value > 1e8 and isinstance(t0, (int, float)) and not isinstance(t0, bool):
        value -= t0
    return float(value) if 0 <= value < 1e8 else None


def _faults(run_dir: Path, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Faults as applied (faults.jsonl), else the summary's copy; only those with a start."""
    faults = list(read_jsonl(run_dir / "faults.jsonl"))
    if not faults:
        listed = summary.get("faults")
        faults = [f for f in listed if isinstance(f, dict)] if isinstance(listed, list) else []
    return faults


def load_run_files(run_dir: Path, summary: dict[str, Any] | None = None) -> RunFiles:
    """Read summary (unless given), faults, load stats, run.json and the fault plan."""
    run_dir = Path(run_dir)
    if summary is None:
        summary = load_summary(run_dir)
    load_stats = _read_json(run_dir / "load-stats.json")
    run = _read_json(run_dir / "run.json")
    plan = _read_json(run_dir / "faults-plan.json")
    if isinstance(plan, dict):          # tolerate {"faults": [...]} as well as a bare list
        plan = plan.get("faults")
    return RunFiles(
        run_dir=run_dir,
        summary=summary,
        faults=_faults(run_dir, summary),
        load_stats=load_stats if isinstance(load_stats, dict) else None,
        run=run if isinstance(run, dict) else None,
        faults_plan=[p for p in plan if isinstance(p, dict)] if isinstance(plan, list) else None,
    )
