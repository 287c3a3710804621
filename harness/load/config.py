"""LoadConfig: everything the Locust processes need, as one JSON file.

The orchestrator builds it from the scenario and writes it to the run directory;
the Locust processes (which must never share a process with the orchestrator,
because Locust monkey-patches with gevent on import) read it back. So it has to
survive a JSON round trip unchanged, and it carries no objects, only data.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["MIX_KINDS", "LoadConfig"]

#: The customer journeys of the load model, in the order a `mix` lists them.
MIX_KINDS: tuple[str, ...] = ("checkout", "query", "refund", "verify")


@dataclass
class LoadConfig:
    """One run's load: where to send it, how much, what kind (docs/internals.md "Load")."""

    merchant_url: str                     # through Toxiproxy's client->merchant
    platform_url: str                     # through client->taxplatform (verify)
    sellers: list[dict[str, str]]         # {seller_tax_id, name, secret}
    seed: int
    duration_s: float
    curve: list[list[float]]              # [t_s, rel] in the curve's own time
    compress_s: float | None              # the curve's span played within duration_s
    peak_rps: float                       # arrivals/s at the curve's maximum
    mix: dict[str, float]                 # checkout/query/refund/verify weights
    workers: int = 1                      # local Locust worker processes
    remote_workers: int = 0               # processes expected from load machines (design.md s.10)
    t0: float = 0.0                       # epoch s of t=0; 0 = let run_load pick it
    history_dir: str = ""
    request_timeout_s: float = 5.0
    max_in_flight: int = 2000             # per worker process
    retry_unknown: int = 3
    poll_interval_s: float = 1.0
    poll_limit: int = 20
    # --- customer behaviour knobs (shares are probabilities per journey) ---
    double_submit_share: float = 0.02     # double tap: two concurrent POSTs, same order
    verify_after_issue_share: float = 0.2  # a shopper checks the number on the platform
    special_share: float = 0.1            # 专票 for a company buyer with a USCC
    seller_skew: float = 1.1              # Zipf exponent of orders per seller
    retry_backoff_s: float = 0.5          # first cashier retry waits this, then doubles
    max_lag_s: float = 1.0                # an arrival later than this is dropped (unsent)
    startup_s: float = 60.0               # when t0 == 0: run_load's longest wait for every
                                          # worker to be ready (t0 = ready + 0.5 s)
    record_history: bool = True           # False only to measure the history's cost (bench)
    platform_ca_pem: str = ""             # the run's CA (PEM text) when the platform is https
    client: dict[str, str] | None = None  # a client adapter (design.md s.14): {path, cls,
                                          # source}, the file's text travels with the config
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid LoadConfig: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason this config cannot drive a run (empty when it can)."""
        out: list[str] = []
        if self.duration_s <= 0:
            out.append(f"duration_s must be > 0, got {self.duration_s}")
        if self.peak_rps < 0:
            out.append(f"peak_rps must be >= 0, got {self.peak_rps}")
        if self.remote_workers < 0:
            out.append(f"remote_workers must be >= 0, got {self.remote_workers}")
        if self.workers < (0 if self.remote_workers > 0 else 1):
            out.append(f"workers must be >= 1 (or >= 0 with remote workers), got {self.workers}")
        if self.max_in_flight < 1:
            out.append(f"max_in_flight must be >= 1, got {self.max_in_flight}")
        if not self.curve:
            out.append("curve needs at least one [t_s, rel] point")
        if self.compress_s is not None and self.compress_s <= 0:
            out.append(f"compress_s must be > 0 or null, got {self.compress_s}")
        unknown = set(self.mix) - set(MIX_KINDS)
        if unknown:
            out.append(f"mix has unknown kinds {sorted(unknown)}; known: {', '.join(MIX_KINDS)}")
        if any(v < 0 for v in self.mix.values()) or sum(self.mix.values()) <= 0:
            out.append("mix weights must be >= 0 and not all 0")
        if not self.sellers:
            out.append("sellers must not be empty")
        return out

    @property
    def total_workers(self) -> int:
        """Every process that plays a share of the schedule, local and remote."""
        return self.workers + self.remote_workers

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "LoadConfig":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"LoadConfig: unknown fields {sorted(unknown)}")
        return cls(**data)

    def write(self, path: Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> "LoadConfig":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
