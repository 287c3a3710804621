"""The file readers' hot loops: validation fused into the fold, over large binary chunks.

Why a second copy of `event_fields` + `Fold.event`: on millions of lines the function calls,
the field tuple and the Pairing method calls cost more than the JSON parsing. Each loop
validates a line completely *before* it changes any state and, for anything unusual (a
bad field, a pairing error, a line that is not an object), hands that one line to the
precise path (`event_fields` + `Fold.event`), which folds it or raises the exact message.
So the fold state and every error are the same as the simple reader's by construction;
tests/checker/test_checker_fast.py compares them.

With `part=(k, n)` a loop keeps only the lines whose order (order_id / order_ref) falls in
partition k of n (see `partition_of`), found by a byte search before any parsing; the
parallel checker (parallel.py) runs one loop per core. Such a loop raises `Misrouted` if a
kept line's parsed order is not in its partition, and records, for the load procs, the byte
interval of every invoke..completion so that the pairing can be checked across partitions.
"""
from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

import orjson

from harness.checker.amounts import Spec, mismatch_reason, spec_of
from harness.checker.fold import Blue, Fold, OrderState, Red, VerifyMiss
from harness.checker.history import HARNESS_PREFIXES, LOAD_EXCLUDED_PROCS, OPS, RESULTS, TYPES, _check_order, event_fields
from harness.checker.ledger import ledger_fields
from harness.errors import InputError

__all__ = ["fold_history_file", "fold_ledger_file", "partition_of", "Misrouted", "Intervals",
           "CHUNK", "OPEN_END"]

#: Bytes read at once: large enough that the per-read cost vanishes, small enough to
#: keep the chunk's line list (about 40k lines) cheap.
CHUNK = 1 << 23
#: End offset of an invoke that never completed (an open interval).
OPEN_END = 1 << 62


class Misrouted(Exception):
    """A kept line's parsed order_id is not in the partition its raw bytes pointed to
    (an escaped or nested key): the parallel result cannot be trusted, use the simple path."""


def partition_of(oid: Any, n: int) -> int:
    """Partition of a decoded order_id: the sum of its last two code points modulo n.

    Cheap, computable from the raw JSON bytes without decoding when those characters are
    ASCII (`_raw_partition`), and even for sequential ids: the last digit alone would put
    every order of one parity together (and the benchmark verifies only even orders)."""
    if type(oid) is not str or not oid:
        return 0
    if len(oid) == 1:
        return ord(oid) % n
    return (ord(oid[-1]) + ord(oid[-2])) % n


def _slow_partition(line: bytes, field: str, n: int) -> int:
    """The exact partition from a full parse (escapes, spaces after the colon, odd lines)."""
    try:
        d = orjson.loads(line)
    except orjson.JSONDecodeError:
        return 0
    return partition_of(d.get(field) if type(d) is dict else None, n)


def _raw_partition(line: bytes, key: bytes, field: str, n: int) -> int:
    """Partition of the line's order, from its raw bytes when they are plain (the compact
    orjson form, an ASCII last character, no escapes), else from a full parse. A wrong
    answer (a nested key of that name first) is caught by the worker (`Misrouted`)."""
    i = line.find(key)
    if i < 0:
        return _slow_partition(line, field, n)
    s = i + len(key)
    if line[s:s + 2] != b':"':
        return _slow_partition(line, field, n)
    s += 2
    q = line.find(b'"', s)
    if q <= s:
        return 0 if q == s else _slow_partition(line, field, n)
    if q == s + 1:
        return _slow_partition(line, field, n)
    if line[q - 1] >= 128 or line[q - 2] >= 128 or line.find(b"\\", s, q) >= 0:
        return _slow_partition(line, field, n)
    return (line[q - 1] + line[q - 2]) % n


def _bad_json(name: str, lineno: int, line: bytes, terminated: bool, err: Exception) -> InputError:
    if not terminated:
        return InputError(f"{name}:{lineno}: truncated last line (not complete JSON): {err}")
    return InputError(f"{name}:{lineno}: not valid JSON: {err}")


def _lines(path: Path):
    """Yield (chunk_lines, first_offset, last_is_terminated) over the file: lines without
    their b"\\n"; only the file's very last line may be unterminated."""
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
            lines = data[:cut].split(b"\n")
            yield lines, offset, True
            offset += cut + 1


