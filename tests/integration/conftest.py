"""Fixtures for the end-to-end tests (helpers live in run_helpers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tiny_scenario(tmp_path: Path):
    """Write a short scenario into tmp_path and return its path."""
    def make(extra: str = "", duration: str = "8s", rps: int = 4, name: str = "tiny") -> Path:
        text = (f"name: {name}\nseed: 5\nduration: {duration}\n"
                f"load:\n  points: [[0s, 1.0], [{duration}, 1.0]]\n  peak_rps: {rps}\n"
                f"  mix: {{checkout: 100}}\nmerchant:\n  sellers: 3\ndrain: {{timeout: 15s}}\n{extra}")
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return path
    return make
