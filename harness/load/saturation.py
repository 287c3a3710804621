"""Was the harness itself the bottleneck? One rule, read from `load-stats.json`.

A load generator that cannot keep up does not just send less: the requests it does send
start late, its timers fire late, and under gevent a busy process reads answers late, so
latencies and timeouts that belong to the harness look like the system's. A run that
passes or fails under those conditions proves little, and a capacity sweep must never call
such a step the system's limit (design.md s.9 `harness_limited`). So every run judges its
own load generator by these figures (harness/load/driver.py measures them):

* **unsent**: more than 1 % of the scheduled arrivals were not sent because the process
  fell behind its schedule (an arrival more than `max_lag_s` late) — the s.9 definition.
  Arrivals dropped because `max_in_flight` journeys were already open are counted and shown
  (`pool_full`), but they are the system's doing: it holds the customers that long. They
  lower the achieved rate, so such a step fails the sweep's 95 % rule on its own;
* **lag**: the arrivals that were sent started late, p99 above 100 ms (their latency is
  counted from the intended start, so the harness's delay would be charged to the system);
* **loop lag**: the gevent loop woke a 50 ms sleeper more than 100 ms late (p99): every
  answer in that process was read late;
* **cpu**: Locust's own warning ("CPU usage above 90%! ... inconsistent response time
  measurements", sampled every 10 s), or this process above 90 % of a core in more than
  half of its 0.5 s windows.

`judge(stats)` is pure; run summaries (`load.harness_saturated`, `load.harness`), the
progress line, the report's first screen and the sweep read its answer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

__all__ = ["Saturation", "judge", "UNSENT_LIMIT", "LAG_P99_LIMIT_MS", "LOOP_LAG_P99_LIMIT_MS",
           "CPU_BUSY_SHARE_LIMIT", "ADVICE"]

UNSENT_LIMIT = 0.01
LAG_P99_LIMIT_MS = 100.0
LOOP_LAG_P99_LIMIT_MS = 100.0
CPU_BUSY_SHARE_LIMIT = 0.5
ADVICE = "the harness could not push this rate here: add --workers (one per free core)"


@dataclass(frozen=True, slots=True)
class Saturation:
    saturated: bool
    reasons: list[str] = field(default_factory=list)   # words for people, one per rule hit
    scheduled: int = 0
    unsent: int = 0                # every arrival not sent
    late: int = 0                  # of those: the process fell behind (the harness's doing)
    pool_full: int = 0             # of those: max_in_flight journeys open (the system's)
    unsent_rate: float = 0.0       # late / scheduled
    lag_p99_ms: float = 0.0
    loop_lag_p99_ms: float = 0.0
    cpu_max_pct: float = 0.0
    cpu_busy_share: float = 0.0
    locust_cpu_warning: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _num(stats: Mapping[str, Any], key: str) -> float:
    v = stats.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def judge(stats: Mapping[str, Any] | None) -> Saturation:
    """The verdict on the load generator from load-stats.json (or a live progress total)."""
    if not stats:
        return Saturation(False)
    unsent = int(_num(stats, "unsent"))
    late = min(int(_num(stats, "late")), unsent)
    sent = int(_num(stats, "arrivals"))
    scheduled = sent + unsent
    rate = late / scheduled if scheduled else 0.0
    lag = _num(stats, "lag_p99_ms")
    loop = _num(stats, "loop_lag_p99_ms")
    busy = _num(stats, "cpu_busy_share")
    warned = _num(stats, "locust_cpu_warnings") > 0
    reasons = []
    if rate > UNSENT_LIMIT:
        reasons.append(f"{late} of {scheduled} scheduled arrivals unsent because the load "
                       f"process fell behind ({rate:.1%} > {UNSENT_LIMIT:.0%})")
    if lag > LAG_P99_LIMIT_MS:
        reasons.append(f"arrivals started late: lag p99 {lag:g} ms > {LAG_P99_LIMIT_MS:g} ms")
    if loop > LOOP_LAG_P99_LIMIT_MS:
        reasons.append(f"the load process's event loop ran late: p99 {loop:g} ms > "
                       f"{LOOP_LAG_P99_LIMIT_MS:g} ms")
    if warned:
        reasons.append(f"Locust warned: CPU above 90% (peak {_num(stats, 'locust_cpu_max_pct'):g}"
                       "%), response times may be inconsistent")
    elif busy > CPU_BUSY_SHARE_LIMIT:
        reasons.append(f"the load process was above 90% CPU {busy:.0%} of the time")
    return Saturation(bool(reasons), reasons, scheduled, unsent, late, unsent - late,
                      round(rate, 4), lag, loop,
                      _num(stats, "cpu_max_pct"), busy, warned)
