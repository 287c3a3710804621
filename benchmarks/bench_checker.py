"""Benchmark of the checker on generated runs (targets: 1,000,000 orders in <= 10 s, `check
DIR` <= 20 s, <= 2 GB; 10,000,000 orders: `check DIR` <= 180 s, <= 6 GB).

    .venv/bin/python -m benchmarks.bench_checker [--orders 1000000] [--dir DIR]
        [--gen factory history varied ...] [--end-to-end]

Generates each run once (reused when present in /tmp/ic-bench-<gen>-<orders>):
`factory` (benchmarks/gen_factory.py: orders from the load generator's own order factory,
every one distinct, refunds, verifies, polls, final reads, one proc per order and shared
procs), `history` (benchmarks/gen_history.py: a few hundred distinct baskets) or `varied`
(benchmarks/gen_varied.py: integer and float numbers, absent optional keys, one proc per
order). Then runs check_files in a fresh child process so that its peak RSS is the
checker's alone, and checks every planted anomaly count against expected.json. Prints one
JSON line per generator: wall seconds, CPU seconds (user+sys), the peak RSS, DuckDB's
stages (wall, CPU), which path decided, and the load average (the machine is shared: read
the seconds with it). `--end-to-end` also times `invoice-chaos check DIR` (checker,
recovery figures, summary, report) in a fresh process, with its CPU seconds, peak RSS and
the path each stage took (summary.json `checker.stages`).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from harness.checker import CheckOptions, check_files, duck
d = Path(sys.argv[1])
t = time.perf_counter()
r = check_files(d / "history.jsonl", d / "platform-ledger.jsonl", CheckOptions())
secs = time.perf_counter() - t
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": round(secs, 2), "path": getattr(r, "path", None),
                  "fallback_reason": getattr(r, "fallback_reason", None),
                  "cpu_s": round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 2),
                  "peak_rss_mb": round(me.ru_maxrss / 1024),
                  "children_peak_rss_mb": round(kids.ru_maxrss / 1024),
                  "stages": duck.TIMINGS,
                  "counts": r.counts, "valid": r.valid, "errors": r.errors}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--gen", choices=("factory", "history", "varied"), nargs="+",
                    default=["factory"])
    ap.add_argument("--end-to-end", action="store_true")
    a = ap.parse_args()
    worst = 0
    for gen in a.gen:
        d = a.dir if a.dir and len(a.gen) == 1 else Path(f"/tmp/ic-bench-{gen}-{a.orders}")
        worst = max(worst, _bench(gen, a.orders, d, a.end_to_end))
    return worst


_E2E = r"""
import json, resource, sys, time
from harness.cli import main
t = time.perf_counter()
try:
    rc = main(["check", sys.argv[1]])
except SystemExit as e:
    rc = e.code
secs = time.perf_counter() - t
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": round(secs, 2), "exit": rc,
                  "cpu_s": round(me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime, 2),
                  "peak_rss_mb": round(max(me.ru_maxrss, kids.ru_maxrss) / 1024)}))
"""


def _bench(gen: str, orders: int, d: Path, end_to_end: bool) -> int:
    if not (d / "expected.json").exists():
        if gen == "factory":
            from benchmarks.gen_factory import generate
        elif gen == "varied":
            from benchmarks.gen_varied import generate  # type: ignore[assignment]
        else:
            from benchmarks.gen_history import generate  # type: ignore[assignment]
        generate(d, orders=orders)
    expected = json.loads((d / "expected.json").read_text())
    out = subprocess.run([sys.executable, "-c", _CHILD, str(d)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    lines = sum(1 for _ in open(d / "history.jsonl", "rb"))
    ledger = sum(1 for _ in open(d / "platform-ledger.jsonl", "rb"))
    wrong = {k: (v, res["counts"][k]) for k, v in expected.items() if res["counts"][k] != v}
    e2e = None
    if end_to_end:
        got = subprocess.run([sys.executable, "-c", _E2E, str(d)], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent.parent)
        e2e = json.loads(got.stdout.strip().splitlines()[-1])
        summary = json.loads((d / "summary.json").read_text())
        e2e["stages"] = summary["checker"].get("stages")
        e2e["report_kb"] = round(os.path.getsize(d / "report.html") / 1024)
    print(json.dumps({"orders": orders, "history_lines": lines, "ledger_lines": ledger,
                      "history_mb": round(os.path.getsize(d / "history.jsonl") / 2**20),
                      "seconds": res["seconds"], "cpu_s": res["cpu_s"],
                      "peak_rss_mb": res["peak_rss_mb"],
                      "children_peak_rss_mb": res["children_peak_rss_mb"],
                      "duck_stages_wall_cpu_s": res["stages"], "path": res["path"], "fallback_reason": res["fallback_reason"],
                      "counts_exact": not wrong, "wrong": wrong, "end_to_end": e2e,
                      "gen": gen, "load_avg": [round(x, 2) for x in os.getloadavg()]}))
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
