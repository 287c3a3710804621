"""What duck.py's SQL says about the history's words and the anomaly classes, generated
from the one statement of each (history.py's vocabulary, result.py's class lists,
classes.py's CHANCES), so that SQL cannot drift from the Python rules unnoticed.

- Codes: DuckDB's table `e` carries op, type and result as small integers, each word's
  position in history.OPS / TYPES / RESULTS (results from 1: 0 is "no result"). SQL text
  names them `{op.issue}`, `{typ.ok}`, `{res.pending}`, never as bare numbers.
- The clean proof: for every anomaly class (result.ANOMALY_CLASSES and `recovered`), the SQL
  conditions under which an order of the `clean` table (its per-order facts `o`, its single
  blue invoice `b`, the order's expected invoice `s`) cannot have that class. The `clean`
  predicate is their conjunction plus the facts the clean share's figures need; a class
  without its proof fails `verify()` at import (and tests/checker/test_checker_sqlrules.py).
- The clean share: what one clean order adds to every count of result.COUNT_KEYS, and the
  aggregate over table `clean` that gives its chances for every class of classes.CHANCES.
"""
from __future__ import annotations

from typing import Iterable

from harness.checker.classes import CHANCES
from harness.checker.history import OPS, RESULTS, TYPES
from harness.checker.result import ANOMALY_CLASSES, COUNT_KEYS, ORDER_CLASSES

__all__ = ["op", "typ", "res", "NO_RESULT", "words_sql", "code_case", "name_case", "CLEAN_PROOF",
           "CLEAN_FACTS", "CLEAN_COUNTS", "CLEAN_CHANCES", "clean_where", "verify"]


class _Codes:
    """Words -> codes, read as attributes (`op.issue` is 0)."""

    def __init__(self, words: Iterable[str], first: int) -> None:
        self.codes = {w: i for i, w in enumerate(words, first)}
        for w, c in self.codes.items():
            setattr(self, w, c)

    def __getattr__(self, name: str) -> int:       # for mypy: the words are set above
        raise AttributeError(name)


op = _Codes(OPS, 0)
typ = _Codes(TYPES, 0)
res = _Codes(RESULTS, 1)
#: resc of a line without a result
NO_RESULT = 0


def words_sql(words: Iterable[str]) -> str:
    """The words as JSON string texts in an SQL list: `'"issue"', '"query"', ...`."""
    return ", ".join(f"'\"{w}\"'" for w in words)


def code_case(col: str, codes: _Codes, default: int | None = None) -> str:
    """CASE mapping a column of JSON texts (`"issue"`) to their codes."""
    whens = " ".join(f"WHEN '\"{w}\"' THEN {c}" for w, c in codes.codes.items())
    return f"CASE {col} {whens}{'' if default is None else f' ELSE {default}'} END"


def name_case(col: str, codes: _Codes) -> str:
    """CASE mapping a code column back to its word."""
    whens = " ".join(f"WHEN {c} THEN '{w}'" for w, c in codes.codes.items())
    return f"CASE {col} {whens} END"


# Conditions over o (duck.py's per-order table), b (the order's blue invoice), s (its
# spec), rv (the reds that name b as their original: `nred` of them, `named` of those name
# b's order, `fits` when every one names no other order and reverses exactly b's total;
# NULL when none does) and rr (`n` reds name the order; NULL when none does); `vmiss` holds
# the invoice numbers a verify missed, `dup_refs` the orders with more than one blue.
_LAST_ISSUED = f"o.last = {res.issued}"
_TOLD_IS_HELD = "o.g_min IS NOT NULL AND o.g_min = o.g_max AND hash(b.no) = o.g_min"
_NO_VMISS = "b.no NOT IN (SELECT no FROM vmiss WHERE no IS NOT NULL)"
_ONE_BLUE = "o.oid NOT IN (SELECT oref FROM dup_refs)"
_AS_ORDERED = ("b.seller = s.seller AND b.buyer = s.buyer AND b.amount = s.amount "
               "AND b.tax = s.tax AND b.total = s.total")
#: Either nothing was refunded (no refund told, no red names the order or its blue), or the
#: customer was told its refund succeeded and exactly one red reverses the whole blue,
#: naming no other order, and no other red names the order.
_REVERSALS = ("((NOT o.refund_told AND rv.no IS NULL AND rr.oref IS NULL) OR (o.refund_told "
              "AND rv.nred = 1 AND rv.fits AND coalesce(rr.n, 0) = rv.named))")

