"""Fuzz the running reference merchant from its own OpenAPI spec: malformed requests get a
4xx with a message, never a 5xx, and the process survives."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from merchant_stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_schemathesis_finds_no_server_error_in_the_merchant(stack: Stack, tmp_path: Path) -> None:
    stack.start_platform()
    merchant = stack.start_merchant()
    spec = httpx.get(f"{merchant.url}/openapi.json", timeout=5)
    assert spec.status_code == 200 and "/v1/invoices" in spec.json()["paths"]
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{merchant.url}/openapi.json",
           "--checks", "not_a_server_error", "--max-examples", "8", "--seed", "7",
           "--max-time", "30", "--phases", "examples,fuzzing", "--generation-deterministic",
           "--request-timeout", "10", "--exclude-path-regex", "^/_admin",
           "--report-dir", str(tmp_path / "st")]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=150)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert merchant.popen.poll() is None, "the merchant crashed during fuzzing"
    assert httpx.get(f"{merchant.url}/healthz", timeout=5).status_code == 200
