"""`invoice-chaos serve`: a person can run a fake by hand and log in at once."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.stack.ports import free_ports
from support.processes import ROOT

pytestmark = pytest.mark.integration


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "harness", "serve", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _healthy(url: str, proc: subprocess.Popen) -> None:
    for _ in range(100):
        assert proc.poll() is None, proc.stdout.read()
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy")


def test_serve_platform_then_merchant_by_hand(tmp_path: Path):
    p_port, m_port = free_ports(2)
    platform = _start("taxplatform", "--port", str(p_port), "--data", str(tmp_path / "p"))
    merchant = None
    try:
        base = f"http://127.0.0.1:{p_port}"
        _healthy(base, platform)
        first_lines = ""
        while "seller_tax_id" not in first_lines:
            first_lines += platform.stdout.readline()
        creds = json.loads(re.search(r"-d '(\{.*?\})'", first_lines).group(1))
        r = httpx.post(base + "/v1/auth/token", json=creds)
        assert r.status_code == 200 and r.json()["expires_in"] > 0
        merchant = _start("merchant", "--port", str(m_port), "--data", str(tmp_path / "m"),
                          "--sellers", str(tmp_path / "p" / "sellers.json"), "--platform-url", base)
        murl = f"http://127.0.0.1:{m_port}"
        _healthy(murl, merchant)
        order = {"order_id": "hand-1", "seller_tax_id": creds["seller_tax_id"], "buyer": {"name": "李四"},
                 "kind": "normal", "lines": [{"name": "咖啡", "quantity": "2", "unit_price": "18.00", "tax_rate": "0.06"}]}
        r = httpx.post(murl + "/v1/invoices", json=order, timeout=10)
        assert r.status_code == 201 and len(r.json()["invoice_no"]) == 20
        ledger = [json.loads(x) for x in httpx.get(base + "/_admin/ledger").text.splitlines()]
        assert [(x["order_ref"], x["amount"], x["tax"]) for x in ledger] == [("hand-1", "36.00", "2.16")]
    finally:
        for proc in (merchant, platform):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
