"""What the report reads of a run directory besides the history, read once and leniently:
the report must render any run that got far enough to write summary.json, interrupted
ones included, so a missing or broken file gives its default."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.run_record import RunRecord
from harness.rundir import FAULTS, FAULTS_PLAN, LOAD_STATS, read_json, read_jsonl
from harness.summary import Summary

__all__ = ["RunFiles", "load_run_files"]


@dataclass(slots=True)
class RunFiles:
    """Everything the report reads besides the history."""

    run_dir: Path
    summary: Summary
    faults: list[dict[str, Any]] = field(default_factory=list)
    load_stats: dict[str, Any] | None = None
    run: RunRecord = field(default_factory=RunRecord)     # empty without run.json
    faults_plan: list[dict[str, Any]] | None = None


def load_run_files(run_dir: Path, summary: Summary | dict[str, Any] | None = None) -> RunFiles:
    """Read the summary (unless given), faults, load stats, run.json and the fault plan."""
    run_dir = Path(run_dir)
    summary = Summary.read(run_dir) if summary is None else Summary.coerce(summary)
    load_stats = read_json(run_dir / LOAD_STATS, strict=False)
    plan = read_json(run_dir / FAULTS_PLAN, strict=False)
    if isinstance(plan, dict):          # tolerate {"faults": [...]} as well as a bare list
        plan = plan.get("faults")
    faults = read_jsonl(run_dir / FAULTS, strict=False)
    if not faults:                      # faults as applied, else the summary's copy
        faults = [f for f in summary.faults if isinstance(f, dict)]
    return RunFiles(
        run_dir=run_dir,
        summary=summary,
        faults=faults,
        load_stats=load_stats if isinstance(load_stats, dict) else None,
        run=RunRecord.read(run_dir),
        faults_plan=[p for p in plan if isinstance(p, dict)] if isinstance(plan, list) else None,
    )
