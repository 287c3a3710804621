"""The run directory (design.md s.4): naming, small JSON files, merging history parts."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import orjson

from .errors import InputError

__all__ = ["new_run_dir", "write_json", "read_json", "read_jsonl", "merge_history", "utc_stamp"]


def utc_stamp(ts: float | None = None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ts))


def new_run_dir(scenario_name: str, out: str | Path | None, base: Path = Path("reports")) -> tuple[str, Path]:
    """`reports/<scenario>-<UTC stamp>/` (a suffix if that exists), or `--out DIR`."""
    if out is not None:
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        if any(d.iterdir()):
            from .errors import UsageError
            raise UsageError(f"--out {d}: the directory is not empty; give a new or empty directory")
        return d.name, d
    run_id = f"{scenario_name}-{utc_stamp()}"
    d = base / run_id
    n = 2
    while d.exists():
        d = base / f"{run_id}-{n}"
        n += 1
    d.mkdir(parents=True)
    return d.name, d


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except ValueError as e:
        raise InputError(f"{path}:1: not valid JSON ({e})") from None


def read_jsonl(path: Path) -> list[dict]:
    """Small JSONL files (faults.jsonl); a broken line is an InputError with file:line."""
    out = []
    try:
        with open(path, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if raw.strip():
                    try:
                        out.append(orjson.loads(raw))
                    except orjson.JSONDecodeError as e:
                        raise InputError(f"{path}:{n}: not valid JSON ({e})") from None
    except FileNotFoundError:
        return []
    return out


def merge_history(parts_dir: Path, out: Path) -> int:
    """Merge `history/*.jsonl` into one file sorted by `t` (stable); a line cut short by an
    interrupted writer at the very end of a part is dropped, anything else is kept as is."""
    events: list[tuple[float, int, bytes]] = []
    seq = 0
    for part in sorted(parts_dir.glob("*.jsonl")):
        with open(part, "rb") as fh:
            lines = fh.read().split(b"\n")
        for i, raw in enumerate(lines):
            if not raw.strip():
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
