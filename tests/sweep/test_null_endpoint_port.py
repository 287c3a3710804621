"""The harness ceiling's do-nothing endpoint serves on a port bound before it starts: a port
another process holds cannot be handed to it, nor the stranger be taken for it."""
from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import httpx
import pytest

from harness.stack import ports
from harness.sweep.ceiling import _stop, start_null_endpoint

pytestmark = pytest.mark.integration


class _Stranger(http.server.BaseHTTPRequestHandler):
    """Another process's server: answers everything, but not as the endpoint does."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


def test_the_endpoint_gets_its_own_port_while_a_stranger_holds_the_picked_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stranger = http.server.ThreadingHTTPServer((ports.LOOPBACK, 0), _Stranger)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    try:
        taken = stranger.server_address[1]
        # a port picked free would be the stranger's
        monkeypatch.setattr(ports, "free_ports", lambda n, host=ports.LOOPBACK: [taken] * n)
        proc, url = start_null_endpoint(tmp_path / "null.log")
        try:
            assert url != f"http://127.0.0.1:{taken}"
            r = httpx.post(url + "/v1/invoices", json={}, timeout=5)
            assert r.status_code == 201 and json.loads(r.content)["status"] == "issued"
        finally:
            _stop(proc)
    finally:
        stranger.shutdown()
        stranger.server_close()
