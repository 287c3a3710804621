"""A real LocalStack (Toxiproxy, the platform, the bundled merchant) for tests, always taken
down: the stack `invoice-chaos run` starts, without the load."""
from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Iterator

from fakes.common.sellers import Seller, generate_sellers, write_sellers
from harness.stack.local import LocalStack, StackConfig

__all__ = ["PLATFORM_CONFIG", "local_stack"]

PLATFORM_CONFIG = {"replica_lag_ms": 200, "dedup": "request_id", "token_ttl_s": 600,
                   "quota_per_seller": "10000000.00"}


@contextlib.contextmanager
def local_stack(base: Path, label: str, *, n_sellers: int = 2,
                merchant_env: dict[str, str] | None = None) -> Iterator[tuple[LocalStack, list[Seller]]]:
    """A real LocalStack (Toxiproxy, platform, merchant); always taken down."""
    sellers = generate_sellers(n_sellers, seed=11)
    sellers_file = base / "sellers.json"
    write_sellers(sellers_file, sellers)
    run_id = f"faulttest-{label}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    stack = LocalStack(StackConfig(run_id=run_id, run_dir=base, sellers_file=sellers_file,
                                   platform_config=dict(PLATFORM_CONFIG),
                                   merchant_env={"PLATFORM_TIMEOUT_S": "1.0", **(merchant_env or {})}),
                       say=lambda s: None)
    try:
        stack.up()
        yield stack, sellers
    finally:
        stack.down()
