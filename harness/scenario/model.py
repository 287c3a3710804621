"""Scenario records: what a validated scenario file says, in seconds and Decimals."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["Loc", "LoadSpec", "SutSpec", "MerchantSpec", "PlatformSpec", "FaultSpec",
           "DrainSpec", "GateSpec", "Scenario"]


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value was written: for `file:line: message` errors."""
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class LoadSpec:
    curve: list[tuple[float, float]]          # (t in the curve's own seconds, relative load)
    curve_file: str | None                    # as written in the scenario, if a file
    compress_s: float | None
    peak_rps: float
    mix: dict[str, float]
    max_in_flight: int = 2000
    request_timeout_s: float = 5.0
    retry_unknown: int = 3
    poll_interval_s: float = 1.0
    poll_limit: int = 20


@dataclass(slots=True)
class SutSpec:
    command: str
    health: str = "/healthz"
    startup_timeout_s: float = 30.0


@dataclass(slots=True)
class MerchantSpec:
    mode: str = "robust"
    sellers: int = 10
    sut: SutSpec | None = None
    platform_timeout_s: float = 2.0
    client: str | None = None               # FILE.py:Class, FILE absolute (design.md s.14)
    client_loc: str | None = None           # `file:line` of merchant.client, for its errors


@dataclass(slots=True)
class PlatformSpec:
    replica_lag_s: float = 0.5
    quota_per_seller: Decimal | None = None
    dedup: str = "request_id"
    token_ttl_s: float = 600.0
    profile: str = "clearance"              # or direct (design.md s.12)
    upload_delay_s: float = 2.0             # direct: an upload stays `processing` this long
    upload_deadline_s: float = 172800.0     # direct: the oldest issued_at accepted (48 h)
    processing_delay_s: float = 1.0         # nuonuo, ksef: from the acknowledgement to the decision
    tls: bool = False                       # HTTPS with the run's CA (s.13; the profile's default)
    ksef_rate_limits: float = 1.0           # ksef: x the documented rate limits (0: none)
    ksef_time_scale: float = 1.0            # ksef: the limits' minute lasts 60/scale s


@dataclass(slots=True)
class FaultSpec:
    """One `faults:` entry as written (validated); the timeline expands random/repeat."""
    raw: dict[str, Any]
    loc: Loc
    index: int


@dataclass(slots=True)
class DrainSpec:
    timeout_s: float = 60.0


@dataclass(slots=True)
class GateSpec:
    name: str
    limit: float | None      # None: the gate is switched off
    loc: Loc | None = None


@dataclass(slots=True)
class Scenario:
    name: str
    description: str
    seed: int
    duration_s: float
    load: LoadSpec
    merchant: MerchantSpec
    platform: PlatformSpec
    faults: list[FaultSpec]
    drain: DrainSpec
    gates: list[GateSpec]
    path: Path
    text: str = field(repr=False, default="")
    explore: dict[str, Any] | None = None     # the `explore:` block, durations in seconds
