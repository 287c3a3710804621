"""A run whose orchestrator was killed outright leaves processes; the next run clears them."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.stack.leftovers import Registry
from support.processes import ROOT, invoice_chaos, lingering, processes_mentioning

pytestmark = pytest.mark.integration


def test_the_next_run_clears_the_processes_of_a_crashed_run(tiny_scenario, tmp_path: Path):
    crashed = tmp_path / "crashed"
    scenario = tiny_scenario(duration="40s")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(crashed)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            meta = json.loads((crashed / "run.json").read_text()) if (crashed / "run.json").exists() else {}
            if meta.get("status") == "running" and list((crashed / "logs").glob("locust-*.log")):
                break
            time.sleep(0.3)
        time.sleep(2)
        os.kill(proc.pid, signal.SIGKILL)          # the orchestrator only: no teardown runs
        proc.wait(timeout=10)
        left = processes_mentioning(str(crashed))
        assert left, "the crashed run should have left its services running"
        state_dir = Registry("probe").path.parent
        second = invoice_chaos("run", str(tiny_scenario(name="after")), "--out", str(tmp_path / "after"), timeout=300)
        # Any run that starts on this machine clears them (another run may have been quicker
        # when several run at once), so the property is: once a run has started, they are gone.
        assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
        if "cleared leftovers of a crashed earlier run" not in second.stdout:
            assert not list(state_dir.glob(f"crashed-{proc.pid}.json")), second.stdout
        time.sleep(1)
        assert lingering(str(crashed)) == []
    finally:
        for p in processes_mentioning(str(crashed)):
            print("left:", p.pid, p.cmdline())
            p.kill()
