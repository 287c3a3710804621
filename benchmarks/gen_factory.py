"""A checker benchmark history shaped like a real run: every order comes from the load
generator's own order factory (harness/load/orders.py), so every order text is distinct
(its own buyer, its own lines and prices, every catalogue rate, weights with three
decimals, special invoices with a buyer tax id), with the journeys a real run records.

    .venv/bin/python -m benchmarks.gen_factory OUT_DIR --orders 1000000 [--seed 7]
        [--plant-every 10000] [--jobs 2]

Per wave of 400 orders: every order is invoked (1 % double-tapped by a second proc), then
answered (4 % first `pending`, then polled with a query until `issued`); 20 % are verified
on the platform's read path, 5 % refunded (a red invoice reverses the blue one), 3 % read by
the harness's final read (`final.<k>`). Half the orders have a proc of their own
(`w1.<index>`), the other half share 400 procs (`w0.<k>`). One order in `--plant-every` gets
an anomaly, cycling through every class (lost, phantom, duplicated, mismatched, unresolved,
recovered, orphaned, misreversed, stale_reads); `expected.json` holds the exact counts.

Orders are built in `--jobs` processes (the factory costs tens of µs an order) and written
in index order, so the files depend on the seed and the size alone.
"""
from __future__ import annotations

import argparse
import random
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import orjson

from fakes.common import uscc
from harness.load.orders import OrderFactory

__all__ = ["generate", "PLANTED"]

T0 = 1_767_225_600.0
#: orders per wave: every order of a wave is invoked, then every one completes
WAVE = 400
#: waves built per task of a worker process
WAVES_PER_TASK = 50
PLANTED = ("lost", "phantom", "duplicated", "mismatched", "unresolved", "recovered",
           "orphaned", "misreversed", "stale_reads")
_KEYS = ("requested", "acknowledged", "failed", "indeterminate", *PLANTED)


def _sellers(seed: int, n: int = 40) -> list[dict[str, str]]:
    rng = random.Random(f"gen-factory-sellers:{seed}")
    return [{"seller_tax_id": uscc.generate(rng)} for _ in range(n)]


def _half_up(num: int, den: int) -> int:
    """num / den rounded half-up (num >= 0): domain.md's rule in integers."""
    return (2 * num + den) // (2 * den)


def _money(order: dict[str, Any]) -> tuple[int, int]:
    """(amount, tax) in cents: each line's amount and tax rounded half-up to the cent."""
    amount = tax = 0
    for ln in order["lines"]:
        ip, _, fp = ln["quantity"].partition(".")
        q_milli = int(ip) * 1000 + int((fp + "000")[:3])
        pp, _, pf = ln["unit_price"].partition(".")
        p_cents = int(pp) * 100 + int((pf + "00")[:2])
        a = _half_up(q_milli * p_cents, 1000)
        rp, _, rf = ln["tax_rate"].partition(".")
        r_pct = int(rp) * 100 + int((rf + "00")[:2])
        amount += a
        tax += _half_up(a * r_pct, 100)
    return amount, tax


