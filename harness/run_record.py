"""run.json (design.md s.4) as one typed record: the run's own account of itself — what was
started, where, when t=0 was, how each stage ended — beside summary.json's `Summary`, which
holds the verdict and the figures.

`invoice-chaos run` fills it stage by stage and writes it after each (so a crashed or
interrupted run leaves what it got to); the verdict, the report and the tools that watch a
run (benchmarks, tests) read it. Reading is lenient as `Summary`'s is (harness/records.py):
a missing or unreadable file reads as an empty record, a value of the wrong type as the
field's default, keys this version does not know are kept. A field that was never set
(None) is not written, so a run.json shows how far its run got.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .records import NUM, lenient_kwargs, unknown_keys
from .rundir import RUN, read_json, write_json

__all__ = ["RunRecord"]

_KINDS: dict[str, tuple[type, ...]] = {
    "run_id": (str,), "scenario": (str,), "seed": (int,), "started_at": (str,),
    "scale": NUM, "workers": (int,), "remote_workers": (int,), "backend": (str,),
    "merchant": (dict,), "status": (str,), "interrupted": (bool,), "platform": (dict,),
    "notes": (list,), "stack": (dict,), "workers_joined": (list,), "t0": NUM,
    "load_cpu": (dict,), "load_workers": (list,), "lost_workers": (list,), "load_end_t": NUM,
    "drain": (dict,), "final_read": (dict,), "drain_end_t": NUM, "error": (str,),
    "duration_s": NUM,
}


@dataclass(slots=True)
class RunRecord:
    """One run's run.json, in its key order."""

    run_id: str | None = None
    scenario: str | None = None
    seed: int | None = None
    started_at: str | None = None          # UTC, 2026-12-06T07:00:00Z
    scale: float | None = None             # --scale
    workers: int | None = None             # local Locust worker processes
    remote_workers: int | None = None      # processes from load machines (design.md s.10)
    backend: str | None = None             # local | docker
    merchant: dict[str, Any] = field(default_factory=dict)   # {mode, sut_cmd[, sut_image]}
    status: str | None = None              # starting | running | finished | interrupted | stack-error
    interrupted: bool = False
    platform: dict[str, Any] = field(default_factory=dict)   # {profile}
    notes: list[str] = field(default_factory=list)           # what the verdict must mention
    stack: dict[str, Any] | None = None    # the backend's own facts and every port
    workers_joined: list[dict[str, Any]] | None = None       # who came (remote workers only)
    t0: float | None = None                # epoch seconds of t=0, once the load is started
    load_cpu: dict[str, Any] | None = None  # harness/load/cpu_meter.py
    load_workers: list[dict[str, Any]] | None = None
    lost_workers: list[dict[str, Any]] | None = None
    load_end_t: float | None = None        # run seconds
    drain: dict[str, Any] | None = None    # harness/drain.py's figures
    final_read: dict[str, Any] | None = None
    drain_end_t: float | None = None       # run seconds
    error: str | None = None               # why the stack failed (status stack-error)
    duration_s: float | None = None        # wall time of the whole run
    extra: dict[str, Any] = field(default_factory=dict)      # keys this version does not know

    # -- reading ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Any) -> RunRecord:
        d = d if isinstance(d, dict) else {}
        kw = lenient_kwargs(d, _KINDS)
        kw["notes"] = [str(n) for n in kw.get("notes", [])]
        kw["extra"] = unknown_keys(d, set(_KINDS))
        return cls(**kw)

    @classmethod
    def read(cls, run_dir: Path, strict: bool = False) -> RunRecord:
        """`run_dir/run.json`: an empty record when it is missing; when it is not JSON, an
        InputError naming it (`strict`, the checker) or an empty record (the report)."""
        return cls.from_dict(read_json(Path(run_dir) / RUN, None, strict=strict))

    # -- writing ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name != "extra" and getattr(self, f.name) is not None}
        out.update(self.extra)
        return out

    def write(self, run_dir: Path) -> Path:
        """Write `run_dir/run.json` (atomically: a reader never sees half of it)."""
        path = Path(run_dir) / RUN
        write_json(path, self.to_dict())
        return path

    # -- stages -------------------------------------------------------------------------------
    @classmethod
    def started(cls, started: float, **kw: Any) -> RunRecord:
        """The record of a run starting now (`started`: epoch seconds)."""
        return cls(started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                   status="starting", **kw)

    def note(self, text: str) -> None:
        """Something the verdict and the report must say about this run."""
        self.notes.append(text)

    def run_time_s(self, name: str) -> float | None:
        """A time of the record (`load_end_t`, `drain_end_t`) in run seconds since t0; an
        epoch value (older runs) is converted with `t0`. None when absent or not a number."""
        value = getattr(self, name, None)
        if value is None or isinstance(value, bool) or not math.isfinite(value):
            return None
        if value > 1e8 and self.t0 is not None:
            value -= self.t0
        return value if 0 <= value < 1e8 else None
