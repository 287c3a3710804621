"""Benchmark of the checker on a generated run (target: 1,000,000 orders in <= 10 s, <= 2 GB).

    .venv/bin/python -m benchmarks.bench_checker [--orders 1000000] [--dir /tmp/ic-bench-1m]
        [--gen history|varied] [--end-to-end]

Generates the run once (benchmarks/gen_history.py, or with `--gen varied`
benchmarks/gen_varied.py: integer and float numbers, absent optional keys, one proc per
order; reused when present), then runs
check_files in a fresh child process so that its peak RSS is the checker's alone, and
checks every planted anomaly count against expected.json. Prints one JSON line: wall
seconds, CPU seconds (user+sys of the checker process and its partition workers), the peak
RSS of the checker process and the largest of its workers (the sum bounds the total), and
the load average (the machine is shared: read the seconds with it). `--end-to-end` also
times `invoice-chaos check DIR` (checker, summary, report) in a fresh process.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
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
    ap.add_argument("--gen", choices=("factory", "history", "varied"), default="factory")
    ap.add_argument("--end-to-end", action="store_true")
    a = ap.parse_args()
    d = a.dir or Path(f"/tmp/ic-bench-{a.gen}-{a.orders}")
    if not (d / "expected.json").exists():
        if a.gen == "factory":
            from benchmarks.gen_factory import generate
        elif a.gen == "varied":
            from benchmarks.gen_varied import generate  # type: ignore[assignment]
        else:
            from benchmarks.gen_history import generate  # type: ignore[assignment]
        generate(d, orders=a.orders)
    expected = json.loads((d / "expected.json").read_text())
    out = subprocess.run([sys.executable, "-c", _CHILD, str(d)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    lines = sum(1 for _ in open(d / "history.jsonl", "rb"))
    ledger = sum(1 for _ in open(d / "platform-ledger.jsonl", "rb"))
    wrong = {k: (v, res["counts"][k]) for k, v in expected.items() if res["counts"][k] != v}
    e2e = None
    if a.end_to_end:
        t = time.perf_counter()
        rc = subprocess.run([sys.executable, "-m", "harness", "check", str(d)],
                            capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent.parent).returncode
        e2e = {"seconds": round(time.perf_counter() - t, 2), "exit": rc}
    print(json.dumps({"orders": a.orders, "history_lines": lines, "ledger_lines": ledger,
                      "history_mb": round(os.path.getsize(d / "history.jsonl") / 2**20),
                      "seconds": res["seconds"], "cpu_s": res["cpu_s"],
                      "peak_rss_mb": res["peak_rss_mb"],
                      "children_peak_rss_mb": res["children_peak_rss_mb"],
                      "duck_stages_wall_cpu_s": res["stages"], "path": res["path"], "fallback_reason": res["fallback_reason"],
                      "counts_exact": not wrong, "wrong": wrong, "end_to_end": e2e,
                      "gen": a.gen, "load_avg": [round(x, 2) for x in os.getloadavg()]}))
    return 0 if not wrong else 1


if __name__ == "__main__":
    sys.exit(main())
