"""check_files for large runs (the default above 16 MB): DuckDB reads both files, SQL
filters out the provably clean orders, and the precise Python fold/classify decides
everything else.

Types are exact without re-parsing: every field is read as a JSON column, whose value is
its JSON text, and the type is told from that text (a string starts with a quote, a float
has a decimal point or exponent, an integer casts to BIGINT); string values are the text
without its quotes, unescaped by DuckDB's JSON parser only when they hold a backslash.

SQL never classifies. It proves, per order, the common clean case of `check_orders`' fast
path (final answer `issued`, no unknown attempt, exactly one blue invoice carrying the
number the customer was given, the invoice's fields equal to the order's expected ones as
text, no stale-read candidate, no refund answered pending, no verify miss naming it, and
either no red invoice and no refund told, or the customer's own refund told `issued` and
exactly one red reversing the whole blue) and adds those orders' share of the counts and
figures (each is requested and acknowledged, nothing else). Every other order - and every
ledger line that is not a clean order's blue or red (other reds, orphans, duplicates) -
goes through `Fold.event` / `Fold.ledger` / `compose` on just its own lines, read back by
byte offset, so the semantics stay in fold.py/classes.py and the evidence is the
sequential path's.

Figures that span all orders are computed over everything: request statistics (per-op
counts in SQL, latencies fetched as a numpy array, the same nearest-rank percentile),
acceptance delays (clean orders' delays fetched, rounded per distinct value) and time to
consistency (the max of both parts' latest settle times).

`check_files_duck` returns (None, why) when it cannot vouch for the answer, and the caller
runs the Python reader, which reports the exact `file:line` InputError and records `why` as
the result's `fallback_reason`: DuckDB failing to read a file, any field of the wrong JSON
type or missing, an unknown op/type/result, an invalid `order`, a completion without its
invoke (checked with window functions per proc, in file order), a blue invoice number
twice, or a crashed sub-check. Valid input never falls back: numbers are floats on both
paths whether the JSON text is an integer or not (history.py converts them too), and blank
lines, which both readers skip, are mapped out of the row numbers (`_nonblank_lines`).

Located lines are read from a memory map whose pages are released chunk by chunk, so the
files do not count as resident memory; DuckDB's own budget is MEMORY_LIMIT.

Every issue invoke's order is read as the parts that price it (`_ORDER_TYPE`), validated
and priced in SQL in the same scan, by the rule of amounts.py (`_ORDER_PARTS`, `_specs`;
tests/checker/test_checker_pricing.py proves both equal); only orders whose line numbers
are not plain decimals are priced in Python. Limits: an `order` key of another shape on any
line (an order or buyer that is not an object, lines that are not a list of objects), even
one the checker ignores, makes DuckDB refuse the file (the Python reader decides then). A
JSON line with a duplicated top-level key is read by DuckDB and orjson alike only if both
keep the same value (not checked).
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import orjson

from harness.checker.amounts import spec_of
from harness.checker.classes import own_numbers
from harness.checker.compose import compose
from harness.checker.fold import Fold
from harness.checker.history import HARNESS_PROCS, OPS, RESULTS, TYPES, check_order, event_fields
from harness.checker.ledger import ledger_fields
from harness.checker.result import CheckOptions, CheckResult
from harness.checker.sqlrules import (CLEAN_CHANCES, CLEAN_COUNTS, NO_RESULT, clean_where,
                                      code_case, op, res, typ, words_sql)
from harness.checker.stats import (acceptance_delays, consistency_figure, delay_figures,
                                   latest_settled, request_figures)

__all__ = ["check_files_duck", "available", "THREADS", "TIMINGS", "ALSO_COLUMNS"]

#: Seconds (wall, CPU of this process) per stage of the last run: for the benchmark.
TIMINGS: dict[str, tuple[float, float]] = {}


class _Stage:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.t, self.c = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: Any) -> None:
        TIMINGS[self.name] = (round(time.perf_counter() - self.t, 2),
                              round(time.process_time() - self.c, 2))

#: The columns of table `e` that an `also` callback of check_files may read (one row per
#: history line, file order = rowid, every line valid): `t`, `latency_ms` as `lat` (DOUBLE;
#: NULL when absent or null), op as `opc` and type as `typc` (their codes: sqlrules.op and
#: sqlrules.typ), `load` (a customer's proc, not the harness's own).
ALSO_COLUMNS = ("t", "lat", "opc", "typc", "load")

#: DuckDB worker threads (the target machine has 2 cores).
THREADS = max(1, min(2, os.cpu_count() or 1))
#: Bytes read at once when locating lines by number.
CHUNK = 1 << 24

_HIST_KEYS = ("t", "ts", "proc", "op", "type", "order_id", "invoice_no", "result", "status",
              "latency_ms", "order")
#: Every column is read as JSON: DuckDB keeps each value's JSON text (re-serialised: a
#: string keeps its quotes, a float keeps its decimal point, null and a missing key are
#: both SQL NULL), so the exact JSON type is told from the text by cheap string tests
#: instead of casting silently ("2.5" -> 2.5, 7 -> "7") or re-parsing with json_type.
#: An issue invoke's `order` is read as the parts check_order and spec_of look at (each
#: value's JSON text); DuckDB refuses a file whose `order` has another shape (an order or
#: buyer that is not an object, lines that are not a list of objects), which then goes to the
#: Python reader, like any line DuckDB cannot read.
_ORDER_TYPE = ("STRUCT(seller_tax_id JSON, buyer STRUCT(tax_id JSON), "
               "lines STRUCT(quantity JSON, unit_price JSON, tax_rate JSON)[])")
_HIST_COLS = "{" + ", ".join(f"'{k}': '{_ORDER_TYPE if k == 'order' else 'JSON'}'"
                             for k in _HIST_KEYS) + "}"
_LEDGER_KEYS = ("invoice_no", "kind", "request_id", "order_ref", "seller_tax_id",
                "buyer_tax_id", "amount", "tax", "total", "issued_at", "original_invoice_no")

#: SQL macros over a value's JSON text (VARCHAR): is it a string, its string value (the
#: quotes cut off; unescaped by the JSON parser only when it holds a backslash), a number
#: as a float (integer or not, as history.py reads it; a string or boolean gives NULL) and
#: an integer.
_MACROS = (
    """CREATE MACRO isstr(x) AS starts_with(x, '"')""",
    r"""CREATE MACRO jstr(x) AS
          CASE WHEN contains(x, '\') THEN x::JSON ->> '$' ELSE x[2:-2] END""",
    """CREATE MACRO jdbl(x) AS TRY_CAST(x AS DOUBLE)""",
    """CREATE MACRO isint(x) AS
          NOT (contains(x, '.') OR contains(x, 'e') OR contains(x, 'E'))
          AND TRY_CAST(x AS BIGINT) IS NOT NULL""",
    # the digits of a plain number's JSON text (a string's quotes cut off; any other
    # text is not priced by SQL)
    """CREATE MACRO dnum(x) AS trim(x, '"')""",
    # domain.md's line rule (amounts._line): amount = quantity x unit price and tax =
    # amount x rate, each rounded half-up to the cent. DuckDB's round() on a DECIMAL
    # rounds half away from zero, which is ROUND_HALF_UP; the inputs are `_PLAIN_*` texts,
    # whose products are exact in DECIMAL(38) and in Python's 28-digit context alike.
    """CREATE MACRO line_amount(q, p) AS
          round(TRY_CAST(q AS DECIMAL(20, 6)) * TRY_CAST(p AS DECIMAL(20, 6)), 2)""",
    """CREATE MACRO line_tax(a, r) AS round(a * TRY_CAST(r AS DECIMAL(20, 6)), 2)""",
)
#: Order-line numbers SQL prices itself (their JSON text): unsigned plain decimals. Quantity and price up to
#: 7 + 6 digits (their product at most 26 significant digits), rate up to 2 + 6 (the
#: amount, at most 16 digits, times the rate: 24), all within the 28 digits Python's
#: Decimal context computes exactly; anything else is priced by spec_of.
_PLAIN_QP = r'"[0-9]{1,7}(\.[0-9]{1,6})?"|[0-9]{1,7}'
_PLAIN_RATE = r'"[0-9]{1,2}(\.[0-9]{1,6})?"|[0-9]{1,2}'
#: history.HARNESS_PROCS as an SQL list: a proc is the harness's own when the part before its
#: first dot is one of them (history.is_harness_proc); column `load` of table e is the negation.
_HARNESS = ", ".join(f"'{p}'" for p in sorted(HARNESS_PROCS))
#: DuckDB's own memory budget (it spills to a temporary file beyond it); the Python side
#: and the allocator's slack come on top, and the total must stay under 2 GB at 1 M orders.
MEMORY_LIMIT = "1200MB"
#: Larger inputs get a third of their size, up to this (10 M orders, 12 GB of files: the
#: whole `check DIR` peaked at 4.3 GB with this budget; every large step spills beyond it).
MEMORY_LIMIT_MAX_MB = 4096


