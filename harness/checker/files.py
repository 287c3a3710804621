"""Checking a recorded run from its JSONL files, streamed (millions of lines).

Large runs go through DuckDB first (duck.py: SQL sets the provably clean orders aside, the
Python fold decides the rest); whatever it cannot vouch for falls back to the readers below,
which report bad input as `file:line`. Only per-order summaries are kept in memory; the
events of the few listed anomalies are read back by byte offset afterwards. The garbage collector is paused while folding:
the fold allocates millions of long-lived small objects and cyclic GC would rescan them
over and over (it is restored before returning).
"""
from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import orjson

from harness.checker import duck
from harness.checker.evaluate import evaluate
from harness.checker.fastfold import fold_history_file, fold_ledger_file
from harness.checker.parallel import check_files_parallel
from harness.checker.fold import Fold
from harness.checker.result import CheckOptions, CheckResult
from harness.errors import InputError

__all__ = ["check_files"]


class _LineAt:
    """Reads back the JSON line at a byte offset (for the evidence of listed anomalies)."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "rb")

    def __call__(self, offset: Any) -> dict[str, Any]:
        self.f.seek(offset)
        return orjson.loads(self.f.readline())

    def close(self) -> None:
        self.f.close()


#: From this many bytes (history + ledger) on, the default path ("auto") lets DuckDB read the
#: files and SQL set the clean orders aside (duck.py).
DUCK_MIN_BYTES = 16 << 20
#: The path: "auto" (the default: DuckDB for large inputs, the Python readers below that),
#: "duckdb" (whatever the size) or "python" (never DuckDB). Both give identical results
#: (tests compare); at 1M orders DuckDB takes about 8 s and 1.3 GB against about 30 s for the
#: two-process Python path (docs/performance.md). Whatever DuckDB cannot vouch for (bad
#: input, unusual types) goes to the Python readers, which report the exact file:line.
PATH_ENV = "INVOICE_CHAOS_CHECKER_PATH"

#: Below this many bytes (history + ledger) one process is faster than forking: a run of a
#: few thousand lines takes milliseconds. Measured crossover: see docs/performance.md.
PARALLEL_MIN_BYTES = 32 << 20
#: Partitions (processes) of the parallel path: the cores, at most 2 by default (the
#: target machine has 2; more partitions each re-scan the whole file).
PARTS = max(1, min(2, os.cpu_count() or 1))


def _use_parallel(history_path: Path, ledger_path: Path) -> bool:
    if PARTS < 2:
        return False
    return history_path.stat().st_size + ledger_path.stat().st_size >= PARALLEL_MIN_BYTES


def _use_duck(history_path: Path, ledger_path: Path) -> bool:
    choice = os.environ.get(PATH_ENV, "auto")
    if choice not in ("auto", "duckdb") or not duck.available():
        return False
    if choice == "duckdb":
        return True
    return history_path.stat().st_size + ledger_path.stat().st_size >= DUCK_MIN_BYTES


def check_files(history_path: Path, ledger_path: Path, opts: CheckOptions | None = None) -> CheckResult:
    """check() over `history.jsonl` and `platform-ledger.jsonl`.

    Raises InputError("history.jsonl:812: what is wrong") on a truncated or non-JSON line, an
    unknown event type/op, a missing or ill-typed field, a completion without its invoke,
    or a ledger line missing a field.
    """
    opts = opts or CheckOptions()
    history_path, ledger_path = Path(history_path), Path(ledger_path)
    for p in (history_path, ledger_path):
        if not p.is_file():
            raise InputError(f"{p}: no such file")
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if _use_duck(history_path, ledger_path):
            ev, lg = _LineAt(history_path), _LineAt(ledger_path)
            try:
                res = duck.check_files_duck(history_path, ledger_path, opts, ev, lg)
            finally:
                ev.close()
                lg.close()
            if res is not None:
                return res
        if _use_parallel(history_path, ledger_path):
            ev, lg = _LineAt(history_path), _LineAt(ledger_path)
            try:
                res = check_files_parallel(history_path, ledger_path, opts, ev, lg, PARTS)
            finally:
                ev.close()
                lg.close()
            if res is not None:
                return res
        fold = Fold()
        fold_history_file(history_path, fold)
        fold.end_of_history()
        fold_ledger_file(ledger_path, fold)
        ev, lg = _LineAt(history_path), _LineAt(ledger_path)
        try:
            return evaluate(fold, opts, ev, lg)
        finally:
            ev.close()
            lg.close()
    finally:
        if was_enabled:
            gc.enable()