#: class -> the conditions that rule it out for an order (classes.classify_order and the
#: per-invoice checks of classes.py, read for an order with one blue invoice).
CLEAN_PROOF: dict[str, tuple[str, ...]] = {
    # told issued (the latest answer), and every number told is the platform's only blue,
    # which nothing reverses unless the customer's own refund did (then it is still kept)
    "lost": (_LAST_ISSUED, _TOLD_IS_HELD, _REVERSALS, _ONE_BLUE),
    # the latest answer is issued: the merchant's last word does not deny the order
    "phantom": (_LAST_ISSUED,),
    "duplicated": (_ONE_BLUE,),
    "mismatched": (_AS_ORDERED,),
    # the latest answer is not pending, and no refund was answered pending
    "unresolved": (_LAST_ISSUED, "NOT o.refund_pend"),
    # no issue attempt had an unknown outcome
    "recovered": ("o.infos = 0",),
    # the blue names an order a customer sent; a red names it or its blue
    "orphaned": ("o.invokes >= 1", _REVERSALS),
    # no red without a refund told, none over the blue's total, a refund told has its red
    "misreversed": (_REVERSALS,),
    # no verify of the order's number missed, no pending/not-found asked after `issued`
    "stale_reads": ("NOT o.vmiss", "(o.neg_inv_max IS NULL OR NOT (o.neg_inv_max > o.imin))",
                    _NO_VMISS),
}

#: What the clean share's figures need besides the proof: the latest answer is known from
#: SQL's aggregate (no later line with an earlier time), and the order settled at its first
#: definite answer (no pending/not-found answer came after it).
CLEAN_FACTS: tuple[str, ...] = (
    "o.invokes >= 1", "o.last_t = o.ans_tmax", "(o.ndmax IS NULL OR o.min_def >= o.ndmax)",
)

#: What one clean order adds to each count: it was requested and acknowledged (told
#: issued), not failed, not indeterminate (no unknown attempt), and in no anomaly class.
CLEAN_COUNTS: dict[str, int] = {k: 0 for k in COUNT_KEYS} | {"requested": 1, "acknowledged": 1}

#: class -> SQL aggregate over table `clean` (columns fin, qans, rans, vans, nred) of the chances
#: its orders gave (classes.count_chances, read for orders with one blue invoice each).
CLEAN_CHANCES: dict[str, str] = {
    "lost": "count(*) FILTER (WHERE fin)",
    "phantom": "count(*) FILTER (WHERE fin)",
    "unresolved": "count(*) FILTER (WHERE fin)",
    "duplicated": "count(*)",          # each has a blue invoice
    "mismatched": "count(*)",          # one invoice compared
    "orphaned": "count(*) + coalesce(sum(nred), 0)",      # its blue and its red
    "misreversed": "coalesce(sum(rans), 0) + coalesce(sum(nred), 0)",
    "stale_reads": "coalesce(sum(qans), 0) + coalesce(sum(vans), 0)",
}


def clean_where() -> str:
    """The `clean` predicate: every class's proof and the figures' facts, each once."""
    conds: dict[str, None] = dict.fromkeys(CLEAN_FACTS)
    for cls in proof_classes():
        conds.update(dict.fromkeys(CLEAN_PROOF[cls]))
    return "\n  AND ".join(conds)


def proof_classes() -> tuple[str, ...]:
    """Every class an order of the clean table must be proved free of."""
    return tuple(dict.fromkeys([*ANOMALY_CLASSES, *(c for c in ORDER_CLASSES if c != "ok")]))


def verify() -> None:
    """Raise if a class, a count or a chance has no SQL statement here (or one too many)."""
    for what, have, want in (("clean proof", CLEAN_PROOF, proof_classes()),
                             ("clean count", CLEAN_COUNTS, COUNT_KEYS),
                             ("clean chances", CLEAN_CHANCES, tuple(CHANCES))):
        missing = [k for k in want if k not in have]
        extra = [k for k in have if k not in want]
        if missing or extra:
            raise RuntimeError(f"harness/checker/sqlrules.py: no {what} for "
                               f"{missing or '-'}; unknown {extra or '-'}")
    for cls in CLEAN_COUNTS:
        if cls in proof_classes() and CLEAN_COUNTS[cls]:
            raise RuntimeError(f"a clean order cannot count as {cls}")


verify()
