"""One real stack per test module (Toxiproxy, platform, merchant), always taken down."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from fakes.common.sellers import Seller
from harness.stack.local import LINKS, LocalStack

from .kit import local_stack


@dataclass
class StackFixture:
    stack: LocalStack
    sellers: list[Seller]


@pytest.fixture(scope="module")
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFixture]:
    label = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    base = tmp_path_factory.mktemp(f"stack-{label}")
    with local_stack(base, label) as (stack, sellers):
        yield StackFixture(stack, sellers)


@pytest.fixture
def healed(live: StackFixture) -> Iterator[StackFixture]:
    """The module's stack, healed after the test so a failed test cannot poison the next."""
    try:
        yield live
    finally:
        problems = live.stack.heal()
        assert not problems, problems
        for link in LINKS:
            assert live.stack.toxiproxy.toxics(link) == []
