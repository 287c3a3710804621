"""A real `ksef` platform process for the tests of this directory."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from taxplatform.procs import Running, start_platform, stop

from fakes.common.sellers import generate_pl_sellers, write_sellers


@pytest.fixture
def ksef_platform(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start the platform with `--profile ksef` (config keys as keyword arguments)."""
    runs: list[Running] = []

    def start(**config: object) -> Running:
        d = tmp_path / f"ksef{len(runs)}"
        d.mkdir()
        sellers = generate_pl_sellers(2, 29)
        write_sellers(d / "sellers.json", sellers)
        run = start_platform(d / "data", d / "sellers.json", sellers,
                             {"profile": "ksef", **config})
        runs.append(run)
        return run

    yield start
    for run in runs:
        stop(run.proc)
