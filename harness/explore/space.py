"""Which faults an exploration may draw: the scenario's `explore:` block, or every fault
that applies to its links and targets.

"Applies" leaves out what no merchant can survive or what changes the right answer rather
than the merchant's conditions: `ack_without_commit` (the platform's own storage defect),
`quota` (refusals become correct answers), `replica_lag` (stale reads of the platform), the
byte-level toxics (bandwidth, slow_close, slicer, limit_data) and faults whose tool is
missing on this machine (clock_skew without libfaketime, disk_full without root). An
`explore:` block may name any of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..faults.plan import action_kinds
from ..faults.registry import LINKS, TARGETS, kinds_of
from ..scenario.durations import DurationError, parse_duration

__all__ = ["ExploreSpace", "FaultChoice", "check_explore", "space_of", "PRESETS", "DEFAULT_KINDS",
           "EXPLORE_KEYS", "DEFAULT_TRY_S"]

Problem = Callable[[str, str], None]

EXPLORE_KEYS = ("faults", "targets", "links", "count", "for", "overlap", "duration")
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


def _kind(name: str) -> tuple[Any, str] | None:
    cls = kinds_of("toxic").get(name)
    if cls is not None:
        return cls, "toxic"
    cls = action_kinds().get(name)
    return (cls, "action") if cls is not None else None


def _range(raw: Any, parse: Callable[[Any], float], what: str, problem: Problem, key: str) -> tuple | None:
    items = raw if isinstance(raw, list) else [raw, raw]
    if len(items) != 2:
        problem(key, f"{what}: one value or [min, max]")
        return None
    try:
        lo, hi = parse(items[0]), parse(items[1])
    except (DurationError, ValueError, TypeError) as e:
        problem(key, f"{what}: {e}")
        return None
    if lo > hi:
        problem(key, f"{what}: [min, max] with min <= max")
        return None
    return lo, hi


def _count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 20:
        raise ValueError(f"a whole number 0..20, got {v!r}")
    return v


def check_explore(raw: Any, duration_s: float, problem: Problem) -> dict[str, Any] | None:
    """Validate an `explore:` block; report through `problem(key, message)`. Returns the
    block with durations in seconds (or None when absent or broken)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problem("", "explore is a mapping such as {faults: [latency, kill], count: [1, 2], for: [2s, 6s]}")
        return None
    out: dict[str, Any] = {}
    for key in raw:
        if key not in EXPLORE_KEYS:
            problem(str(key), f"unknown key {key!r}; keys: {', '.join(EXPLORE_KEYS)}")
    names = raw.get("faults")
    if names is not None:
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            problem("faults", "a non-empty list of fault kinds, e.g. [latency, down, kill] (see 'invoice-chaos list')")
        else:
            for n in names:
                if _kind(n) is None:
                    problem("faults", f"unknown fault kind {n!r} (see 'invoice-chaos list')")
            out["faults"] = list(names)
    for key, allowed in (("targets", TARGETS), ("links", LINKS)):
        if key in raw:
            v = raw[key]
            if not (isinstance(v, list) and v and all(x in allowed for x in v)):
                problem(key, f"a non-empty list of {', '.join(allowed)}")
            else:
                out[key] = list(v)
    if "count" in raw:
        r = _range(raw["count"], _count, "count", problem, "count")
        if r:
            out["count"] = r
    if "for" in raw:
        r = _range(raw["for"], parse_duration, "for", problem, "for")
        if r:
            if r[0] < 1:
                problem("for", "windows of at least 1s")
            out["for"] = r
    if "overlap" in raw:
        if not isinstance(raw["overlap"], bool):
            problem("overlap", "true or false")
        else:
            out["overlap"] = raw["overlap"]
    if "duration" in raw:
        try:
            d = parse_duration(raw["duration"])
            if d < 8:
                problem("duration", "a try needs at least 8s of load")
            elif d > duration_s:
                problem("duration", f"longer than the scenario's duration ({duration_s:g}s)")
            out["duration"] = d
        except DurationError as e:
            problem("duration", str(e))
    if "for" in out and "duration" in out and out["for"][1] > out["duration"] - 4:
        problem("for", "the longest window must fit in a try with 2s before and after it")
    return out


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
        found = _kind(name)
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
