"""Fuzz the running platform from its own OpenAPI spec: no 5xx, no crash without faults."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .procs import ROOT, stop

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_schemathesis_finds_no_server_error(platform_proc, tmp_path: Path) -> None:
    run = platform_proc
    token = run.token(0)
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{run.url}/openapi.json",
           "--checks", "not_a_server_error", "--max-examples", "12", "--seed", "99",
           "--max-time", "50", "--phases", "examples,fuzzing",
           "--generation-deterministic", "--workers", "2", "--request-timeout", "5",
           "--exclude-path-regex", "^/_admin/faults",     # switching faults on is not a bug
           "-H", f"Authorization: Bearer {token}", "--report-dir", str(tmp_path / "st")]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=150)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert "not_a_server_error" in out or "passed" in out.lower(), out[-3000:]
    assert run.proc.poll() is None, "the platform crashed during fuzzing"
    assert httpx.get(f"{run.url}/healthz", timeout=5).status_code == 200
    stats = httpx.get(f"{run.url}/_admin/stats", timeout=5).json()
    assert "commit_failed" not in stats["events"]
    stop(run.proc)
