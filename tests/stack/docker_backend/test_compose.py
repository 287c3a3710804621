"""docker-compose.yml: `docker-compose config` validates it (same images as a run, ports on
127.0.0.1 only), and `up -d` gives a stack that issues one invoice through the merchant, which
`down -v` removes completely."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

import httpx
import pytest
import yaml

from docker_kit import ROOT
from harness.stack.docker.images import APP_IMAGE, TOXIPROXY_IMAGE
from harness.stack.ports import free_ports

pytestmark = pytest.mark.integration

PROJECT = f"ic-compose-test-{os.getpid()}"


def _compose(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose)")
    return subprocess.run([exe, "-p", PROJECT, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_compose_config_validates_with_the_run_images_and_loopback_ports():
    proc = _compose("config")
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout)
    services = cfg["services"]
    assert set(services) == {"toxiproxy", "taxplatform", "merchant"}
    assert services["toxiproxy"]["image"] == TOXIPROXY_IMAGE
    assert services["taxplatform"]["image"] == services["merchant"]["image"] == APP_IMAGE
    published = [p for s in services.values() for p in s.get("ports", [])]
    assert len(published) == 3
    assert all(str(p).startswith("127.0.0.1:") or (isinstance(p, dict) and p.get("host_ip") == "127.0.0.1")
               for p in published), published


def test_compose_up_issues_an_invoice_through_the_merchant_and_down_removes_it(engine: Any, images: list):
    merchant, platform, api = free_ports(3)
    env = {"IC_MERCHANT_PORT": str(merchant), "IC_PLATFORM_PORT": str(platform), "IC_TOXIPROXY_PORT": str(api)}
    sellers = yaml.safe_load((ROOT / "docker" / "compose-sellers.json").read_text())
    try:
        up = _compose("up", "-d", env=env)
        assert up.returncode == 0, up.stderr
        base = f"http://127.0.0.1:{merchant}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        order = {"order_id": f"compose-{os.getpid()}", "seller_tax_id": sellers[0]["seller_tax_id"],
                 "buyer": {"name": "张三"}, "kind": "normal",
                 "lines": [{"name": "茶叶", "quantity": "1", "unit_price": "100.00", "tax_rate": "0.13"}]}
        r = httpx.post(f"{base}/v1/invoices", json=order, timeout=15)
        assert r.status_code in (201, 202), r.text
        for _ in range(40):                                   # a 202 settles within seconds
            got = httpx.get(f"{base}/v1/invoices/{order['order_id']}", timeout=5).json()
            if got.get("status") == "issued":
                break
            time.sleep(0.5)
        assert got["status"] == "issued" and len(got["invoice_no"]) == 20, got
        # the platform (through client->taxplatform) holds that very invoice
        token = httpx.post(f"http://127.0.0.1:{platform}/v1/auth/token", timeout=5,
                           json={"seller_tax_id": sellers[0]["seller_tax_id"],
                                 "secret": sellers[0]["secret"]}).json()["token"]
        found = httpx.get(f"http://127.0.0.1:{platform}/v1/invoices/{got['invoice_no']}", timeout=5,
                          headers={"Authorization": f"Bearer {token}"})
        assert found.status_code == 200, found.text
    finally:
        down = _compose("down", "-v", env=env)
    assert down.returncode == 0, down.stderr
    label = {"label": f"com.docker.compose.project={PROJECT}"}
    assert engine.containers.list(all=True, filters=label) == []
    assert engine.networks.list(filters=label) == [] and engine.volumes.list(filters=label) == []
