"""Which faults an exploration may draw: the scenario's `explore:` block (its grammar:
harness/scenario/explore_block.py), or every fault that applies to its links and targets.

"Applies" leaves out what no merchant can survive or what changes the right answer rather
than the merchant's conditions: `ack_without_commit` (the platform's own storage defect),
`quota` (refusals become correct answers), `replica_lag` (stale reads of the platform), the
byte-level toxics (bandwidth, slow_close, slicer, limit_data) and faults whose tool is
missing on this machine (clock_skew without libfaketime, disk_full without root). An
`explore:` block may name any of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..faults.registry import TARGETS
from ..scenario.explore_block import fault_kind

__all__ = ["ExploreSpace", "FaultChoice", "space_of", "PRESETS", "DEFAULT_KINDS", "DEFAULT_TRY_S"]

DEFAULT_TRY_S = 20.0
#: kinds drawn when the scenario has no `explore:` block (a tool missing -> left out)
DEFAULT_KINDS = ("latency", "timeout", "reset_peer", "down", "kill", "pause", "restart", "errors",
                 "throttle", "slow_commit", "revoke_tokens", "clock_skew", "disk_full")
#: parameter values a try draws from, per kind (anything not listed: the kind's default)
PRESETS: dict[str, dict[str, list[Any]]] = {
    "latency": {"latency": [1500, 2500, 4000]},
    "timeout": {"timeout": [0]},
    "kill": {"restart_after": ["1s", "2s", "4s"]},
    "terminate": {"restart_after": ["1s", "3s"]},
    "errors": {"rate": [0.3, 0.6, 1.0], "status": [500, 502, 503], "after_commit": [0.5, 1.0]},
    "throttle": {"rate": [0.3, 0.7], "retry_after": ["1s"]},
    "slow_commit": {"delay": ["1500ms", "3s"]},
    "clock_skew": {"offset": ["+10m", "-90s", "+2h"]},
    "disk_full": {"size_mb": [32]},
    "quota": {"limit": ["0.00", "5000.00"]},
    "replica_lag": {"lag": ["2s", "5s"]},
}


@dataclass(frozen=True, slots=True)
class FaultChoice:
    """One (kind, where) a try may draw: `key` is `toxic` or `action`, `where` a link or a target."""
    kind: str
    key: str
    where: str
    instant: bool = False

    def label(self) -> str:
        return f"{self.kind}@{self.where}"


@dataclass(slots=True)
class ExploreSpace:
    choices: list[FaultChoice]
    count: tuple[int, int] = (1, 3)
    window_s: tuple[float, float] = (2.0, 8.0)
    overlap: bool = False
    try_s: float = DEFAULT_TRY_S
    left_out: list[str] = field(default_factory=list)     # kinds dropped (tool missing), with why

    def to_json(self) -> dict[str, Any]:
        return {"choices": [c.label() for c in self.choices], "count": list(self.count),
                "for_s": list(self.window_s), "overlap": self.overlap, "try_s": self.try_s,
                "left_out": list(self.left_out)}


def _links_used(scenario: Any) -> list[str]:
    mix = scenario.load.mix
    links = ["client->merchant", "merchant->taxplatform"]
    if mix.get("verify"):
        links.append("client->taxplatform")
    return links


def _available(cls: Any) -> str | None:
    check = getattr(cls, "check_available", None)
    if check is None:
        return None
    try:
        check()
    except Exception as e:  # noqa: BLE001 - MissingBinaryError: say why it was left out
        return str(e).split(":")[0]
    return None


def space_of(scenario: Any, try_s: float | None = None) -> ExploreSpace:
    """The space a scenario explores: its `explore:` block, or every fault that applies.
    `try_s` (--try-length) overrides the block's `duration`."""
    block = getattr(scenario, "explore", None) or {}
    explicit = "faults" in block
    names = block.get("faults") or list(DEFAULT_KINDS)
    links = block.get("links") or _links_used(scenario)
    targets = block.get("targets") or list(TARGETS)
    choices: list[FaultChoice] = []
    left_out: list[str] = []
    for name in names:
        found = fault_kind(name)
        assert found is not None, name
        cls, key = found
        why = _available(cls)
        if why and not explicit:       # named in explore: -> the exploration stops with exit 3
            left_out.append(f"{name}: {why}")
            continue
        if key == "toxic":
            choices += [FaultChoice(name, key, link) for link in links]
            continue
        allowed = getattr(cls, "targets", None) or (TARGETS if cls.family == "process" else ("taxplatform",))
        for target in targets:
            if target in allowed:
                choices.append(FaultChoice(name, key, target, instant=not cls.needs_duration))
    try_len = try_s or block.get("duration") or min(scenario.duration_s, DEFAULT_TRY_S)
    window = block.get("for", (2.0, 8.0))
    window = (min(window[0], max(1.0, try_len - 4)), min(window[1], max(1.0, try_len - 4)))
    return ExploreSpace(choices=choices, count=tuple(block.get("count", (1, 3))), window_s=window,
                        overlap=block.get("overlap", False), try_s=float(try_len), left_out=left_out)
