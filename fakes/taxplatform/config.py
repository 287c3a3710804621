"""Platform configuration (`--config JSON`, docs/internals.md) and the admin fault knobs."""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

from fakes.common.money import parse_decimal

from .errors import ApiError, invalid

__all__ = ["PlatformConfig", "Faults", "DEDUP_MODES", "parse_config"]

DEDUP_MODES = ("request_id", "invoice_number", "none")


@dataclass(slots=True)
class PlatformConfig:
    replica_lag_ms: int = 0
    dedup: str = "request_id"
    quota_per_seller: Decimal = Decimal("10000000.00")
    token_ttl_s: float = 600.0
    synchronous: str = "NORMAL"          # NORMAL survives kill -9 (WAL); FULL also power loss
    seed: int | None = None              # for the fault dice
    profile: str = "clearance"           # the front-end by name (frontends/; checked there)
    upload_delay_ms: int = 2000          # direct: how long an upload stays `processing`
    upload_deadline_s: float = 172800.0  # direct: the oldest issued_at accepted (48 h)
    processing_delay_ms: int = 1000      # nuonuo, ksef: from the acknowledgement (开票提交成功,
                                         # 202) to the decision
    ksef_rate_limits: float = 1.0        # ksef: x the documented limits (10 = TEST, 0 = off)
    ksef_time_scale: float = 1.0         # ksef: a limit's minute/hour lasts 60/scale s, ...

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["quota_per_seller"] = str(self.quota_per_seller)
        return d


