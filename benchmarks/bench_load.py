"""Benchmark of the load generator: is the arrival rate honest?

1. Slow merchant (every answer after --delay-ms, 200 ms): the open-model run_load must
   send within 5 % of the target arrivals, where a closed model (fixed users that wait
   for the answer and think 1 s, sized for a 20 ms service) falls short.
2. Fast target, high rate: --workers 2 must send more than one process can, and every
   worker's history must pair up (invoke -> completion per proc).

    .venv/bin/python benchmarks/bench_load.py [--rate 100] [--duration 20] [--fast-rate 900]

Prints a Markdown table for docs/performance.md ("Load generation and load machines"). Loopback only;
every process it starts is killed at the end.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fakes.common.sellers import generate_sellers  # noqa: E402
from harness.load import LoadConfig, LoadShape, run_load  # noqa: E402
from harness.load.schedule import arrivals  # noqa: E402
from harness.stack.ports import free_port  # noqa: E402

STANDIN = ROOT / "benchmarks" / "load_standin.py"
CLOSED = ROOT / "benchmarks" / "load_closed_locustfile.py"
MIX = {"checkout": 80, "query": 15, "refund": 5}


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "wb") as f:
        return subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **(env or {})}, start_new_session=True)


def kill(p: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(timeout=10)


def standin(tmp: Path, role: str, delay_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    p = start([sys.executable, str(STANDIN), "--role", role, "--port", str(port),
               "--delay-ms", str(delay_ms)], tmp / f"standin-{role}-{port}.log")
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return p, f"http://127.0.0.1:{port}"


def open_run(tmp: Path, name: str, merchant: str, platform: str, rate: float, duration: float,
             workers: int) -> dict:
    cfg = LoadConfig(merchant_url=merchant, platform_url=platform,
                     sellers=generate_sellers(10, 1), seed=1, duration_s=duration,
                     curve=[[0, 1]], compress_s=None, peak_rps=rate, mix=MIX, workers=workers,
                     max_in_flight=2000, poll_interval_s=0.5)
    run_dir = tmp / name
    res = run_load(cfg, run_dir)
    stats = json.loads(res.stats_path.read_text())
    target = sum(r for _, r in stats["target"])
    achieved = sum(n for s, n in stats["achieved"] if s < duration)
    pairs_ok, events = check_pairs(res.history_files)
    scheduled = len(list(arrivals(LoadShape.of(cfg.curve, duration, rate), cfg.seed, MIX)))
    return {"name": name, "target": target, "scheduled": scheduled, "achieved": achieved,
            "ratio": achieved / target, "sched_ratio": achieved / scheduled,
            "unsent": res.unsent, "late": stats.get("late", 0), "exit": res.exit_code,
            "events": events, "pairs_ok": pairs_ok, "max_lag_ms": stats.get("max_lag_ms"),
            "requests": res.requests}


def check_pairs(files: list[Path]) -> tuple[bool, int]:
    events = []
    for f in files:
        events += [json.loads(l) for l in f.read_text().splitlines()]
    events.sort(key=lambda e: e["t"])
    open_ops: dict[str, tuple[str, str]] = {}
    ok = True
    for e in events:
        if e["type"] == "invoke":
            ok &= e["proc"] not in open_ops
            open_ops[e["proc"]] = (e["op"], e["order_id"])
        else:
            ok &= open_ops.pop(e["proc"], None) == (e["op"], e["order_id"])
    return ok and not open_ops, len(events)


def closed_run(tmp: Path, merchant: str, rate: float, duration: float, think_s: float,
               planned_latency_s: float) -> dict:
    users = math.ceil(rate * (think_s + planned_latency_s))
    prefix = tmp / "closed"
    p = start([sys.executable, "-m", "locust", "-f", str(CLOSED), "--headless", "--only-summary",
               "-u", str(users), "-r", str(users), "-t", f"{int(duration)}s",
               "--csv", str(prefix), "--exit-code-on-error", "0", "--loglevel", "WARNING"],
              tmp / "closed.log", env={"CLOSED_TARGET": merchant, "CLOSED_THINK_S": str(think_s)})
    try:
        p.wait(timeout=duration + 60)
    finally:
        kill(p)
    with open(f"{prefix}_stats.csv", newline="") as f:
        agg = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"][0]
    sent = int(agg["Request Count"])
    target = rate * duration
    return {"name": f"closed ({users} users, think {think_s:g} s)", "target": target,
            "scheduled": "-", "achieved": sent, "ratio": sent / target, "sched_ratio": "-", "unsent": "-", "late": "-", "exit": p.returncode,
            "events": "-", "pairs_ok": "-", "max_lag_ms": "-"}


def main() -> None:
    ap = argparse.ArgumentParser(description="load generator benchmark")
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--delay-ms", type=float, default=200)
    ap.add_argument("--fast-rate", type=float, default=900)
    ap.add_argument("--fast-duration", type=float, default=15)
    ap.add_argument("--skip", default="", help="comma list of: slow,closed,workers")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as d:
        tmp = Path(d)
        plat, plat_url = standin(tmp, "platform", 0)
        try:
            if "slow" not in skip or "closed" not in skip:
                slow, slow_url = standin(tmp, "merchant", a.delay_ms)
                try:
                    if "slow" not in skip:
                        rows.append(open_run(tmp, f"open, slow merchant ({a.delay_ms:g} ms)",
                                             slow_url, plat_url, a.rate, a.duration, 1))
                    if "closed" not in skip:
                        rows.append(closed_run(tmp, slow_url, a.rate, a.duration, 1.0, 0.02))
                finally:
                    kill(slow)
            if "workers" not in skip:
                for w in (1, 2):
                    fast, fast_url = standin(tmp, "merchant", 0)
                    try:
                        rows.append(open_run(tmp, f"open, fast target, workers={w}", fast_url,
                                             plat_url, a.fast_rate, a.fast_duration, w))
                    finally:
                        kill(fast)
        finally:
            kill(plat)
    print("| run | target (∫rate) | scheduled (Poisson draw) | sent | sent/target | sent/scheduled "
          "| unsent (late) | history events | pairs ok | max lag ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        sr = r["sched_ratio"] if isinstance(r["sched_ratio"], str) else f"{r['sched_ratio']:.3f}"
        print(f"| {r['name']} | {r['target']:.0f} | {r['scheduled']} | {r['achieved']} | "
              f"{r['ratio']:.3f} | {sr} | {r['unsent']} ({r['late']}) | {r['events']} | "
              f"{r['pairs_ok']} | {r['max_lag_ms']} |")
    print(json.dumps(rows, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
