"""Ctrl-C while the run starts: Locust's processes now start together with the stack, before
the run has a t0, and none of them (nor a service) may outlive the run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.processes import ROOT, ctrl_c_reaches_it, lingering

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("moment", ["logs/locust-w0.log", "logs/merchant.log", "load/ready-w0.json"])
def test_ctrl_c_while_the_stack_starts_leaves_no_process(tmp_path: Path, moment: str) -> None:
    """Ctrl-C the moment a Locust process or a service is being started, or a worker is ready."""
    out_dir = tmp_path / "interrupted-at-start"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml",
                             "--out", str(out_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=ctrl_c_reaches_it)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out_dir / moment).exists():
            time.sleep(0.01)
        assert (out_dir / moment).exists(), f"{moment} never appeared"
        os.killpg(proc.pid, signal.SIGINT)              # what a terminal's Ctrl-C does
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output[-3000:]
    assert lingering(str(out_dir)) == []
    meta = json.loads((out_dir / "run.json").read_text())
    assert meta["interrupted"] is True
    if moment != "load/ready-w0.json":                 # a ready worker may just have got its go
        assert "t0" not in meta                        # interrupted before the load began
