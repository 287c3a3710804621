"""Generate a large, realistic run (history.jsonl + platform-ledger.jsonl) for the checker
benchmark, with a known number of planted anomalies of each class.

    .venv/bin/python -m benchmarks.gen_history OUT_DIR --orders 1000000 [--seed 1]

Shape: orders are handled by 400 load procs in waves (every proc invokes, then every
proc completes), so pairing is interleaved like a real merged history. Every order is
issued (invoke + ok) and every second one is verified on the read path, about 3 lines
per order; one ledger line per invoice. One order in `--plant-every` gets an anomaly,
cycling through the classes; `expected.json` holds the exact counts the checker must find.
"""
from __future__ import annotations

import argparse
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import orjson

__all__ = ["generate", "PLANTED"]

T0 = 1_767_225_600.0
SELLERS = ["91110000600001760P", "91350100M000100Y43", "9144030071526726XG",
           "91330100716105852F", "911101017967003199"]
CATALOGUE = [("矿泉水", "1", "2.50", "0.13"), ("咖啡", "2", "28.00", "0.06"),
             ("外卖配送", "1", "6.00", "0.06"), ("图书", "3", "45.80", "0.09"),
             ("耳机", "1", "199.00", "0.13"), ("大米", "5", "4.35", "0.09"),
             ("餐饮服务", "1", "123.45", "0.06"), ("充电线", "2", "19.90", "0.13")]
CENT = Decimal("0.01")
#: anomaly kinds planted in turn; "clean" orders are everything else
PLANTED = ("lost", "duplicated", "phantom", "mismatched", "unresolved", "recovered",
           "orphaned", "stale_reads")


def _money(lines: list[tuple]) -> tuple[str, str]:
    amount = tax = Decimal(0)
    for _, q, p, r in lines:
        a = (Decimal(q) * Decimal(p)).quantize(CENT, ROUND_HALF_UP)
        amount += a
        tax += (a * Decimal(r)).quantize(CENT, ROUND_HALF_UP)
    return str(amount), str(tax)


