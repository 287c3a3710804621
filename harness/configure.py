"""From a scenario and the run's options to what each stage is started with: the stack's
configuration (the platform's config, the merchant's environment, the SUT) and the load's.

The platform profile (design.md s.12) is the one thing that changes what the platform and
the merchant are started with, which scenario keys and platform faults are valid, how long
the read path may lag, and which extra files the run collects. Each profile is one
`PlatformProfile` here, so a new one is a class in this module plus its front-end in
fakes/taxplatform: the scenario parser, `run` and the verdict ask `profile_of(name)`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, cast

if TYPE_CHECKING:                     # the scenario package imports this module
    from fakes.common.sellers import Seller

    from .load.config import LoadConfig
    from .run import RunOptions
    from .scenario.model import PlatformSpec, Scenario
    from .stack import StackConfig

__all__ = ["PlatformProfile", "Clearance", "Direct", "Nuonuo", "Ksef", "PROFILES", "profile_of",
           "stack_config", "load_config"]

#: What the fake platform uses when the scenario sets no quota: none to speak of.
NO_QUOTA = "10000000.00"


class KeyReader(Protocol):
    """What a profile needs to read its own scenario keys (the parser's context)."""

    def duration(self, m: dict, key: str, path: tuple, default: float | None = None,
                 required: bool = False, positive: bool = True) -> float | None: ...

    def problem(self, path: tuple, message: str) -> None: ...


class PlatformProfile:
    """The clearance profile's behaviour, which every other profile starts from."""

    name = "clearance"
    summary = "the platform numbers each invoice, design.md s.5"      # for --help
    #: `platform:` keys only this profile reads (an error with another profile).
    keys: tuple[str, ...] = ()
    #: platform fault actions only this profile has (an error with another profile).
    actions: tuple[str, ...] = ()
    #: why `keys` and `actions` mean nothing elsewhere, for the scenario's error messages.
    keys_reason = ""
    actions_reason = ""
    #: whether the platform serves HTTPS unless the scenario says (`platform: {tls:}`, s.13);
    #: false for the s.5/s.12 profiles, whose behaviour stays as it was
    tls_default = False

    def read_keys(self, c: KeyReader, m: dict, path: tuple) -> dict[str, Any]:
        """Validate this profile's own `platform:` keys; the PlatformSpec fields they set."""
        return {}

    def platform_config(self, p: PlatformSpec) -> dict[str, Any]:
        """What this profile adds to the fake platform's `--config`."""
        return {}

    def merchant_env(self, p: PlatformSpec) -> dict[str, str]:
        """What this profile adds to the merchant's environment."""
        return {}

    def allowed_lag_s(self, p: PlatformSpec) -> float:
        """How long after an invoice's `issued_at` the platform's read path may still say
        not-found (the checker's stale-read allowance)."""
        return p.replica_lag_s

    def collect(self, platform_url: str, run_dir: Path) -> None:
        """After the drain, before the stack goes down: the files this profile's verdict
        reads besides the ledger."""


class Clearance(PlatformProfile):
    """The platform numbers each invoice as it is issued (design.md s.5)."""


class Direct(PlatformProfile):
    """Direct connection (design.md s.12, 乐企): the merchant numbers invoices from ranges
    and uploads them in batches; the platform decides each upload after a delay."""

    name = "direct"
    summary = "number ranges and batched uploads, s.12"
    keys = ("upload_delay", "upload_deadline")
    actions = ("upload_loss", "upload_stall")
    keys_reason = "uploads exist only there"
    actions_reason = "uploads exist only in the direct profile"

    def read_keys(self, c: KeyReader, m: dict, path: tuple) -> dict[str, Any]:
        if m.get("dedup", "request_id") != "request_id":
            c.problem(path + ("dedup",), "the direct profile has its own rules (numbers from ranges, "
                      "uploads replayed by request_id): leave dedup out")
        delay = c.duration(m, "upload_delay", path, default=2.0, positive=False)
        deadline = c.duration(m, "upload_deadline", path, default=172800.0)
        delay = 2.0 if delay is None else delay
        deadline = deadline or 172800.0
        if "upload_delay" in m and delay > 600:
            c.problem(path + ("upload_delay",), "at most 10m: a run would end before any upload is decided")
        if "upload_deadline" in m and "upload_delay" in m and deadline <= delay:
            c.problem(path + ("upload_deadline",), "must be longer than upload_delay")
        return {"upload_delay_s": delay, "upload_deadline_s": deadline}

    def platform_config(self, p: PlatformSpec) -> dict[str, Any]:
        return {"profile": self.name, "upload_delay_ms": round(p.upload_delay_s * 1000),
                "upload_deadline_s": p.upload_deadline_s}

    def merchant_env(self, p: PlatformSpec) -> dict[str, str]:
        return {"PLATFORM_UPLOAD_DEADLINE_S": f"{p.upload_deadline_s:g}"}

    def allowed_lag_s(self, p: PlatformSpec) -> float:
        # the invoice is dated at checkout and reaches the platform only when its upload is
        # decided: up to `upload_deadline` later, then `upload_delay`, then the replica lag;
        # a late upload is judged by the platform's `upload_overdue` (then lost), not as a
        # stale read
        return p.replica_lag_s + p.upload_delay_s + p.upload_deadline_s

    def collect(self, platform_url: str, run_dir: Path) -> None:
        from .report.uploads import UPLOADS_FILE, collect_uploads
        collect_uploads(platform_url, run_dir / UPLOADS_FILE)


def _processing_delay(c: KeyReader, m: dict, path: tuple) -> float:
    """`processing_delay` of the profiles that decide later (nuonuo, ksef): default 1 s."""
    delay = c.duration(m, "processing_delay", path, default=1.0, positive=False)
    delay = 1.0 if delay is None else delay
    if "processing_delay" in m and delay > 600:
        c.problem(path + ("processing_delay",), "at most 10m: a run would end before anything "
                  "is decided")
    return delay


class Nuonuo(PlatformProfile):
    """诺诺开放平台 (design.md s.13): the signed open API; an order is accepted ("开票提交成功")
    and decided after the processing delay; results are polled or pushed to a callback."""

    name = "nuonuo"
    summary = "诺诺's open API (signed envelope, asynchronous orders), s.13"
    keys = ("processing_delay",)
    actions = ("slow_processing", "signing_failure")
    keys_reason = "orders are processed asynchronously only there"
    tls_default = True                   # its real clients call https URLs
    actions_reason = "orders are processed asynchronously only in the nuonuo profile"

    def read_keys(self, c: KeyReader, m: dict, path: tuple) -> dict[str, Any]:
        if m.get("dedup", "request_id") != "request_id":
            c.problem(path + ("dedup",), "the nuonuo profile has its own rules (orderNo is unique "
                      "per seller: E9106): leave dedup out")
        return {"processing_delay_s": _processing_delay(c, m, path)}

    def platform_config(self, p: PlatformSpec) -> dict[str, Any]:
        return {"profile": self.name,
                "processing_delay_ms": round(p.processing_delay_s * 1000)}

    def collect(self, platform_url: str, run_dir: Path) -> None:
        from .report.processing import PIPELINE, collect_pipeline
        collect_pipeline(platform_url, self.name, run_dir / PIPELINE)


class Ksef(PlatformProfile):
    """Poland's KSeF API 2.0 (design.md s.13): token authentication, encrypted online
    sessions, FA(3) invoices decided after the processing delay, the documented per-endpoint
    rate limits; the sellers are Polish (NIPs, KSeF tokens; fakes/common/sellers.py)."""

    name = "ksef"
    summary = "Poland's KSeF 2.0 (online sessions, FA(3), rate limits), s.13"
    keys = ("processing_delay", "rate_limits", "rate_limit_time_scale")
    actions = ("slow_processing",)
    tls_default = True                   # KSeF is https only; its clients call https URLs
    keys_reason = "they are KSeF's"
    actions_reason = "invoices are decided asynchronously only in the nuonuo and ksef profiles"

    def read_keys(self, c: KeyReader, m: dict, path: tuple) -> dict[str, Any]:
        if m.get("dedup", "request_id") != "request_id":
            c.problem(path + ("dedup",), "the ksef profile has its own rule (seller NIP + "
                      "RodzajFaktury + P_2 is unique: status 440): leave dedup out")
        out: dict[str, Any] = {"processing_delay_s": _processing_delay(c, m, path)}
        for key, field in (("rate_limits", "ksef_rate_limits"),
                           ("rate_limit_time_scale", "ksef_time_scale")):
            v = m.get(key, 1.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (
                    key == "rate_limit_time_scale" and v == 0):
                c.problem(path + (key,), "a number: x the documented limits (10 = KSeF's TEST "
                          "environment, 0 = none)" if key == "rate_limits" else
                          "a number > 0: how much faster than the documented minute and hour "
                          "the limits' windows pass (60: a minute lasts 1 s)")
                v = 1.0
            out[field] = float(v)
        return out

    def platform_config(self, p: PlatformSpec) -> dict[str, Any]:
        return {"profile": self.name,
                "processing_delay_ms": round(p.processing_delay_s * 1000),
                "ksef_rate_limits": p.ksef_rate_limits, "ksef_time_scale": p.ksef_time_scale}

    def allowed_lag_s(self, p: PlatformSpec) -> float:
        # an invoice is dated when it is decided, after the processing delay
        return p.replica_lag_s + p.processing_delay_s


PROFILES: dict[str, PlatformProfile] = {p.name: p for p in (Clearance(), Direct(), Nuonuo(),
                                                            Ksef())}


def profile_of(name: str | None) -> PlatformProfile:
    """The profile named so (an unknown name was refused by the scenario's validation)."""
    return PROFILES.get(name or "clearance", PROFILES["clearance"])


def stack_config(scenario: Scenario, opts: RunOptions, run_id: str, run_dir: Path,
                 sellers_file: Path) -> StackConfig:
    """What the stack (either backend) is started with, for this scenario and these options."""
    from .stack import StackConfig
    p, sut = scenario.platform, scenario.merchant.sut
    profile = profile_of(p.profile)
    platform_cfg: dict[str, Any] = {
        "replica_lag_ms": round(p.replica_lag_s * 1000), "dedup": p.dedup,
        "token_ttl_s": p.token_ttl_s,
        "quota_per_seller": str(p.quota_per_seller if p.quota_per_seller is not None else NO_QUOTA),
        **profile.platform_config(p)}
    merchant_env = {"PLATFORM_DEDUP": p.dedup, "PLATFORM_PROFILE": p.profile,
                    **profile.merchant_env(p),
                    "PLATFORM_TIMEOUT_S": f"{scenario.merchant.platform_timeout_s:g}"}
    return StackConfig(
        run_id=run_id, run_dir=run_dir, sellers_file=sellers_file, platform_config=platform_cfg,
        merchant_mode=scenario.merchant.mode, merchant_env=merchant_env,
        sut_command=(sut.command or None) if sut else None, sut_health=sut.health if sut else "/healthz",
        sut_startup_timeout_s=sut.startup_timeout_s if sut else 30.0,
        client_host=opts.bind, platform_tls=p.tls,
        sut_probe=_adapter_probe(opts.client_spec, run_id) if opts.client_spec is not None else None)


def _adapter_probe(client: Any, run_id: str) -> Callable[[Any], None]:
    """The stack's start-up check of the merchant, asked through the client adapter."""
    def probe(stack: Any) -> None:
        from fakes.common.sellers import read_sellers

        from .client.probe import probe_through_adapter
        probe_through_adapter(client, stack.merchant_direct, stack.platform_direct,
                              list(read_sellers(stack.cfg.sellers_file)),
                              f"invoice-chaos-probe-{run_id}")
    return probe


def load_config(scenario: Scenario, opts: RunOptions, sellers: list[Seller],
                history_dir: Path) -> LoadConfig:
    """The load's config, all but the stack's URLs (the load starts while the stack comes
    up; its workers get the URLs with the go)."""
    from .load.config import LoadConfig
    load = scenario.load
    return LoadConfig(
        merchant_url="", platform_url="", sellers=cast("list[dict[str, str]]", list(sellers)),
        seed=scenario.seed, duration_s=scenario.duration_s,
        curve=[[t, v] for t, v in load.curve], compress_s=load.compress_s,
        peak_rps=load.peak_rps * opts.scale, mix=load.mix,
        workers=opts.local_workers, remote_workers=opts.remote_workers,
        history_dir=str(history_dir), request_timeout_s=load.request_timeout_s,
        max_in_flight=load.max_in_flight, retry_unknown=load.retry_unknown,
        poll_interval_s=load.poll_interval_s, poll_limit=load.poll_limit,
        client=opts.client_spec.to_json() if opts.client_spec is not None else None)