def memory_limit(input_bytes: int) -> str:
    """DuckDB's budget for inputs of this many bytes (history + ledger)."""
    mb = min(MEMORY_LIMIT_MAX_MB, input_bytes // 3 // (1 << 20))
    return MEMORY_LIMIT if mb <= int(MEMORY_LIMIT.removesuffix("MB")) else f"{mb}MB"


def available() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


class _Unsure(Exception):
    """The fast path cannot vouch for this input: the Python path decides (the message
    says why; it becomes CheckResult.fallback_reason)."""


class _Sorted(Sequence):
    """An ascending numpy array seen as a sequence of Python floats (for stats.percentile)."""

    def __init__(self, a: np.ndarray) -> None:
        self.a = a

    def __len__(self) -> int:
        return int(self.a.size)

    def __getitem__(self, i: Any) -> Any:
        return self.a[i].item()


def _sql_str(p: Path) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def _load_history(con: Any, path: Path) -> None:
    """Table e: one row per history line, typed, in file order (`rowid`, as DuckDB keeps
    insertion order for a single-table scan); `ok` is False where a field has the wrong
    JSON type or value (any such line sends the whole run to the precise reader).

    An issue invoke's `order` is not kept: the scan that reads it turns it into the parts
    its expected invoice needs (`_ORDER_PARTS`), so that a million distinct orders are
    validated and priced in parallel, in the read itself, and never grouped or copied."""
    con.execute(f"""
CREATE TABLE e AS
SELECT
  (t IS NOT NULL AND ts IS NOT NULL AND isstr(proc_j) AND isstr(oid_j)
   AND op IN ({words_sql(OPS)})
   AND type IN ({words_sql(TYPES)})
   AND (inv_j IS NULL OR isstr(inv_j))
   AND (result IS NULL OR result IN ({words_sql(RESULTS)}))
   AND (status IS NULL OR isint(status))
   AND (lat_j IS NULL OR lat IS NOT NULL)
   AND (NOT iss OR has_ord)) AS ok,
  t, ts, jstr(proc_j) AS proc, jstr(oid_j) AS oid, jstr(inv_j) AS inv,
  {code_case("op", op)}::UTINYINT AS opc,
  {code_case("type", typ)}::UTINYINT AS typc,
  {code_case("result", res, NO_RESULT)}::UTINYINT AS resc,
  coalesce(status = '404', false) AS s404, lat,
  split_part(jstr(proc_j), '.', 1) NOT IN ({_HARNESS}) AS load,
  {_ORDER_PARTS}
FROM (
  SELECT *,
    list_bool_and(list_transform(pl, lambda y: y.plain)) AS o_plain,
    list_sum(list_transform(pl, lambda y: y.a)) AS o_amount,
    list_sum(list_transform(pl, lambda y: line_tax(y.a, y.r))) AS o_tax
  FROM (
    SELECT *, op = '"issue"' AND type = '"invoke"' AS iss, ord_s IS NOT NULL AS has_ord,
      CASE WHEN iss THEN ord_s.seller_tax_id::VARCHAR END AS seller_j,
      CASE WHEN iss THEN ord_s.buyer IS NOT NULL END AS has_buyer,
      CASE WHEN iss THEN ord_s.buyer.tax_id::VARCHAR END AS tid_j,
      CASE WHEN iss THEN list_transform(ord_s.lines, lambda x: {{
        'plain': coalesce(regexp_full_match(x.quantity::VARCHAR, '{_PLAIN_QP}')
          AND regexp_full_match(x.unit_price::VARCHAR, '{_PLAIN_QP}')
          AND regexp_full_match(x.tax_rate::VARCHAR, '{_PLAIN_RATE}'), false),
        'a': line_amount(dnum(x.quantity::VARCHAR), dnum(x.unit_price::VARCHAR)),
        'r': dnum(x.tax_rate::VARCHAR)}}) END AS pl
    FROM (
      SELECT jdbl(t::VARCHAR) AS t, jdbl(ts::VARCHAR) AS ts, proc::VARCHAR AS proc_j,
        op::VARCHAR AS op, type::VARCHAR AS type, order_id::VARCHAR AS oid_j,
        invoice_no::VARCHAR AS inv_j, result::VARCHAR AS result, status::VARCHAR AS status,
        latency_ms::VARCHAR AS lat_j, jdbl(latency_ms::VARCHAR) AS lat, "order" AS ord_s
      FROM read_json({_sql_str(path)}, format = 'newline_delimited',
                     columns = {_HIST_COLS}))))
""")
    if con.execute("SELECT count(*) FROM e WHERE ok IS NOT TRUE").fetchone()[0]:
        raise _Unsure("a history line has a missing or ill-typed field")


#: The columns of table e an issue invoke's `order` becomes (NULL on other lines): `o_valid`
#: (checked as history.check_order checks it; the lines' numbers are checked by pricing
#: them), seller and buyer tax id as texts ('' for none), `o_plain` (every line's numbers
#: are `_PLAIN_*`) and the amount and tax SQL priced. Seller and tax id are taken as the
#: text between the quotes only when they hold no backslash (else the order is not proved
#: valid).
_ORDER_PARTS = r"""CASE WHEN iss THEN coalesce(
    isstr(seller_j) AND NOT contains(seller_j, '\') AND has_buyer
    AND (tid_j IS NULL OR tid_j = 'null' OR (isstr(tid_j) AND NOT contains(tid_j, '\')))
    AND len(pl) > 0, false) END AS o_valid,
  CASE WHEN iss THEN seller_j[2:-2] END AS o_seller,
  CASE WHEN iss THEN CASE WHEN tid_j IS NULL OR tid_j = 'null' THEN '' ELSE tid_j[2:-2] END
    END AS o_buyer,
  o_plain, o_amount, o_tax"""


def _load_ledger(con: Any, path: Path) -> None:
    """Table l: one row per ledger line in file order. json_extract keeps a key that is
    present with null ('null') apart from a missing one (NULL); types are told from the
    values' JSON text as in the history."""
    paths = ", ".join(f"'$.{k}'" for k in _LEDGER_KEYS)
    cols = ", ".join(f"j[{i + 1}]::VARCHAR AS j{i + 1}" for i in range(len(_LEDGER_KEYS)))
    con.execute(f"""
CREATE TABLE l AS
SELECT
  (isstr(j1) AND j2 IN ('"blue"', '"red"') AND j3 IS NOT NULL
   AND (j4 = 'null' OR isstr(j4)) AND j5 IS NOT NULL AND j6 IS NOT NULL
   AND isstr(j7) AND isstr(j8) AND isstr(j9) AND issued_at IS NOT NULL
   AND j11 IS NOT NULL AND (j2 = '"blue"' OR isstr(j11))) AS ok,
  jstr(j1) AS no, j2 = '"red"' AS is_red, CASE WHEN isstr(j4) THEN jstr(j4) END AS oref,
  CASE WHEN isstr(j5) THEN jstr(j5) END AS seller,
  CASE WHEN j6 = 'null' THEN '' WHEN isstr(j6) THEN jstr(j6) END AS buyer,
  jstr(j7) AS amount, jstr(j8) AS tax, jstr(j9) AS total, issued_at,
  CASE WHEN isstr(j11) THEN jstr(j11) END AS orig
FROM (SELECT *, jdbl(j10) AS issued_at FROM (
  SELECT {cols} FROM (
    SELECT json_extract(json, [{paths}]) AS j FROM read_ndjson_objects({_sql_str(path)}))))
""")
    bad, dup = con.execute("""
SELECT count(*) FILTER (WHERE ok IS NOT TRUE),
  count(no) FILTER (WHERE NOT is_red) - count(DISTINCT no) FILTER (WHERE NOT is_red)
FROM l""").fetchone()
    if bad:
        raise _Unsure("a ledger line has a missing or ill-typed field")
    if dup:
        raise _Unsure("a blue invoice number appears twice in the ledger")


def _specs(con: Any, history_path: Path) -> None:
    """Table specs: the expected invoice (amounts.spec_of) of every issue invoke, keyed by
    its row, priced in SQL as the history was read (`_ORDER_PARTS`: DECIMAL arithmetic,
    half-up to the cent, the `line_amount` / `line_tax` macros), so that a million distinct
    orders cost what reading them costs (no Python per order).

    An order SQL finds invalid sends the run to the Python reader (which names the line).
    An order with a line whose numbers are not plain decimals (`_PLAIN_*`: a JSON integer or
    a string of digits; not a sign, an exponent, an escape, more digits than Python's
    28-digit Decimal context multiplies exactly, a float or another JSON type) is validated
    and priced in Python by check_order and spec_of: the one rule."""
    if con.execute(f"""
SELECT count(*) FROM e WHERE opc = {op.issue} AND typc = {typ.invoke} AND NOT o_valid
""").fetchone()[0]:
        raise _Unsure("an issue invoke's order is invalid")
    con.execute(f"""
CREATE TABLE specs AS
SELECT rowid AS rn, o_seller AS seller, o_buyer AS buyer, o_amount::VARCHAR AS amount,
  o_tax::VARCHAR AS tax, (o_amount + o_tax)::VARCHAR AS total
FROM e WHERE opc = {op.issue} AND typc = {typ.invoke} AND o_plain""")
    rows = con.execute(f"""
SELECT rowid AS rn FROM e WHERE opc = {op.issue} AND typc = {typ.invoke} AND NOT o_plain
ORDER BY rn""").fetchnumpy()["rn"]
    if len(rows):
        n_rows = con.execute("SELECT count(*) FROM e").fetchone()[0]
        _, texts = _lines_of(history_path, np.asarray(rows, dtype=np.int64), n_rows)
        out = []
        for rn, text in zip(rows.tolist(), texts):
            try:
                sp = spec_of(check_order(orjson.loads(text).get("order")))
            except (ValueError, orjson.JSONDecodeError, AttributeError):
                raise _Unsure("an issue invoke's order is invalid") from None
            out.append((rn, sp.seller_tax_id, sp.buyer_tax_id or "", sp.amount, sp.tax,
                        sp.total))
        con.executemany("INSERT INTO specs VALUES (?, ?, ?, ?, ?, ?)", out)
    for col in ("o_valid", "o_seller", "o_buyer", "o_plain", "o_amount", "o_tax"):
        con.execute(f"ALTER TABLE e DROP COLUMN {col}")


#: resc codes of the merchant's answers (issue/query completions, not info; a bare 404 is
#: not_found)
_ANS = f"""CASE WHEN typc IN ({typ.ok}, {typ.fail}) AND opc IN ({op.issue}, {op.query}) THEN
  CASE WHEN resc <> {NO_RESULT} THEN resc WHEN s404 THEN {res.not_found} END END"""
#: a verify answered `issued`: the number was seen on the read path
_SEEN = (f"opc = {op.verify} AND typc IN ({typ.ok}, {typ.fail}) AND resc = {res.issued}")
#: answers that are not definite (pending, not found), and definite ones
_NONDEF = f"({res.pending}, {res.not_found})"
#: a verify answered not found
_VMISS = (f"opc = {op.verify} AND typc IN ({typ.ok}, {typ.fail}) AND (resc = {res.not_found} "
          f"OR (resc = {NO_RESULT} AND s404))")


def _classify_clean(con: Any) -> None:
    """Table o (per order, with the pairing checked in file order per proc) and table clean
    (the provably clean orders).

    The pairing window sorts only the columns it needs and keeps the few rows whose
    neighbours matter (an invoke with no completion after it in its proc, a pending or
    not-found answer, whose invoke's time the stale-read test needs, a broken pair); the
    per-order aggregate then runs over table e without a sort and joins them. The latest
    answer (Fold.event: the latest `t`, the later line on a tie) is the one on the last
    line if that line's `t` is the largest; otherwise the order is not proved clean.
    Invoice numbers go through the aggregate as 64-bit hashes (string min/max cost it about
    half its time), after checking that no two of the texts compared share one."""
    inv, ok, fail, info = typ.invoke, typ.ok, typ.fail, typ.info
    con.execute(f"""
CREATE TEMP TABLE pw AS
SELECT oid, opc, load, pt, last_in_key AND typc = {inv} AS open_inv, ans,
  (typc = {inv} AND ptyp = {inv})
    OR (typc <> {inv} AND (ptyp IS DISTINCT FROM {inv} OR pop <> opc OR poid <> oid)) AS broken
FROM (
  SELECT oid, opc, typc, load, {_ANS} AS ans,
    lag(typc) OVER k AS ptyp, lag(opc) OVER k AS pop, lag(oid) OVER k AS poid,
    lag(t) OVER k AS pt, lead(typc) OVER k IS NULL AS last_in_key
  FROM (SELECT rowid AS rn, proc, oid, opc, typc, resc, s404, load, t FROM e)
  WINDOW k AS (PARTITION BY proc ORDER BY rn))
WHERE (typc = {inv} AND last_in_key) OR ans IN {_NONDEF}
  OR (typc = {inv} AND ptyp = {inv})
  OR (typc <> {inv} AND (ptyp IS DISTINCT FROM {inv} OR pop <> opc OR poid <> oid))""")
    if con.execute("SELECT count(*) FILTER (WHERE broken) FROM pw").fetchone()[0]:
        raise _Unsure("an invoke and its completion do not pair")
    opens = ",\n    ".join(
        f"count(*) FILTER (WHERE load AND opc = {c} AND open_inv) AS open{c}"
        for c in op.codes.values())
    con.execute(f"""
CREATE TABLE o AS
WITH a AS (
  SELECT oid,
    count(*) FILTER (WHERE opc = {op.issue} AND typc = {inv}) AS invokes,
    count(*) FILTER (WHERE opc = {op.issue} AND typc = {info}) AS info_answers,
    min(rn) FILTER (WHERE opc = {op.issue} AND typc = {inv}) AS orn,
    arg_max(ans, rn) FILTER (WHERE ans IS NOT NULL) AS last,
    arg_max(t, rn) FILTER (WHERE ans IS NOT NULL) AS last_t,
    max(t) FILTER (WHERE ans IS NOT NULL) AS ans_tmax,
    min(ts) FILTER (WHERE ans IN ({res.issued}, {res.pending})) AS fat,
    min(t) FILTER (WHERE ans = {res.issued}) AS imin,
    max(t) FILTER (WHERE ans IN {_NONDEF}) AS ndmax,
    min(t) FILTER (WHERE ans IN ({res.issued}, {res.failed})) AS min_def,
    min(ih) FILTER (WHERE ans IN ({res.issued}, {res.pending})) AS g_min,
    max(ih) FILTER (WHERE ans IN ({res.issued}, {res.pending})) AS g_max,
    bool_or(opc = {op.refund} AND typc = {ok} AND resc = {res.issued}) AS refund_told,
    bool_or(opc = {op.refund} AND typc = {ok} AND resc = {res.pending}) AS refund_pend,
    bool_or({_VMISS}) AS vmiss,
    count(*) FILTER (WHERE opc = {op.query} AND ans IS NOT NULL) AS qans,
    count(*) FILTER (WHERE opc = {op.refund} AND typc IN ({ok}, {fail})) AS rans,
    count(*) FILTER (WHERE opc = {op.verify} AND typc IN ({ok}, {fail})) AS vans,
    coalesce(bool_or(opc = {op.query} AND ans IS NOT NULL AND fin), false) AS fin
  FROM (SELECT rowid AS rn, t, ts, oid, opc, typc, resc, s404,
          CASE WHEN inv IS NOT NULL THEN hash(inv) END AS ih,
          {_ANS} AS ans, proc = 'final' OR prefix(proc, 'final.') AS fin FROM e)
  GROUP BY oid),
p AS (
  SELECT oid,
    count(*) FILTER (WHERE opc = {op.issue} AND open_inv) AS open_issues,
    {opens},
    max(pt) FILTER (WHERE ans IN {_NONDEF}) AS neg_inv_max
  FROM pw GROUP BY oid)
SELECT a.*, a.info_answers + coalesce(p.open_issues, 0) AS infos,
  {", ".join(f"coalesce(p.open{c}, 0) AS open{c}" for c in op.codes.values())},
  p.neg_inv_max
FROM a LEFT JOIN p ON p.oid = a.oid""")
    con.execute("DROP TABLE pw")
    # g_min = g_max = hash(b.no) proves that every number the customer was told is the
    # ledger's only if no two of these texts share a hash (cheaper than carrying strings)
    # (grouped by hash, not count(DISTINCT): a grouped aggregate spills to disk at 10 M)
    shared = con.execute(f"""
SELECT count(*) FROM (
  SELECT hash(x) AS h FROM (
    SELECT inv AS x FROM e WHERE inv IS NOT NULL AND typc IN ({ok}, {fail})
      AND opc IN ({op.issue}, {op.query})
    UNION ALL SELECT no FROM l WHERE NOT is_red AND no IS NOT NULL)
  GROUP BY h HAVING min(x) <> max(x))""").fetchone()[0]
    if shared:
        raise _Unsure("two invoice numbers share a hash")
    con.execute(f"""
CREATE TABLE vmiss AS SELECT DISTINCT inv AS no FROM e WHERE inv IS NOT NULL AND {_VMISS}""")
    con.execute("""
CREATE TABLE red_refs AS SELECT oref, count(*) AS n FROM l WHERE is_red AND oref IS NOT NULL
GROUP BY oref""")
    # per blue number a red names: how many reds, how many of them name the blue's order,
    # and whether every one names no other order and reverses exactly the blue's total
    con.execute("""
CREATE TABLE rev AS
SELECT r.orig AS no, count(*) AS nred,
  count(*) FILTER (WHERE r.oref IS NOT NULL AND r.oref = b.oref) AS named,
  coalesce(bool_and((r.oref IS NULL OR r.oref = b.oref)
    AND (r.total = '-' || b.total OR r.total = b.total)), false) AS fits
FROM l r LEFT JOIN l b ON b.no = r.orig AND NOT b.is_red
WHERE r.is_red GROUP BY r.orig""")
    con.execute("""
CREATE TABLE dup_refs AS SELECT oref FROM l WHERE NOT is_red AND oref IS NOT NULL
GROUP BY oref HAVING count(*) > 1""")
    # the proof of every class (sqlrules.CLEAN_PROOF), per order and blue, as a flag (not
    # an anti-join: plain joins and aggregates spill to disk at 10 M orders); settled (time
    # to consistency) is min_def when no pending/not_found answer came later
    con.execute(f"""
CREATE TEMP TABLE proof AS
SELECT o.oid, b.no, coalesce({clean_where()}, false) AS is_clean, o.fat, b.issued_at,
  o.min_def AS settled, o.fin, o.qans, o.rans, o.vans, coalesce(rv.nred, 0) AS nred
FROM o LEFT JOIN l b ON b.oref = o.oid AND NOT b.is_red LEFT JOIN specs s ON s.rn = o.orn
  LEFT JOIN rev rv ON rv.no = b.no LEFT JOIN red_refs rr ON rr.oref = o.oid""")
    con.execute("""
CREATE TABLE clean AS SELECT * EXCLUDE (is_clean) FROM proof WHERE is_clean""")
    con.execute("""
CREATE TABLE dirty AS SELECT DISTINCT oid FROM proof WHERE NOT is_clean""")
    con.execute("DROP TABLE proof")
    con.execute("DROP TABLE specs")


def _locate(path: Path, rows: np.ndarray) -> tuple[list[int], list[bytes], int]:
    """Byte offsets and text of the lines numbered `rows` (0-based, ascending), and the
    number of physical lines (an unterminated last line counts).

    The file is mapped, not read: newlines are counted per CHUNK with numpy (no copy of the
    data, no Python per line), only chunks holding a wanted row are indexed, and each chunk's
    pages are released once counted."""
    import mmap
    offsets: list[int] = []
    texts: list[bytes] = []
    want = rows.tolist()
    wi = 0
    size = path.stat().st_size
    if size == 0:
        if want:
            raise _Unsure("fewer lines than rows")
        return offsets, texts, 0
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        data = np.frombuffer(mm, dtype=np.uint8)
        line0 = 0          # newlines counted so far = number of the line at `start`
        start = 0          # byte offset of the first line not yet counted
        pos = 0
        while pos < size:
            block = data[pos:pos + CHUNK]
            ends = None
            if wi < len(want):
                ends = np.flatnonzero(block == 10)
                n = int(ends.size)
            else:
                n = int(np.count_nonzero(block == 10))
            if ends is not None and n and want[wi] < line0 + n:
                while wi < len(want) and want[wi] < line0 + n:
                    k = want[wi] - line0
                    s = start if k == 0 else pos + int(ends[k - 1]) + 1
                    e = pos + int(ends[k])
                    offsets.append(s)
                    texts.append(mm[s:e])
                    wi += 1
            if ends is not None and n:
                start = pos + int(ends[-1]) + 1
            line0 += n
            # mapped pages count as this process's memory until dropped (the data stays
            # in the page cache): keep the resident size to about one chunk
            mm.madvise(mmap.MADV_DONTNEED, pos, block.size)
            pos += block.size
        del data, block
        start = mm.rfind(b"\n") + 1         # the first byte after the last newline
        if start < size:                    # an unterminated last line
            if wi < len(want) and want[wi] == line0:
                offsets.append(start)
                texts.append(mm[start:size])
                wi += 1
            line0 += 1
    if wi != len(want):
        raise _Unsure("fewer lines than rows")
    return offsets, texts, line0


def _lines_of(path: Path, rows: np.ndarray, n_rows: int) -> tuple[list[int], list[bytes]]:
    """Byte offsets and text of the DuckDB rows `rows` of a file DuckDB read as `n_rows`
    rows. Row numbers are line numbers unless the file has blank lines, which DuckDB and
    the Python reader both skip: then the non-blank lines are indexed first."""
    offsets, texts, n_lines = _locate(path, rows)
    if n_lines == n_rows:
        return offsets, texts
    starts, ends = _nonblank_lines(path)
    if starts.size != n_rows:
        raise _Unsure(f"{path.name}: {n_rows} rows read but {starts.size} non-blank lines")
    offsets = starts[rows].tolist()
    with open(path, "rb") as f:
        texts = []
        for s, e in zip(offsets, ends[rows].tolist()):
            f.seek(s)
            texts.append(f.read(e - s))
    return offsets, texts


def _nonblank_lines(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of every line that is not blank, in file order.

    Only called on a file DuckDB has read as JSON objects, so a line is non-blank exactly
    when it holds a `{`: the braces and newlines of each chunk (cut at its last newline)
    are found with numpy and matched by binary search."""
    import mmap
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    size = path.stat().st_size
    if size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        data = np.frombuffer(mm, dtype=np.uint8)
        pos = released = 0
        width = CHUNK
        while pos < size:
            block = data[pos:pos + width]
            nl = np.flatnonzero(block == 10)
            if pos + block.size < size:
                if nl.size == 0:           # one line longer than the chunk: widen
                    width *= 2
                    continue
                block = block[:int(nl[-1]) + 1]
                e = nl
            elif nl.size and int(nl[-1]) == block.size - 1:
                e = nl
            else:                          # an unterminated last line
                e = np.append(nl, block.size)
            s = np.concatenate((np.zeros(1, dtype=np.int64), e[:-1] + 1))
            braces = np.flatnonzero(block == 123)
            keep = np.searchsorted(braces, s) < np.searchsorted(braces, e)
            starts.append(s[keep] + pos)
            ends.append(e[keep] + pos)
            pos += block.size
            width = CHUNK
            upto = pos // mmap.PAGESIZE * mmap.PAGESIZE      # madvise wants whole pages
            if upto > released:
                mm.madvise(mmap.MADV_DONTNEED, released, upto - released)
                released = upto
        del data, block
    return np.concatenate(starts), np.concatenate(ends)


def _rounded_delays(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, counts) of round(max(0, d), 6) over `raw`, exactly as stats.py rounds."""
    if raw.size == 0:
        return np.empty(0), np.empty(0, dtype=np.int64)
    u, c = np.unique(np.maximum(raw, 0.0), return_counts=True)
    return np.array([round(x, 6) for x in u.tolist()], dtype=np.float64), c


def connect(limit: str = MEMORY_LIMIT) -> Any:
    """An in-memory DuckDB connection set up for this module's queries (threads, memory
    budget, file order kept, the JSON-text macros)."""
    import duckdb
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {THREADS}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{limit}'")
    # beyond the budget DuckDB spills here (it removes its files on close), not into the
    # current directory, which may be a read-only checkout
    spill = Path(tempfile.gettempdir()) / f"invoice-chaos-duckdb-{os.getpid()}"
    con.execute(f"SET temp_directory = {_sql_str(spill)}")
    for macro in _MACROS:
        con.execute(macro)
    return con


def check_files_duck(history_path: Path, ledger_path: Path, opts: CheckOptions,
                     event_at: Any, ledger_at: Any,
                     also: Callable[[Any], Any] | None = None
                     ) -> tuple[CheckResult | None, str | None]:
    """(the verdict of check_files, None), or (None, why) when the Python path must decide
    (see above). `also(con)`, when given, runs after a DuckDB verdict on the connection
    whose table `e` holds every history line (see `ALSO_COLUMNS`); what it returns is the
    result's `also`, or None if it raised a DuckDB error (the verdict stands: the caller
    computes its figures another way)."""
    import duckdb
    try:
        con = connect(memory_limit(history_path.stat().st_size + ledger_path.stat().st_size))
    except duckdb.Error as e:
        return None, f"duckdb: {e}"
    try:
        TIMINGS.clear()
        with _Stage("history"):
            _load_history(con, history_path)
        with _Stage("ledger"):
            _load_ledger(con, ledger_path)
        with _Stage("specs"):
            _specs(con, history_path)
        with _Stage("clean"):
            _classify_clean(con)
        with _Stage("finish"):
            res = _finish(con, history_path, ledger_path, opts, event_at, ledger_at)
        if also is not None:
            with _Stage("also"):
                try:
                    res.also = also(con)
                except duckdb.Error:
                    res.also = None
        return res, None
    except _Unsure as e:
        return None, str(e)
    except duckdb.Error as e:
        return None, f"duckdb: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    finally:
        con.close()


def _finish(con: Any, history_path: Path, ledger_path: Path, opts: CheckOptions,
            event_at: Any, ledger_at: Any) -> CheckResult:
    n_rows = con.execute("SELECT count(*) FROM e").fetchone()[0]
    n_lrows = con.execute("SELECT count(*) FROM l").fetchone()[0]
    # --- the precise fold over every order that is not provably clean ------------------
    h_rows = con.execute("""
SELECT rowid AS rn FROM e WHERE oid IN (SELECT oid FROM dirty) ORDER BY rn""").fetchnumpy()["rn"]
    l_rows = con.execute("""
SELECT l.rowid AS rn FROM l LEFT JOIN clean c ON c.no = CASE WHEN l.is_red THEN l.orig
  ELSE l.no END AND (l.is_red OR c.oid = l.oref)
WHERE c.no IS NULL
ORDER BY rn""").fetchnumpy()["rn"]
    h_off, h_txt = _lines_of(history_path, np.asarray(h_rows, dtype=np.int64), n_rows)
    l_off, l_txt = _lines_of(ledger_path, np.asarray(l_rows, dtype=np.int64), n_lrows)
    fold = Fold()
    try:
        for off, text in zip(h_off, h_txt):
            fold.event(*event_fields(orjson.loads(text)), off)
        fold.end_of_history()
        for off, text in zip(l_off, l_txt):
            fold.ledger(*ledger_fields(orjson.loads(text)), off)
    except (ValueError, orjson.JSONDecodeError) as e:
        raise _Unsure(f"the Python fold refused a line DuckDB read: {e}") from None
    # the read path is global: a verify may be filed under any order
    own = sorted({no for st in fold.orders.values() for no in own_numbers(st)})
    fold.seen_on_read = dict(con.execute(f"""
SELECT inv, min(t) FROM e
WHERE {_SEEN} AND inv IN (SELECT unnest(?::VARCHAR[]))
GROUP BY inv""", [own]).fetchall()) if own else {}
    res = compose(fold, opts, event_at, ledger_at)
    if res.errors:
        raise _Unsure("a sub-check crashed: the Python path reports it")
    # --- the clean orders' share ------------------------------------------------------------
    n_clean, c_missing, c_latest = con.execute(f"""
SELECT count(*), count(*) FILTER (WHERE settled IS NULL OR s.seen IS NULL),
  max(greatest(settled, s.seen))
FROM clean LEFT JOIN (
  SELECT inv, min(t) AS seen FROM e
  WHERE {_SEEN} AND inv IS NOT NULL GROUP BY inv) s
ON s.inv = clean.no""").fetchone()
    counts = {k: v + n_clean * CLEAN_COUNTS[k] for k, v in res.counts.items()}
    # time to consistency: the later of both parts; None if any order never settled
    d_latest = latest_settled(fold)
    if n_clean == 0:
        latest = d_latest
    elif d_latest is None or c_missing:
        latest = None
    else:
        latest = max(d_latest, c_latest)
    load = con.execute("""
SELECT min(t), max(t) FROM e WHERE load""").fetchone()
    load_first_t, load_last_t = load
    load_end = opts.load_end_t if opts.load_end_t is not None else load_last_t
    # request statistics over every load proc's requests (open invokes count as info)
    by_op: dict[str, list[int]] = {}
    opens = con.execute("SELECT " + ", ".join(f"sum(open{c})" for c in op.codes.values())
                        + " FROM o").fetchone()
    for opc, total, ok, fail, info in con.execute(f"""
SELECT opc, count(*), count(*) FILTER (WHERE typc = {typ.ok}),
  count(*) FILTER (WHERE typc = {typ.fail}), count(*) FILTER (WHERE typc = {typ.info})
FROM e WHERE load AND typc <> {typ.invoke} GROUP BY opc""").fetchall():
        by_op[OPS[opc]] = [total, ok, fail, info]
    for opc, n in enumerate(opens):
        if n:
            c = by_op.setdefault(OPS[opc], [0, 0, 0, 0])
            c[0] += int(n)
            c[3] += int(n)
    lat = con.execute(f"""
SELECT lat FROM e WHERE load AND typc <> {typ.invoke} AND lat IS NOT NULL""").fetchnumpy()["lat"]
    lat = np.sort(np.asarray(lat, dtype=np.float64))
    # acceptance delays: the precise part's (rounded) plus the clean orders'
    raw = con.execute("SELECT issued_at - fat AS d FROM clean").fetchnumpy()["d"]
    cv, cc = _rounded_delays(np.asarray(raw, dtype=np.float64))
    dv = np.asarray(acceptance_delays(fold), dtype=np.float64)
    delays = np.sort(np.concatenate([np.repeat(cv, cc), dv]))
    # chances (classes.count_chances): the clean orders' share added to the fold's
    names = list(CLEAN_CHANCES)
    got = con.execute("SELECT " + ", ".join(CLEAN_CHANCES[k] for k in names)
                      + " FROM clean").fetchone()
    chances = dict(res.chances)
    for k, n in zip(names, got):
        chances[k] += int(n)
    return CheckResult(
        counts=counts,
        chances=chances,
        anomalies=res.anomalies,
        totals=res.totals,
        time_to_consistency_s=consistency_figure(latest, load_end),
        acceptance_delay_s=delay_figures(_Sorted(delays)),
        requests=request_figures(by_op, _Sorted(lat), load_first_t, load_end),
        valid=res.valid,
        errors=[],
    )