#: Distinct raw `order` texts remembered per file (a shop's baskets repeat).
ORDER_CACHE_MAX = 50_000


def _order_spec(line: bytes, oi: int, order: Any, cache: dict[bytes, Spec]) -> Spec:
    """Validate an issue invoke's `order` and compute its Spec; remember it under the raw
    text `,"order":{...}}` when that text is provably the line's last top-level member
    (the rest parses as an object without an "order" key), so that the next line with the
    same bytes skips parsing, validating and pricing the basket. ValueError if invalid."""
    spec = spec_of(_check_order(order))
    if oi > 0 and len(cache) < ORDER_CACHE_MAX and line.endswith(b"}"):
        try:
            rest = orjson.loads(line[:oi] + b"}")
        except orjson.JSONDecodeError:
            return spec
        if type(rest) is dict and "order" not in rest:
            cache[line[oi:]] = spec
    return spec


class Intervals:
    """Byte intervals invoke..completion of the load procs seen by one partition."""

    __slots__ = ("procs", "proc", "start", "end")

    def __init__(self) -> None:
        self.procs: dict[str, int] = {}
        self.proc = array("q")
        self.start = array("q")
        self.end = array("q")


def fold_history_file(path: Path, fold: Fold, part: tuple[int, int] | None = None,
                      iv: Intervals | None = None) -> None:
    """Fold every event of history.jsonl (or of one partition) into `fold`; refs are byte
    offsets. Raises InputError("history.jsonl:812: ...") as the simple reader does."""
    name = path.name
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
    orders = fold.orders
    open_ = fold.pairing.open
    by_op = fold.by_op
    lat_append = fold.latencies.append
    seen = fold.seen_on_read
    vmiss = fold.verify_misses
    excluded = LOAD_EXCLUDED_PROCS
    lanes = HARNESS_PREFIXES
    ops, types, results = OPS, TYPES, RESULTS
    precise = fold.event
    me, nparts = part if part is not None else (0, 1)
    key = b'"order_id"'
    ckey = b'"order_id":"'
    cklen = len(ckey)
    open_at: dict[str, int] = {}
    if iv is not None:
        proc_codes = iv.procs
        iv_proc, iv_start, iv_end = iv.proc.append, iv.start.append, iv.end.append
    order_cache: dict[bytes, Spec] = {}
    lineno = 0
    max_t = fold.max_t
    first_t, last_t = fold.load_first_t, fold.load_last_t
    for lines, off, terminated in _lines(path):
        last_i = len(lines) - 1
        for i, line in enumerate(lines):
            lineno += 1
            ref = off
            off += len(line) + 1
            if nparts > 1:
                # inline fast case of _raw_partition: compact key, plain ASCII last char
                ki = line.find(ckey)
                if ki >= 0:
                    ki += cklen
                    q = line.find(b'"', ki)
                    if (q > ki + 1 and line[q - 1] < 128 and line[q - 2] < 128
                            and line.find(b"\\", ki, q) < 0):
                        if (line[q - 1] + line[q - 2]) % nparts != me:
                            continue
                    elif _raw_partition(line, key, "order_id", nparts) != me:
                        continue
                elif _raw_partition(line, key, "order_id", nparts) != me:
                    continue
            cached = None
            oi = line.rfind(b',"order":{')
            if oi > 0:
                cached = order_cache.get(line[oi:])
                if cached is not None:
                    try:
                        d = loads(line[:oi] + b"}")
                        if "order" in d:
                            cached = None
                    except (JSONDecodeError, TypeError):
                        cached = None
            if cached is None:
                try:
                    d = loads(line)
                except JSONDecodeError as e:
                    if not line.strip():
                        continue
                    raise _bad_json(name, lineno, line, terminated or i < last_i, e) from None
            try:
                t = d["t"]
                ts = d["ts"]
                proc = d["proc"]
                op = d["op"]
                typ = d["type"]
                oid = d["order_id"]
                g = d.get
                inv = g("invoice_no")
                result = g("result")
                status = g("status")
                latency = g("latency_ms")
                tt = type(t)
                tts = type(ts)
                ok = ((tt is float or tt is int) and (tts is float or tts is int)
                      and type(proc) is str and type(oid) is str and op in ops and typ in types
                      and (inv is None or type(inv) is str)
                      and (result is None or result in results)
                      and (status is None or type(status) is int)
                      and (latency is None or type(latency) is float or type(latency) is int))
            except (KeyError, TypeError):
                ok = False
            if ok and nparts > 1 and partition_of(oid, nparts) != me:
                raise Misrouted(f"{name}:{lineno}")
            load = ok and proc not in excluded and not proc.startswith(lanes)
            pkey = proc if load else (proc, oid) if ok else None
            if ok:
                if typ == "invoke":
                    spec = None
                    if op == "issue":
                        if cached is not None:
                            spec = cached
                        else:
                            try:
                                spec = _order_spec(line, oi, g("order"), order_cache)
                            except ValueError:
                                ok = False
                    if ok and pkey in open_:
                        ok = False
                else:
                    inv4 = open_.get(pkey)
                    if inv4 is None or inv4[0] != op or inv4[1] != oid:
                        ok = False
            if not ok:
                # the precise path: folds the line exactly as the simple reader or raises
                if cached is not None:
                    d = loads(line)
                fold.max_t, fold.load_first_t, fold.load_last_t = max_t, first_t, last_t
                try:
                    precise(*event_fields(d), ref)
                except ValueError as e:
                    raise InputError(f"{name}:{lineno}: {e}") from None
                max_t, first_t, last_t = fold.max_t, fold.load_first_t, fold.load_last_t
                if iv is not None:
                    raise Misrouted(f"{name}:{lineno}: unusual line in a partition")
                continue
            # ---- the fold, as Fold.event --------------------------------------------------
            if t > max_t:
                max_t = t
            if load:
                if first_t is None or t < first_t:
                    first_t = t
                if last_t is None or t > last_t:
                    last_t = t
            st = orders.get(oid)
            if st is None:
                st = orders[oid] = OrderState()
            st.refs.append(ref)
            if typ == "invoke":
                open_[pkey] = (op, oid, t, ts)
                if iv is not None and load:
                    open_at[proc] = ref
                if op == "issue":
                    st.invokes += 1
                    if st.spec is None:
                        st.spec = spec
                elif op == "refund":
                    st.refund_invoked = True
                continue
            del open_[pkey]
            inv_ts = inv4[3]
            if load:
                if iv is not None:
                    c = proc_codes.get(proc)
                    if c is None:
                        c = proc_codes[proc] = len(proc_codes)
                    iv_proc(c)
                    iv_start(open_at.pop(proc))
                    iv_end(ref)
                c = by_op.get(op)
                if c is None:
                    c = by_op[op] = [0, 0, 0, 0]
                c[0] += 1
                c[1 if typ == "ok" else 2 if typ == "fail" else 3] += 1
                if latency is not None:
                    lat_append(latency)
            if op == "issue" or op == "query":
                if typ == "info":
                    if op == "issue":
                        st.infos += 1
                    continue
                answer = result
                if answer is None:
                    if status == 404:
                        answer = "not_found"
                    elif typ == "fail" and op == "issue":
                        st.rejects += 1         # this attempt issued nothing (see fold.py)
                        if t > st.reject_t:
                            st.reject_t = t
                        continue
                    else:
                        continue
                if t >= st.last_t:
                    st.last_t = t
                    st.last = answer
                if answer == "issued" or answer == "failed":
                    if st.defs is None:
                        st.defs = [t]
                    else:
                        st.defs.append(t)
                    if op == "query":
                        st.definite_query = True
                else:
                    if t > st.nondef_max:
                        st.nondef_max = t
                    if st.negs is None:
                        st.negs = [(inv4[2], ref)]
                    else:
                        st.negs.append((inv4[2], ref))
                if answer == "issued" or answer == "pending":
                    if op == "query":
                        st.definite_query = True
                    if st.first_accept_ts is None or ts < st.first_accept_ts:
                        st.first_accept_ts = ts
                    if answer == "issued":
                        if st.issued_min_t is None or t < st.issued_min_t:
                            st.issued_min_t = t
                    if inv is not None:
                        if st.given is None:
                            st.given = inv
                        elif inv != st.given:
                            if st.given_more is None:
                                st.given_more = {inv}
                            else:
                                st.given_more.add(inv)
            elif op == "refund":
                if typ != "info" and t >= st.refund_t:    # the latest definite word counts
                    st.refund_t = t
                    st.refund_open = typ == "ok" and result == "pending"
                if typ == "ok" and result == "issued":
                    st.refund_told = True
                    if inv is not None:
                        st.refund_red_no = inv
            else:  # verify
                if typ == "info":
                    continue
                if result == "issued" and inv is not None:
                    prev = seen.get(inv)
                    if prev is None or t < prev:
                        seen[inv] = t
                elif result == "not_found" or (result is None and status == 404):
                    vmiss.append(VerifyMiss(oid, inv, inv_ts, ref))
    fold.max_t, fold.load_first_t, fold.load_last_t = max_t, first_t, last_t
    if iv is not None:
        for proc, start in open_at.items():
            c = proc_codes.get(proc)
            if c is None:
                c = proc_codes[proc] = len(proc_codes)
            iv_proc(c)
            iv_start(start)
            iv_end(OPEN_END)


