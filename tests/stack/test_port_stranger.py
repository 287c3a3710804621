"""A service whose port another process holds must not pass for healthy.

Ports are chosen free and handed to a service a moment later; if another process binds the
port in between, the service fails to bind and exits while the stranger answers 200 on the
health path. The stack must notice that its own child is gone (exit 3), not run against the
stranger.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HealthTimeout
from harness.stack.process import Service, ServiceSpec
from support.processes import stranger

pytestmark = pytest.mark.integration


def test_a_stranger_on_the_port_is_not_taken_for_the_service(tmp_path: Path) -> None:
    with stranger() as port:
        # what a service does when its port is taken: it says so and exits soon after
        spec = ServiceSpec("merchant", "echo 'address already in use' >&2; sleep 0.05; exit 1",
                           port, startup_timeout_s=10)
        svc = Service(spec, tmp_path)
        svc.start()
        try:
            with pytest.raises(HealthTimeout, match="another process holds that port"):
                svc.wait_healthy()
        finally:
            svc.kill()
