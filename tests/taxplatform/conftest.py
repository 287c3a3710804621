"""Fixtures of the platform's tests."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.common.sellers import Seller, generate_sellers, write_sellers

from .procs import Running, start_platform, stop


@pytest.fixture
def sellers_file(tmp_path: Path) -> tuple[Path, list[Seller]]:
    sellers = generate_sellers(4, seed=42)
    path = tmp_path / "sellers.json"
    write_sellers(path, sellers)
    return path, sellers


@pytest.fixture
def platform_proc(tmp_path: Path, sellers_file) -> Iterator[Running]:
    path, sellers = sellers_file
    run = start_platform(tmp_path / "data", path, sellers)
    try:
        yield run
    finally:
        stop(run.proc)
