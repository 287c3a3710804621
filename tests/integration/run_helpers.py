"""Helpers for tests that run the real `invoice-chaos` command as a user would."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


def invoice_chaos(*args: str, timeout: float = 600, env: dict | None = None,
                  cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run `python -m harness ARGS` (the installed `invoice-chaos`) and capture its output."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line or environment mentions `text` (a run directory)."""
    found = []
    for p in psutil.process_iter(["cmdline", "pid"]):
        try:
            if p.pid == os.getpid():
                continue
            if text in " ".join(p.info["cmdline"] or []) or any(text in v for v in p.environ().values()):
                if p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found




def lingering(text: str, timeout: float = 10.0) -> list[psutil.Process]:
    """Processes mentioning `text` that are still there after up to `timeout` seconds (a
    process killed a moment ago may take a little while to go)."""
    import time
    deadline = time.monotonic() + timeout
    left = processes_mentioning(text)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = processes_mentioning(text)
    return left
