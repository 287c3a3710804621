"""Checking a recorded run from its JSONL files, streamed (millions of lines).

Only per-order summaries are kept in memory; the events of the few listed anomalies are
read back by byte offset afterwards. The garbage collector is paused while folding:
the fold allocates millions of long-lived small objects and cyclic GC would rescan them
over and over (it is restored before returning).
"""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import orjson

from harness.checker.evaluate import evaluate
from harness.checker.fastfold import fold_history_file, fold_ledger_file
from harness.checker.fold import Fold
from harness.checker.history import event_fields
from harness.checker.ledger import ledger_fields
from harness.checker.result import CheckOptions, CheckResult
from harness.errors import InputError

__all__ = ["check_files"]


def _bad_json(name: str, lineno: int, line: bytes, err: Exception) -> InputError:
    if not line.endswith(b"\n"):
        return InputError(f"{name}:{lineno}: truncated last line (not complete JSON): {err}")
    return InputError(f"{name}:{lineno}: not valid JSON: {err}")


def _fold_history(path: Path, fold: Fold) -> None:
    name = path.name
    loads = orjson.loads
    fields = event_fields
    event = fold.event
    offset = 0
    lineno = 0
    with open(path, "rb") as f:
        for line in f:
            lineno += 1
            n = len(line)
            try:
                d = loads(line)
            except orjson.JSONDecodeError as e:
                if not line.strip():
                    offset += n
                    continue
                raise _bad_json(name, lineno, line, e) from None
            try:
                event(*fields(d), offset)
            except ValueError as e:
                raise InputError(f"{name}:{lineno}: {e}") from None
            offset += n


def _fold_ledger(path: Path, fold: Fold) -> None:
    name = path.name
    loads = orjson.loads
    ledger = fold.ledger
    offset = 0
    lineno = 0
    with open(path, "rb") as f:
        for line in f:
            lineno += 1
            n = len(line)
            try:
                d = loads(line)
            except orjson.JSONDecodeError as e:
                if not line.strip():
                    offset += n
                    continue
                raise _bad_json(name, lineno, line, e) from None
            try:
                ledger(*ledger_fields(d), offset)
            except ValueError as e:
                raise InputError(f"{name}:{lineno}: {e}") from None
            offset += n


class _LineAt:
    """Reads back the JSON line at a byte offset (for the evidence of listed anomalies)."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "rb")

    def __call__(self, offset: Any) -> dict[str, Any]:
        self.f.seek(offset)
        return orjson.loads(self.f.readline())

    def close(self) -> None:
        self.f.close()


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
    fold = Fold()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
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
