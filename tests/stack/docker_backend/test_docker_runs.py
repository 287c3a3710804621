"""`invoice-chaos run --backend docker` against the real engine, as a user runs it: the smoke
scenario with the robust merchant (passes) and with naive-retry (duplicated); container
faults (kill, pause, partition) with the robust merchant (passes); a user's image built here
from examples/stdlib_merchant/ through --sut-image (passes smoke); the same merchant through
--sut-cmd inside the app image, interrupted by Ctrl-C in the middle of its load (exit 130).
After each run nothing labelled for it is left: no container, network or volume.

The runs go in two batches (each run is mostly waiting on its own load), so the module takes
about two and a half runs' time.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from docker_kit import HERE, ROOT, finish, leftovers, start, summary, tail

pytestmark = pytest.mark.integration

SUT_IMAGE = f"invoice-chaos-test/stdlib-merchant:{os.getpid()}"


@pytest.fixture(scope="module")
def sut_image(engine: Any, images: list) -> Any:
    """The user's merchant as an image, built the way a user builds it (no network)."""
    engine.images.build(path=str(ROOT / "examples" / "stdlib_merchant"), tag=SUT_IMAGE, rm=True,
                        network_mode="none", pull=False)
    yield SUT_IMAGE
    engine.images.remove(SUT_IMAGE, force=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, engine: Any, images: list, sut_image: str) -> dict[str, tuple[Any, Path]]:
    base = tmp_path_factory.mktemp("docker-runs")
    pid = os.getpid()
    plans = {
        "robust": ["scenarios/smoke.yaml"],
        "naive": ["scenarios/smoke.yaml", "--merchant-mode", "naive-retry"],
        "faults": [str(HERE / "container_faults.yaml")],
        "sut": ["scenarios/smoke.yaml", "--sut-image", sut_image, "--sut-port", "8080"],
        "interrupted": ["scenarios/smoke.yaml", "--sut-cmd", "python examples/stdlib_merchant/server.py"],
    }
    done: dict[str, tuple[Any, Path]] = {}
    for batch in (("robust", "naive", "interrupted"), ("faults", "sut")):
        started = {}
        for name in batch:
            out = base / f"{name}-{pid}"
            started[name] = (start("run", *plans[name], "--backend", "docker", "--out", str(out)), out)
        if "interrupted" in started:
            _interrupt_during_load(*started["interrupted"])
        for name, (proc, out) in started.items():
            done[name] = (finish(proc), out)
    return done


def _interrupt_during_load(proc: Any, out: Path) -> None:
    """Ctrl-C (SIGINT) a few seconds into the load (run.json has t0 once the stack is up)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            t0 = json.loads((out / "run.json").read_text()).get("t0")
        except (OSError, ValueError):
            t0 = None
        if t0 and time.time() > t0 + 5:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)


def test_smoke_on_docker_passes_with_the_robust_merchant(runs, engine):
    proc, out = runs["robust"]
    assert proc.returncode == 0, tail(proc)
    s = summary(out)
    assert s["verdict"] == "pass" and s["invoices"]["acknowledged"] > 100
    meta = json.loads((out / "run.json").read_text())
    assert meta["backend"] == "docker" and meta["stack"]["network"] == f"ic-{out.name}"
    assert all(p > 0 for p in meta["stack"]["ports"].values())
    for name in ("taxplatform", "merchant", "toxiproxy"):          # container logs were kept
        assert (out / "logs" / f"{name}.log").stat().st_size > 0
    assert "listening on 0.0.0.0:8000" in (out / "logs" / "merchant.log").read_text()
    assert leftovers(engine, out) == {}


def test_smoke_on_docker_finds_the_duplicates_of_naive_retry(runs, engine):
    proc, out = runs["naive"]
    assert proc.returncode == 1, tail(proc)
    s = summary(out)
    assert s["verdict"] == "fail" and s["invoices"]["duplicated"] > 0
    assert leftovers(engine, out) == {}


def test_container_kill_pause_and_partition_pass_with_the_robust_merchant(runs, engine):
    proc, out = runs["faults"]
    assert proc.returncode == 0, tail(proc)
    applied = [json.loads(x) for x in (out / "faults.jsonl").read_text().splitlines()]
    assert sorted(f["kind"] for f in applied) == ["kill", "partition", "pause"]
    assert all(f["ok"] for f in applied), applied
    log = (out / "logs" / "merchant.log").read_text()
    assert log.count("listening on 0.0.0.0:8000") == 2             # killed, then started again
    # the platform was really frozen and cut off: the merchant saw unknown outcomes
    assert "unknown outcome" in log
    assert summary(out)["verdict"] == "pass"
    assert leftovers(engine, out) == {}


def test_a_user_image_runs_through_sut_image_and_passes_smoke(runs, engine):
    proc, out = runs["sut"]
    assert proc.returncode == 0, tail(proc)
    meta = json.loads((out / "run.json").read_text())
    assert meta["merchant"]["sut_image"] == SUT_IMAGE
    assert meta["stack"]["images"]["merchant"] == SUT_IMAGE
    assert "stdlib merchant on 0.0.0.0:8080" in (out / "logs" / "merchant.log").read_text()
    assert summary(out)["verdict"] == "pass"
    assert leftovers(engine, out) == {}


def test_sut_cmd_runs_inside_the_app_image_and_ctrl_c_removes_everything(runs, engine):
    proc, out = runs["interrupted"]
    assert proc.returncode == 130, tail(proc)
    meta = json.loads((out / "run.json").read_text())
    assert meta["interrupted"] is True and meta["stack"]["images"]["merchant"].startswith("invoice-chaos/app:")
    # the command ran in the container, from the mounted project directory, on HOST=0.0.0.0
    assert "stdlib merchant on 0.0.0.0:8000" in (out / "logs" / "merchant.log").read_text()
    assert (out / "history.jsonl").stat().st_size > 0                # what was measured is kept
    assert leftovers(engine, out) == {}
