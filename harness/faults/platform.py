"""Platform faults: the fake tax platform's application-level knobs (POST /_admin/faults).

Each kind sets a few admin fields while its window lasts and puts them back to neutral
after (docs/internals.md lists the fields). Only the bundled platform has these knobs.
"""
from __future__ import annotations

from typing import Any

from .registry import Attr, FaultKind, register

__all__ = ["PlatformKind"]


class PlatformKind(FaultKind):
    family = "platform"
    #: admin field -> neutral value, restored by undo
    neutral: dict[str, Any] = {}

    @classmethod
    def fields(cls, params: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, ctx: Any, fault: Any) -> dict:
        fields = cls.fields(fault.params)
        ctx.platform_admin.set_faults(fields)
        return {"admin": fields}

    @classmethod
    def undo(cls, ctx: Any, fault: Any) -> None:
        if cls.neutral:
            ctx.platform_admin.set_faults(dict(cls.neutral))


@register
class Errors(PlatformKind):
    kind = "errors"
    doc = "answer a share of write calls with a 5xx; `after_commit` of them after the invoice was stored"
    attrs = {"rate": Attr("float", 1.0, "share of calls, 0..1", lo=0.0, hi=1.0),
             "status": Attr("choice", 503, "HTTP status", choices=(500, 502, 503)),
             "after_commit": Attr("float", 0.5, "share of errors after the commit, 0..1", lo=0.0, hi=1.0)}
    neutral = {"error_rate": 0.0, "error_status": 503, "error_after_commit": 0.5}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"error_rate": p["rate"], "error_status": p["status"],
                "error_after_commit": p["after_commit"]}


@register
class Throttle(PlatformKind):
    kind = "throttle"
    doc = "answer a share of calls 429 with Retry-After"
    attrs = {"rate": Attr("float", 1.0, "share of calls, 0..1", lo=0.0, hi=1.0),
             "retry_after": Attr("duration", 1.0, "the Retry-After value", lo=0.0)}
    neutral = {"throttle_rate": 0.0, "retry_after_s": 1}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"throttle_rate": p["rate"], "retry_after_s": max(1, round(p["retry_after"]))}


@register
class SlowCommit(PlatformKind):
    kind = "slow_commit"
    doc = "delay every write inside its transaction by `delay`"
    attrs = {"delay": Attr("duration", 2.0, "delay inside the write transaction", lo=0.0)}
    neutral = {"slow_commit_ms": 0}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"slow_commit_ms": round(p["delay"] * 1000)}


@register
class ReplicaLag(PlatformKind):
    kind = "replica_lag"
    doc = "the read replica trails the primary by `lag` (未找到相关记录 meanwhile)"
    attrs = {"lag": Attr("duration", 10.0, "replica lag", lo=0.0)}
    neutral = {"replica_lag_ms": None}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"replica_lag_ms": round(p["lag"] * 1000)}


@register
class Quota(PlatformKind):
    kind = "quota"
    doc = "cut every seller's monthly quota to `limit` (amount excluding VAT)"
    attrs = {"limit": Attr("decimal", "0.00", "the monthly quota per seller")}
    neutral = {"quota_per_seller": None}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"quota_per_seller": p["limit"]}


@register
class RevokeTokens(PlatformKind):
    kind = "revoke_tokens"
    doc = "revoke every login token now: merchants must log in again"
    needs_duration = False
    attrs: dict = {}
    neutral: dict = {}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"revoke_tokens": True}


@register
class AckWithoutCommit(PlatformKind):
    kind = "ack_without_commit"
    doc = "the platform's own storage defect: answer 201 but lose a share of the writes"
    attrs = {"rate": Attr("float", 0.1, "share of issue calls, 0..1", lo=0.0, hi=1.0)}
    neutral = {"ack_without_commit": 0.0}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"ack_without_commit": p["rate"]}


@register
class UploadLoss(PlatformKind):
    kind = "upload_loss"
    doc = ("direct profile: a share of the uploads received in the window never finish "
           "(status stays processing, nothing reaches the ledger: uploaded, never received)")
    attrs = {"rate": Attr("float", 1.0, "share of received uploads, 0..1", lo=0.0, hi=1.0)}
    neutral = {"upload_loss": 0.0}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"upload_loss": p["rate"]}


@register
class UploadStall(PlatformKind):
    kind = "upload_stall"
    doc = "direct profile: no upload finishes during the window; they all finish after it"
    attrs: dict = {}
    neutral = {"upload_stall": False}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"upload_stall": True}


@register
class SlowProcessing(PlatformKind):
    kind = "slow_processing"
    doc = ("nuonuo and ksef profiles: orders submitted in the window are decided `delay` after "
           "their submission instead of the configured processing delay (status 20 / 150 "
           "meanwhile)")
    attrs = {"delay": Attr("duration", 10.0, "from 开票提交成功 to the decision", lo=0.0)}
    neutral = {"processing_delay_ms": None}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"processing_delay_ms": round(p["delay"] * 1000)}


@register
class SigningFailure(PlatformKind):
    kind = "signing_failure"
    doc = ("nuonuo profile: a share of the invoices decided in the window end with status 24 "
           "(issued, signing failed: the invoice exists)")
    attrs = {"rate": Attr("float", 1.0, "share of issued invoices, 0..1", lo=0.0, hi=1.0)}
    neutral = {"signing_failure": 0.0}

    @classmethod
    def fields(cls, p: dict[str, Any]) -> dict[str, Any]:
        return {"signing_failure": p["rate"]}
