"""The `stack` fixture: a real platform and merchant per test, killed afterwards."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from fakes.common.sellers import generate_sellers, write_sellers
from merchant_stack import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    sellers = generate_sellers(2, seed=5)
    sellers_file = tmp_path / "sellers.json"
    write_sellers(sellers_file, sellers)
    st = Stack(tmp_path, list(sellers), sellers_file)  # type: ignore[arg-type]
    try:
        yield st
    finally:
        for p in reversed(st.procs):
            p.kill()
