"""Benchmark of the client-adapter path (design.md s.14): checkout journeys per second of one
load process through an adapter that speaks s.6 (examples/adapters/s6.py), against the
built-in client's, in the same run, on the same do-nothing endpoint
(harness/sweep/null_endpoint.py), and what one adapter call costs in CPU.

    .venv/bin/python benchmarks/bench_adapter.py [--seconds 10] [--repeat 3] [--json FILE]

The figure (the target: >= 0.8): one flat-out load process whose checkouts go through the
adapter and through the built-in client in alternate seconds (profile_driver.py
--alternate 1 --client), each adapter second against the built-in seconds either side of
it, the median of those ratios: with and without at the same moments, which separate runs
on a shared machine (whose speed drifts by tens of percent from one ten-second run to the
next) cannot give. Beside it: the harness ceiling's ramp (bench_loadpath.ramp) for each,
interleaved, medians and their ratio; CPU microseconds per journey at one flat rate
(--rate, default 500/s); and the adapter layers' own cost in process, without the network.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_loadpath import driver, ramp  # noqa: E402
from harness.client.loader import read_client  # noqa: E402
from harness.sweep.ceiling import OFFER_PER_WORKER, start_null_endpoint  # noqa: E402

ADAPTER = "examples/adapters/s6.py:ContractShop"
TARGET = 0.8


def _alternate(url: str, seconds: float) -> dict:
    """The adapter on and off in alternate seconds of one flat-out run (profile_driver.py)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_driver.py"),
                          "--rate", str(OFFER_PER_WORKER), "--seconds", str(seconds),
                          "--alternate", "1", "--client", ADAPTER, "--url", url],
                         cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
    try:
        alt = json.loads(out.stdout.strip().splitlines()[-1])["alternate"]
    except (IndexError, KeyError, ValueError):
        return {"error": (out.stdout + out.stderr)[-2000:]}
    cost = alt.get("history_cost_throughput")        # 1 - on/off, the paired median
    return {**alt, "ratio": round(1 - cost, 3) if cost is not None else None}


def _median(runs: list[dict]) -> dict:
    runs = sorted(runs, key=lambda r: r["journeys_rps"])
    return {**runs[len(runs) // 2], "all": [r["journeys_rps"] for r in runs]}


class _Canned:
    """A backend that answers at once (no socket): what is left is the adapter's own work."""

    BODY = b'{"order_id":"O1-1","status":"issued","invoice_no":"26117000000000000001"}'

    def request(self, method: str, path: str, body: bytes | None, headers: object,
                content_type: str, timeout_s: float | None) -> tuple[int, bytes]:
        return 201, self.BODY

    def close(self) -> None:
        pass


def in_process_cost(client: dict, n: int = 100_000) -> dict:
    """CPU µs per issue call in this process, the network left out: the built-in client's
    reading of an answer (orjson + classify.py) against the adapter's whole call (Invoker:
    call state, the adapter's json= encode, Response, r.json(), Answer, answer.py's table).
    The difference is what an adapter call adds; steady where ramps on a shared machine are not."""
    import orjson

    from fakes.common.sellers import generate_sellers
    from harness.client.invoke import Invoker
    from harness.client.loader import ClientSpec
    from harness.wire.classify import classify_response
    from harness.load.orders import OrderFactory
    sellers = generate_sellers(10, 1)
    order = OrderFactory(1, sellers, 0.1, 1.1).order(1)
    inv = Invoker(ClientSpec.from_json(client), _Canned(), _Canned(), sellers, 5.0)
    body = _Canned.BODY

    def builtin() -> None:
        classify_response("issue", 201, orjson.loads(body))

    def adapter() -> None:
        inv.run("issue", order)
    out = {}
    for name, fn in (("builtin_read_us", builtin), ("adapter_call_us", adapter)):
        best = float("inf")
        for _ in range(5):
            t = time.process_time()
            for _ in range(n):
                fn()
            best = min(best, (time.process_time() - t) / n * 1e6)
        out[name] = round(best, 2)
    out["adapter_adds_us"] = round(out["adapter_call_us"] - out["builtin_read_us"], 2)
    return out


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
            res["alternate"] = _alternate(url, max(a.seconds * 3, 24))
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
    res["in_process"] = in_process_cost(client)
    res["loadavg_after"] = os.getloadavg()
    alt = res["alternate"].get("ratio")
    res["meets_target"] = alt is not None and alt >= TARGET
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    print(f"\n| figure | value |\n|---|---|\n"
          f"| built-in client, ramp | {b['journeys_rps']} checkout journeys/s (runs {b['all']}), "
          f"{b['cpu_us_per_journey']} µs CPU per journey |\n"
          f"| s.6 adapter, ramp | {c['journeys_rps']} checkout journeys/s (runs {c['all']}), "
          f"{c['cpu_us_per_journey']} µs CPU per journey |\n"
          f"| adapter / built-in, alternate seconds of one flat-out process | {alt} (adapter "
          f"{res['alternate'].get('on_requests_per_s')}/s, built-in {res['alternate'].get('off_requests_per_s')}/s; "
          f"target >= {TARGET}) |\n"
          f"| adapter / built-in, ramp medians | {res['ratio']} (pairs {res['pair_ratios']}) |\n"
          f"| at {a.rate:g}/s: CPU per journey | built-in {bf['cpu_us_per_journey']} µs, adapter "
          f"{cf['cpu_us_per_journey']} µs: an adapter call costs {res['adapter_cost_us_per_call']} µs "
          f"(journeys per core, adapter / built-in: {res['cpu_ratio']}) |\n"
          f"| in process, no network (best of 5 x 100,000) | built-in reading of an answer "
          f"{res['in_process']['builtin_read_us']} µs, adapter call {res['in_process']['adapter_call_us']} µs: "
          f"the adapter adds {res['in_process']['adapter_adds_us']} µs per call |\n"
          f"| load average before / after | {res['loadavg_before']} / {res['loadavg_after']} |")
    if not res["meets_target"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