def _s(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    c = abs(cents)
    return f"{sign}{c // 100}.{c % 100:02d}"


def kind_of(i: int, plant_every: int) -> str:
    return PLANTED[(i // plant_every) % len(PLANTED)] if i % plant_every == 7 else "clean"


class _Wave:
    """Writes the lines of one wave of orders."""

    def __init__(self, factory: OrderFactory, seed: int, plant_every: int) -> None:
        self.factory, self.seed, self.plant_every = factory, seed, plant_every
        self.h: list[bytes] = []
        self.l: list[bytes] = []
        self.t = 0.0
        self.expected = dict.fromkeys(_KEYS, 0)

    def ev(self, proc: str, op: str, typ: str, oid: str, invoice_no: str | None = None,
           result: str | None = None, status: int | None = None, latency: float | None = None,
           order: Any = None, ts_shift: float = 0.0) -> None:
        self.t += 0.0005
        d: dict[str, Any] = {"t": round(self.t, 6), "ts": round(T0 + self.t + ts_shift, 6),
                             "proc": proc, "op": op, "type": typ, "order_id": oid,
                             "invoice_no": invoice_no, "result": result, "status": status,
                             "latency_ms": latency, "error": None}
        if order is not None:
            d["order"] = order
        self.h.append(orjson.dumps(d))

    def inv(self, no: str, kind: str, oid: str | None, seller: str, buyer: str | None,
            amount: int, tax: int, orig: str | None = None) -> None:
        self.l.append(orjson.dumps({
            "invoice_no": no, "kind": kind, "request_id": f"R{no}", "order_ref": oid,
            "seller_tax_id": seller, "buyer_tax_id": buyer, "amount": _s(amount),
            "tax": _s(tax), "total": _s(amount + tax), "issued_at": round(T0 + self.t - 0.01, 6),
            "original_invoice_no": orig}))

    def build(self, start: int, stop: int, t_start: float) -> None:
        self.t = t_start
        ex = self.expected
        plan = []
        for i in range(start, stop):
            o = self.factory.order(i)
            oid = o.pop("order_id")
            kind = kind_of(i, self.plant_every)
            proc = f"w1.{i}" if i % 2 else f"w0.{i % WAVE}"
            r = random.Random(i * 7919 + self.seed)
            u = r.random()
            plan.append((i, oid, o, kind, proc, u, r))
            ex["requested"] += 1
            if kind in ex:
                ex[kind] += 1
            if kind == "phantom":
                ex["failed"] += 1
            elif kind == "recovered":
                ex["indeterminate"] += 1
            else:
                ex["acknowledged"] += 1
        nos: dict[int, str] = {}
        polls, verifies, refunds, finals = [], [], [], []
        for i, oid, o, kind, proc, u, r in plan:
            self.ev(proc, "issue", "invoke", oid, order=o)
            if kind == "clean" and u < 0.01:
                self.ev(proc + ".2", "issue", "invoke", oid, order=o)
        for i, oid, o, kind, proc, u, r in plan:
            no = nos[i] = f"2611{i:016d}"
            seller, buyer = o["seller_tax_id"], o["buyer"].get("tax_id")
            amount, tax = _money(o)
            lat = round(r.uniform(20, 400), 3)
            if kind == "phantom":
                self.ev(proc, "issue", "fail", oid, None, "failed", 422, lat)
            elif kind == "unresolved":
                self.ev(proc, "issue", "ok", oid, None, "pending", 202, lat)
            elif kind == "recovered":
                self.ev(proc, "issue", "info", oid, latency=lat)
            elif kind == "clean" and 0.01 <= u < 0.05:
                self.ev(proc, "issue", "ok", oid, None, "pending", 202, lat)
                polls.append((i, oid, proc))
            else:
                self.ev(proc, "issue", "ok", oid, no, "issued", 201, lat)
            if kind == "clean" and u < 0.01:
                self.ev(proc + ".2", "issue", "ok", oid, no, "issued", 201, lat + 1.0)
            if kind in ("lost", "unresolved"):
                continue
            self.inv(no, "blue", oid, seller, buyer, amount + (100 if kind == "mismatched" else 0),
                     tax)
            if kind == "duplicated":
                self.inv(f"2612{i:016d}", "blue", oid, seller, buyer, amount, tax)
            elif kind == "orphaned":
                self.inv(f"2613{i:016d}", "blue", f"X{i}", seller, buyer, amount, tax)
            elif kind == "misreversed":       # half reversed, nobody asked for a refund
                self.inv(f"2614{i:016d}", "red", oid, seller, buyer, -(amount // 2), -(tax // 2),
                         orig=no)
            if kind == "stale_reads":
                verifies.append((i, oid, proc, "stale"))
            elif kind == "clean":
                if 0.05 <= u < 0.25:
                    verifies.append((i, oid, proc, "ok"))
                if 0.25 <= u < 0.30:
                    refunds.append((i, oid, proc, seller, buyer, amount, tax))
                if 0.30 <= u < 0.33:
                    finals.append((i, oid))
        for phase in ("invoke", "ok"):
            for i, oid, proc in polls:
                self.ev(proc, "query", phase, oid, *((nos[i], "issued", 200, 3.5)
                                                     if phase == "ok" else ()))
        for phase in ("invoke", "ok"):
            for i, oid, proc, how in verifies:
                if phase == "invoke":
                    self.ev(proc, "verify", "invoke", oid, nos[i],
                            ts_shift=5.0 if how == "stale" else 0.0)
                elif how == "stale":
                    self.ev(proc, "verify", "ok", oid, nos[i], "not_found", 404, 4.0, ts_shift=5.0)
                else:
                    self.ev(proc, "verify", "ok", oid, nos[i], "issued", 200, 4.0)
        for phase in ("invoke", "ok"):
            for i, oid, proc, seller, buyer, amount, tax in refunds:
                red = f"2615{i:016d}"
                if phase == "invoke":
                    self.ev(proc, "refund", "invoke", oid)
                else:
                    self.ev(proc, "refund", "ok", oid, red, "issued", 200, 80.0)
                    self.inv(red, "red", oid, seller, buyer, -amount, -tax, orig=nos[i])
        for k, (i, oid) in enumerate(finals):
            self.ev(f"final.{k % 8}", "query", "invoke", oid)
            self.ev(f"final.{k % 8}", "query", "ok", oid, nos[i], "issued", 200, 2.0)


def _task(args: tuple[int, int, int, int, float]) -> tuple[bytes, bytes, dict[str, int], float]:
    seed, plant_every, start, stop, t_start = args
    w = _Wave(_factory(seed), seed, plant_every)
    t = t_start
    h: list[bytes] = []
    led: list[bytes] = []
    ex = dict.fromkeys(_KEYS, 0)
    for s in range(start, stop, WAVE):
        w.h, w.l = [], []
        w.build(s, min(s + WAVE, stop), t)
        t = w.t
        h.extend(w.h)
        led.extend(w.l)
    for k, v in w.expected.items():
        ex[k] += v
    return (b"\n".join(h) + b"\n" if h else b""), (b"\n".join(led) + b"\n" if led else b""), ex, t


_FACTORIES: dict[int, OrderFactory] = {}


def _factory(seed: int) -> OrderFactory:
    f = _FACTORIES.get(seed)
    if f is None:
        f = _FACTORIES[seed] = OrderFactory(seed, _sellers(seed))
    return f


def generate(out: Path, orders: int = 1_000_000, seed: int = 7, plant_every: int = 10_000,
             jobs: int = 2) -> dict[str, int]:
    """Write history.jsonl, platform-ledger.jsonl and expected.json into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    step = WAVE * WAVES_PER_TASK
    # each task starts its clock where the previous would end: 3 s of `t` per wave is more
    # than a wave's lines take (0.5 ms each), so times rise through the file
    tasks = [(seed, plant_every, s, min(s + step, orders), s / WAVE * 3.0)
             for s in range(0, orders, step)]
    expected = dict.fromkeys(_KEYS, 0)
    with open(out / "history.jsonl", "wb") as hf, open(out / "platform-ledger.jsonl", "wb") as lf:
        if jobs > 1 and len(tasks) > 1:
            with Pool(jobs) as pool:
                results = pool.imap(_task, tasks)
                for h, led, ex, _ in results:
                    hf.write(h)
                    lf.write(led)
                    for k, v in ex.items():
                        expected[k] += v
        else:
            for task in tasks:
                h, led, ex, _ = _task(task)
                hf.write(h)
                lf.write(led)
                for k, v in ex.items():
                    expected[k] += v
    (out / "expected.json").write_bytes(orjson.dumps(expected, option=orjson.OPT_INDENT_2))
    return expected


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--plant-every", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    print(orjson.dumps(generate(a.out, a.orders, a.seed, a.plant_every, a.jobs)).decode())


if __name__ == "__main__":
    main()
