"""The checker (Jepsen's role): reconciles what every customer was told with what the
platform stored (design.md s.7). Pure; imports nothing from stack, load or faults.

    check(events, ledger, opts) -> CheckResult          records in memory, no I/O
    check_files(history_path, ledger_path, opts)         streams the run's JSONL files

The vocabulary (`ANOMALY_CLASSES`, `COUNT_KEYS`, `ORDER_CLASSES`) and the result types live
in the light `harness.checker.result` (no numpy, no DuckDB) and are imported here at once;
`check` and `check_files` (numpy, DuckDB) are imported on first use, so that importing the
vocabulary (the scenario parser, every CLI command) does not load the whole checker.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from harness.checker.result import (ANOMALY_CLASSES, COUNT_KEYS, ORDER_CLASSES, CheckOptions,
                                    CheckResult)

if TYPE_CHECKING:
    from harness.checker.check import check
    from harness.checker.files import check_files

__all__ = ["check", "check_files", "CheckOptions", "CheckResult",
           "COUNT_KEYS", "ANOMALY_CLASSES", "ORDER_CLASSES"]

#: name -> the module that defines it (imported on first access: PEP 562)
_LAZY = {"check": "harness.checker.check", "check_files": "harness.checker.files"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value                 # once: later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


class _Package(types.ModuleType):
    """Loading the submodule `harness.checker.check` makes the import system set the
    package's `check` to that module; the package's `check` stays the function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
