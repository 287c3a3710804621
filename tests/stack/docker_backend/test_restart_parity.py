"""A user's system as an image survives its container's restarts under load as it does as a
command: examples/stdlib_merchant built with its Dockerfile, on two merchant kills at
40 arrivals/s (merchant_restarts_short.yaml), through --backend docker --sut-image and
through --sut-cmd on the local backend. The image passes, and its answered share outside
the fault windows is within 5 points of the command's, both measured here.

The two runs go one after the other, so neither takes the other's cores.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from docker_kit import HERE, ROOT, leftovers, run, summary, tail

pytestmark = pytest.mark.integration

IMAGE = f"invoice-chaos-test/stdlib-merchant-restarts:{os.getpid()}"
SCENARIO = str(HERE / "merchant_restarts_short.yaml")


@pytest.fixture(scope="module")
def image(engine: Any, images: list) -> Any:
    engine.images.build(path=str(ROOT / "examples" / "stdlib_merchant"), tag=IMAGE, rm=True,
                        network_mode="none", pull=False)
    yield IMAGE
    engine.images.remove(IMAGE, force=True)


def test_an_image_recovers_from_its_restarts_like_the_same_system_as_a_command(engine, image, tmp_path: Path):
    as_image = tmp_path / f"restarts-image-{os.getpid()}"
    as_command = tmp_path / f"restarts-command-{os.getpid()}"
    img = run("run", SCENARIO, "--backend", "docker", "--sut-image", image, "--sut-port", "8080",
              "--out", str(as_image))
    cmd = run("run", SCENARIO, "--sut-cmd", "python examples/stdlib_merchant/server.py", "--out", str(as_command))
    s_img, s_cmd = summary(as_image), summary(as_command)
    kills = [f for f in s_img["faults"] if f["kind"] == "kill"]
    assert len(kills) == 2 and all(f["ok"] for f in kills), kills
    assert img.returncode == 0 and s_img["verdict"] == "pass", tail(img)
    share_img, share_cmd = s_img["recovery"]["answered_share"], s_cmd["recovery"]["answered_share"]
    assert abs(share_img - share_cmd) <= 0.05, (share_img, share_cmd, tail(cmd))
    # the path itself carried the customers: no stretch was left out as the harness's
    assert s_img["harness_path"]["stretches"] == []
    assert s_img["recovery"]["recovery_s"] is not None and s_img["recovery"]["recovery_s"] <= 10
    assert leftovers(engine, as_image) == {}
