"""Benchmark of the whole pipeline: its knee, and which component holds it.

    .venv/bin/python benchmarks/bench_knee.py [--rates 100,200,400,800] [--profile-rate 300]
                                             [--json FILE] [--skip-sweep] [--keep DIR]
    .venv/bin/python benchmarks/bench_knee.py --pair 6000 [--pair-connections 64] [--pair-spy]

1. `invoice-chaos sweep scenarios/capacity.yaml --rates ...` (Locust -> Toxiproxy -> robust
   merchant -> Toxiproxy -> platform, SQLite on both sides): knee_rps, the harness ceiling
   and every step, from sweep.json.
2. One run at --profile-rate: every process of the path is sampled with psutil (CPU seconds
   during the load, as a share of one core) and py-spy (`record --format raw`, the top
   functions of the busiest process), so the component at 100 % of a core is named; the
   platform's count of issued invoices over the same window gives each process's CPU
   microseconds per invoice (the budget at 800/s on two cores is 2,500 µs for all of them).

3. `--pair N`: the platform and the robust merchant alone (no Toxiproxy, no Locust), N orders
   from a separate uvloop client: CPU microseconds per invoice of each fake, the figure that
   says what a change in the fakes bought, even on a busy machine.

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
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
from harness.stack.ports import free_port

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


def _own(f: str) -> bool:
    return ("fakes/" in f or "harness/" in f or "httpx" in f or "sqlite" in f or "json" in f
            or "uvicorn" in f or "starlette" in f or "fastapi" in f or "asyncio" in f
            or "uvloop" in f or "gevent" in f or "locust" in f)


def _top(raw: Path, n: int = 12) -> dict[str, list[tuple[str, float]]]:
    """Inclusive (a frame anywhere on the stack) and self (the innermost frame) shares of the
    samples; the entry points (`<module>`, `main`), on every stack, are left out."""
    incl: Counter[str] = Counter()
    own: Counter[str] = Counter()
    tot = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        c = int(count)
        tot += c
        frames = stack.split(";")
        own[frames[-1]] += c
        for f in set(frames):
            if _own(f) and not f.startswith(("<module>", "main ", "run (", "Server.run")):
                incl[f] += c
    if not tot:
        return {"inclusive": [], "self": [], "samples": 0}
    return {"samples": tot,
            "inclusive": [(f, round(c / tot, 3)) for f, c in incl.most_common(n)],
            "self": [(f, round(c / tot, 3)) for f, c in own.most_common(n)]}


def _issued(out: Path) -> int | None:
    """The platform's count of blue invoices issued so far (its /_admin/stats)."""
    try:
        port = json.loads((out / "run.json").read_text())["stack"]["ports"]["taxplatform"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_admin/stats", timeout=5) as r:
            return int(json.loads(r.read())["events"].get("issued_blue", 0))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def profile(rate: float, tmp: Path, out: Path) -> dict:
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
        issued0, w0 = _issued(out), time.monotonic()
        window = 10.0
        spies = {r: subprocess.Popen([str(PYSPY), "record", "--pid", str(p.pid), "-d",
                                      str(int(window)), "-r", "100", "-f", "raw", "-o",
                                      str(tmp / f"{r}.txt")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                 for r, p in procs.items() if r in ("locust", "merchant", "platform")}
        time.sleep(window)
        after = {r: sum(p.cpu_times()[:2]) for r, p in procs.items() if p.is_running()}
        issued1, window = _issued(out), time.monotonic() - w0
        for s in spies.values():
            s.wait(timeout=60)
        cpu = {r: round((after[r] - before[r]) / window, 3) for r in after}
        n = (issued1 - issued0) if issued0 is not None and issued1 is not None else None
        # CPU of every process per invoice the platform issued in the window
        us = ({r: round((after[r] - before[r]) / n * 1e6) for r in after} if n else None)
    finally:
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return {"rate": rate, "window_s": round(window, 2), "issued_in_window": n,
            "issued_per_s": round(n / window, 1) if n else None,
            "cpu_cores_by_component": cpu, "cpu_cores_total": round(sum(cpu.values()), 3),
            "cpu_us_per_invoice": us, "cpu_us_per_invoice_total": sum(us.values()) if us else None,
            "run_dir": str(out),
            "top_functions": {r: _top(tmp / f"{r}.txt") for r in spies
                              if (tmp / f"{r}.txt").exists()},
            "verdict": summary.get("verdict"), "p95_ms": (summary.get("requests") or {})
            .get("latency_ms", {}).get("p95"),
            "harness_saturated": (summary.get("load") or {}).get("harness_saturated")}


# -- --pair: the two fakes alone ---------------------------------------------------------
def _pair_client(port: int, bodies: list[bytes], conc: int, out) -> None:
    """Client process: `conc` keep-alive connections POSTing the bodies back to back."""
    import asyncio

    import uvloop

    async def run() -> dict:
        statuses: dict[int, int] = {}
        it = iter(bodies)

        async def worker() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                for body in it:
                    writer.write((f"POST /v1/invoices HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                                  f"Content-Type: application/json\r\nContent-Length: {len(body)}"
                                  "\r\n\r\n").encode() + body)
                    head = await reader.readuntil(b"\r\n\r\n")
                    n = 0
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            n = int(line[15:])
                    await reader.readexactly(n)
                    st = int(head[9:12])
                    statuses[st] = statuses.get(st, 0) + 1
            finally:
                writer.close()

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        return {"elapsed": time.perf_counter() - t, "statuses": statuses}

    out.put(uvloop.run(run()))


def pair(orders: int, conc: int, tmp: Path, spy: bool) -> dict:
    """Platform and robust merchant as real processes, no Toxiproxy, no Locust: a separate
    uvloop client sends `orders` capacity-like orders (harness OrderFactory) over `conc`
    keep-alive connections. CPU seconds of each process per 201, so a change in either fake
    shows in microseconds per invoice whatever else the machine runs."""
    import multiprocessing as mp

    from fakes.common.sellers import generate_sellers, write_sellers
    from harness.load.orders import OrderFactory

    tmp = Path(tempfile.mkdtemp(prefix="pair-", dir=tmp))   # fresh stores: never answer from an old run
    sellers = generate_sellers(20, 31)
    write_sellers(tmp / "sellers.json", sellers)
    fac = OrderFactory(31, sellers)
    bodies = [json.dumps(fac.order(i), ensure_ascii=False).encode() for i in range(orders)]
    pp, mport = free_port(), free_port()
    env = {**os.environ, "PORT": str(mport), "TAX_PLATFORM_URL": f"http://127.0.0.1:{pp}",
           "SELLERS_FILE": str(tmp / "sellers.json"), "DATA_DIR": str(tmp / "merchant")}
    procs = {
        "platform": subprocess.Popen(
            [sys.executable, "-m", "fakes.taxplatform", "--port", str(pp), "--data",
             str(tmp / "platform"), "--sellers", str(tmp / "sellers.json"), "--config",
             json.dumps({"replica_lag_ms": 300, "quota_per_seller": "1000000000.00"})],
            cwd=ROOT, stdout=open(tmp / "platform.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True),
        "merchant": subprocess.Popen(
            [sys.executable, "-m", "fakes.merchant"], cwd=ROOT, env=env,
            stdout=open(tmp / "merchant.log", "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)}
    try:
        for port in (pp, mport):
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.05)
        ps = {r: psutil.Process(p.pid) for r, p in procs.items()}
        before = {r: sum(p.cpu_times()[:2]) for r, p in ps.items()}
        spies = {r: subprocess.Popen([str(PYSPY), "record", "--pid", str(p.pid), "-r", "100",
                                      "-f", "raw", "-o", str(tmp / f"pair-{r}.txt")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for r, p in ps.items()} if spy else {}
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        cp = ctx.Process(target=_pair_client, args=(mport, bodies, conc, q))
        cp.start()
        res = q.get(timeout=600)
        cp.join(10)
        after = {r: sum(p.cpu_times()[:2]) for r, p in ps.items()}
        for sp in spies.values():
            sp.send_signal(signal.SIGINT)
            sp.wait(timeout=60)
    finally:
        for p in procs.values():
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
    ok = res["statuses"].get(201, 0)
    cpu = {r: after[r] - before[r] for r in after}
    return {"orders": orders, "connections": conc, "statuses": res["statuses"],
            "elapsed_s": round(res["elapsed"], 2), "issued_per_s": round(ok / res["elapsed"], 1),
            "cpu_s": {r: round(v, 2) for r, v in cpu.items()},
            "cpu_us_per_invoice": {r: round(v / ok * 1e6) for r, v in cpu.items()} if ok else None,
            "top_functions": {r: _top(tmp / f"pair-{r}.txt") for r in spies
                              if (tmp / f"pair-{r}.txt").exists()}}


def _pressure() -> str | None:
    """/proc/pressure/cpu "some" (share of time a runnable task waited for a core)."""
    try:
        return Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description="pipeline knee benchmark")
    ap.add_argument("--rates", default="100,200,400,800")
    ap.add_argument("--profile-rate", type=float, default=300)
    ap.add_argument("--json", default="reports/bench-knee.json")
    ap.add_argument("--skip-sweep", action="store_true")
    ap.add_argument("--keep", default=None,
                    help="keep the profiled run's directory (run dir and py-spy files) here")
    ap.add_argument("--pair", type=int, default=0, metavar="N",
                    help="instead: N orders straight to the merchant (platform + merchant only)")
    ap.add_argument("--pair-connections", type=int, default=64)
    ap.add_argument("--pair-spy", action="store_true", help="py-spy both fakes during --pair")
    a = ap.parse_args()
    res: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "loadavg_before": os.getloadavg(), "cpu_pressure_before": _pressure(),
                 "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-knee-") as d:
        tmp = Path(d)
        if a.keep:
            tmp = Path(a.keep)
            tmp.mkdir(parents=True, exist_ok=True)
        if a.pair:
            res["pair"] = pair(a.pair, a.pair_connections, tmp, a.pair_spy)
            res["loadavg_after"] = os.getloadavg()
            print(json.dumps(res, indent=1, ensure_ascii=False))
            return
        res["profile"] = profile(a.profile_rate, tmp, tmp / f"profile-run-{int(time.time())}")
        if not a.skip_sweep:
            res["sweep"] = sweep(a.rates, ROOT / "reports" / f"bench-knee-{int(time.time())}")
    res["loadavg_after"] = os.getloadavg()
    res["cpu_pressure_after"] = _pressure()
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(res, indent=1, ensure_ascii=False))
    print(json.dumps(res, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
