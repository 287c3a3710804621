"""From `faults:` entries to a concrete schedule: validation and seeded expansion (pure).

A fixed entry becomes one planned fault; `repeat:` makes it periodic; `random:` draws
gaps, durations and kinds from a generator seeded by the scenario seed and the entry's
index, so the same seed always gives the same schedule.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..durations import DurationError, parse_duration
from . import clock as _clock  # noqa: F401
from . import disk as _disk  # noqa: F401
from . import partition as _partition  # noqa: F401  (registers kinds)
from . import platform as _platform  # noqa: F401
from . import process as _process  # noqa: F401
from . import toxics as _toxics  # noqa: F401
from .registry import KINDS, LINKS, TARGETS, FaultKind, check_attrs, kinds_of

__all__ = ["PlannedFault", "check_fault", "expand", "kind_for", "knobs", "overlaps", "action_kinds"]

Problem = Callable[[str, str], None]   # (key, message)


@dataclass(slots=True)
class PlannedFault:
    id: str
    kind: str
    family: str
    target: str                    # a link name or a service name
    params: dict[str, Any]
    start_s: float
    end_s: float | None            # None: an instant (kill, revoke) whose undo follows at once
    source: str = ""               # file:line of the entry
    undo_at_s: float | None = None  # when undo runs (kill: start + restart_after)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def action_kinds() -> dict[str, type[FaultKind]]:
    """Every kind named by `action:` (all families but Toxiproxy's toxics)."""
    return {c.kind: c for c in KINDS.values() if c.family != "toxic"}


def kind_for(raw: dict[str, Any]) -> tuple[type[FaultKind] | None, str]:
    """The kind class named by an entry's `toxic:`/`action:`, and which key named it."""
    if "toxic" in raw:
        return kinds_of("toxic").get(raw["toxic"]), "toxic"
    return action_kinds().get(raw.get("action")), "action"


def _duration(raw: dict, key: str, problem: Problem, required: bool = False) -> float | None:
    if key not in raw:
        if required:
            problem(key, f"missing '{key}' (a duration such as '30s')")
        return None
    try:
        v = parse_duration(raw[key])
    except DurationError as e:
        problem(key, str(e))
        return None
    return v


def _where(raw: dict, problem: Problem, kind_key: str, kind_name: str) -> str | None:
    """Check `link:` (toxics) or `target:` (process/platform) and return it."""
    if kind_key == "toxic":
        if "target" in raw:
            problem("target", "network faults take 'link:', not 'target:'")
        link = raw.get("link")
        if link not in LINKS:
            problem("link", f"unknown link {link!r}; links: {', '.join(LINKS)}" if link is not None
                    else f"missing 'link:'; links: {', '.join(LINKS)}")
            return None
        return link
    target = raw.get("target")
    if "link" in raw:
        problem("link", "process and platform faults take 'target:', not 'link:'")
    cls = action_kinds().get(kind_name)
    allowed = getattr(cls, "targets", None) or (TARGETS if kind_name in kinds_of("process") else ("taxplatform",))
    if target not in allowed:
        problem("target", f"{kind_name!r} needs target: {' or '.join(allowed)}"
                + (f", got {target!r}" if target is not None else ""))
        return None
    return target


def _check_kind(raw: dict, problem: Problem, kind_name: Any, kind_key: str) -> type[FaultKind] | None:
    fam = "toxic" if kind_key == "toxic" else None
    if fam:
        known = kinds_of("toxic")
    else:
        known = action_kinds()
    cls = known.get(kind_name) if isinstance(kind_name, str) else None
    if cls is None:
        problem(kind_key, f"unknown {'toxic' if fam else 'action'} {kind_name!r}; known: "
                f"{', '.join(sorted(known))} (run 'invoice-chaos list')")
    return cls


def check_fault(raw: Any, duration_s: float, problem: Problem) -> None:
    """Validate one `faults:` entry; report every problem through `problem(key, message)`."""
    if not isinstance(raw, dict):
        problem("", "a fault is a mapping such as {at: 60s, for: 30s, link: merchant->taxplatform, toxic: latency}")
        return
    if "random" in raw:
        _check_random(raw, duration_s, problem)
        return
    if "toxic" in raw and "action" in raw:
        problem("action", "a fault has either 'toxic:' (network) or 'action:' (process/platform), not both")
        return
    if "toxic" not in raw and "action" not in raw:
        problem("", "a fault needs 'toxic:' (network, on a link) or 'action:' (on a target)")
        return
    kind_key = "toxic" if "toxic" in raw else "action"
    cls = _check_kind(raw, problem, raw[kind_key], kind_key)
    if cls is None:
        return
    _where(raw, problem, kind_key, cls.kind)
    check_attrs(cls, raw, problem)
    at = _duration(raw, "at", problem, required=True)
    length = _duration(raw, "for", problem, required=cls.needs_duration)
    if not cls.needs_duration and "for" in raw:
        problem("for", f"{cls.kind!r} is instantaneous; it takes no 'for:'"
                + (" (use restart_after:)" if cls.family == "process" else ""))
    if at is not None and at >= duration_s:
        problem("at", f"starts at {at:g}s, after the end of the load ({duration_s:g}s)")
    if at is not None and length is not None and at + length > duration_s:
        problem("for", f"ends at {at + length:g}s, after the end of the load ({duration_s:g}s)")
    if length is not None and length <= 0:
        problem("for", "must be a positive duration")
    if "repeat" in raw:
        _check_repeat(raw["repeat"], at, length, duration_s, problem)


def _check_repeat(rep: Any, at: float | None, length: float | None, duration_s: float,
                  problem: Problem) -> None:
    if not isinstance(rep, dict):
        problem("repeat", "repeat is a mapping {every: 60s, times: 3} or {every: 60s, until: 5m}")
        return
    for k in rep:
        if k not in ("every", "times", "until"):
            problem("repeat", f"unknown key {k!r} in repeat; keys: every, times, until")
    every = _duration(rep, "every", lambda k, m: problem("repeat", f"every: {m}"), required=True)
    if "times" in rep and (isinstance(rep["times"], bool) or not isinstance(rep["times"], int) or rep["times"] < 1):
        problem("repeat", "times: must be a whole number >= 1")
    if "until" in rep:
        _duration(rep, "until", lambda k, m: problem("repeat", f"until: {m}"))
    if every is not None and length is not None and every <= length:
        problem("repeat", f"every ({every:g}s) must be longer than the fault ({length:g}s)")


def _check_random(raw: dict, duration_s: float, problem: Problem) -> None:
    spec = raw["random"]
    if not isinstance(spec, dict):
        problem("random", "random is a mapping {between: [20s, 40s], for: [5s, 15s], pick: [latency, reset_peer]}")
        return
    for k in spec:
        if k not in ("between", "for", "pick", "start", "until"):
            problem("random", f"unknown key {k!r} in random; keys: between, for, pick, start, until")
    for key in ("between", "for"):
        rng = spec.get(key)
        if not (isinstance(rng, list) and len(rng) == 2):
            problem("random", f"{key}: a list of two durations, e.g. [5s, 15s]")
            continue
        try:
            lo, hi = parse_duration(rng[0]), parse_duration(rng[1])
        except DurationError as e:
            problem("random", f"{key}: {e}")
            continue
        if lo > hi or lo < 0 or (key == "for" and lo <= 0):
            problem("random", f"{key}: [{rng[0]}, {rng[1]}] must be an increasing range of positive durations")
    pick = spec.get("pick")
    kind_key = "toxic" if "link" in raw else "action"
    if not (isinstance(pick, list) and pick):
        problem("random", "pick: a non-empty list of fault kinds, e.g. [latency, reset_peer, timeout]")
        return
    for name in pick:
        cls = _check_kind(raw, lambda k, m: problem("random", f"pick: {m}"), name, kind_key)
        if cls is None:
            continue
        if not cls.needs_duration:
            problem("random", f"pick: {name!r} is instantaneous; random faults need a window")
        _where(raw, problem, kind_key, cls.kind)
        sub = {k: v for k, v in raw.items() if k in cls.attrs}
        check_attrs(cls, {**sub}, problem)
    for key in ("start", "until"):
        if key in spec:
            _duration(spec, key, lambda k, m: problem("random", f"{key}: {m}"))


def expand(entries: list[tuple[dict[str, Any], str]], seed: int, duration_s: float) -> list[PlannedFault]:
    """The concrete schedule of validated entries [(raw, 'file:line')], sorted by start."""
    planned: list[PlannedFault] = []
    for index, (raw, source) in enumerate(entries):
        if "random" in raw:
            planned.extend(_expand_random(raw, source, index, seed, duration_s))
            continue
        cls, kind_key = kind_for(raw)
        assert cls is not None
        params = check_attrs(cls, raw, lambda k, m: None)
        at = parse_duration(raw["at"])
        length = parse_duration(raw["for"]) if "for" in raw else None
        starts = [at]
        if "repeat" in raw:
            rep = raw["repeat"]
            every = parse_duration(rep["every"])
            until = parse_duration(rep["until"]) if "until" in rep else duration_s
            times = rep.get("times", 10_000)
            starts = []
            t = at
            while len(starts) < times and t + (length or 0) <= min(until, duration_s) + 1e-9:
                starts.append(t)
                t += every
        target = raw["link"] if kind_key == "toxic" else raw["target"]
        for n, start in enumerate(starts):
            planned.append(_planned(cls, index, n, target, params, start, length, source))
    planned.sort(key=lambda f: (f.start_s, f.id))
    return planned


def _planned(cls: type[FaultKind], index: int, n: int, target: str, params: dict, start: float,
             length: float | None, source: str) -> PlannedFault:
    end = start + length if length is not None else None
    undo_at = end
    if cls.family == "process" and not cls.needs_duration:
        undo_at = start + float(params.get("restart_after", 0.0) or 0.0)
    if cls.family == "platform" and not cls.needs_duration:
        undo_at = start
    return PlannedFault(id=f"f{index}_{n}_{cls.kind}", kind=cls.kind, family=cls.family,
                        target=target, params=dict(params), start_s=round(start, 3),
                        end_s=None if end is None else round(end, 3), source=source,
                        undo_at_s=None if undo_at is None else round(undo_at, 3))


def _expand_random(raw: dict, source: str, index: int, seed: int, duration_s: float) -> list[PlannedFault]:
    spec = raw["random"]
    rng = random.Random(f"faults:{seed}:{index}")
    gap_lo, gap_hi = (parse_duration(x) for x in spec["between"])
    len_lo, len_hi = (parse_duration(x) for x in spec["for"])
    start = parse_duration(spec["start"]) if "start" in spec else 0.0
    until = min(parse_duration(spec["until"]) if "until" in spec else duration_s, duration_s)
    kind_key = "toxic" if "link" in raw else "action"
    family_kinds = kinds_of("toxic") if kind_key == "toxic" else action_kinds()
    target = raw["link"] if kind_key == "toxic" else raw["target"]
    out: list[PlannedFault] = []
    t = start
    n = 0
    while n < 10_000:
        t += rng.uniform(gap_lo, gap_hi)
        length = rng.uniform(len_lo, len_hi)
        name = rng.choice(spec["pick"])
        if t + length > until:
            break
        cls = family_kinds[name]
        sub = {k: v for k, v in raw.items() if k in cls.attrs}
        params = check_attrs(cls, sub, lambda k, m: None)
        out.append(_planned(cls, index, n, target, params, t, length, source))
        t += length
        n += 1
    return out


def knobs(fault: PlannedFault) -> set[tuple[str, ...]]:
    """What a fault holds while it is active, which its undo puts back: a toxic on its link
    (one per kind), the admin fields a platform fault sets, a whole process."""
    cls = KINDS[f"{fault.family}:{fault.kind}"]
    if fault.family == "toxic":
        return {("link", fault.target, fault.kind)}
    if fault.family == "platform":
        return {("platform field", name) for name in getattr(cls, "neutral", {})}
    return {(fault.family, fault.target)}


def _window(fault: PlannedFault) -> tuple[float, float]:
    end = fault.end_s if fault.end_s is not None else fault.undo_at_s
    return fault.start_s, fault.start_s if end is None else end


def overlaps(planned: list[PlannedFault]) -> list[tuple[PlannedFault, PlannedFault, tuple[str, ...]]]:
    """Pairs (earlier, later, knob) of faults that hold the same knob at the same time.

    Faults do not compose: each one's undo resets its knob, so the first to end would undo
    the other while faults.jsonl still says it ran. The scenario parser refuses such a
    schedule (with the later fault's file:line) instead."""
    by_knob: dict[tuple[str, ...], list[PlannedFault]] = {}
    for f in planned:
        for k in knobs(f):
            by_knob.setdefault(k, []).append(f)
    out = []
    for knob, faults in by_knob.items():
        faults.sort(key=lambda f: (f.start_s, f.id))
        holder: PlannedFault | None = None
        for f in faults:
            start, end = _window(f)
            if holder is not None and start < _window(holder)[1] and end > start:
                out.append((holder, f, knob))
            if holder is None or end > _window(holder)[1]:
                holder = f
    out.sort(key=lambda x: (x[1].start_s, x[1].id))
    return out
