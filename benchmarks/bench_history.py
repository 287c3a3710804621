"""The history writer's own CPU per request, in isolation (the target: history < 5 % of throughput).

    .venv/bin/python benchmarks/bench_history.py [--pairs 50000]

Writes `--pairs` invoke + completion pairs of a checkout (its order included) with the very
`HistoryWriter` the load driver uses (lines copied into a mapping of the file) to a file
under /tmp and under /dev/shm, and prints the CPU µs (user + sys) per pair.
Beside `bench_loadpath.py`'s with/without figure it tells the writer's share from the
rest of what a journey costs.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from harness.load.history import HistoryWriter

ORDER = {"seller_tax_id": "911101068B84TC02NX", "buyer": {"name": "何璐"}, "kind": "normal",
         "lines": [{"name": "*计算机外部设备*无线鼠标", "quantity": "1", "unit_price": "227.97",
                    "tax_rate": "0.13"},
                   {"name": "*日用杂品*保温杯", "quantity": "2", "unit_price": "288.71",
                    "tax_rate": "0.13"},
                   {"name": "*生活服务*美容服务", "quantity": "1", "unit_price": "611.70",
                    "tax_rate": "0.06"}]}


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one(path: Path, pairs: int) -> float:
    """CPU µs per invoke + completion pair."""
    path.unlink(missing_ok=True)
    w = HistoryWriter(path, "w0", time.time())
    start = _cpu()
    for i in range(pairs):
        oid = f"O1-{i}"
        w.invoke("issue", oid, journey=i, order=ORDER)
        w.complete("issue", "ok", oid, journey=i, result="issued", status=201, latency_ms=5.2,
                   invoice_no="26112000000000000001")
    w.close()
    spent = _cpu() - start
    path.unlink(missing_ok=True)
    return round(spent / pairs * 1e6, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=50_000)
    a = ap.parse_args()
    dirs = [Path(tempfile.gettempdir())] + ([Path("/dev/shm")] if os.path.isdir("/dev/shm") else [])
    out = {"pairs": a.pairs, "load_avg": [round(x, 2) for x in os.getloadavg()], "us_per_pair": {}}
    for d in dirs:
        out["us_per_pair"][str(d)] = one(d / f"ic-bench-history-{os.getpid()}.jsonl", a.pairs)
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
