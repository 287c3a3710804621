"""Fixtures of the report tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from report_runs import write_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "smoke-20261123T101500Z")
