"""Sweep steps and the knee (design.md s.9): pure functions of the steps' figures.

A step is one full run at one offered rate. Its figures come from the run's summary.json:
`achieved_rps` is the arrivals per second that were sent *and answered* (the load's achieved
arrival rate times the share of requests that got an `ok`), so a system that times out a
third of its customers does not "achieve" the offered rate even though the open model sent
it. A step is **good** when it passes every gate, achieves at least 95 % of its target and
the harness was not the bottleneck (`harness_limited`, harness/load/saturation.py). The knee
of one kind (with or without faults) is the highest good rate with every lower step of the
same kind good too. When the first step that is not good is `harness_limited`, the knee is
only a lower bound: the harness, not the system, ended the climb (`knee_limited_by`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from ..summary import Summary

__all__ = ["Step", "step_from_summary", "knee", "knee_limited_by", "kind_stopped",
           "ACHIEVED_SHARE", "FAILS_TO_STOP"]

ACHIEVED_SHARE = 0.95     # achieved_rps >= 95 % of target_rps (s.9)
FAILS_TO_STOP = 2         # steps not good above the last good one before a kind stops


@dataclass
class Step:
    target_rps: float
    faults: bool
    achieved_rps: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float = 0.0
    anomalies: int = 0
    verdict: str = "error"
    harness_limited: bool = False
    run_dir: str = ""
    exit_code: int | None = None
    failed_gates: list[str] = field(default_factory=list)
    harness_reasons: list[str] = field(default_factory=list)
    anomaly_counts: dict[str, int] = field(default_factory=dict)
    # where the CPU went during the step's load (summary.json load.cpu, load/cpu_meter.py)
    machine_busy_share: float | None = None
    system_cores: float | None = None
    harness_cores: float | None = None

    @property
    def good(self) -> bool:
        return (self.verdict == "pass" and not self.harness_limited
                and self.achieved_rps >= ACHIEVED_SHARE * self.target_rps)

    @property
    def label(self) -> str:
        """What a reader sees in the table and the progress line."""
        if self.harness_limited:
            return "harness-limited"
        if self.verdict == "pass" and not self.good:
            return "below-target"
        return self.verdict

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Step":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def step_from_summary(target_rps: float, faults: bool, run_dir: str,
                      summary: Summary | dict[str, Any], anomaly_names: Iterable[str],
                      exit_code: int | None = None) -> Step:
    """The step's figures from its run's summary.json (the typed record; pure)."""
    s = Summary.coerce(summary)
    load = s.load or {}
    req = s.requests or {}
    lat = req.get("latency_ms") or {}
    err = float(req.get("error_rate") or 0.0)
    inv = s.invoices or {}
    counts = {k: int(inv.get(k) or 0) for k in anomaly_names}
    harness = load.get("harness") if isinstance(load.get("harness"), dict) else {}
    cpu = load.get("cpu") if isinstance(load.get("cpu"), dict) else {}
    return Step(
        target_rps=float(target_rps), faults=faults,
        achieved_rps=round(float(load.get("achieved_rps_mean") or 0.0) * (1.0 - err), 2),
        p50_ms=lat.get("p50"), p95_ms=lat.get("p95"), p99_ms=lat.get("p99"),
        error_rate=round(err, 6), anomalies=sum(counts.values()),
        verdict=str(s.verdict or "error"),
        harness_limited=bool(load.get("harness_saturated")), run_dir=run_dir,
        exit_code=exit_code,
        failed_gates=[g.get("name") for g in s.gates or []
                      if isinstance(g, dict) and not g.get("passed")],
        harness_reasons=list(harness.get("reasons") or []), anomaly_counts=counts,
        machine_busy_share=cpu.get("machine_busy_share"), system_cores=cpu.get("system_cores"),
        harness_cores=cpu.get("harness_cores"))


def _of_kind(steps: Iterable[Step], faults: bool) -> list[Step]:
    return sorted((s for s in steps if s.faults == faults), key=lambda s: s.target_rps)


def knee(steps: Iterable[Step], faults: bool = False) -> float | None:
    """The highest good rate of this kind with every lower step good; None if none is."""
    best = None
    for s in _of_kind(steps, faults):
        if not s.good:
            break
        best = s.target_rps
    return best


def knee_limited_by(steps: Iterable[Step], faults: bool = False) -> str | None:
    """What ended the climb: "system" (a failing step), "harness" (a harness-limited one)
    or None (every step of this kind was good: the knee is at least the last rate)."""
    for s in _of_kind(steps, faults):
        if not s.good:
            return "harness" if s.harness_limited else "system"
    return None


def kind_stopped(steps: Iterable[Step], faults: bool) -> bool:
    """Early stop (s.9): two steps not good above the last good one of this kind."""
    ordered = _of_kind(steps, faults)
    last_good = max((i for i, s in enumerate(ordered) if s.good), default=-1)
    return sum(1 for s in ordered[last_good + 1:] if not s.good) >= FAILS_TO_STOP
