"""Benchmark of the whole pipeline (issue 12): its knee, and which component holds it.

    .venv/bin/python benchmarks/bench_knee.py [--rates 100,200,400,800] [--profile-rate 300]
                                             [--json FILE] [--skip-sweep]

1. `invoice-chaos sweep scenarios/capacity.yaml --rates ...` (Locust -> Toxiproxy -> robust
   merchant -> Toxiproxy -> platform, SQLite on both sides): knee_rps, the harness ceiling
   and every step, from sweep.json.
2. One run at --profile-rate: every process of the path is sampled with psutil (CPU seconds
   during the load, as a share of one core) and py-spy (`record --format raw`, the top
   functions of the busiest process), so the component at 100 % of a core is named.

Prints and writes (--json) one JSON object; figures go to docs/performance.md by hand.
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
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
PYSPY = Path(sys.executable).with_name("py-spy")


def sweep(rates: str, out: Path) -> dict:
    t = time.time()
    r = subprocess.run([sys.executable, "-m", "harness", "sweep", "scenarios/capacity.yaml",
                        "--rates", rates, "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=3600)
    rec = json.loads((out / "sweep.json").read_text())
    return {"exit_code": r.returncode, "wall_s": round(time.time() - t, 1),
            "knee_rps": rec["knee_rps"], "knee_limited_by": rec["knee_limited_by"],
            "harness_ceiling_rps": rec["harness_ceiling_rps"],
            "steps": [{k: s[k] for k in ("target_rps", "achieved_rps", "p95_ms", "error_rate",
                                         "anomalies", "verdict", "harness_limited")}
                      for s in rec["steps"]], "dir": str(out)}


def _role(p: psutil.Process) -> str | None:
    try:
        cmd = " ".join(p.cmdline())
    except psutil.Error:
        return None
    for role, needle in (("locust", "locust"), ("merchant", "fakes.merchant"),
                         ("platform", "fakes.taxplatform"), ("toxiproxy", "toxiproxy-server"),
                         ("orchestrator", "harness run")):
        if needle in cmd:
            return role
    return None


def _top(raw: Path, n: int = 12) -> list[tuple[str, float]]:
    incl: Counter[str] = Counter()
    tot = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        tot += int(count)
        for f in set(stack.split(";")):
            if "fakes/" in f or "harness/" in f or "httpx" in f or "sqlite" in f or "json" in f:
                incl[f] += int(count)
    return [(f, round(c / tot, 3)) for f, c in incl.most_common(n)] if tot else []


def profile(rate: float, tmp: Path) -> dict:
    out = tmp / "profile-run"
    scale = rate / 200.0                      # capacity.yaml runs at 200/s on its own
    log = open(tmp / "profile-run.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "scenarios/capacity.yaml",
                             "--scale", f"{scale:g}", "--out", str(out)], cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = None
        while t0 is None and proc.poll() is None:      # run.json gets t0 when Locust starts
            try:
                t0 = json.loads((out / "run.json").read_text()).get("t0")
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        time.sleep(max(0.0, (t0 or time.time()) + 2.0 - time.time()))   # into the load
        me = psutil.Process(proc.pid)
        procs = {}
        for p in [me, *me.children(recursive=True)]:
            role = _role(p)
            if role:
                procs.setdefault(role, p)
        before = {r: sum(p.cpu_times()[:2]) for r, p in procs.items()}
        window = 10.0
        spies = {r: subprocess.Popen([str(PYSPY), "record", "--pid", str(p.pid), "-d",
                                      str(int(window)), "-r", "100", "-f", "raw", "-o",
                                      str(tmp / f"{r}.txt")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                 for r, p in procs.items() if r in ("locust", "merchant", "platform")}
        time.sleep(window)
        after = {r: sum(p.cpu_times()[:2]) for r, p in procs.items() if p.is_running()}
        for s in spies.values():
            s.wait(timeout=60)
        cpu = {r: round((after[r] - before[r]) / window, 3) for r in after}
    finally:
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return {"rate": rate, "cpu_cores_by_component": cpu,
            "top_functions": {r: _top(tmp / f"{r}.txt") for r in spies
                              if (tmp / f"{r}.txt").exists()},
            "verdict": summary.get("verdict"), "p95_ms": (summary.get("requests") or {})
            .get("latency_ms", {}).get("p95"),
            "harness_saturated": (summary.get("load") or {}).get("harness_saturated")}


def main() -> None:
    ap = argparse.ArgumentParser(description="pipeline knee benchmark")
    ap.add_argument("--rates", default="100,200,400,800")
    ap.add_argument("--profile-rate", type=float, default=300)
    ap.add_argument("--json", default="reports/bench-knee.json")
    ap.add_argument("--skip-sweep", action="store_true")
    a = ap.parse_args()
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "loadavg_before": os.getloadavg(), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-knee-") as d:
        tmp = Path(d)
        res["profile"] = profile(a.profile_rate, tmp)
        if not a.skip_sweep:
            res["sweep"] = sweep(a.rates, ROOT / "reports" / f"bench-knee-{int(time.time())}")
    res["loadavg_after"] = os.getloadavg()
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1, ensure_ascii=False))
    print(json.dumps(res, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
