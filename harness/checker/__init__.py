"""The checker (Jepsen's role): reconciles what every customer was told with what the
platform stored (design.md s.7). Pure; imports nothing from stack, load or faults.

    check(events, ledger, opts) -> CheckResult          records in memory, no I/O
    check_files(history_path, ledger_path, opts)         streams the run's JSONL files
"""
from __future__ import annotations

from harness.checker.check import check
from harness.checker.files import check_files
from harness.checker.result import (ANOMALY_CLASSES, COUNT_KEYS, ORDER_CLASSES, CheckOptions,
                                    CheckResult)

__all__ = ["check", "check_files", "CheckOptions", "CheckResult",
           "COUNT_KEYS", "ANOMALY_CLASSES", "ORDER_CLASSES"]
