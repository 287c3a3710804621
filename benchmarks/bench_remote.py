"""Benchmark of the scale-out (design.md s.10): arrivals/s that two load machines
sustain against one local process, measured in one run.

The load machines are two network namespaces (tests/support/netns.py: veth pairs on a
private /24 made here and removed at the end); each runs `invoice-chaos worker`, gets its
share over Locust's messages and streams its history back to the master. The target is the
stdlib stand-in merchant/platform (benchmarks/load_standin.py) on the root side's veth
address, so the three runs differ only in who generates the load:

1. one local process (`workers=1`, history written locally),
2. two namespace workers (`remote_workers=2`, history shipped to the master),
3. one namespace worker (the cost of shipping alone, against 1).

    sudo .venv/bin/python benchmarks/bench_remote.py [--rate 1500] [--duration 15]

Needs root and `ip netns`. Prints a Markdown table for docs/performance.md and the load
average before and after (the machine may be shared). Every process it starts and every
namespace and link it makes are removed at the end.
"""
from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, str(ROOT / "tests"))                 # support/netns.py: the namespaces as machines

from fakes.common.sellers import generate_sellers  # noqa: E402
from harness.load import LoadConfig, LoadShape  # noqa: E402
from harness.load.runner import Distribution, start_load  # noqa: E402
from harness.load.schedule import arrivals  # noqa: E402
from harness.stack.ports import free_port  # noqa: E402
from support.netns import LoadHosts, clear_leftovers, unavailable  # noqa: E402

from benchmarks.bench_load import check_pairs  # noqa: E402

STANDIN = ROOT / "benchmarks" / "load_standin.py"
MIX = {"checkout": 80, "query": 15, "refund": 5}


def standin(tmp: Path, host: str, role: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port(host)
    with open(tmp / f"standin-{role}-{port}.log", "wb") as log:
        p = subprocess.Popen([sys.executable, str(STANDIN), "--role", role, "--host", host,
                              "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    for _ in range(100):
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return p, f"http://{host}:{port}"


def kill(p: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait(timeout=10)


def one_run(tmp: Path, name: str, hosts: LoadHosts, rate: float, duration: float,
            local: int, remote: int) -> dict:
    merchant, m_url = standin(tmp, hosts.bind, "merchant")
    platform, p_url = standin(tmp, hosts.bind, "platform")
    workers = []
    try:
        cfg = LoadConfig(merchant_url=m_url, platform_url=p_url, sellers=generate_sellers(10, 1),
                         seed=1, duration_s=duration, curve=[[0, 1]], compress_s=None,
                         peak_rps=rate, mix=MIX, workers=local, remote_workers=remote,
                         max_in_flight=2000, poll_interval_s=0.5)
        port = free_port(hosts.bind)
        for i in range(remote):
            workers.append(hosts.spawn(i, [sys.executable, "-m", "harness", "worker", "--master",
                                           f"{hosts.bind}:{port}"], str(tmp / f"{name}-w{i}.log")))
        handle = start_load(cfg, tmp / name, distribution=Distribution(hosts.bind, port))
        if remote:
            handle.wait_ready(60)
            handle.go(time.time() + 5)
        res = handle.wait()
        stats = json.loads(res.stats_path.read_text())
        scheduled = len(list(arrivals(LoadShape.of(cfg.curve, duration, rate), cfg.seed, MIX)))
        pairs_ok, lines = check_pairs(res.history_files)
        return {"name": name, "scheduled": scheduled, "sent": res.arrivals, "unsent": res.unsent,
                "late": stats.get("late", 0), "sent_per_s": res.arrivals / duration,
                "per_worker": [w["achieved_rps"] for w in res.workers],
                "history_lines": lines, "pairs_ok": pairs_ok, "exit": res.exit_code,
                "lag_p99_ms": stats.get("lag_p99_ms"), "cpu_max_pct": stats.get("cpu_max_pct")}
    finally:
        for w in workers:             # they end with the run; a straggler is killed
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill(w)
        kill(merchant)
        kill(platform)


def main() -> int:
    ap = argparse.ArgumentParser(description="scale-out benchmark (network namespaces)")
    ap.add_argument("--rate", type=float, default=1500)
    ap.add_argument("--duration", type=float, default=15)
    ap.add_argument("--rounds", type=int, default=2,
                    help="play the three generators in turn this many times (the machine's load "
                         "changes between runs: compare within a round)")
    a = ap.parse_args()
    why = unavailable()
    if why:
        print(f"bench_remote: skipped: {why}", file=sys.stderr)
        return 0
    clear_leftovers()
    rows = []
    load_before = os.getloadavg()
    hosts = LoadHosts(2).create()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-remote-") as d:
            tmp = Path(d)
            for k in range(a.rounds):
                for name, local, remote in (("one local process", 1, 0),
                                            ("two namespace workers", 0, 2),
                                            ("one namespace worker", 0, 1)):
                    row = one_run(tmp, f"{name}-{k}", hosts, a.rate, a.duration, local, remote)
                    row.update(name=name, round=k + 1, load=os.getloadavg()[0])
                    rows.append(row)
    finally:
        hosts.close()
    load_after = os.getloadavg()
    print(f"rate {a.rate:g} arrivals/s for {a.duration:g} s; load average before "
          f"{load_before[0]:.1f}, after {load_after[0]:.1f} ({os.cpu_count()} cores)")
    print("| round | load generator | load avg after | scheduled | sent | sent/s | per worker /s | "
          "unsent (late) | history lines | pairs ok | vs one local (same round) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        base = next(x for x in rows if x["round"] == r["round"])["sent_per_s"] or 1.0
        print(f"| {r['round']} | {r['name']} | {r['load']:.1f} | {r['scheduled']} | {r['sent']} | "
              f"{r['sent_per_s']:.0f} | "
              f"{', '.join(f'{x:.0f}' for x in r['per_worker'])} | {r['unsent']} ({r['late']}) | "
              f"{r['history_lines']} | {'yes' if r['pairs_ok'] else 'NO'} | "
              f"{r['sent_per_s'] / base:.2f}x |")
    print(json.dumps(rows), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
