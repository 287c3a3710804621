"""When the harness's own path stops carrying customers while the merchant answers directly,
the run says so (progress line, summary.json, the report's first screen) and those seconds
get the verdict `unknown` instead of failing the system (harness/pathwatch.py).

The path is broken the way a harness breaks it, not by a scenario fault: the test disables
Toxiproxy's `client->merchant` proxy through its API for a few seconds in the middle of a
real run, while the merchant keeps running and answering its health check directly.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from support.processes import ROOT

pytestmark = pytest.mark.integration


def _break_the_path(out: Path, at_s: float, for_s: float, done: threading.Event) -> None:
    """Disable client->merchant from t0+at_s to t0+at_s+for_s (bounded in time)."""
    deadline = time.monotonic() + 120
    meta: dict = {}
    while time.monotonic() < deadline and not done.is_set():
        try:
            meta = json.loads((out / "run.json").read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get("t0") and "toxiproxy" in (meta.get("stack") or {}).get("ports", {}):
            break
        time.sleep(0.2)
    else:
        return
    api = f"http://127.0.0.1:{meta['stack']['ports']['toxiproxy']}/proxies/client->merchant"
    time.sleep(max(0.0, meta["t0"] + at_s - time.time()))
    httpx.post(api, json={"enabled": False}, timeout=5)
    time.sleep(for_s)
    httpx.post(api, json={"enabled": True}, timeout=5)


def test_a_path_outage_is_told_apart_from_the_system_and_its_seconds_are_unknown(tiny_scenario, tmp_path):
    scenario = tiny_scenario(duration="20s", rps=10, name="path")
    out = tmp_path / f"path-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out)],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    done = threading.Event()
    breaker = threading.Thread(target=_break_the_path, args=(out, 5.0, 7.0, done), daemon=True)
    breaker.start()
    try:
        text, _ = proc.communicate(timeout=300)
    finally:
        done.set()
        breaker.join(timeout=30)
    assert proc.returncode == 0, text[-3000:]
    assert "PATH DOWN" in text and "HARNESS PATH DOWN" in text
    s = json.loads((out / "summary.json").read_text())
    found = s["harness_path"]["stretches"]
    assert len(found) == 1 and found[0]["verdict"] == "unknown" and "harness" in found[0]["reason"]
    assert 4 <= found[0]["start_s"] <= 8 and found[0]["end_s"] - found[0]["start_s"] >= 4
    # the seconds are left out: what remains was answered, so the system passes
    assert s["verdict"] == "pass" and s["recovery"]["answered_share"] >= 0.95
    assert 'id="harness-path"' in (out / "report.html").read_text()
