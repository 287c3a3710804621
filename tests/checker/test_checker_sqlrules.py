"""The DuckDB path's codes and clean proof come from the class definitions
(harness/checker/sqlrules.py): a class, count or chance added in Python without its SQL
statement is refused, and the SQL text names no code by hand."""
from __future__ import annotations

import re

import pytest

from harness.checker import classes, duck, result, sqlrules
from harness.checker.history import OPS, RESULTS, TYPES

#: pure functions of the class lists: one path is enough
CHECKER_PATHS = ("python",)


def test_every_class_count_and_chance_has_its_sql():
    sqlrules.verify()
    assert set(sqlrules.CLEAN_PROOF) == set(result.ANOMALY_CLASSES) | {"recovered"}
    assert set(sqlrules.CLEAN_CHANCES) == set(classes.CHANCES)
    assert set(sqlrules.CLEAN_COUNTS) == set(result.COUNT_KEYS)


@pytest.mark.parametrize("where", ["ANOMALY_CLASSES", "ORDER_CLASSES", "CHANCES", "COUNT_KEYS"])
def test_a_class_added_without_sql_is_refused(monkeypatch, where):
    if where == "CHANCES":
        monkeypatch.setattr(sqlrules, "CHANCES", {**classes.CHANCES, "overbilled": "x"})
    elif where == "COUNT_KEYS":
        monkeypatch.setattr(sqlrules, "COUNT_KEYS", (*result.COUNT_KEYS, "overbilled"))
    else:
        lst = getattr(result, where)
        monkeypatch.setattr(sqlrules, where, (*lst[:-1], "overbilled", lst[-1]))
    with pytest.raises(RuntimeError, match="overbilled"):
        sqlrules.verify()


def test_every_proof_is_in_the_clean_predicate():
    where = sqlrules.clean_where()
    for conds in sqlrules.CLEAN_PROOF.values():
        for c in conds:
            assert c in where
    for c in sqlrules.CLEAN_FACTS:
        assert c in where


def test_codes_follow_the_vocabulary():
    assert [sqlrules.op.codes[w] for w in OPS] == list(range(len(OPS)))
    assert [sqlrules.typ.codes[w] for w in TYPES] == list(range(len(TYPES)))
    assert [sqlrules.res.codes[w] for w in RESULTS] == list(range(1, len(RESULTS) + 1))
    assert sqlrules.op.refund == OPS.index("refund")
    assert sqlrules.code_case("op", sqlrules.op).count("WHEN") == len(OPS)


def test_no_bare_code_in_the_sql():
    """Every comparison of a code column in duck.py's source is to a named code."""
    src = open(duck.__file__, encoding="utf-8").read()
    bare = re.findall(r"\b(?:opc|typc|resc|ans|last)\s*(?:=|<>|IN)\s*\(?\s*\d", src)
    assert bare == []
