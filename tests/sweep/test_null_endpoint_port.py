"""The harness ceiling's do-nothing endpoint serves on a port bound before it starts: a port
another process holds cannot be handed to it, nor the stranger be taken for it."""
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from harness.stack import ports
from harness.sweep.ceiling import _stop, start_null_endpoint
from support.processes import stranger

pytestmark = pytest.mark.integration


def test_the_endpoint_gets_its_own_port_while_a_stranger_holds_the_picked_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with stranger() as taken:
        # a port picked free would be the stranger's
        monkeypatch.setattr(ports, "free_ports", lambda n, host=ports.LOOPBACK: [taken] * n)
        proc, url = start_null_endpoint(tmp_path / "null.log")
        try:
            assert url != f"http://127.0.0.1:{taken}"
            r = httpx.post(url + "/v1/invoices", json={}, timeout=5)
            assert r.status_code == 201 and json.loads(r.content)["status"] == "issued"
        finally:
            _stop(proc)


def test_answers_on_a_kept_alive_connection_do_not_wait_for_a_delayed_ack(
        tmp_path: Path) -> None:
    """The inherited socket is served as TCP with Nagle's algorithm off: answered one after
    another on one connection, not every request waits the 40 ms a delayed ACK would hold
    each answer (it did when the socket was adopted as a Unix one, and the ceiling
    measured against the endpoint fell five-fold)."""
    proc, url = start_null_endpoint(tmp_path / "null.log")
    try:
        with httpx.Client(base_url=url, timeout=5) as c:
            c.post("/v1/invoices", json={})
            took = []
            for _ in range(40):
                t = time.perf_counter()
                assert c.post("/v1/invoices", json={"order_id": "x"}).status_code == 201
                took.append(time.perf_counter() - t)
        # with Nagle on, every answer waits for the delayed ACK (40 ms at the least), so
        # even the fastest of forty would: a busy machine slows some, never all
        assert min(took) < 0.03, sorted(took)
    finally:
        _stop(proc)
