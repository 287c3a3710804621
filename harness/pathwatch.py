"""Is the harness's own path to the system carrying traffic?

The customers reach the merchant through the harness's path (a published port, Toxiproxy's
`client->merchant`); the harness's own checks reach it directly. When the customer path
stops answering while the merchant answers directly, the requests that fail then measure
the harness, not the system, and must neither pass nor fail it. During the load a thread
asks the merchant's health endpoint both ways once a second, each on a fresh connection
(what a customer that cannot connect or send would need), and writes `harness-path.jsonl`.

A *stretch* is at least SUSTAINED_S consecutive seconds in which the direct probe was
answered and the customer-path probe was not, outside every fault window that touches the
customer path on purpose (a fault on `client->merchant`, or any fault on the merchant
itself), and in which most customers sent then were not served either. The verdict leaves the stretches' seconds out of the answered share and recovery
figures and gives each stretch the verdict `unknown` with the reason; the progress line
says it while it lasts.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .fault_windows import fault_window

__all__ = ["PathWatch", "stretches", "PATH_FILE", "SUSTAINED_S", "REASON", "touches_customer_path"]

PATH_FILE = "harness-path.jsonl"
SUSTAINED_S = 3
PROBE_TIMEOUT_S = 1.0
REASON = ("the harness's path to the system (the published port and Toxiproxy's client->merchant) "
          "carried no request while the merchant answered its health check directly: these "
          "seconds measure the harness, not the system")


def touches_customer_path(fault: dict[str, Any]) -> bool:
    """A fault that is meant to stop customers reaching the merchant (or the merchant itself)."""
    return fault.get("target") in ("client->merchant", "merchant") or fault.get("link") == "client->merchant"


def _probe(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code < 500
    except httpx.HTTPError:
        return False


@dataclass
class PathWatch:
    """The once-a-second probe pair, from t0 until `stop()`."""

    direct_url: str
    customer_url: str
    out: Path
    t0: float
    planned: list[dict[str, Any]] = field(default_factory=list)   # faults-plan.json records
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    down_since: float | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="path-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * PROBE_TIMEOUT_S + 1)

    def _expected(self, t: float) -> bool:
        for f in self.planned:
            w = fault_window(f)
            if w is not None and touches_customer_path(f) and w[0] <= t < w[1] + 1.0:
                return True
        return False

    def _loop(self) -> None:
        # a fresh connection per probe: a pooled one would hide a path that no longer connects
        with httpx.Client(timeout=PROBE_TIMEOUT_S, limits=httpx.Limits(max_keepalive_connections=0)) as http, \
                open(self.out, "a", encoding="utf-8") as fh:
            while not self._stop.wait(max(0.0, 1.0 - (time.time() - self.t0) % 1.0)):
                t = time.time() - self.t0
                if t < 0:
                    continue
                direct = _probe(http, self.direct_url)
                path = _probe(http, self.customer_url)
                fh.write(json.dumps({"t": round(t, 3), "direct": direct, "path": path}) + "\n")
                fh.flush()
                if direct and not path and not self._expected(t):
                    self.down_since = t if self.down_since is None else self.down_since
                else:
                    self.down_since = None

    def words(self) -> str:
        """For the progress line: empty while the path carries traffic."""
        since = self.down_since
        if since is None:
            return ""
        lasted = time.time() - self.t0 - since
        return f"  PATH DOWN {lasted:.0f}s (the merchant answers directly)" if lasted >= SUSTAINED_S else ""


def _mostly_unserved(counts: list[int]) -> bool:
    """[requests, answered, checkouts, ok] of one second: most checkouts not issued (a customer
    that could not connect is a definite failure, an answer of sorts), or, without checkouts,
    most requests unanswered."""
    requests, answered, checkouts, ok = counts
    return 2 * ok < checkouts if checkouts else 2 * answered < requests


def stretches(probes: list[dict[str, Any]], faults: list[dict[str, Any]],
              by_sec: dict[int, list[int]] | None = None) -> list[dict[str, Any]]:
    """The sustained stretches of `harness-path.jsonl` (see the module's docstring), each with
    the verdict `unknown` and its reason, in whole seconds. A failing probe stands for the
    time until the next probe (a probe that waits for its timeout delays the next one).
    With `by_sec` (harness/recovery.py: customer requests per second sent) a second counts
    only if the customers sent then were mostly not served either: a probe that merely
    waited on a busy machine while the customers got through is no evidence."""
    windows = [w for f in faults if touches_customer_path(f) for w in [fault_window(f)] if w is not None]
    timed = sorted((float(p["t"]), bool(p.get("direct")) and not p.get("path"))
                   for p in probes if isinstance(p.get("t"), (int, float)))
    bad: set[int] = set()
    start: float | None = None
    lead: float | None = None            # the end of a fault window the path failed through
    for i, (t, only_path_failed) in enumerate(timed):
        cover = [b for a, b in windows if a <= t < b + 1.0]
        if cover and start is None:
            lead = max(cover)            # explained by the fault; what follows it is not
            continue
        if only_path_failed and start is None:
            start = lead if lead is not None else t
        if start is not None and (not only_path_failed or i == len(timed) - 1):
            end = t if not only_path_failed else t + 1.0
            bad.update(range(math.floor(start), math.floor(end)))
            start = None
        if not only_path_failed:
            lead = None
    if by_sec is not None:
        bad = {sec for sec in bad if sec in by_sec and _mostly_unserved(by_sec[sec])}
    out: list[dict[str, Any]] = []
    run: list[int] = []
    for sec in [*sorted(bad), None]:
        if sec is not None and run and sec == run[-1] + 1:
            run.append(sec)
            continue
        if len(run) >= SUSTAINED_S:
            out.append({"start_s": run[0], "end_s": run[-1] + 1, "verdict": "unknown", "reason": REASON})
        run = [sec] if sec is not None else []
    return out
