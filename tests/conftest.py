"""Fixtures every test folder may use (what tests share beyond fixtures: tests/support/)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from support.processes import Proc


@pytest.fixture
def tiny_scenario(tmp_path: Path) -> Callable[..., Path]:
    """Write a short scenario into tmp_path and return its path."""
    def make(extra: str = "", duration: str = "8s", rps: int = 4, name: str = "tiny") -> Path:
        text = (f"name: {name}\nseed: 5\nduration: {duration}\n"
                f"load:\n  points: [[0s, 1.0], [{duration}, 1.0]]\n  peak_rps: {rps}\n"
                f"  mix: {{checkout: 100}}\nmerchant:\n  sellers: 3\ndrain: {{timeout: 15s}}\n{extra}")
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return path
    return make


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Start real processes (`support.processes.Proc`) that are killed, group and all, when
    the test ends: `started(name, cmd, port, env=..., health="/healthz")`."""
    procs: list[Proc] = []

    def start(name: str, cmd: list[str], port: int, env: dict[str, str] | None = None,
              health: str | None = "/healthz", startup_s: float = 15.0) -> Proc:
        import os
        p = Proc(name, cmd, {**os.environ, **(env or {})}, port, tmp_path / f"{name}.log",
                 health=health, startup_s=startup_s)
        procs.append(p)
        return p.start()

    try:
        yield start
    finally:
        for p in reversed(procs):
            p.kill()
