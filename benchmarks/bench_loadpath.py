"""Benchmark of the load path: how fast one Locust worker process drives
checkout journeys, against what Locust's own fastest client manages, in the same run.

    .venv/bin/python benchmarks/bench_loadpath.py [--seconds 10] [--repeat 3] [--json FILE]
    .venv/bin/python benchmarks/bench_loadpath.py --only startup      # part 5 alone

Everything on loopback against a do-nothing endpoint that is not the bottleneck
(harness/sweep/null_endpoint.py: raw ASGI under uvicorn + httptools + uvloop):

1. ceiling: Locust FastHttpUser (geventhttpclient), one process, 64 users, no wait;
2. driver ceiling: run_load (the open-model driver, checkout journeys, history on) on a
   ramp from 0 to 12,000 arrivals/s (OFFER_PER_WORKER): the best two-second mean of journeys finished per
   second (what a sweep reports as harness_ceiling_rps);
3. driver at 2,000/s: unsent, start lag p99, loop lag p99, saturation verdict;
4. history on vs off: the ceiling, and CPU microseconds per journey at a fixed 500/s,
   and (the figure to read: separate runs drift by ±20 %) on and off in alternate seconds
   of one flat-out run of the driver (profile_driver.py --alternate 1);
5. start-up: `invoice-chaos run scenarios/capacity.yaml` from the command to its first
   request (the first history line), then Ctrl-C; with the time of each stage.

Prints one JSON object (also written to --json) and a Markdown table for
docs/performance.md. Ratios are only meaningful within one run: the machine is shared.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
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

from fakes.common.sellers import generate_sellers  # noqa: E402
from harness.load import LoadConfig, run_load  # noqa: E402
from harness.load.saturation import judge  # noqa: E402
from harness.sweep.ceiling import OFFER_PER_WORKER, ramp_outran, start_null_endpoint  # noqa: E402
from harness.rundir import iter_jsonl  # noqa: E402

CEILING = ROOT / "benchmarks" / "ceiling_locustfile.py"


def locust_ceiling(url: str, seconds: float, tmp: Path, users: int = 64) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    prefix = tmp / "ceiling"
    with open(tmp / "ceiling.log", "wb") as log:
        p = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(CEILING), "--headless",
                              "--only-summary", "-u", str(users), "-r", str(users), "-t",
                              f"{int(seconds)}s", "--csv", str(prefix), "--loglevel", "WARNING",
                              "--exit-code-on-error", "0"], stdout=log, stderr=subprocess.STDOUT,
                             env={**os.environ, "CEILING_TARGET": url}, cwd=tmp,
                             start_new_session=True)
        try:
            p.wait(timeout=seconds + 90)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    with open(f"{prefix}_stats.csv", newline="") as f:
        agg = [r for r in csv.DictReader(f) if r["Name"] == "Aggregated"][0]
    return {"rps": round(float(agg["Requests/s"]), 1), "requests": int(agg["Request Count"]),
            "failures": int(agg["Failure Count"]), "users": users}


def driver(url: str, rate: float, seconds: float, tmp: Path, name: str,
           history: bool = True, client: dict | None = None) -> dict:
    cfg = LoadConfig(merchant_url=url, platform_url=url, sellers=generate_sellers(10, 1), seed=1,
                     duration_s=seconds, curve=[[0, 1]], compress_s=None, peak_rps=rate,
                     mix={"checkout": 100}, record_history=history, request_timeout_s=3.0,
                     client=client)
    res = run_load(cfg, tmp / name)
    st = json.loads(res.stats_path.read_text())
    sent = sum(n for s, n in st["achieved"] if 0 <= s < seconds)
    done = sum(n for s, n in st.get("completed", []) if 0 <= s < seconds)
    sat = judge(st)
    return {"offered_rps": rate, "sent_rps": round(sent / seconds, 1),
            "journeys_rps": round(done / seconds, 1), "arrivals": res.arrivals,
            "unsent": res.unsent, "late": st.get("late", 0), "lag_p99_ms": st.get("lag_p99_ms"),
            "loop_lag_p99_ms": st.get("loop_lag_p99_ms"), "cpu_s": st.get("cpu_s"),
            "cpu_us_per_journey": round(st["cpu_s"] / res.arrivals * 1e6, 1) if res.arrivals else None,
            "requests": res.requests, "history": history, "harness_saturated": sat.saturated,
            "reasons": sat.reasons}


def ramp(url: str, seconds: float, tmp: Path, name: str, history: bool = True,
         client: dict | None = None) -> dict:
    """The driver's ceiling as a sweep measures it: a ramp from 0 to OFFER_PER_WORKER/s, the best
    two-second mean of journeys finished per second (harness/sweep/ceiling.py). `client`: the
    checkouts go through this client adapter (LoadConfig.client) instead."""
    cfg = LoadConfig(merchant_url=url, platform_url=url, sellers=generate_sellers(10, 1), seed=1,
                     duration_s=seconds, curve=[[0, 0.0], [seconds, 1.0]], compress_s=None,
                     peak_rps=OFFER_PER_WORKER, mix={"checkout": 100}, record_history=history,
                     request_timeout_s=2.0, client=client)
    res = run_load(cfg, tmp / name)
    st = json.loads(res.stats_path.read_text())
    per_s = dict((int(s), n) for s, n in st.get("completed", []) if 0 <= s < seconds)
    series = [per_s.get(s, 0) for s in range(int(seconds))]
    best = max(((x + y) / 2 for x, y in zip(series, series[1:])), default=0.0)
    return {"journeys_rps": round(best, 1), "finished_per_s": series, "history": history,
            "lower_bound": ramp_outran(series, OFFER_PER_WORKER, seconds),
            "cpu_us_per_journey": round(st["cpu_s"] / res.arrivals * 1e6, 1) if res.arrivals else None}


def alternate(url: str, seconds: float) -> dict:
    """History on and off in alternate seconds of one flat-out run (profile_driver.py)."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "profile_driver.py"),
                          "--rate", str(OFFER_PER_WORKER), "--seconds", str(seconds), "--alternate", "1",
                          "--url", url], cwd=ROOT, capture_output=True, text=True,
                         timeout=seconds + 120)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])["alternate"]
    except (IndexError, KeyError, ValueError):
        return {"error": (out.stdout + out.stderr)[-2000:]}


