"""The pure entry point: records in, verdict out (no I/O, no clock, no randomness)."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from harness.checker.compose import compose
from harness.checker.fold import Fold
from harness.checker.history import event_fields
from harness.checker.ledger import ledger_fields
from harness.checker.result import CheckOptions, CheckResult
from harness.errors import InputError

__all__ = ["check"]


def check(events: Iterable[dict[str, Any]], ledger: Iterable[dict[str, Any]],
          opts: CheckOptions | None = None) -> CheckResult:
    """Reconcile a history with the platform ledger (design.md s.7).

    Events and ledger lines are the decoded JSON objects of history.jsonl and
    platform-ledger.jsonl; a malformed one raises InputError naming its position
    (`history[3]: ...`).
    """
    opts = opts or CheckOptions()
    evs: Sequence[Any] = events if isinstance(events, Sequence) else list(events)
    led: Sequence[Any] = ledger if isinstance(ledger, Sequence) else list(ledger)
    fold = Fold()
    for i, e in enumerate(evs):
        try:
            fold.event(*event_fields(e), i)
        except ValueError as err:
            raise InputError(f"history[{i}]: {err}") from None
    fold.end_of_history()
    for j, entry in enumerate(led):
        try:
            fold.ledger(*ledger_fields(entry), j)
        except ValueError as err:
            raise InputError(f"ledger[{j}]: {err}") from None
    return compose(fold, opts, lambda i: evs[i], lambda j: led[j])
