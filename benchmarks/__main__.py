"""`make bench` / `python -m benchmarks [platform|load|remote|loadpath|adapter|history|knee|checker ...]`: run the
benchmarks whose figures are recorded in docs/performance.md (all of them by default; the checker generates a
1,000,000-order run of about 1 GB in /tmp once and takes a few minutes)."""
from __future__ import annotations

import subprocess
import sys

BENCHES = {
    "platform": ["benchmarks/bench_platform.py"],
    "load": ["benchmarks/bench_load.py"],
    "remote": ["benchmarks/bench_remote.py"],
    "loadpath": ["benchmarks/bench_loadpath.py"],
    "adapter": ["benchmarks/bench_adapter.py"],
    "history": ["benchmarks/bench_history.py"],
    "knee": ["benchmarks/bench_knee.py"],
    "checker": ["-m", "benchmarks.bench_checker", "--orders", "1000000"],
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    worst = 0
    for name in names:
        print(f"== {name}: {' '.join(BENCHES[name])}", flush=True)
        worst = max(worst, subprocess.call([sys.executable, *BENCHES[name]]))
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
