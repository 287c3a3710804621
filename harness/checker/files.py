"""Checking a recorded run from its JSONL files, streamed (millions of lines).

Two paths, one statement of the rules (fold.py + classes.py):

- "duckdb" (duck.py, the default from DUCK_MIN_BYTES on): SQL sets the provably clean
  orders aside; every other order goes through the same `Fold` and classification on just
  its own lines. It hands over to the Python reader only on input it cannot vouch for: a
  line that is not valid (the Python reader then names it as `file:line`), DuckDB missing
  or failing, a crashed sub-check. Why it handed over is `CheckResult.fallback_reason`.
- "python" (`read_history` / `read_ledger` below): every line through `event_fields` +
  `Fold.event` and `ledger_fields` + `Fold.ledger`, the exact `file:line` errors.

Only per-order summaries are kept in memory; the events of the few listed anomalies are
read back by byte offset afterwards. The garbage collector is paused while folding: the
fold allocates millions of long-lived small objects and cyclic GC would rescan them over
and over (it is restored before returning).
"""
from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from harness.checker import duck
from harness.checker.compose import compose
from harness.checker.fold import Fold
from harness.checker.history import event_fields
from harness.checker.ledger import ledger_fields
from harness.checker.result import CheckOptions, CheckResult
from harness.errors import InputError

__all__ = ["check_files", "read_history", "read_ledger", "PATH_ENV", "PATHS",
           "DUCK_MIN_BYTES"]


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
#: files and SQL set the clean orders aside (duck.py): below it the Python reader is faster
#: than starting DuckDB.
DUCK_MIN_BYTES = 16 << 20
#: The path: "auto" (the default: DuckDB for large inputs, the Python reader below that),
#: "duckdb" (whatever the size) or "python" (never DuckDB). Both give identical results
#: (every checker test runs through both: tests/checker/conftest.py).
PATH_ENV = "INVOICE_CHAOS_CHECKER_PATH"
#: The readers `CheckResult.path` can name.
PATHS = ("duckdb", "python")
#: Bytes read at once by the Python reader.
CHUNK = 1 << 23


def _chunks(path: Path) -> Iterator[tuple[list[bytes], int, bool]]:
    """(lines without their b"\\n", byte offset of the first, the last one terminated)."""
    offset = 0
    rest = b""
    with open(path, "rb") as f:
        while True:
            data = f.read(CHUNK)
            if not data:
                if rest:
                    yield [rest], offset, False
                return
            if rest:
                data = rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1:]
            yield data[:cut].split(b"\n"), offset, True
            offset += cut + 1


def _records(path: Path) -> Iterator[tuple[int, int, Any]]:
    """(line number, byte offset, decoded JSON) of every non-blank line; a line that is
    not JSON raises InputError naming it (a truncated last line says so)."""
    name = path.name
    lineno = 0
    loads = orjson.loads
    for lines, off, terminated in _chunks(path):
        last = len(lines) - 1
        for i, line in enumerate(lines):
            lineno += 1
            ref = off
            off += len(line) + 1
            try:
                yield lineno, ref, loads(line)
            except orjson.JSONDecodeError as e:
                if not line.strip():
                    continue                    # blank lines: skipped by both paths
                if not (terminated or i < last):
                    raise InputError(f"{name}:{lineno}: truncated last line (not complete "
                                     f"JSON): {e}") from None
                raise InputError(f"{name}:{lineno}: not valid JSON: {e}") from None


def _fold_file(path: Path, fields: Callable[[Any], tuple], fold_line: Callable[..., None]) -> None:
    """Validate every line with `fields` and fold it with `fold_line(*fields, ref)`; refs
    are byte offsets."""
    for lineno, ref, d in _records(path):
        try:
            fold_line(*fields(d), ref)
        except ValueError as e:
            raise InputError(f"{path.name}:{lineno}: {e}") from None


def read_history(path: Path, fold: Fold) -> None:
    """Fold every event of history.jsonl."""
    _fold_file(path, event_fields, fold.event)


def read_ledger(path: Path, fold: Fold) -> None:
    """Fold every line of platform-ledger.jsonl (after the history)."""
    _fold_file(path, ledger_fields, fold.ledger)


def _choice(history_path: Path, ledger_path: Path) -> tuple[bool, str | None]:
    """(use DuckDB, why not when it was asked for but cannot run)."""
    choice = os.environ.get(PATH_ENV, "auto")
    if choice == "python":
        return False, None
    if choice == "auto" and (history_path.stat().st_size + ledger_path.stat().st_size
                             < DUCK_MIN_BYTES):
        return False, None
    if not duck.available():
        return False, "duckdb is not installed"
    return True, None


def check_files(history_path: Path, ledger_path: Path, opts: CheckOptions | None = None,
                also: Callable[[Any], Any] | None = None) -> CheckResult:
    """check() over `history.jsonl` and `platform-ledger.jsonl`.

    `also(con)`: on the DuckDB path, run on the checker's DuckDB connection after its
    verdict, so that other figures of the same history need no second read (table `e`,
    duck.ALSO_COLUMNS); its value is `CheckResult.also` (None on the Python path).

    Raises InputError("history.jsonl:812: what is wrong") on a truncated or non-JSON line, an
    unknown event type/op, a missing or ill-typed field, a completion without its invoke,
    or a ledger line missing a field. `CheckResult.path` says which reader decided and
    `fallback_reason` why DuckDB did not (None when it was not asked to).
    """
    opts = opts or CheckOptions()
    history_path, ledger_path = Path(history_path), Path(ledger_path)
    for p in (history_path, ledger_path):
        if not p.is_file():
            raise InputError(f"{p}: no such file")
    was_enabled = gc.isenabled()
    gc.disable()
    ev, lg = _LineAt(history_path), _LineAt(ledger_path)
    try:
        use_duck, reason = _choice(history_path, ledger_path)
        if use_duck:
            res, reason = duck.check_files_duck(history_path, ledger_path, opts, ev, lg, also)
            if res is not None:
                res.path = "duckdb"
                return res
        fold = Fold()
        read_history(history_path, fold)
        fold.end_of_history()
        read_ledger(ledger_path, fold)
        res = compose(fold, opts, ev, lg)
        res.path, res.fallback_reason = "python", reason
        return res
    finally:
        ev.close()
        lg.close()
        if was_enabled:
            gc.enable()
