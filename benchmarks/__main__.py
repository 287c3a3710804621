"""`make bench` / `python -m benchmarks [platform|load|remote|loadpath|adapter|history|knee|checker ...]`: run the
benchmarks whose figures are recorded in docs/performance.md (all of them by default; the checker generates
1,000,000-order runs of about 1 GB each in /tmp once and takes a few minutes; `checker-10m`, run
only when named, a 10,000,000-order run of about 12 GB)."""
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
    "checker": ["-m", "benchmarks.bench_checker", "--orders", "1000000", "--gen", "factory",
                "history", "--end-to-end"],
    # a large merchant's day: about 12 GB of files in /tmp, generated once (minutes)
    "checker-10m": ["-m", "benchmarks.bench_checker", "--orders", "10000000", "--gen", "factory",
                    "--end-to-end"],
}


def main(argv: list[str]) -> int:
    names = argv or [n for n in BENCHES if n != "checker-10m"]
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
