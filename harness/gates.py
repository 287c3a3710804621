"""Gates: thresholds from the scenario applied to a run's figures -> verdict -> exit code.

Pure: `evaluate(gates, summary)` reads the figures already in the summary. An anomaly gate
passes when the count is at most the limit; a latency/error gate when the figure is at most
the limit; `min_acknowledged` and `min_requested` when at least. A figure that could not be measured (None) fails
its gate: a gate must never pass on missing data.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .scenario.model import GateSpec
from .scenario.parse import ANOMALY_GATES

__all__ = ["GateResult", "evaluate", "verdict", "figure"]


@dataclass(frozen=True, slots=True)
class GateResult:
    name: str
    limit: str
    value: Any
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def figure(name: str, summary: dict[str, Any]) -> Any:
    """The value a gate compares, from a summary dict (None when it was not measured)."""
    if name in ANOMALY_GATES:
        return summary.get("invoices", {}).get(name)
    req = summary.get("requests", {})
    if name.endswith("_ms"):
        return req.get("latency_ms", {}).get(name[:-3])
    if name == "error_rate":
        return req.get("error_rate")
    if name == "time_to_consistency_s":
        return summary.get("time_to_consistency_s")
    if name == "min_acknowledged":
        return summary.get("invoices", {}).get("acknowledged")
    if name == "min_requested":
        return summary.get("invoices", {}).get("requested")
    if name == "unsent_rate":
        load = summary.get("load", {})
        arrivals = load.get("arrivals") or 0
        return (load.get("unsent", 0) / arrivals) if arrivals else 0.0
    raise KeyError(name)


def evaluate(gates: list[GateSpec], summary: dict[str, Any]) -> list[GateResult]:
    out = []
    for g in gates:
        if g.limit is None:
            continue
        value = figure(g.name, summary)
        limit = int(g.limit) if float(g.limit).is_integer() else g.limit
        if g.name in ("min_acknowledged", "min_requested"):
            passed = value is not None and value >= g.limit
            text = f">= {limit}"
        else:
            passed = value is not None and value <= g.limit
            text = f"== {limit}" if g.name in ANOMALY_GATES and g.limit == 0 else f"<= {limit}"
        if isinstance(value, float):
            value = round(value, 4)
        out.append(GateResult(g.name, text, value, bool(passed)))
    return out


def verdict(results: list[GateResult], checker_valid: Any = True) -> str:
    if checker_valid == "unknown":
        return "fail"
    return "pass" if all(r.passed for r in results) else "fail"
