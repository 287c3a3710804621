"""What some fault kinds need before the stack starts, and its removal after it stopped.

`clock_skew` needs libfaketime preloaded into the service (environment at start) and
`disk_full` a small file system under its DATA_DIR (a mount). A kind says so with two
optional class methods: `check_available()` raises MissingBinaryError (exit 3, what to
install) and runs before anything starts; `prepare(run_dir, target, setup, ...)` adds
environment variables and cleanups to the `FaultSetup`. `FaultSetup.close()` runs the
cleanups in reverse order, is idempotent, and is called on every exit of a run (error and
Ctrl-C included), after the services are down.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .registry import KINDS

__all__ = ["FaultSetup", "check_available"]


def _kinds_of(planned: Iterable[Any]) -> dict[str, list[Any]]:
    """kind class key -> the planned faults of that kind that need something."""
    out: dict[str, list[Any]] = {}
    for f in planned:
        cls = KINDS.get(f"{f.family}:{f.kind}")
        if cls is not None and (hasattr(cls, "check_available") or hasattr(cls, "prepare")):
            out.setdefault(f"{f.family}:{f.kind}", []).append(f)
    return out


def check_available(planned: Iterable[Any]) -> None:
    """Raise MissingBinaryError (exit 3) for the first planned kind whose tool is missing."""
    for key in sorted(_kinds_of(planned)):
        check = getattr(KINDS[key], "check_available", None)
        if check is not None:
            check()


@dataclass
class FaultSetup:
    env: dict[str, dict[str, str]] = field(default_factory=dict)     # service -> variables
    _cleanups: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def add_env(self, service: str, variables: dict[str, str]) -> None:
        self.env.setdefault(service, {}).update(variables)

    def add_cleanup(self, what: str, fn: Callable[[], None]) -> None:
        self._cleanups.append((what, fn))

    def prepare(self, planned: Iterable[Any], run_dir: Path) -> None:
        """Prepare each (kind, target) once; a kind's `size_mb`-like parameters take the
        largest value its faults on that target ask for."""
        for key, faults in sorted(_kinds_of(planned).items()):
            cls = KINDS[key]
            prep = getattr(cls, "prepare", None)
            if prep is None:
                continue
            for target in sorted({f.target for f in faults}):
                mine = [f for f in faults if f.target == target]
                extra = {}
                if "size_mb" in cls.attrs:
                    extra["size_mb"] = max(int(f.params.get("size_mb", cls.attrs["size_mb"].default)) for f in mine)
                prep(run_dir, target, self, **extra)

    def close(self) -> list[str]:
        """Run every cleanup once (last first); the problems, as text."""
        problems = []
        while self._cleanups:
            what, fn = self._cleanups.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - every cleanup runs even if one fails
                problems.append(f"{what}: {type(e).__name__}: {e}")
        return problems
