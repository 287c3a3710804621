"""Gates: thresholds from the scenario applied to a run's figures -> verdict -> exit code.

Pure: `apply_gates(gates, summary)` reads the figures already in the summary. An anomaly gate
passes when the count is at most the limit; a latency/error gate when the figure is at most
the limit; `min_acknowledged`, `min_requested` and the `answered_share` gates when at least.
A figure that could not be measured (None) fails its gate: a gate must never pass on
missing data.

The verdict has three values (Jepsen's valid?: true, false, unknown): `fail` when a gate on
what the system did failed, else `unknown` when the run lacks the evidence to say (an
evidence gate failed, the checker could not decide, or a reason of `unknown_reasons`), else
`pass`. Both `fail` and `unknown` exit 1: no pass without evidence.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .checker.result import ANOMALY_CLASSES
from .scenario.model import GateSpec
from .summary import Summary

__all__ = ["GateResult", "apply_gates", "verdict", "figure", "AT_LEAST", "EVIDENCE_GATES"]

#: Gates whose figure must be at least the limit.
AT_LEAST = frozenset({"min_acknowledged", "min_requested", "answered_share",
                      "answered_share_overall", "answered_share_in_faults",
                      "answered_share_after_faults"})
#: Gates on the run's evidence rather than on the system: failing one makes the verdict
#: `unknown` (the run could not show whether the system is right), not `fail`.
EVIDENCE_GATES = frozenset({"final_unanswered"})


@dataclass(frozen=True, slots=True)
class GateResult:
    name: str
    limit: str
    value: Any
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def figure(name: str, summary: Summary) -> Any:
    """The value a gate compares (None when it was not measured)."""
    if name in ANOMALY_CLASSES:
        return summary.count(name)
    req = summary.requests
    if name.endswith("_ms"):
        return (req.get("latency_ms") or {}).get(name[:-3])
    if name == "error_rate":
        return req.get("error_rate")
    if name == "time_to_consistency_s":
        return summary.time_to_consistency_s
    if name == "min_acknowledged":
        return summary.count("acknowledged")
    if name == "min_requested":
        return summary.count("requested")
    if name in ("recovery_s", "answered_share", "answered_share_overall",
                "answered_share_in_faults", "answered_share_after_faults"):
        return summary.recovery.get(name)
    if name == "final_unanswered":
        return summary.final_read.get("unanswered")
    if name == "unsent_rate":
        load = summary.load
        arrivals = load.get("arrivals") or 0
        return (load.get("unsent", 0) / arrivals) if arrivals else 0.0
    raise KeyError(name)


def apply_gates(gates: list[GateSpec], summary: Summary | dict[str, Any]) -> list[GateResult]:
    """One GateResult per gate with a limit, in the scenario's order."""
    summary = Summary.coerce(summary)
    out = []
    for g in gates:
        if g.limit is None:
            continue
        value = figure(g.name, summary)
        limit = int(g.limit) if float(g.limit).is_integer() else g.limit
        if g.name in AT_LEAST:
            passed = value is not None and value >= g.limit
            text = f">= {limit}"
        else:
            passed = value is not None and value <= g.limit
            text = (f"== {limit}" if (g.name in ANOMALY_CLASSES or g.name in EVIDENCE_GATES)
                    and g.limit == 0 else f"<= {limit}")
        if isinstance(value, float):
            value = round(value, 4)
        out.append(GateResult(g.name, text, value, bool(passed)))
    return out


def verdict(results: list[GateResult], checker_valid: Any = True,
            unknown_reasons: list[str] | tuple[str, ...] = ()) -> str:
    """`fail` beats `unknown` beats `pass` (see the module docstring)."""
    if any(not r.passed and r.name not in EVIDENCE_GATES for r in results):
        return "fail"
    if checker_valid == "unknown" or unknown_reasons or not all(r.passed for r in results):
        return "unknown"
    return "pass"
