"""harness_ceiling_rps: how fast this harness can send on this machine, right now.

A few seconds of the very same driver (run_load, the scenario's mix, the sweep's
`--workers`) against a do-nothing endpoint on loopback (null_endpoint.py: raw ASGI under
uvicorn + httptools, so the endpoint is not the limit). The offered rate ramps linearly from
zero to far more than any process can send; while the driver keeps up, the journeys it
finishes follow the ramp, past its limit they fall (an open model that cannot keep up piles
up connections). The ceiling is the best two-second mean of journeys finished per second.
A flat overload would measure that collapse instead of the capacity. A sweep reports it so a
reader knows how far the harness could have gone at that moment on a shared machine: a
knee close to the ceiling is a statement about the harness, not the system.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..stack.ports import listening_socket

__all__ = ["measure_ceiling", "ramp_outran", "start_null_endpoint", "OFFER_PER_WORKER"]

# The ramp's top, arrivals/s per worker: above what one process can send, so the ceiling
# reads the harness, not the ramp. A ramp that ends while the driver still keeps up says
# "at least" (`ramp_outran`).
OFFER_PER_WORKER = 12000.0


def ramp_outran(series: list[float], offered: float, seconds: float) -> bool:
    """Whether the driver was still keeping up when the ramp ended: its best two-second
    mean is the last pair and at least 90 % of what the ramp offered in those seconds. The
    ceiling is then a lower bound (the harness could have gone faster), and says so."""
    if len(series) < 2 or seconds <= 0:
        return False
    pairs = [(a + b) / 2 for a, b in zip(series, series[1:])]
    best = max(pairs)
    last = len(series) - 2
    if pairs.index(best) != last:
        return False
    ramp_there = offered * (last + 1.0) / seconds   # the ramp's mean over seconds last, last+1
    return best >= 0.9 * ramp_there


def start_null_endpoint(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start the do-nothing endpoint in its own process group, serving on a socket bound here
    to port 0 (so the port cannot be taken meanwhile); wait until it answers."""
    listener = listening_socket()
    port = listener.getsockname()[1]
    try:
        with open(log, "wb") as fh:
            proc = subprocess.Popen([sys.executable, "-m", "harness.sweep.null_endpoint",
                                     "--fd", str(listener.fileno())],
                                    pass_fds=(listener.fileno(),), stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
    finally:
        listener.close()                 # the endpoint holds its own copy
    deadline = time.time() + 20
    while time.time() < deadline and proc.poll() is None:
        # the socket listens already, so a connection alone proves nothing: ask
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
        try:
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return proc, f"http://127.0.0.1:{port}"
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
        finally:
            conn.close()
    _stop(proc)
    raise RuntimeError(f"the null endpoint did not start: {log.read_text(errors='replace')[-500:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=10)


def measure_ceiling(work_dir: Path, mix: dict[str, float], sellers: list[dict[str, str]],
                    workers: int, seconds: float, seed: int = 1,
                    registry: Any = None) -> dict[str, Any]:
    """Run the driver flat out for `seconds`; returns {ceiling_rps, offered_rps, sent, ...}.
    Leaves its files in `work_dir` (history of the run, logs) and nothing running."""
    from ..load import LoadConfig, run_load

    work_dir = Path(work_dir).resolve()        # Locust runs with the run directory as cwd
    work_dir.mkdir(parents=True, exist_ok=True)
    proc, url = start_null_endpoint(work_dir / "null-endpoint.log")
    if registry is not None:
        registry.record("null-endpoint", proc.pid)
    try:
        offered = OFFER_PER_WORKER * workers
        cfg = LoadConfig(merchant_url=url, platform_url=url, sellers=sellers, seed=seed,
                         duration_s=seconds, curve=[[0, 0.0], [seconds, 1.0]], compress_s=None,
                         peak_rps=offered, mix=mix, workers=workers, request_timeout_s=2.0)
        # t0 = every worker ready + 0.5 s (run_load): the ramp starts on time however busy
        res = run_load(cfg, work_dir)
        stats = json.loads(res.stats_path.read_text(encoding="utf-8"))
    finally:
        _stop(proc)
    # Journeys finished per second while the load ran: sent arrivals would only count the
    # pool filling up (max_in_flight) once the process falls behind.
    per_s = dict((int(s), n) for s, n in stats.get("completed", []) if 0 <= s < seconds)
    series = [per_s.get(s, 0) for s in range(int(seconds))]
    best = max(((a + b) / 2 for a, b in zip(series, series[1:])), default=float(sum(series)))
    sent = sum(n for s, n in stats.get("achieved", []) if 0 <= s < seconds)
    shutil.rmtree(work_dir / "history", ignore_errors=True)     # nothing to check here
    return {"ceiling_rps": round(best, 1), "offered_peak_rps": offered, "sent": sent,
            "lower_bound": ramp_outran(series, offered, seconds),
            "finished_per_s": series,
            "seconds": seconds, "workers": workers, "exit_code": res.exit_code,
            "lag_p99_ms": stats.get("lag_p99_ms"), "cpu_max_pct": stats.get("cpu_max_pct")}
