"""The checker's input options and its verdict record.

Kept apart from the logic so that the CLI, the gates and the report can import the
shapes without pulling in the reconciliation code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CheckOptions", "CheckResult", "COUNT_KEYS", "ANOMALY_CLASSES", "ORDER_CLASSES",
           "Valid", "merge_valid"]

Valid = Literal[True, False, "unknown"]

#: Every key of summary.json's `invoices` (design.md s.4), in that order.
COUNT_KEYS: tuple[str, ...] = (
    "requested", "acknowledged", "failed", "indeterminate", "lost", "duplicated",
    "phantom", "mismatched", "orphaned", "unresolved", "misreversed", "recovered",
    "stale_reads",
)

#: Classes that make a history invalid. `recovered` is counted but fine (Jepsen's set
#: checker: recovered = read - acknowledged is not an error).
ANOMALY_CLASSES: tuple[str, ...] = (
    "lost", "duplicated", "phantom", "mismatched", "orphaned", "unresolved",
    "misreversed", "stale_reads",
)

#: Per-order classes in priority order: an order gets the first that applies.
#: lost and phantom first (the customer was told the opposite of the truth), then
#: duplicated (money charged twice), mismatched (wrong content), unresolved (no final
#: word yet: only when nothing worse is already certain), recovered, ok.
ORDER_CLASSES: tuple[str, ...] = (
    "lost", "phantom", "duplicated", "mismatched", "unresolved", "recovered", "ok",
)


@dataclass(slots=True)
class CheckOptions:
    """How to judge a history.

    allowed_lag_s: the scenario's platform.replica_lag; a verify that answers not-found is a
        stale read only if the platform stored the invoice longer ago than this.
    load_end_t: the end of load (run.json); None means the largest `t` of an event whose
        proc is neither `drain` nor `final`.
    faults: lines of faults.jsonl: evidence (which faults were active), and the windows of
        injected `replica_lag` faults, during which the platform's read path may lag that much
        longer (the harness's own fault is not the system's stale read).
    max_evidence: anomalies listed per class (all are counted).
    t0: epoch seconds of t=0 (run.json), to place fault windows against `ts`; without it,
        replica_lag faults widen nothing.
    """

    allowed_lag_s: float = 0.5
    load_end_t: float | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    max_evidence: int = 20
    t0: float | None = None

    def lag_windows(self) -> list[tuple[float, float, float]]:
        """(start_ts, end_ts, lag_s) of the applied replica_lag faults, in epoch seconds."""
        if self.t0 is None:
            return []
        out = []
        for f in self.faults:
            if f.get("kind") != "replica_lag" or f.get("start_s") is None:
                continue
            lag = (f.get("params") or {}).get("lag")
            if not isinstance(lag, (int, float)):
                continue
            end = f.get("end_s")
            out.append((self.t0 + f["start_s"], float("inf") if end is None else self.t0 + end + 0.5,
                        float(lag)))
        return out


@dataclass(slots=True)
class CheckResult:
    """The verdict. `path` is the reader that decided ("pure" for `check`, "duckdb" or
    "python" for `check_files`) and `fallback_reason` why DuckDB did not, when it was asked
    to; both go to summary.json's `checker` and the report, but not into `to_dict`, which is
    the verdict itself and the same whichever path ran."""

    counts: dict[str, int]
    anomalies: dict[str, list[dict[str, Any]]]
    totals: dict[str, int]
    time_to_consistency_s: float | None
    acceptance_delay_s: dict[str, Any]
    requests: dict[str, Any]
    valid: Valid
    errors: list[str] = field(default_factory=list)
    path: str = "pure"
    #: anomaly class -> how many chances the run gave it (classes.CHANCES)
    chances: dict[str, int] = field(default_factory=dict)
    fallback_reason: str | None = None
    #: what check_files' `also` callback computed on the DuckDB path (None otherwise)
    also: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "counts": dict(self.counts),
            "totals": dict(self.totals),
            "time_to_consistency_s": self.time_to_consistency_s,
            "acceptance_delay_s": dict(self.acceptance_delay_s),
            "requests": self.requests,
            "anomalies": self.anomalies,
            "errors": list(self.errors),
            "chances": dict(self.chances),
        }


def merge_valid(values: list[Valid]) -> Valid:
    """Jepsen's merge-valid: False beats "unknown" beats True."""
    if any(v is False for v in values):
        return False
    if any(v == "unknown" for v in values):
        return "unknown"
    return True
