"""Callbacks travel through the `taxplatform->merchant` Toxiproxy link (design.md s.13): with
the link up the merchant gets the decided result; with the link cut (a reset, or the proxy
down) the callback is lost for good while the invoice itself is issued."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.common.sellers import generate_sellers, write_sellers
from harness.links import PLATFORM_MERCHANT
from harness.stack.toxiproxy_api import ToxiproxyClient, find_toxiproxy_server

from .nuonuo_client import NN
from .procs import free_port, start_platform, stop

pytestmark = pytest.mark.integration


class _Sink(BaseHTTPRequestHandler):
    got: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        n = int(self.headers.get("content-length", "0"))
        _Sink.got.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a: Any) -> None:
        pass


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator[ToxiproxyClient]:
    port = free_port()
    with open(tmp_path / "toxiproxy.log", "wb") as log:
        proc = subprocess.Popen([find_toxiproxy_server(), "-host", "127.0.0.1", "-port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = ToxiproxyClient(port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.version()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield client
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _arrived(serial: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(g["serialNo"] == serial for g in _Sink.got):
            return True
        time.sleep(0.05)
    return False


def test_callbacks_go_through_the_link_and_are_lost_when_it_fails(
        tmp_path: Path, toxiproxy: ToxiproxyClient) -> None:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    sellers = generate_sellers(1, seed=3)
    write_sellers(tmp_path / "sellers.json", sellers)
    run = start_platform(tmp_path / "data", tmp_path / "sellers.json", sellers,
                         config={"profile": "nuonuo", "processing_delay_ms": 200})
    link_port = free_port()
    toxiproxy.create_proxy(PLATFORM_MERCHANT, link_port, sink.server_address[1])
    url = f"http://127.0.0.1:{link_port}/callback"
    try:
        nn = NN(run.url, sellers[0])
        nn.get_token()
        ok = nn.issue("CB-1", callBackUrl=url).json()["result"]["invoiceSerialNum"]
        assert _arrived(ok, 10), "the callback never came through the link"

        toxiproxy.add_toxic(PLATFORM_MERCHANT, name="cut", type="reset_peer", stream="upstream",
                            toxicity=1.0, attributes={"timeout": 0})
        reset = nn.issue("CB-2", callBackUrl=url).json()["result"]["invoiceSerialNum"]
        assert nn.wait_status(reset)["status"] == "2"          # issued all the same
        toxiproxy.remove_toxic(PLATFORM_MERCHANT, "cut")
        toxiproxy.set_enabled(PLATFORM_MERCHANT, False)
        down = nn.issue("CB-3", callBackUrl=url).json()["result"]["invoiceSerialNum"]
        assert nn.wait_status(down)["status"] == "2"
        toxiproxy.set_enabled(PLATFORM_MERCHANT, True)
        time.sleep(1.0)                                        # no retry ever brings them
        assert not _arrived(reset, 0.1) and not _arrived(down, 0.1)
        events = httpx.get(f"{run.url}/_admin/stats").json()["nuonuo"]["events"]
        assert events.get("callbacks_failed", 0) >= 2 and events.get("callbacks_sent", 0) >= 1
    finally:
        stop(run.proc)
        sink.shutdown()
        sink.server_close()
