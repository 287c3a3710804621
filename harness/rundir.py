"""The run directory (design.md s.4, docs/internals.md): its file names, naming a new one,
reading and writing its small files, merging history parts. (When a fault was active:
harness/fault_windows.py; what the report reads: harness/report/files.py.)

Two ways to read, one parameter: `strict=True` (the checker, `check`, `run`): a file that
cannot be read is an InputError naming `file:line`; `strict=False` (the report, which must
render any run that got far enough to write summary.json, interrupted ones included): a
missing or broken file gives the default, broken lines are counted in `SkippedLines`.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from .errors import InputError, UsageError

__all__ = ["SUMMARY", "HISTORY", "HISTORY_PARTS", "LEDGER", "UPLOADS", "PIPELINE", "FAULTS", "FAULTS_PLAN", "RUN",
           "LOAD_STATS", "SCENARIO", "SELLERS", "LOAD_CONFIG", "REPORT", "JUNIT", "TIMESERIES",
           "LATENCY_CSV", "PLOTS", "LOGS",
           "new_run_dir", "utc_stamp", "write_json", "read_json", "read_jsonl", "iter_jsonl",
           "merge_history", "history_paths", "iter_history", "SkippedLines"]

# -- file names (design.md s.4 and docs/internals.md) ----------------------------------------
SUMMARY = "summary.json"
HISTORY = "history.jsonl"
HISTORY_PARTS = "history"              # history/<proc>.jsonl before the merge
LEDGER = "platform-ledger.jsonl"
UPLOADS = "platform-uploads.jsonl"     # direct profile only (design.md s.12)
PIPELINE = "platform-pipeline.json"    # a profile that decides orders later (nuonuo, s.13)
FAULTS = "faults.jsonl"
FAULTS_PLAN = "faults-plan.json"
RUN = "run.json"
LOAD_STATS = "load-stats.json"
SCENARIO = "scenario.yaml"
SELLERS = "sellers.json"
LOAD_CONFIG = "load-config.json"
REPORT = "report.html"
JUNIT = "junit.xml"
TIMESERIES = "timeseries.json"
LATENCY_CSV = "latency.csv"
PLOTS = "plots"
LOGS = "logs"

def utc_stamp(ts: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def new_run_dir(scenario_name: str, out: str | Path | None, base: Path = Path("reports")) -> tuple[str, Path]:
    """`reports/<scenario>-<UTC stamp>/` (a suffix if that exists), or `--out DIR`. The
    directory is made by this call and no other: two runs started in the same second get
    two directories."""
    if out is not None:
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        if any(d.iterdir()):
            raise UsageError(f"--out {d}: the directory is not empty; give a new or empty directory")
        return d.name, d
    run_id = f"{scenario_name}-{utc_stamp()}"
    base.mkdir(parents=True, exist_ok=True)
    d, n = base / run_id, 2
    while True:
        try:
            d.mkdir()                 # atomic: of two runs asking for one name, one gets it
            return d.name, d
        except FileExistsError:
            d = base / f"{run_id}-{n}"
            n += 1


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)          # money stays exact: "123.45", never a float
    return str(value)


def write_json(path: Path, data: Any) -> None:
    """Atomically (a temporary file renamed); UTF-8 with Chinese kept readable, Decimal and
    Path as strings."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default) + "\n",
                   encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path, default: Any = None, strict: bool = True) -> Any:
    """A JSON file's content; `default` when it is missing (and, lenient, unreadable)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, UnicodeDecodeError, ValueError) as e:
        if not strict:
            return default
        raise InputError(f"{path}:1: not valid JSON ({e})") from None


@dataclass(slots=True)
class SkippedLines:
    """Lines a lenient reader could not read; shown in the report, never fatal."""

    count: int = 0
    first: str | None = None        # "history.jsonl:12: not JSON" for the first one

    def add(self, where: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = where


#: What a JSONL reader takes for blank: whitespace, and the NUL bytes a killed history
#: writer leaves after its last line (the unwritten rest of its mapping, load/history.py).
BLANK = b" \t\r\n\0"


def iter_jsonl(path: Path, strict: bool = True,
               skipped: SkippedLines | None = None) -> Iterator[dict[str, Any]]:
    """Each JSON object of a JSONL file; blank lines are skipped. Strict: a missing file
    yields nothing, a broken line is an InputError with `file:line`; lenient: broken lines
    and lines that are not objects go to `skipped`."""
    path = Path(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    except OSError:
        if strict:
            raise
        return
    with fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip(BLANK):
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                if strict:
                    raise InputError(f"{path}:{n}: not valid JSON ({e})") from None
                if skipped is not None:
                    skipped.add(f"{path.name}:{n}: not JSON")
                continue
            if isinstance(obj, dict):
                yield obj
            elif strict:
                raise InputError(f"{path}:{n}: not a JSON object")
            elif skipped is not None:
                skipped.add(f"{path.name}:{n}: not a JSON object")


def read_jsonl(path: Path, strict: bool = True, skipped: SkippedLines | None = None) -> list[dict]:
    """Small JSONL files (faults.jsonl) as a list; see `iter_jsonl`."""
    return list(iter_jsonl(path, strict, skipped))


def merge_history(parts_dir: Path, out: Path) -> int:
    """Merge `history/*.jsonl` into one file sorted by `t` (stable); a line cut short by an
    interrupted writer at the very end of a part is dropped, anything else is kept as is."""
    events: list[tuple[float, int, bytes]] = []
    seq = 0
    for part in sorted(parts_dir.glob("*.jsonl")):
        with open(part, "rb") as fh:
            lines = fh.read().split(b"\n")
        for i, raw in enumerate(lines):
            if not raw.strip(BLANK):
                continue
            try:
                t = float(orjson.loads(raw)["t"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                if i >= len(lines) - 2:
                    continue          # the torn last line of an interrupted writer
                t = float("inf")      # keep it: the checker will report file:line
            events.append((t, seq, raw))
            seq += 1
    events.sort(key=lambda e: (e[0], e[1]))
    with open(out, "wb") as fh:
        for _, _, raw in events:
            fh.write(raw.rstrip(b"\r") + b"\n")
    return len(events)


def history_paths(run_dir: Path) -> list[Path]:
    """The merged `history.jsonl`, or the per-process parts when a run stopped before merging."""
    merged = run_dir / HISTORY
    if merged.exists():
        return [merged]
    parts = run_dir / HISTORY_PARTS
    return sorted(parts.glob("*.jsonl")) if parts.is_dir() else []


def iter_history(run_dir: Path, skipped: SkippedLines | None = None) -> Iterator[dict[str, Any]]:
    """Every history event of a run, leniently, in file order (not necessarily time order)."""
    for path in history_paths(Path(run_dir)):
        yield from iter_jsonl(path, strict=False, skipped=skipped)
