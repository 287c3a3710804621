"""The docker backend's exit-3 errors and its teardown paths, against the real engine: no
engine, a --sut-image that does not exist, a SUT container that exits before it is healthy
(with its last log lines), and the leftovers of a crashed run removed by the next one. After
each, nothing labelled for the run is left. (Ctrl-C in the middle of a run: test_docker_runs.py.)"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from docker_kit import leftovers, run, tail
from harness.stack.docker.engine import OWNER_LABEL, RUN_LABEL
from harness.stack.docker.images import BASE_IMAGE

pytestmark = pytest.mark.integration


def test_no_engine_exits_3_and_says_how_to_start_one(tmp_path: Path):
    out = tmp_path / "no-engine"
    proc = run("run", "scenarios/smoke.yaml", "--backend", "docker", "--out", str(out),
               env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}, timeout=120)
    assert proc.returncode == 3, tail(proc)
    assert "No Docker engine could be reached" in proc.stderr and "dockerd" in proc.stderr
    assert not out.exists()                                # nothing was started, no run directory


def test_a_missing_sut_image_exits_3_and_is_not_pulled(tmp_path: Path, engine: Any, images: list):
    out = tmp_path / "no-image"
    proc = run("run", "scenarios/smoke.yaml", "--backend", "docker", "--out", str(out),
               "--sut-image", "invoice-chaos-test/does-not-exist:1", timeout=120)
    assert proc.returncode == 3, tail(proc)
    assert "no such image in the local engine" in proc.stderr and "docker build" in proc.stderr
    assert not out.exists()


def test_a_sut_container_that_exits_stops_the_run_with_its_log_and_leaves_nothing(
        tmp_path: Path, engine: Any, images: list):
    # a crashed run's leftovers (its orchestrator is gone: pid 1 never has this creation time)
    dead = {RUN_LABEL: f"crashed-{os.getpid()}", OWNER_LABEL: f"{socket.gethostname()}:1:1.00"}
    net = engine.networks.create(f"ic-crashed-{os.getpid()}", labels=dead)
    vol = engine.volumes.create(f"ic-crashed-{os.getpid()}-data", labels=dead)
    box = engine.containers.create(BASE_IMAGE, ["sleep", "600"], labels=dead, network=net.name)
    out = tmp_path / f"sut-exits-{os.getpid()}"
    # the base image's command is python3 with no input: it exits at once
    proc = run("run", "scenarios/smoke.yaml", "--backend", "docker", "--out", str(out),
               "--sut-image", BASE_IMAGE, "--sut-port", "8080", timeout=240)
    assert proc.returncode == 3, tail(proc)
    assert "removed leftovers of a crashed earlier run" in proc.stdout
    assert f"container {box.name}" in proc.stdout and f"network {net.name}" in proc.stdout
    assert f"volume {vol.name}" in proc.stdout
    assert "the merchant container" in proc.stdout and "exited with code 0 before it became healthy" in proc.stdout
    assert "its last log lines" in proc.stdout
    assert json.loads((out / "run.json").read_text())["status"] == "stack-error"
    assert leftovers(engine, out) == {}
    assert all(not v for v in (engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={dead[RUN_LABEL]}"}),
                               engine.networks.list(filters={"label": f"{RUN_LABEL}={dead[RUN_LABEL]}"}),
                               engine.volumes.list(filters={"label": f"{RUN_LABEL}={dead[RUN_LABEL]}"})))


def test_images_a_second_time_finds_all_three_cached(engine: Any, images: list):
    proc = run("images", timeout=120)
    assert proc.returncode == 0, tail(proc)
    assert proc.stdout.count(" cached in ") == 3, proc.stdout
