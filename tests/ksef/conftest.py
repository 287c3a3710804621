"""A real `ksef` platform process for the tests of this directory (plain http, or https with
a run CA as a run serves it)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from taxplatform.procs import ROOT, Running, free_port, start_platform, stop

from fakes.common.sellers import generate_pl_sellers, write_sellers
from harness.stack.tls import RunTls, client_context, make_run_tls


@pytest.fixture
def ksef_platform(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start the platform with `--profile ksef` (config keys as keyword arguments)."""
    runs: list[Running] = []

    def start(**config: object) -> Running:
        d = tmp_path / f"ksef{len(runs)}"
        d.mkdir()
        sellers = generate_pl_sellers(2, 29)
        write_sellers(d / "sellers.json", sellers)
        run = start_platform(d / "data", d / "sellers.json", sellers,
                             {"profile": "ksef", **config})
        runs.append(run)
        return run

    yield start
    for run in runs:
        stop(run.proc)


@pytest.fixture
def ksef_https(tmp_path: Path) -> Iterator[tuple[Running, RunTls]]:
    """The platform with `--profile ksef` over HTTPS, its certificate signed by a run CA
    (harness/stack/tls.py), as `platform: {tls: true}` serves it."""
    tls = make_run_tls(tmp_path / "run")
    sellers = generate_pl_sellers(2, 31)
    write_sellers(tmp_path / "sellers.json", sellers)
    port = free_port()
    log = tmp_path / "platform.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "fakes.taxplatform", "--port", str(port), "--data",
             str(tmp_path / "data"), "--sellers", str(tmp_path / "sellers.json"),
             "--profile", "ksef", "--config", json.dumps({"processing_delay_ms": 50}),
             "--tls-cert", str(tls.cert_pem), "--tls-key", str(tls.key_pem)],
            cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    run = Running(f"https://127.0.0.1:{port}", proc, tmp_path / "data", sellers, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{run.url}/healthz", verify=client_context(tls.ca_pem),
                             timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the platform never answered over https"
            time.sleep(0.1)
        yield run, tls
    finally:
        stop(proc)
