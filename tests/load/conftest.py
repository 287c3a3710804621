"""The load tests' sellers and the stdlib stand-in services (started through the root
fixture `started`, tests/conftest.py)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest

from fakes.common.sellers import generate_sellers, write_sellers
from support.processes import Proc, free_port

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "benchmarks" / "load_standin.py"


@pytest.fixture
def sellers_file(tmp_path) -> Path:
    p = tmp_path / "sellers.json"
    write_sellers(p, generate_sellers(6, 77))
    return p


def start_standins(started: Callable[..., Proc], delay_ms: float = 0,
                   pending_share: float = 0.2) -> tuple[str, str]:
    """The stdlib stand-in merchant and platform (the root fixture `started` runs them)."""
    pm, pp = free_port(), free_port()
    merchant = started("standin-merchant", [sys.executable, str(STANDIN), "--role", "merchant",
                                            "--port", str(pm), "--delay-ms", str(delay_ms),
                                            "--pending-share", str(pending_share)], pm, startup_s=20)
    platform = started("standin-platform", [sys.executable, str(STANDIN), "--role", "platform",
                                            "--port", str(pp)], pp, startup_s=20)
    return merchant.url, platform.url
