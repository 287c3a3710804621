"""A second history generator for the checker benchmark: it varies what design.md s.7 allows
and gen_history.py does not, so that a speed figure holds for any valid history, not only
for the shape the checker was tuned on.

    .venv/bin/python -m benchmarks.gen_varied OUT_DIR --orders 1000000 [--procs one|many]
        [--numbers int|float|mixed] [--absent] [--baskets 256] [--blank-every 0]

Variations: `t`, `ts`, `latency_ms` and the ledger's `issued_at` written as JSON integers,
floats or both; optional keys (`invoice_no`, `result`, `status`, `latency_ms`, `error`)
left out instead of null (`--absent`); one proc per order (`--procs one`, a million procs)
or 400 procs in waves; any number of distinct baskets (`--baskets`, up to one per order);
blank lines now and then (`--blank-every N`). About one order in `--plant-every` gets an
anomaly (lost, duplicated, phantom, recovered in turn); `expected.json` holds the exact
counts the checker must find.
"""
from __future__ import annotations

import argparse
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson

__all__ = ["generate"]

T0 = 1_767_225_600
SELLERS = ["91110000600001760P", "91350100M000100Y43", "9144030071526726XG"]
CENT = Decimal("0.01")
PLANTED = ("lost", "duplicated", "phantom", "recovered")
#: orders per wave: every order of a wave is invoked, then every one completes
WAVE = 400


def _basket(k: int) -> tuple[list[dict[str, Any]], str, str]:
    """Basket number k: a line whose price varies with k (so k distinct texts)."""
    price = Decimal(100 + k % 1_000_000) / 100
    qty = 1 + k % 3
    amount = (price * qty).quantize(CENT, ROUND_HALF_UP)
    tax = (amount * Decimal("0.13")).quantize(CENT, ROUND_HALF_UP)
    lines = [{"name": "商品", "quantity": qty if k % 2 else str(qty),
              "unit_price": str(price), "tax_rate": "0.13"}]
    return lines, str(amount), str(tax)


def generate(out: Path, orders: int = 1_000_000, procs: str = "one", numbers: str = "mixed",
             absent: bool = True, baskets: int = 256, blank_every: int = 0,
             plant_every: int = 10_000, seed: int = 2) -> dict[str, int]:
    """Write history.jsonl, platform-ledger.jsonl and expected.json into `out`."""
    rnd = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    dumps = orjson.dumps
    expected = {k: 0 for k in PLANTED}
    expected.update(requested=orders, acknowledged=0, failed=0, indeterminate=0)
    cache = [_basket(k) for k in range(min(baskets, 4096))]
    n_lines = 0

    def num(x: float, i: int) -> float | int:
        if numbers == "int" or (numbers == "mixed" and i % 2 == 0):
            return int(x)
        return round(x, 6)

    def line(d: dict[str, Any]) -> bytes:
        nonlocal n_lines
        if absent:
            d = {k: v for k, v in d.items() if v is not None}
        n_lines += 1
        blank = b"\n" if blank_every and n_lines % blank_every == 0 else b""
        return dumps(d) + b"\n" + blank

    seq = 0
    t = 0.0
    with open(out / "history.jsonl", "wb") as hf, open(out / "platform-ledger.jsonl", "wb") as lf:
        hw, lw = hf.write, lf.write
        for start in range(0, orders, WAVE):
            plan = []
            for i in range(start, min(start + WAVE, orders)):
                kind = PLANTED[(i // plant_every) % len(PLANTED)] if i % plant_every == 3 else "clean"
                b = cache[i % len(cache)] if baskets <= len(cache) else _basket(i % baskets)
                proc = f"p{i}" if procs == "one" else f"w{i % 4}.{i % WAVE}"
                plan.append((i, kind, b, SELLERS[i % len(SELLERS)], proc))
            for i, kind, (lines, _, _), seller, proc in plan:
                t += 0.0005
                hw(line({"t": num(t, i), "ts": num(T0 + t, i), "proc": proc, "op": "issue",
                         "type": "invoke", "order_id": f"V{i:08d}", "invoice_no": None,
                         "result": None, "status": None, "latency_ms": None, "error": None,
                         "order": {"seller_tax_id": seller, "buyer": {"name": "顾客"},
                                   "lines": lines, "kind": "normal"}}))
            nos = {}
            for i, kind, (_, amount, tax), seller, proc in plan:
                t += 0.0005
                seq += 1
                no = nos[i] = f"26227{seq:015d}"
                typ, result, status, given = "ok", "issued", 201, no
                if kind == "phantom":
                    typ, result, status, given = "fail", "failed", 422, None
                    expected["failed"] += 1
                elif kind == "recovered":
                    typ, result, status, given = "info", None, None, None
                    expected["indeterminate"] += 1
                else:
                    expected["acknowledged"] += 1
                if kind != "clean":
                    expected[kind] += 1
                hw(line({"t": num(t, i + 1), "ts": num(T0 + t, i + 1), "proc": proc, "op": "issue",
                         "type": typ, "order_id": f"V{i:08d}", "invoice_no": given,
                         "result": result, "status": status,
                         "latency_ms": num(rnd.uniform(20, 400), i), "error": None}))
                if kind == "lost":
                    continue
                total = str(Decimal(amount) + Decimal(tax))
                for _ in range(2 if kind == "duplicated" else 1):
                    # every ledger key is required (null allowed), so none is left out
                    lw(dumps({"invoice_no": no, "kind": "blue", "request_id": f"R{seq}",
                              "order_ref": f"V{i:08d}", "seller_tax_id": seller,
                              "buyer_tax_id": None, "amount": amount, "tax": tax,
                              "total": total, "issued_at": num(T0 + t - 1, i),
                              "original_invoice_no": None}) + b"\n")
                    seq += 1
                    no = f"26227{seq:015d}"
            # every second clean order is verified on the read path, by the same proc
            for phase in ("invoke", "ok"):
                for i, kind, _, _, proc in plan:
                    if i % 2 or kind != "clean":
                        continue
                    t += 0.0005
                    ok = phase == "ok"
                    hw(line({"t": num(t, i), "ts": num(T0 + t, i), "proc": proc, "op": "verify",
                             "type": phase, "order_id": f"V{i:08d}", "invoice_no": nos[i],
                             "result": "issued" if ok else None, "status": 200 if ok else None,
                             "latency_ms": num(rnd.uniform(5, 50), i) if ok else None,
                             "error": None}))
    (out / "expected.json").write_bytes(orjson.dumps(expected, option=orjson.OPT_INDENT_2))
    return expected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--procs", choices=("one", "many"), default="one")
    ap.add_argument("--numbers", choices=("int", "float", "mixed"), default="mixed")
    ap.add_argument("--absent", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--baskets", type=int, default=256)
    ap.add_argument("--blank-every", type=int, default=0)
    ap.add_argument("--plant-every", type=int, default=10_000)
    a = ap.parse_args()
    print(orjson.dumps(generate(a.out, a.orders, a.procs, a.numbers, a.absent, a.baskets,
                                a.blank_every, a.plant_every)).decode())


if __name__ == "__main__":
    main()