def generate(out: Path, orders: int = 1_000_000, seed: int = 1, plant_every: int = 10_000,
             procs: int = 400) -> dict[str, int]:
    """Write the run into `out`; return the expected anomaly counts."""
    rnd = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    dumps = orjson.dumps
    expected = {k: 0 for k in PLANTED}
    expected.update(requested=orders, acknowledged=0, failed=0, indeterminate=0)
    # precomputed order bodies: a few hundred distinct baskets, as a shop's catalogue gives
    baskets = []
    for _ in range(256):
        lines = rnd.sample(CATALOGUE, rnd.randint(1, 3))
        amount, tax = _money(lines)
        baskets.append(([{"name": n, "quantity": q, "unit_price": p, "tax_rate": r}
                         for n, q, p, r in lines], amount, tax))
    seq = 0
    with open(out / "history.jsonl", "wb") as hf, open(out / "platform-ledger.jsonl", "wb") as lf:
        hw, lw = hf.write, lf.write
        t = 0.0
        for start in range(0, orders, procs):
            batch = range(start, min(start + procs, orders))
            plan = []
            for i in batch:
                kind = PLANTED[(i // plant_every) % len(PLANTED)] if i % plant_every == 7 else "clean"
                plan.append((i, kind, baskets[i & 255], SELLERS[i % 5]))
            # issue invokes
            for i, kind, (lines, amount, tax), seller in plan:
                t += 0.0005
                hw(dumps({"t": round(t, 6), "ts": round(T0 + t, 6), "proc": f"w{i % 2}.{i % procs}",
                          "op": "issue", "type": "invoke", "order_id": f"O{i:08d}",
                          "invoice_no": None, "result": None, "status": None, "latency_ms": None,
                          "error": None, "order": {"seller_tax_id": seller,
                                                   "buyer": {"name": "顾客", "tax_id": None},
                                                   "lines": lines, "kind": "normal"}}) + b"\n")
            # completions and the platform's invoices
            wave_no: dict[int, str] = {}
            for i, kind, (lines, amount, tax), seller in plan:
                t += 0.0005
                oid = f"O{i:08d}"
                seq += 1
                no = f"26117{seq:015d}"
                wave_no[i] = no
                typ, result, status, given = "ok", "issued", 201, no
                if kind == "phantom":
                    typ, result, status, given = "fail", "failed", 422, None
                elif kind == "unresolved":
                    result, status, given = "pending", 202, None
                elif kind == "recovered":
                    typ, result, status, given = "info", None, None, None
                hw(dumps({"t": round(t, 6), "ts": round(T0 + t, 6), "proc": f"w{i % 2}.{i % procs}",
                          "op": "issue", "type": typ, "order_id": oid, "invoice_no": given,
                          "result": result, "status": status,
                          "latency_ms": round(rnd.uniform(20, 400), 1), "error": None}) + b"\n")
                if kind in ("lost", "unresolved"):
                    expected[kind] += 1
                    expected["acknowledged"] += 1
                    continue
                if kind == "phantom":
                    expected["failed"] += 1
                elif kind == "recovered":
                    expected["indeterminate"] += 1
                else:
                    expected["acknowledged"] += 1
                if kind in expected and kind not in ("orphaned", "stale_reads"):
                    expected[kind] += 1
                inv_amount = amount
                if kind == "mismatched":
                    inv_amount = str(Decimal(amount) + Decimal("1.00"))
                total = str(Decimal(inv_amount) + Decimal(tax))
                lw(dumps({"invoice_no": no, "kind": "blue", "request_id": f"R{seq}",
                          "order_ref": oid, "seller_tax_id": seller, "buyer_tax_id": None,
                          "amount": inv_amount, "tax": tax, "total": total,
                          "issued_at": round(T0 + t - 0.01, 6), "original_invoice_no": None}) + b"\n")
                if kind in ("duplicated", "orphaned"):
                    seq += 1
                    ref = oid if kind == "duplicated" else f"X{i:08d}"
                    if kind == "orphaned":
                        expected["orphaned"] += 1
                    lw(dumps({"invoice_no": f"26117{seq:015d}", "kind": "blue",
                              "request_id": f"R{seq}", "order_ref": ref, "seller_tax_id": seller,
                              "buyer_tax_id": None, "amount": amount, "tax": tax,
                              "total": str(Decimal(amount) + Decimal(tax)),
                              "issued_at": round(T0 + t, 6), "original_invoice_no": None}) + b"\n")
            # every second order is verified on the read path (stale_reads: a verify long after)
            for phase in ("invoke", "ok"):
                for i, kind, _, _ in plan:
                    if i % 2 and kind != "stale_reads":
                        continue
                    if kind in ("phantom", "unresolved", "recovered", "lost"):
                        continue
                    t += 0.0005
                    result = status = latency = None
                    if phase == "ok":
                        result, status, latency = "issued", 200, round(rnd.uniform(5, 50), 1)
                        if kind == "stale_reads":
                            result, status = "not_found", 404
                            expected["stale_reads"] += 1
                    hw(dumps({"t": round(t, 6), "ts": round(T0 + t + (5.0 if kind == "stale_reads"
                                                                     else 0.0), 6),
                              "proc": f"c{i % procs}", "op": "verify", "type": phase,
                              "order_id": f"O{i:08d}", "invoice_no": wave_no[i],
                              "result": result, "status": status, "latency_ms": latency,
                              "error": None}) + b"\n")
    (out / "expected.json").write_bytes(orjson.dumps(expected, option=orjson.OPT_INDENT_2))
    return expected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plant-every", type=int, default=10_000)
    a = ap.parse_args()
    print(orjson.dumps(generate(a.out, a.orders, a.seed, a.plant_every)).decode())


if __name__ == "__main__":
    main()
