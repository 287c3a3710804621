"""Leftovers of crashed runs: each live run records its process groups; the next run clears
the groups of any run whose orchestrator is gone (kill -9, a closed terminal).

A process is identified by its pid and its creation time, so a pid the system has since
given to another process is never hit. An orchestrator that is a zombie (dead, not yet
reaped) counts as gone.
"""
from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path

import psutil

__all__ = ["Registry", "clear_leftovers", "process_created"]


def _state_dir() -> Path:
    d = Path(tempfile.gettempdir()) / f"invoice-chaos-{os.getuid()}" / "runs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def process_created(pid: int) -> float | None:
    """The process's creation time, or None when it is gone (or a zombie)."""
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return p.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _same(pid: int, created: float | None) -> bool:
    now = process_created(pid)
    return now is not None and created is not None and abs(now - created) < 0.01


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class Registry:
    """The record of one run's process groups."""

    def __init__(self, run_id: str):
        # the orchestrator's pid keeps two runs with the same id (`--out x/run`) apart
        self.path = _state_dir() / f"{run_id}-{os.getpid()}.json"
        self.groups: dict[str, dict] = {}
        self.owner = {"pid": os.getpid(), "created": process_created(os.getpid())}

    def record(self, name: str, pid: int) -> None:
        self.groups[name] = {"pgid": pid, "created": process_created(pid)}
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"owner": self.owner, "groups": self.groups}))
        tmp.replace(self.path)

    def kill_groups(self, skip: set[str] = frozenset()) -> list[str]:
        """SIGKILL every recorded group (but `skip`) whose leader is still the same process."""
        killed = []
        for name, g in self.groups.items():
            if name not in skip and _same(int(g["pgid"]), g.get("created")):
                _kill_group(int(g["pgid"]))
                killed.append(name)
        return killed

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def clear_leftovers() -> list[str]:
    """Kill the process groups of runs whose orchestrator died; say what was cleared."""
    cleared: list[str] = []
    for f in _state_dir().glob("*.json"):
        try:
            data = json.loads(f.read_text())
            owner = data["owner"]
        except (OSError, ValueError, KeyError, TypeError):
            f.unlink(missing_ok=True)
            continue
        if not isinstance(owner, dict) or _same(int(owner.get("pid", 0)), owner.get("created")):
            continue                                       # its orchestrator is alive
        for name, g in data.get("groups", {}).items():
            pgid = int(g.get("pgid", 0))
            if pgid > 1 and _same(pgid, g.get("created")):
                _kill_group(pgid)
                cleared.append(f"{f.stem}:{name} (pid {pgid})")
        f.unlink(missing_ok=True)
    return cleared
