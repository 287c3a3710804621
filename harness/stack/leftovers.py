"""Leftovers of crashed runs: each live run records its process groups; the next run clears
the groups of any run whose orchestrator is gone (kill -9, a closed terminal).

Before killing a group we check that its leader still runs the recorded command, so a
process id reused by the system is never hit.
"""
from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path

__all__ = ["Registry", "clear_leftovers"]


def _state_dir() -> Path:
    d = Path(tempfile.gettempdir()) / f"invoice-chaos-{os.getuid()}" / "runs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Registry:
    """The record of one run's process groups."""

    def __init__(self, run_id: str):
        self.path = _state_dir() / f"{run_id}.json"
        self.groups: dict[str, dict] = {}

    def record(self, name: str, pid: int) -> None:
        self.groups[name] = {"pgid": pid, "cmdline": _cmdline(pid)[:300]}
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"owner": os.getpid(), "groups": self.groups}))
        tmp.replace(self.path)

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def clear_leftovers() -> list[str]:
    """Kill the process groups of runs whose orchestrator died; say what was cleared."""
    cleared: list[str] = []
    for f in _state_dir().glob("*.json"):
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError):
            f.unlink(missing_ok=True)
            continue
        if _alive(int(data.get("owner", 0))):
            continue
        for name, g in data.get("groups", {}).items():
            pgid = int(g.get("pgid", 0))
            if pgid > 1 and _alive(pgid) and g.get("cmdline") and _cmdline(pgid)[:300] == g["cmdline"]:
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    try:
                        os.killpg(pgid, sig)
                    except (ProcessLookupError, PermissionError):
                        pass
                cleared.append(f"{f.stem}:{name} (pid {pgid})")
        f.unlink(missing_ok=True)
    return cleared
