"""A service whose port another process holds must not pass for healthy.

Ports are chosen free and handed to a service a moment later; if another process binds the
port in between, the service fails to bind and exits while the stranger answers 200 on the
health path. The stack must notice that its own child is gone (exit 3), not run against the
stranger.
"""
from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from harness.errors import HealthTimeout
from harness.stack.process import Service, ServiceSpec

pytestmark = pytest.mark.integration


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_a_stranger_on_the_port_is_not_taken_for_the_service(tmp_path: Path) -> None:
    stranger = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    try:
        port = stranger.server_address[1]
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
    finally:
        stranger.shutdown()
