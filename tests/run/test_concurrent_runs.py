"""Two runs on one machine never take each other's ports or run directories.

A port picked free is free only until another process binds it; the local stack lets
Toxiproxy pick the client-facing links' ports and, when a service still loses its port,
starts again on new ones (harness/stack/ports.py, local.py). Run directories are made
atomically, so two runs started in the same second get two.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from fakes.common.sellers import generate_sellers, write_sellers
from harness.configure import stack_config
from harness.run import RunOptions
from harness.scenario import load_scenario
from harness.stack import local as local_mod
from harness.stack.local import LocalStack
from support.processes import ROOT, FirstPickTaken, lingering

pytestmark = pytest.mark.integration


def test_a_port_taken_before_the_bind_starts_the_stack_again(tmp_path: Path, monkeypatch) -> None:
    # the first pick: another process takes the platform's port
    pick = FirstPickTaken(local_mod.free_ports, index=1)
    monkeypatch.setattr(local_mod, "free_ports", pick)
    scenario = load_scenario(ROOT / "scenarios" / "smoke.yaml")
    sellers_file = tmp_path / "sellers.json"
    write_sellers(sellers_file, generate_sellers(2, seed=3))
    cfg = stack_config(scenario, RunOptions(scenario_path="smoke.yaml"),
                       f"porttest-{os.getpid()}-{uuid.uuid4().hex[:6]}", tmp_path, sellers_file)
    said: list[str] = []
    stack = LocalStack(cfg, say=said.append)
    try:
        stack.up()
        assert len(pick.picks) == 2 and stack.ports["taxplatform"] != pick.picks[0][1]
        assert any("starting again on new ports" in s for s in said), said
        assert set(stack.ports) >= {"client->merchant", "client->taxplatform"}
        stack.probe_merchant()              # the merchant of the second start answers
    finally:
        stack.down()
        pick.close()
    assert not lingering(str(tmp_path))


def _start(cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(ROOT / "scenarios" / "smoke.yaml")],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ})


def test_two_smoke_runs_started_in_the_same_second_both_pass(tmp_path: Path) -> None:
    # both without --out in one working directory: reports/smoke-<the same second>[-2]
    procs = [_start(tmp_path) for _ in range(2)]
    outs: list[str] = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=600)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
    dirs = sorted((tmp_path / "reports").iterdir())
    assert len(dirs) == 2, dirs
    records: list[dict[str, Any]] = [json.loads((d / "run.json").read_text()) for d in dirs]
    assert records[0]["run_id"] != records[1]["run_id"]
    ports = [set(r["stack"]["ports"].values()) for r in records]
    assert not ports[0] & ports[1], ports
    for d in dirs:
        assert json.loads((d / "summary.json").read_text())["verdict"] == "pass"
        assert not lingering(str(d))
