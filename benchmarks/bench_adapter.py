"""Benchmark of the client-adapter path (design.md s.14): checkout journeys per second of one
load process through an adapter that speaks s.6 (examples/adapters/s6.py), against the
built-in client's, in the same run, on the same do-nothing endpoint
(harness/sweep/null_endpoint.py), and what one adapter call costs in CPU.

    .venv/bin/python benchmarks/bench_adapter.py [--seconds 10] [--repeat 3] [--json FILE]

Each repeat runs the built-in driver's ramp and the adapter's ramp back to back (the
harness ceiling's ramp, bench_loadpath.ramp); the figure is the median of each and their
ratio (the target: >= 0.8). Then one flat rate for both (--rate, default 500/s, well
below either ceiling): CPU microseconds per journey, whose difference is what the adapter
costs per call. Ratios are only meaningful within one run: the machine is shared.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_loadpath import driver, ramp  # noqa: E402
from harness.client.loader import read_client  # noqa: E402
from harness.sweep.ceiling import start_null_endpoint  # noqa: E402

ADAPTER = "examples/adapters/s6.py:ContractShop"
TARGET = 0.8


def _median(runs: list[dict]) -> dict:
    runs = sorted(runs, key=lambda r: r["journeys_rps"])
    return {**runs[len(runs) // 2], "all": [r["journeys_rps"] for r in runs]}


def main() -> None:
    ap = argparse.ArgumentParser(description="client adapter benchmark")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--json", default="reports/bench-adapter.json")
    a = ap.parse_args()
    client = read_client(ADAPTER, ROOT).to_json()
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "adapter": ADAPTER, "loadavg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-adapter-") as d:
        tmp = Path(d)
        proc, url = start_null_endpoint(tmp / "null.log")
        try:
            builtin, adapter = [], []
            for i in range(a.repeat):          # interleaved: the machine's load drifts
                builtin.append(ramp(url, a.seconds, tmp, f"builtin{i}"))
                adapter.append(ramp(url, a.seconds, tmp, f"adapter{i}", client=client))
            res["builtin_ramp"], res["adapter_ramp"] = _median(builtin), _median(adapter)
            for r in (res["builtin_ramp"], res["adapter_ramp"]):
                r.pop("finished_per_s", None)
            res["builtin_flat"] = driver(url, a.rate, a.seconds, tmp, "builtin-flat")
            res["adapter_flat"] = driver(url, a.rate, a.seconds, tmp, "adapter-flat", client=client)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    b, c = res["builtin_ramp"], res["adapter_ramp"]
    bf, cf = res["builtin_flat"], res["adapter_flat"]
    res["ratio"] = round(c["journeys_rps"] / b["journeys_rps"], 3) if b["journeys_rps"] else None
    res["pair_ratios"] = [round(y["journeys_rps"] / x["journeys_rps"], 3)
                          for x, y in zip(builtin, adapter) if x["journeys_rps"]]
    res["adapter_cost_us_per_call"] = (round(cf["cpu_us_per_journey"] - bf["cpu_us_per_journey"], 1)
                                       if cf.get("cpu_us_per_journey") and bf.get("cpu_us_per_journey")
                                       else None)
    # the steadier reading of the same cost: journeys/s per core at a fixed rate, adapter over
    # built-in (a ramp's ceiling on a shared machine moves by tens of percent run to run)
    res["cpu_ratio"] = (round(bf["cpu_us_per_journey"] / cf["cpu_us_per_journey"], 3)
                        if cf.get("cpu_us_per_journey") and bf.get("cpu_us_per_journey") else None)
    res["loadavg_after"] = os.getloadavg()
    res["meets_target"] = res["ratio"] is not None and res["ratio"] >= TARGET
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    print(f"\n| figure | value |\n|---|---|\n"
          f"| built-in client, ramp | {b['journeys_rps']} checkout journeys/s (runs {b['all']}), "
          f"{b['cpu_us_per_journey']} µs CPU per journey |\n"
          f"| s.6 adapter, ramp | {c['journeys_rps']} checkout journeys/s (runs {c['all']}), "
          f"{c['cpu_us_per_journey']} µs CPU per journey |\n"
          f"| adapter / built-in (same run) | {res['ratio']} (pairs {res['pair_ratios']}; target >= {TARGET}) |\n"
          f"| at {a.rate:g}/s: CPU per journey | built-in {bf['cpu_us_per_journey']} µs, adapter "
          f"{cf['cpu_us_per_journey']} µs: an adapter call costs {res['adapter_cost_us_per_call']} µs "
          f"(journeys per core, adapter / built-in: {res['cpu_ratio']}) |\n"
          f"| load average before / after | {res['loadavg_before']} / {res['loadavg_after']} |")
    if not res["meets_target"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
