"""The fault timeline: applies the planned faults at their times on a thread of its own, and
always undoes them (Jepsen's nemesis with a final generator that heals everything).

Each fault's actual start and end are appended to `faults.jsonl` when it ends; `stop()`
undoes whatever is still active (end of load, error or Ctrl-C) and records it too.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx

from ..errors import StackError
from .plan import PlannedFault
from ..stack.base import Stack
from ..stack.tls import verify
from .registry import KINDS

__all__ = ["FaultContext", "Timeline", "PlatformAdmin"]


class PlatformAdmin:
    """The fake platform's /_admin/faults (platform-side faults)."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def set_faults(self, fields: dict[str, Any]) -> None:
        try:
            r = httpx.post(f"{self.base_url}/_admin/faults", json=fields, timeout=5,
                           verify=verify(self.base_url))
        except httpx.HTTPError as e:
            raise StackError(f"platform admin: POST /_admin/faults failed: {e}") from None
        if r.status_code >= 300:
            raise StackError(f"platform admin: POST /_admin/faults answered {r.status_code}: {r.text[:200]}")

    def clear(self) -> None:
        try:
            httpx.delete(f"{self.base_url}/_admin/faults", timeout=5, verify=verify(self.base_url))
        except httpx.HTTPError:
            pass


@dataclass(slots=True)
class FaultContext:
    toxiproxy: Any          # harness.stack.toxiproxy_api.ToxiproxyClient
    stack: Stack            # either backend (kill, pause, ensure_running, supports, ...)
    platform_admin: PlatformAdmin


class Timeline:
    def __init__(self, planned: list[PlannedFault], ctx: FaultContext, t0: float, journal: Path,
                 say: Callable[[str], None] = print):
        self.ctx = ctx
        self.t0 = t0
        self.journal = journal
        self.say = say
        self.active: dict[str, dict] = {}      # id -> {fault, start_s, info}
        self.done: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        actions: list[tuple[float, int, str, PlannedFault]] = []
        for f in planned:
            actions.append((f.start_s, 0, "apply", f))
            undo_at = f.undo_at_s if f.undo_at_s is not None else f.start_s
            actions.append((undo_at, 1, "undo", f))
        self.actions = sorted(actions, key=lambda a: (a[0], a[1]))
        self._thread = threading.Thread(target=self._run, name="fault-timeline", daemon=True)
        self._undo_threads: list[threading.Thread] = []
        self._applying: dict[str, threading.Thread] = {}

    def now(self) -> float:
        return time.time() - self.t0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for at, _, what, fault in self.actions:
            delay = at - self.now()
            if delay > 0 and self._stop.wait(delay):
                return
            if self._stop.is_set():
                return
            if fault.family != "process":
                self._apply(fault) if what == "apply" else self._undo(fault)
                continue
            # A graceful stop or a restart's health wait takes seconds: process faults run on
            # helper threads, the undo of a fault after its own apply, so the rest of the
            # schedule keeps its times.
            if what == "apply":
                t = threading.Thread(target=self._apply, args=(fault,), daemon=True)
                self._applying[fault.id] = t
            else:
                t = threading.Thread(target=self._undo_after_apply, args=(fault,), daemon=True)
            self._undo_threads.append(t)
            t.start()

    def _undo_after_apply(self, fault: PlannedFault) -> None:
        applying = self._applying.get(fault.id)
        if applying is not None:
            applying.join()
        self._undo(fault)

    def _apply(self, fault: PlannedFault) -> None:
        cls = KINDS[f"{fault.family}:{fault.kind}"]
        start = self.now()
        try:
            info = cls.apply(self.ctx, fault) or {}
            with self._lock:
                self.active[fault.id] = {"fault": fault, "start_s": start, "info": info}
            self.say(f"  fault on   t={start:6.1f}s  {fault.kind} {fault.target} {_short(fault.params)}")
        except Exception as e:  # noqa: BLE001 - a fault that fails is recorded, the run goes on
            self._record(fault, start, self.now(), ok=False, error=f"{type(e).__name__}: {e}")
            self.say(f"  fault FAILED t={start:6.1f}s {fault.kind} {fault.target}: {e}")

    def _undo(self, fault: PlannedFault) -> None:
        with self._lock:
            entry = self.active.pop(fault.id, None)
        if entry is None:
            return
        cls = KINDS[f"{fault.family}:{fault.kind}"]
        error = None
        try:
            cls.undo(self.ctx, fault)
        except Exception as e:  # noqa: BLE001
            error = f"undo: {type(e).__name__}: {e}"
        end = self.now()
        self._record(fault, entry["start_s"], end, ok=error is None, error=error)
        self.say(f"  fault off  t={end:6.1f}s  {fault.kind} {fault.target}" + (f"  ({error})" if error else ""))
        if fault.family == "process" and fault.target == "taxplatform" and not self._stop.is_set():
            self._reapply_platform_faults()

    def _reapply_platform_faults(self) -> None:
        """Platform knobs live in the platform's memory: a restarted platform has lost the
        ones whose window is still open, so set them again."""
        with self._lock:
            active = [e["fault"] for e in self.active.values() if e["fault"].family == "platform"]
        for f in active:
            try:
                KINDS[f"{f.family}:{f.kind}"].apply(self.ctx, f)
            except Exception as e:  # noqa: BLE001 - recorded when the fault ends
                self.say(f"  fault {f.kind} could not be re-applied after the restart: {e}")

    def _record(self, fault: PlannedFault, start: float, end: float | None, ok: bool,
                error: str | None) -> None:
        line = {"id": fault.id, "kind": fault.kind, "family": fault.family, "target": fault.target,
                "params": fault.params, "planned_start_s": fault.start_s, "planned_end_s": fault.end_s,
                "start_s": round(start, 3), "end_s": None if end is None else round(end, 3),
                "ok": ok, "error": error, "source": fault.source}
        with self._lock:
            self.done.append(line)
            with open(self.journal, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    def stop(self) -> None:
        """Stop applying, undo every active fault (idempotent)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        for t in self._undo_threads:
            t.join(timeout=60)
        with self._lock:
            # process faults first: undoing a platform knob needs the platform running
            pending = sorted((e["fault"] for e in self.active.values()), key=lambda f: f.family != "process")
        for fault in pending:
            self._undo(fault)


def _short(params: dict[str, Any]) -> str:
    keep = {k: v for k, v in params.items() if k not in ("stream", "toxicity") or v not in ("downstream", 1.0)}
    return " ".join(f"{k}={v}" for k, v in keep.items())
