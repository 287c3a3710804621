"""A system with its own API as an image, driven through its client adapter on the docker
backend (design.md s.11 + s.14): examples/job_erp built the way a user builds it (no
network), `--sut-image` + `--client`, passes smoke."""
from __future__ import annotations

import os
from typing import Any

import pytest

from docker_kit import ROOT, finish, leftovers, start, summary, tail

pytestmark = pytest.mark.integration

IMAGE = f"invoice-chaos-test/job-erp:{os.getpid()}"


@pytest.fixture(scope="module")
def erp_image(engine: Any, images: list) -> Any:
    engine.images.build(path=str(ROOT / "examples" / "job_erp"), tag=IMAGE, rm=True,
                        network_mode="none", pull=False)
    yield IMAGE
    engine.images.remove(IMAGE, force=True)


def test_the_job_erp_image_passes_smoke_through_its_adapter(tmp_path, engine: Any, erp_image: str):
    out = tmp_path / f"erp-{os.getpid()}"      # the run id names the run's Docker network
    proc = finish(start("run", "scenarios/smoke.yaml", "--backend", "docker", "--sut-image", erp_image,
                        "--sut-port", "8080", "--client", "examples/job_erp/adapter.py:JobErp",
                        "--out", str(out)))
    assert proc.returncode == 0, tail(proc)
    s = summary(out)
    assert s["verdict"] == "pass" and s["merchant"]["sut_image"] == erp_image
    assert s["client"]["adapter"].endswith("examples/job_erp/adapter.py:JobErp")
    assert s["client"]["adapter_errors"] == 0 and s["client"]["unmapped"] == 0
    assert s["invoices"]["acknowledged"] > 100
    assert "job ERP on port 8080" in (out / "logs" / "merchant.log").read_text()
    assert leftovers(engine, out) == {}