def fold_ledger_file(path: Path, fold: Fold, part: tuple[int, int] | None = None) -> None:
    """Fold every line of platform-ledger.jsonl (or of one partition, by order_ref) into
    `fold`, as `ledger_fields` + `Fold.ledger`; refs are byte offsets."""
    name = path.name
    loads = orjson.loads
    JSONDecodeError = orjson.JSONDecodeError
    orders_get = fold.orders.get
    blues = fold.blues
    orphans = fold.orphans
    precise = fold.ledger
    me, nparts = part if part is not None else (0, 1)
    key = b'"order_ref"'
    ckey = b'"order_ref":"'
    cklen = len(ckey)
    lineno = 0
    for lines, off, terminated in _lines(path):
        last_i = len(lines) - 1
        for i, line in enumerate(lines):
            lineno += 1
            ref = off
            off += len(line) + 1
            if nparts > 1:
                # inline fast case of _raw_partition: compact key, plain ASCII last char
                ki = line.find(ckey)
                if ki >= 0:
                    ki += cklen
                    q = line.find(b'"', ki)
                    if (q > ki + 1 and line[q - 1] < 128 and line[q - 2] < 128
                            and line.find(b"\\", ki, q) < 0):
                        if (line[q - 1] + line[q - 2]) % nparts != me:
                            continue
                    elif _raw_partition(line, key, "order_ref", nparts) != me:
                        continue
                elif _raw_partition(line, key, "order_ref", nparts) != me:
                    continue
            try:
                d = loads(line)
            except JSONDecodeError as e:
                if not line.strip():
                    continue
                raise _bad_json(name, lineno, line, terminated or i < last_i, e) from None
            try:
                no = d["invoice_no"]
                kind = d["kind"]
                d["request_id"]
                oref = d["order_ref"]
                seller = d["seller_tax_id"]
                buyer = d["buyer_tax_id"]
                amount = d["amount"]
                tax = d["tax"]
                total = d["total"]
                issued_at = d["issued_at"]
                d["original_invoice_no"]
                ti = type(issued_at)
                ok = (kind == "blue" and type(no) is str and type(oref) is str
                      and type(amount) is str and type(tax) is str and type(total) is str
                      and (ti is float or ti is int) and no not in blues)
            except (KeyError, TypeError):
                ok = False
            if not ok:
                # reds, null order_refs, duplicates and bad lines: the precise path
                if nparts > 1 and type(d) is dict and partition_of(d.get("order_ref"), nparts) != me:
                    raise Misrouted(f"{name}:{lineno}")
                try:
                    precise(*ledger_fields(d), ref)
                except ValueError as e:
                    raise InputError(f"{name}:{lineno}: {e}") from None
                continue
            if nparts > 1 and partition_of(oref, nparts) != me:
                raise Misrouted(f"{name}:{lineno}")
            st = orders_get(oref)
            mismatch = None
            if st is not None and st.spec is not None:
                try:
                    mismatch = mismatch_reason(st.spec, seller, buyer, amount, tax, total)
                except ValueError as e:
                    raise InputError(f"{name}:{lineno}: {e}") from None
            b = Blue(no, oref, total, issued_at, ref, mismatch)
            blues[no] = b
            if st is None or st.invokes == 0:
                orphans.append((oref, no, ref))
                continue
            if st.blues is None:
                st.blues = [b]
            else:
                st.blues.append(b)


# keep the Red import referenced: reds go through the precise path (Fold.ledger)
_ = Red
