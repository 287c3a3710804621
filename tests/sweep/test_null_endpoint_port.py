"""The harness ceiling's do-nothing endpoint serves on a port bound before it starts: a port
another process holds cannot be handed to it, nor the stranger be taken for it."""
from __future__ import annotations

import json
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