def parse_config(text_or_path: str | None) -> PlatformConfig:
    """`--config` takes inline JSON or a path to a JSON file; ValueError says what is wrong."""
    if not text_or_path:
        return PlatformConfig()
    text = text_or_path
    if not text.lstrip().startswith("{"):
        text = Path(text).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("--config must be a JSON object")
    known = {f.name for f in fields(PlatformConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"--config: unknown key(s) {unknown}; known: {sorted(known)}")
    cfg = PlatformConfig()
    if "replica_lag_ms" in data:
        v = data["replica_lag_ms"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError("--config: replica_lag_ms must be an integer >= 0")
        cfg.replica_lag_ms = v
    if "dedup" in data:
        if data["dedup"] not in DEDUP_MODES:
            raise ValueError(f"--config: dedup must be one of {DEDUP_MODES}")
        cfg.dedup = data["dedup"]
    if data.get("quota_per_seller") is not None:
        q = parse_decimal(data["quota_per_seller"])
        if q < 0:
            raise ValueError("--config: quota_per_seller must be >= 0")
        cfg.quota_per_seller = q
    if "token_ttl_s" in data:
        v = data["token_ttl_s"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ValueError("--config: token_ttl_s must be a number > 0")
        cfg.token_ttl_s = float(v)
    if "synchronous" in data:
        if str(data["synchronous"]).upper() not in ("NORMAL", "FULL"):
            raise ValueError("--config: synchronous must be NORMAL or FULL")
        cfg.synchronous = str(data["synchronous"]).upper()
    if data.get("seed") is not None:
        cfg.seed = int(data["seed"])
    if "profile" in data:
        if not isinstance(data["profile"], str):
            raise ValueError("--config: profile must be a string (a front-end's name)")
        cfg.profile = data["profile"]
    if "upload_delay_ms" in data:
        v = data["upload_delay_ms"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError("--config: upload_delay_ms must be an integer >= 0")
        cfg.upload_delay_ms = v
    if "processing_delay_ms" in data:
        v = data["processing_delay_ms"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError("--config: processing_delay_ms must be an integer >= 0")
        cfg.processing_delay_ms = v
    if "upload_deadline_s" in data:
        v = data["upload_deadline_s"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ValueError("--config: upload_deadline_s must be a number > 0")
        cfg.upload_deadline_s = float(v)
    for key, low in (("ksef_rate_limits", 0.0), ("ksef_time_scale", None)):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                    (v < 0 if low is not None else v <= 0):
                raise ValueError(f"--config: {key} must be a number "
                                 f"{'>= 0' if low is not None else '> 0'}")
            setattr(cfg, key, float(v))
    return cfg


def _share(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise invalid(name, "must be a number between 0 and 1")
    return float(v)


def _nonneg(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise invalid(name, "must be a number >= 0")
    return float(v)


@dataclass(slots=True)
class Faults:
    """The `/_admin/faults` knobs (docs/internals.md); neutral values do nothing."""
    error_rate: float = 0.0
    error_status: int = 503
    error_after_commit: float = 0.5
    throttle_rate: float = 0.0
    retry_after_s: float = 1.0
    slow_commit_ms: float = 0.0
    replica_lag_ms: float | None = None
    quota_per_seller: Decimal | None = None
    ack_without_commit: float = 0.0
    upload_loss: float = 0.0             # direct: share of received uploads that never finish
    upload_stall: bool = False           # direct: no upload finishes while set
    processing_delay_ms: float | None = None   # nuonuo: slow processing (None: the config's)
    signing_failure: float = 0.0         # nuonuo: share of issued invoices that end status 24

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["quota_per_seller"] = None if self.quota_per_seller is None else str(self.quota_per_seller)
        return d

    def update(self, body: Any) -> bool:
        """Apply a partial update (all-or-nothing); returns whether tokens must be revoked."""
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_type", "body: must be a JSON object", field="body")
        allowed = {f.name for f in fields(Faults)} | {"revoke_tokens"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise invalid(unknown[0], f"unknown fault field; known: {sorted(allowed)}")
        new = Faults(**{f.name: getattr(self, f.name) for f in fields(Faults)})
        for key in ("error_rate", "error_after_commit", "throttle_rate", "ack_without_commit",
                    "upload_loss", "signing_failure"):
            if key in body:
                setattr(new, key, _share(body[key], key))
        if "error_status" in body:
            if body["error_status"] not in (500, 502, 503, 504):
                raise invalid("error_status", "must be 500, 502, 503 or 504")
            new.error_status = body["error_status"]
        for key in ("retry_after_s", "slow_commit_ms"):
            if key in body:
                setattr(new, key, _nonneg(body[key], key))
        if "replica_lag_ms" in body:
            new.replica_lag_ms = (None if body["replica_lag_ms"] is None
                                  else _nonneg(body["replica_lag_ms"], "replica_lag_ms"))
        if "processing_delay_ms" in body:
            new.processing_delay_ms = (None if body["processing_delay_ms"] is None
                                       else _nonneg(body["processing_delay_ms"],
                                                    "processing_delay_ms"))
        if "quota_per_seller" in body:
            q = body["quota_per_seller"]
            if q is None:
                new.quota_per_seller = None
            else:
                try:
                    new.quota_per_seller = parse_decimal(q)
                except ValueError as exc:
                    raise invalid("quota_per_seller", str(exc)) from None
                if new.quota_per_seller < 0:
                    raise invalid("quota_per_seller", "must be >= 0")
        if "upload_stall" in body:
            if not isinstance(body["upload_stall"], bool):
                raise invalid("upload_stall", "must be true or false")
            new.upload_stall = body["upload_stall"]
        revoke = body.get("revoke_tokens", False)
        if not isinstance(revoke, bool):
            raise invalid("revoke_tokens", "must be true or false")
        for f in fields(Faults):
            setattr(self, f.name, getattr(new, f.name))
        return revoke

    def reset(self) -> None:
        for f in fields(Faults):
            setattr(self, f.name, getattr(Faults(), f.name))


class Dice:
    """Seeded coin flips for the fault shares, so a seeded run injects the same pattern."""

    def __init__(self, seed: int | None) -> None:
        self._rng = random.Random(seed)

    def hit(self, share: float) -> bool:
        return share > 0 and (share >= 1 or self._rng.random() < share)
