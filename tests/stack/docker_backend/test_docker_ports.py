"""The docker backend publishes its ports at ports picked before the start (so a container
restarted, or taken off the network and put back, keeps them). When another process takes
one between the pick and the engine's bind, the engine refuses to start the container and
the stack starts again on new ports. With the platform on HTTPS, so the run's CA follows
the platform's origins to the new ports."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.common.sellers import generate_sellers, write_sellers
from harness.stack.docker import stack as docker_stack
from harness.stack.docker.stack import DockerStack, resources_of_run
from harness.stack.local import StackConfig
from harness.stack.tls import client_context
from support.processes import FirstPickTaken
from support.stacks import PLATFORM_CONFIG

pytestmark = pytest.mark.integration


def test_a_port_taken_before_the_engine_binds_it_starts_the_stack_again(
        tmp_path: Path, engine: Any, images: list, monkeypatch: pytest.MonkeyPatch) -> None:
    sellers_file = tmp_path / "sellers.json"
    write_sellers(sellers_file, generate_sellers(2, seed=11))
    run_id = f"porttest-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    cfg = StackConfig(run_id=run_id, run_dir=tmp_path, sellers_file=sellers_file,
                      platform_config=dict(PLATFORM_CONFIG), platform_tls=True)
    # the first pick: another process takes the platform's port
    pick = FirstPickTaken(docker_stack.free_ports, index=1)
    monkeypatch.setattr(docker_stack, "free_ports", pick)
    said: list[str] = []
    stack = DockerStack(cfg, engine, say=said.append)
    try:
        stack.up()
        picks = pick.picks
        assert len(picks) == 2 and stack.ports["taxplatform"] == picks[1][1] != picks[0][1]
        assert any("starting again on new ports" in s for s in said), said
        assert stack.tls is not None
        r = httpx.get(stack.platform_direct + "/healthz",
                      verify=client_context(stack.tls.ca_pem), timeout=10)
        assert r.status_code == 200
        stack.probe_merchant()              # the merchant of the second start answers
    finally:
        stack.down()
        pick.close()
    assert not any(resources_of_run(engine, run_id).values())
