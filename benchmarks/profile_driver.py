"""CPU per checkout journey of the open-model driver, in one process, for profiling.

    .venv/bin/python benchmarks/profile_driver.py [--rate 1000] [--seconds 6] [--no-history]
        [--no-stats] [--profile FILE.prof] [--url http://127.0.0.1:PORT]

The very driver a Locust worker runs (harness/load/driver.py), with Locust's own request
statistics attached (a LocalRunner's listener on `events.request`, as in a real run),
against harness/sweep/null_endpoint.py (started here unless --url is given), at a fixed
offered rate below the process's ceiling. Prints this process's CPU (user+sys) from t0 to
the end divided by the journeys sent: the figure the load path's targets are about, and
one that does not depend on how busy the other core is. With --profile, cProfile's view
of the same run (load it with pstats). Checkout journeys only, as bench_loadpath.py.
With --history-share, the wall time spent inside the history writer's methods (its
orjson encoding and write(2); one greenlet, nothing else runs meanwhile) over this
process's CPU in the same run: the history's share of a journey, free of the machine's
drift between two runs (the timing wrappers' own cost counts as history: an upper bound).
With --alternate S (give a --rate above the ceiling, e.g. 12000, and --seconds 30 or more)
the history is switched on and off every S seconds of one flat-out run, and the requests
finished in each "on" period are compared with the "off" periods either side of it (the
median of those ratios): "with vs without" in the same process at the same moments, which separate runs on a shared machine (whose speed drifts by ±20 %
from one ten-second run to the next) cannot give.
"""
from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _sys() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--no-history", action="store_true")
    ap.add_argument("--no-stats", action="store_true", help="without Locust's statistics")
    ap.add_argument("--profile", help="write cProfile stats of the load phase here")
    ap.add_argument("--history-dir", help="where the history part goes (default: a temporary "
                    "directory under /tmp)")
    ap.add_argument("--history-share", action="store_true",
                    help="time the history writer's methods in this run (see above)")
    ap.add_argument("--alternate", type=float, metavar="S",
                    help="switch the history on and off every S seconds (see above)")
    ap.add_argument("--client", metavar="FILE.py:Class",
                    help="the checkouts go through this client adapter (design.md s.14); with "
                         "--alternate it is switched on and off instead of the history")
    ap.add_argument("--url", help="an endpoint already running (else a null endpoint is started)")
    a = ap.parse_args()

    from fakes.common.sellers import generate_sellers
    from harness.load.config import LoadConfig
    from harness.load.driver import Driver
    from harness.sweep.ceiling import start_null_endpoint

    spent = [0.0]
    if a.history_share:
        from harness.load.history import HistoryWriter
        clock = time.perf_counter

        def timed(fn):  # type: ignore[no-untyped-def]
            def wrapper(*args, **kw):  # type: ignore[no-untyped-def]
                t = clock()
                try:
                    return fn(*args, **kw)
                finally:
                    spent[0] += clock() - t
            return wrapper
        for name in ("invoke", "complete"):
            setattr(HistoryWriter, name, timed(getattr(HistoryWriter, name)))

    with tempfile.TemporaryDirectory(prefix="profile-driver-") as d:
        tmp = Path(d)
        proc = None
        url = a.url
        if not url:
            proc, url = start_null_endpoint(tmp / "null.log")
        try:
            fire = None
            if not a.no_stats:
                from locust import events
                from locust.env import Environment
                env = Environment(events=events)
                env.create_local_runner()
                fire = events.request.fire
            cfg = LoadConfig(merchant_url=url, platform_url=url, sellers=generate_sellers(10, 1),
                             seed=1, duration_s=a.seconds, curve=[[0, 1]], compress_s=None,
                             peak_rps=a.rate, mix={"checkout": 100},
                             record_history=not a.no_history, request_timeout_s=3.0,
                             t0=time.time() + 1.5, history_dir=a.history_dir or str(tmp / "history"),
                             client=_client(a.client))
            drv = Driver(cfg, 0, 1, tmp / "load", fire)
            (tmp / "load").mkdir(exist_ok=True)
            prof = None
            if a.profile:
                import cProfile
                prof = cProfile.Profile()
            wait = cfg.t0 - time.time()
            if wait > 0:
                time.sleep(wait)
            c0, s0 = _cpu(), _sys()
            periods: list[tuple[bool, int]] = []
            if a.alternate:
                import gevent

                from harness.load.history import NullHistory
                real, null = drv.customers.history, NullHistory("w0", cfg.t0)
                invoker = drv.customers.invoker

                def switch(on: bool) -> None:
                    if a.client:
                        drv.customers.invoker = invoker if on else None
                    else:
                        drv.customers.history = real if on else null

                def alternate() -> None:
                    on, n = True, 0
                    end = cfg.t0 + a.seconds
                    while time.time() + a.alternate <= end:
                        gevent.sleep(a.alternate)
                        done = drv.customers.counters.requests
                        periods.append((on, done - n))
                        on, n = not on, done
                        switch(on)
                gevent.spawn(alternate)
            if prof:
                prof.enable()
            drv.run()
            if prof:
                prof.disable()
                prof.dump_stats(a.profile)
            cpu, sys_s = _cpu() - c0, _sys() - s0
            p = drv.progress()
            out = {"rate": a.rate, "seconds": a.seconds, "history": not a.no_history,
                   "locust_stats": not a.no_stats, "arrivals": drv.arrivals,
                   "unsent": drv.unsent, "requests": p["requests"], "ok": p["ok"],
                   "fail": p["fail"], "info": p["info"], "cpu_s": round(cpu, 3), "sys_s": round(sys_s, 3),
                   "cpu_us_per_journey": round(cpu / drv.arrivals * 1e6, 1) if drv.arrivals else None,
                   "cpu_us_per_request": round(cpu / p["requests"] * 1e6, 1) if p["requests"] else None,
                   "lag_p99_ms": p["lag_p99_ms"], "loop_lag_p99_ms": p["loop_lag_p99_ms"],
                   "history_lines": p["history_lines"], "loadavg": os.getloadavg()}
            if periods:
                use = periods[2:]           # the first on/off pair warms the process up
                per = {k: [n / a.alternate for on, n in use if on is k] for k in (True, False)}
                mean = {k: sum(v) / len(v) if v else 0.0 for k, v in per.items()}
                # each "on" period against the mean of the "off" periods either side of it:
                # the host's speed drifts within seconds too, so the median of these is the
                # figure (the means are kept beside it)
                paired = sorted(1 - use[i][1] / ((use[i - 1][1] + use[i + 1][1]) / 2)
                                for i in range(1, len(use) - 1)
                                if use[i][0] and use[i - 1][1] + use[i + 1][1] > 0)
                scheduled = drv.arrivals + drv.unsent
                out["alternate"] = {
                    "switched": "client" if a.client else "history",
                    "period_s": a.alternate, "periods": len(use),
                    # on/off compares throughput only while the driver is behind the offer:
                    # a driver that keeps up finishes what is offered either way
                    "flat_out": bool(scheduled and drv.unsent > 0.01 * scheduled),
                    "on_requests_per_s": round(mean[True], 1),
                    "off_requests_per_s": round(mean[False], 1),
                    "history_cost_throughput": round(paired[len(paired) // 2], 4)
                    if paired else None,
                    "history_cost_of_means": round(1 - mean[True] / mean[False], 4)
                    if mean[False] else None,
                    "on": [round(x) for x in per[True]], "off": [round(x) for x in per[False]]}
            if a.history_share:
                out["history_s"] = round(spent[0], 3)
                out["history_us_per_journey"] = round(spent[0] / drv.arrivals * 1e6, 1) \
                    if drv.arrivals else None
                out["history_share_of_cpu"] = round(spent[0] / cpu, 4) if cpu else None
            print(json.dumps(out))
        finally:
            if proc is not None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _client(spec: str | None) -> dict | None:
    if not spec:
        return None
    from harness.client.loader import read_client
    return read_client(spec, ROOT).to_json()


if __name__ == "__main__":
    main()