def startup(tmp: Path) -> dict:
    """Command to first request, with the time of each stage as seen from outside (the
    run's output lines, its files): the run is Ctrl-C'd as soon as it has sent one."""
    out = tmp / "startup-run"
    t = time.time()
    seen: dict[str, float] = {}
    log = open(tmp / "startup.log", "wb")
    p = subprocess.Popen([sys.executable, "-m", "harness", "run", "scenarios/capacity.yaml",
                          "--scale", "0.1", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)

    def read_lines() -> None:
        for line in p.stdout:                      # type: ignore[union-attr]
            log.write(line)
            for key, text in (("first_output", b""), ("stack_starting", b"starting the stack")):
                if text in line:
                    seen.setdefault(key, time.time())

    import threading
    reader = threading.Thread(target=read_lines, daemon=True)
    reader.start()
    first = None
    files = {"toxiproxy_spawned": "logs/toxiproxy.log", "taxplatform_spawned": "logs/taxplatform.log",
             "merchant_spawned": "logs/merchant.log", "locust_spawned": "logs/locust-w0.log",
             "worker_ready": "load/ready-w0.json", "go": "load/go.json"}
    try:
        deadline = t + 120
        while time.time() < deadline and first is None and p.poll() is None:
            now = time.time()
            for key, rel in files.items():
                if key not in seen and (out / rel).exists():
                    seen[key] = now
            if "stack_up" not in seen and (out / "run.json").exists():
                try:
                    if json.loads((out / "run.json").read_text()).get("status") == "running":
                        seen["stack_up"] = now
                except ValueError:
                    pass
            part = out / "history" / "w0.jsonl"
            # (a live part is padded with NULs past its last line: harness/load/history.py)
            line = next(iter_jsonl(part, strict=False), None) if part.exists() else None
            if line is not None:
                first = line["ts"]
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):      # it may have ended on its own
            os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
        reader.join(timeout=5)
        log.close()
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    if run.get("t0"):
        seen["t0"] = run["t0"]
    if first:
        seen["first_request"] = first
    stages = {k: round(v - t, 2) for k, v in sorted(seen.items(), key=lambda kv: kv[1])}
    return {"command_to_first_request_s": round(first - t, 2) if first else None,
            "command_to_t0_s": round(run["t0"] - t, 2) if run.get("t0") else None,
            "stages_s": stages, "loadavg": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description="load path benchmark")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats of the flat-out runs")
    ap.add_argument("--json", default="reports/bench-loadpath.json")
    ap.add_argument("--only", choices=["startup"], help="run only this part")
    a = ap.parse_args()
    if a.only == "startup":
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as d:
            res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   "startup": startup(Path(d))}
        print(json.dumps(res, indent=1))
        return
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "loadavg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-loadpath-") as d:
        tmp = Path(d)
        proc, url = start_null_endpoint(tmp / "null.log")
        try:
            # interleaved repeats, medians: the machine is shared and its load drifts
            reps: dict[str, list[dict]] = {"locust_fasthttpuser": [], "driver_flat_out": [],
                                           "driver_flat_out_no_history": []}
            for i in range(a.repeat):
                reps["locust_fasthttpuser"].append(locust_ceiling(url, a.seconds, tmp / f"c{i}"))
                reps["driver_flat_out"].append(ramp(url, a.seconds, tmp, f"ramp{i}"))
                reps["driver_flat_out_no_history"].append(
                    ramp(url, a.seconds, tmp, f"ramp-nohist{i}", history=False))
            for key, runs in reps.items():
                field = "rps" if key == "locust_fasthttpuser" else "journeys_rps"
                runs.sort(key=lambda r: r[field])
                res[key] = {**runs[len(runs) // 2], "all": [r[field] for r in runs]}
            res["driver_2000"] = driver(url, 2000, a.seconds, tmp, "r2000")
            res["driver_500"] = driver(url, 500, a.seconds, tmp, "r500")
            res["driver_500_no_history"] = driver(url, 500, a.seconds, tmp, "r500-nohist",
                                                  history=False)
            res["history_alternate"] = alternate(url, max(a.seconds * 3, 20))
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        res["startup"] = startup(tmp)
    res["loadavg_after"] = os.getloadavg()
    c, f, fn = res["locust_fasthttpuser"], res["driver_flat_out"], res["driver_flat_out_no_history"]
    r5, r5n = res["driver_500"], res["driver_500_no_history"]
    res["ratios"] = {
        "driver_vs_fasthttpuser": round(f["journeys_rps"] / c["rps"], 3) if c["rps"] else None,
        "history_cost_throughput": round(1 - f["journeys_rps"] / fn["journeys_rps"], 3)
        if fn["journeys_rps"] else None,
        "history_cost_cpu_at_500": round(r5["cpu_us_per_journey"] / r5n["cpu_us_per_journey"] - 1, 3)
        if r5.get("cpu_us_per_journey") and r5n.get("cpu_us_per_journey") else None,
        "history_cost_alternate": res["history_alternate"].get("history_cost_throughput")}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    d2 = res["driver_2000"]
    print(f"\n| figure | value |\n|---|---|\n"
          f"| Locust FastHttpUser, 64 users | {c['rps']} req/s (runs {c['all']}) |\n"
          f"| driver ceiling, ramp (history on) | {'at least ' if f.get('lower_bound') else ''}{f['journeys_rps']} journeys/s (runs {f['all']}), {f['cpu_us_per_journey']} µs CPU per journey |\n"
          f"| driver ceiling, ramp (history off) | {fn['journeys_rps']} journeys/s (runs {fn['all']}) |\n"
          f"| driver / FastHttpUser | {res['ratios']['driver_vs_fasthttpuser']} |\n"
          f"| at 2,000/s offered | sent {d2['sent_rps']}/s, unsent {d2['unsent']} (late {d2['late']}), lag p99 {d2['lag_p99_ms']} ms, loop lag p99 {d2['loop_lag_p99_ms']} ms, saturated {d2['harness_saturated']} |\n"
          f"| history cost | on/off in one run {res['ratios']['history_cost_alternate']} (flat out: {res['history_alternate'].get('flat_out')}); separate ramps {res['ratios']['history_cost_throughput']}, CPU at 500/s {res['ratios']['history_cost_cpu_at_500']} |\n"
          f"| start-up (command to first request) | {res['startup']['command_to_first_request_s']} s |\n"
          f"| load average before / after | {res['loadavg_before']} / {res['loadavg_after']} |")


if __name__ == "__main__":
    main()
