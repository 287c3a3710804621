"""Where the machine's CPU went while the load ran: per process group of the run, and the
machine as a whole.

An architect reading a knee must know whose limit it is. On one machine the system under
test shares the cores with everything the harness runs (Locust, Toxiproxy, the fake tax
platform, this orchestrator): a step whose machine was all but fully busy may have failed
because the cores ran out, not because the system did. So every run measures, over its
load window, the CPU seconds of each process group the run recorded (its leader and every
descendant, psutil), and the machine's busy share (/proc/stat through psutil): a reading at
the start of the load, one at its end, and one every half second between on a thread, so
a process that ends inside the window still counts.

Groups whose processes are not on this machine (containers of the Docker backend report
no host pid; remote load workers) are simply absent: `measured` names what was.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["CpuMeter", "SYSTEM_GROUP", "BUSY_LIMIT", "cpu_words"]

#: The process group of the system under test (the bundled merchant or --sut-cmd).
SYSTEM_GROUP = "merchant"
#: A machine busier than this over the load window had no core to spare.
BUSY_LIMIT = 0.9


def _group_pids(pid: int, created: float | None) -> list[Any]:
    """The live processes of a recorded group: its first process and every descendant; none
    when that process is gone or is no longer the one that was recorded (a reused pid)."""
    import psutil

    try:
        leader = psutil.Process(pid)
        if created is not None and abs(leader.create_time() - created) > 0.01:
            return []
        return [leader, *leader.children(recursive=True)]
    except (psutil.Error, OSError):
        return []


def _machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every core."""
    import psutil

    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    total = sum(t)
    return total - idle, total


@dataclass
class _Seen:
    """One process of a group: its CPU seconds when first and last seen in the window."""
    first: float
    last: float


class CpuMeter:
    """`start()` at the start of the load, `stop()` at its end: the figures of the window.
    `groups` maps a name to {"pgid", "created"} (the run's Registry.groups, read at each
    look: load processes are recorded as they spawn).

    Processes end inside the window (the load's own processes when the load ends, a merchant
    killed by a fault, a worker process of the system), so a thread looks every
    `interval_s` and keeps the last reading of every process it has seen: a process's share
    is its last reading minus its first (or minus nothing when it was born in the window),
    so at most one interval of an ended process's CPU is missed."""

    def __init__(self, groups: Mapping[str, Mapping[str, Any]], interval_s: float = 0.5,
                 max_s: float = 24 * 3600):
        self.groups = groups
        self.interval_s = interval_s
        self.max_s = max_s
        self._seen: dict[str, dict[tuple[int, float], _Seen]] = {}
        self._t0: float | None = None
        self._wall0 = 0.0
        self._own0 = 0.0                 # the orchestrator's CPU seconds at start()
        self._busy0: tuple[float, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _look(self, first: bool) -> None:
        import psutil

        with self._lock:
            for name, g in list(self.groups.items()):
                pid = int(g.get("pgid") or 0)
                if pid <= 1:
                    continue
                seen = self._seen.setdefault(name, {})
                for p in _group_pids(pid, g.get("created")):
                    try:
                        t = p.cpu_times()
                        key = (p.pid, p.create_time())
                    except (psutil.Error, OSError):
                        continue
                    cpu = t.user + t.system
                    if key in seen:
                        seen[key].last = cpu
                    else:          # at the start: counts from here; later: born in the window
                        born_in = not first and key[1] >= self._wall0
                        seen[key] = _Seen(first=0.0 if born_in else cpu, last=cpu)

    def _run(self) -> None:
        end = time.monotonic() + self.max_s
        while not self._stop.wait(self.interval_s) and time.monotonic() < end:
            try:
                self._look(first=False)
            except Exception:            # noqa: BLE001 - a measurement never fails a run
                pass

    def start(self) -> None:
        try:
            import psutil  # noqa: F401
        except ImportError:              # a dependency; never fail a run over it
            return
        self._t0, self._wall0 = time.monotonic(), time.time()
        self._own0 = sum(os.times()[:2])
        try:
            self._busy0 = _machine_busy_s()
        except OSError:
            self._busy0 = None
        self._look(first=True)
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any] | None:
        """The window's figures (summary.json `load.cpu`), or None if it never started."""
        if self._t0 is None:
            return None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._look(first=False)
        window = time.monotonic() - self._t0
        if window <= 0:
            return None
        cores = {name: round(sum(max(0.0, v.last - v.first) for v in seen.values()) / window, 3)
                 for name, seen in self._seen.items() if seen}
        # the orchestrator itself, its threads only (the groups above are its children)
        cores["orchestrator"] = round((sum(os.times()[:2]) - self._own0) / window, 3)
        busy = None
        if self._busy0 is not None:
            try:
                b1, t1 = _machine_busy_s()
                span = t1 - self._busy0[1]
                busy = (b1 - self._busy0[0]) / span if span > 0 else None
            except OSError:
                pass
        system = cores.get(SYSTEM_GROUP)
        return {"window_s": round(window, 2), "machine_cores": os.cpu_count() or 1,
                "machine_busy_share": None if busy is None else round(busy, 3),
                "cores": dict(sorted(cores.items())),
                "system_cores": system,
                "harness_cores": round(sum(v for k, v in cores.items() if k != SYSTEM_GROUP), 3),
                "measured": sorted(cores)}


def cpu_words(cpu: Mapping[str, Any] | None) -> str | None:
    """One sentence for people: how busy the machine was and who used it."""
    if not cpu or cpu.get("machine_busy_share") is None:
        return None
    busy, n = float(cpu["machine_busy_share"]), int(cpu.get("machine_cores") or 1)
    sys_c, har = cpu.get("system_cores"), cpu.get("harness_cores") or 0.0
    who = (f"the system under test {sys_c:.2f} cores, the harness {har:.2f}"
           if sys_c is not None else f"the harness {har:.2f} cores (the system's not measured here)")
    text = f"machine {busy:.0%} busy of {n} cores during the load: {who}"
    if busy >= BUSY_LIMIT:
        text += " — no core to spare: a limit found here is this machine's as much as the system's"
    return text
