"""One try: a full run through the same orchestrator as `invoice-chaos run` (in-process),
its output kept in the try's own log, its verdict and anomaly classes read from the run's
summary.json."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EXIT_INTERRUPTED, HarnessError
from ..scenario.parse import ANOMALY_GATES

__all__ = ["TryResult", "run_try", "failure_class"]


@dataclass(slots=True)
class TryResult:
    run_dir: Path
    exit_code: int
    verdict: str
    classes: list[str] = field(default_factory=list)         # anomaly classes with a count > 0
    failed_gates: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    error: str | None = None
    any_gate: bool = False        # --any-gate: latency, answered-share, recovery gates count too

    @property
    def failure(self) -> str | None:
        """The class an exploration shrinks: the first failed anomaly gate (design.md s.7),
        or with --any-gate the first failed gate. None for a pass, for figure gates alone
        (a slow recovery is reported, not shrunk) and for an `unknown` verdict (the run
        lacked the evidence to judge)."""
        if self.exit_code != 1 or self.verdict != "fail":
            return None
        return failure_class(self.failed_gates, self.classes, self.any_gate)

    def to_json(self, root: Path) -> dict[str, Any]:
        try:
            where = str(self.run_dir.relative_to(root))
        except ValueError:
            where = str(self.run_dir)
        return {"run_dir": where, "exit_code": self.exit_code, "verdict": self.verdict,
                "class": self.failure, "classes": self.classes, "failed_gates": self.failed_gates,
                "counts": self.counts, "elapsed_s": round(self.elapsed_s, 1), "error": self.error}


def failure_class(failed_gates: list[str], classes: list[str], any_gate: bool = False) -> str | None:
    """The class a failing run is known by: its first failed anomaly gate (design.md s.7
    order); with `any_gate`, else its first failed gate (p95_ms, answered_share ...)."""
    for c in ANOMALY_GATES:
        if c in failed_gates and c in classes:
            return c
    return failed_gates[0] if failed_gates and any_gate else None


def run_try(scenario_path: Path, run_dir: Path, *, merchant_mode: str | None, sut_cmd: str | None,
            scale: float, workers: int, any_gate: bool = False, client: str | None = None) -> TryResult:
    from ..run import RunOptions, run
    started = time.monotonic()
    log_path = run_dir.parent / f"{run_dir.name}.log"
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        def say(line: str) -> None:
            log.write(line + "\n")
            log.flush()
        try:
            code = run(RunOptions(scenario_path=str(scenario_path), out=str(run_dir), scale=scale,
                                  workers=workers, merchant_mode=merchant_mode, sut_cmd=sut_cmd,
                                  client=client), say=say)
            error = None
        except HarnessError as e:
            say(f"error: {e}")
            code, error = e.exit_code, str(e)
    elapsed = time.monotonic() - started
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        verdict = "interrupted" if code == EXIT_INTERRUPTED else "error"
        return TryResult(run_dir, code, verdict, elapsed_s=elapsed, error=error or f"exit {code}, no summary.json",
                         any_gate=any_gate)
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    inv = summary.get("invoices", {})
    counts = {c: int(inv.get(c, 0) or 0) for c in ANOMALY_GATES}
    return TryResult(run_dir, code, str(summary.get("verdict")),
                     classes=[c for c in ANOMALY_GATES if counts[c] > 0],
                     failed_gates=[g["name"] for g in summary.get("gates", []) if not g.get("passed")],
                     counts=counts, elapsed_s=elapsed, error=error, any_gate=any_gate)
