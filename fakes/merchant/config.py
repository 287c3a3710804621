"""Merchant configuration: the environment of design.md s.6 plus the bundled merchant's own
knobs (docs/internals.md), with command-line flags that override the environment."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .modes import MODES
from .platforms import PLATFORMS

__all__ = ["MerchantConfig", "DEDUP_MODES", "PROFILES", "parse_config"]

DEDUP_MODES = ("request_id", "invoice_number", "none")
PROFILES = tuple(PLATFORMS)


@dataclass(frozen=True, slots=True)
class MerchantConfig:
    port: int
    platform_url: str
    sellers_file: Path
    data_dir: Path
    mode: str = "robust"
    dedup: str = "request_id"
    platform_timeout_s: float = 2.0
    # How long a customer's POST may wait for the platform before answering 202 pending.
    sync_budget_s: float = 2.5
    # `none` dedup: how long after an unknown outcome before the read replica is trusted.
    settle_s: float = 3.0
    settler_interval_s: float = 0.3
    # ack-before-commit: how often the lazily kept orders reach SQLite.
    lazy_flush_s: float = 3.0
    # stale-status-cache: TTL of each instance's status cache.
    cache_ttl_s: float = 25.0
    sqlite_sync: str = "NORMAL"
    # direct profile (design.md s.12): ranges, batched uploads, polling
    profile: str = "clearance"
    upload_batch: int = 100              # invoices per upload (the platform's maximum)
    upload_wait_s: float = 0.5           # how long the outbox gathers before a smaller batch
    upload_poll_s: float = 0.5           # how often a sent upload is polled
    upload_stuck_s: float = 8.0          # no result within this -> upload the invoices again
    range_size: int = 1000               # numbers per range call
    range_low: int = 300                 # fetch the next range when fewer remain
    upload_deadline_s: float = 172800.0  # the platform's deadline (PLATFORM_UPLOAD_DEADLINE_S)
    # Bind address: 127.0.0.1 (the harness's network rule); 0.0.0.0 only inside a container.
    host: str = "127.0.0.1"
    # wallclock-deadline: how long after the order (by the wall clock) its upload is given up.
    order_deadline_s: float = 60.0
    # nuonuo profile (design.md s.13): how often a submitted order's result is asked for
    poll_s: float = 0.3
    # stop-polling: how many result queries before it gives up
    stop_polling_after: int = 5
    # where a platform reaches this merchant's POST /callback (wait-for-callback); default
    # http://127.0.0.1:PORT, the harness names its taxplatform->merchant link here
    callback_url: str = ""


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{key}={raw!r} must not be negative")
    return value


def parse_config(argv: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None) -> MerchantConfig:
    """Flags override the environment; ValueError says which setting is missing or wrong."""
    env = os.environ if env is None else env
    p = argparse.ArgumentParser(prog="python -m fakes.merchant",
                                description="The reference merchant of invoice-chaos (design.md s.6).")
    p.add_argument("--port", type=int, help="listen on HOST:PORT (env PORT)")
    p.add_argument("--host", help="bind address (env HOST; default 127.0.0.1; 0.0.0.0 only inside a container)")
    p.add_argument("--platform-url", help="tax platform base URL (env TAX_PLATFORM_URL)")
    p.add_argument("--sellers", help="SELLERS_FILE")
    p.add_argument("--data", help="DATA_DIR (holds merchant.sqlite3)")
    p.add_argument("--mode", help=f"MERCHANT_MODE: {', '.join(MODES)}")
    p.add_argument("--dedup", choices=DEDUP_MODES, help="PLATFORM_DEDUP")
    p.add_argument("--platform-timeout", type=float, help="PLATFORM_TIMEOUT_S")
    p.add_argument("--profile", choices=PROFILES, help=f"PLATFORM_PROFILE: {', '.join(PROFILES)}")
    args = p.parse_args(argv)

    port = args.port if args.port is not None else env.get("PORT")
    if port in (None, ""):
        raise ValueError("no port: set PORT or pass --port")
    try:
        port = int(port)
    except ValueError:
        raise ValueError(f"PORT={port!r} is not a number") from None
    url = args.platform_url or env.get("TAX_PLATFORM_URL")
    if not url:
        raise ValueError("no platform: set TAX_PLATFORM_URL or pass --platform-url")
    sellers = args.sellers or env.get("SELLERS_FILE")
    if not sellers:
        raise ValueError("no sellers: set SELLERS_FILE or pass --sellers")
    data = args.data or env.get("DATA_DIR")
    if not data:
        raise ValueError("no data directory: set DATA_DIR or pass --data")
    mode = args.mode or env.get("MERCHANT_MODE") or "robust"
    if mode not in MODES:
        raise ValueError(f"unknown MERCHANT_MODE {mode!r}; known: {', '.join(MODES)}")
    dedup = args.dedup or env.get("PLATFORM_DEDUP") or "request_id"
    if dedup not in DEDUP_MODES:
        raise ValueError(f"unknown PLATFORM_DEDUP {dedup!r}; known: {', '.join(DEDUP_MODES)}")
    profile = args.profile or env.get("PLATFORM_PROFILE") or "clearance"
    if profile not in PROFILES:
        raise ValueError(f"unknown PLATFORM_PROFILE {profile!r}; known: {', '.join(PROFILES)}")
    deadline = _float(env, "PLATFORM_UPLOAD_DEADLINE_S", 172800.0)
    timeout = (args.platform_timeout if args.platform_timeout is not None
               else _float(env, "PLATFORM_TIMEOUT_S", 2.0))
    return MerchantConfig(
        port=port, platform_url=url.rstrip("/"), sellers_file=Path(sellers), data_dir=Path(data),
        mode=mode, dedup=dedup, platform_timeout_s=timeout,
        sync_budget_s=_float(env, "MERCHANT_SYNC_BUDGET_S", max(2.5, timeout * 1.25)),
        settle_s=_float(env, "PLATFORM_SETTLE_S", 3.0),
        settler_interval_s=_float(env, "MERCHANT_SETTLER_INTERVAL_S", 0.3),
        lazy_flush_s=_float(env, "MERCHANT_LAZY_FLUSH_S", 3.0),
        cache_ttl_s=_float(env, "MERCHANT_CACHE_TTL_S", 25.0),
        sqlite_sync=env.get("MERCHANT_SQLITE_SYNC") or "NORMAL",
        profile=profile,
        upload_batch=max(1, min(100, int(_float(env, "MERCHANT_UPLOAD_BATCH", 100)))),
        upload_wait_s=_float(env, "MERCHANT_UPLOAD_WAIT_S", 0.5),
        upload_poll_s=_float(env, "MERCHANT_UPLOAD_POLL_S", 0.5),
        # a stuck upload is re-sent well inside the platform's deadline
        upload_stuck_s=_float(env, "MERCHANT_UPLOAD_STUCK_S", min(8.0, deadline / 4)),
        range_size=max(1, min(5000, int(_float(env, "MERCHANT_RANGE_SIZE", 1000)))),
        range_low=int(_float(env, "MERCHANT_RANGE_LOW", 300)),
        upload_deadline_s=deadline,
        host=args.host or env.get("HOST") or "127.0.0.1",
        order_deadline_s=_float(env, "MERCHANT_ORDER_DEADLINE_S", 60.0),
        poll_s=_float(env, "MERCHANT_POLL_S", 0.3),
        stop_polling_after=max(1, int(_float(env, "MERCHANT_STOP_POLLING_AFTER", 5))),
        callback_url=(env.get("MERCHANT_CALLBACK_URL") or "").rstrip("/"),
    )
