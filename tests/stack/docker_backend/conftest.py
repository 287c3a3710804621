"""The docker backend's tests share one engine and one build of the images per session.

Where no engine can be reached the tests are skipped, with the reason; CI (.ci/run) starts
an engine, so there they run. The first build of the images on a machine that has none
takes a few minutes (docs/performance.md); later sessions find them cached in about a second.
"""
from __future__ import annotations

import time
from typing import Any

import pytest

from harness.stack.docker.engine import EngineUnavailable, connect
from harness.stack.docker.images import Built, ensure_images


@pytest.fixture(scope="session")
def engine() -> Any:
    try:
        return connect(timeout_s=300)
    except EngineUnavailable as e:
        pytest.skip(f"no Docker engine can be reached, so the docker backend cannot be tested: {e}")


@pytest.fixture(scope="session")
def images(engine: Any) -> list[Built]:
    """The three images, built once for the session (or found cached)."""
    t0 = time.monotonic()
    built = ensure_images(engine, say=lambda s: print(s, flush=True))
    print(f"docker images ready in {time.monotonic() - t0:.1f}s: "
          + ", ".join(f"{b.image} {'built' if b.built else 'cached'} {b.seconds:.1f}s" for b in built))
    return built
