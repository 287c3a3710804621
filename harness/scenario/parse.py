"""Parse and validate a scenario file, collecting every problem as `file:line: path: message`.

Nothing is started before this passes (exit 2 otherwise). Validation is strict: an
unknown key is an error, because a typo that is silently ignored runs the wrong test.
"""
from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..configure import PROFILES, profile_of
from ..errors import ScenarioError
from ..checker.result import ANOMALY_CLASSES
from ..durations import DurationError, format_duration, parse_duration
from .explore_block import check_explore
from .model import (DrainSpec, FaultSpec, GateSpec, LoadSpec, Loc, MerchantSpec, PlatformSpec,
                    Scenario, SutSpec)
from .yamlloc import YamlSyntaxError, load_with_lines

__all__ = ["load_scenario", "parse_scenario_text", "GATE_NAMES", "ANOMALY_GATES", "DEDUP_MODES",
           "DEFAULT_GATES"]

#: one gate per anomaly class of the checker (their one home: harness/checker/result.py)
ANOMALY_GATES = ANOMALY_CLASSES
FIGURE_GATES = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "error_rate", "time_to_consistency_s",
                "min_acknowledged", "min_requested", "unsent_rate", "recovery_s",
                "answered_share", "answered_share_overall", "answered_share_in_faults",
                "answered_share_after_faults", "final_unanswered")
#: Gates on unless a scenario switches them off (null) or sets another limit: a run that sent
#: nothing proves nothing; every order's final read must be answered (else the verdict is
#: `unknown`); customers outside every fault window must be answered (docs/scenarios.md).
DEFAULT_GATES = {"min_requested": 1.0, "final_unanswered": 0.0, "answered_share": 0.95}
_SHARE_GATES = ("answered_share", "answered_share_overall", "answered_share_in_faults",
                "answered_share_after_faults", "error_rate", "unsent_rate")
GATE_NAMES = ANOMALY_GATES + FIGURE_GATES
DEDUP_MODES = ("request_id", "invoice_number", "none")
_TOP = {"name", "description", "seed", "duration", "load", "merchant", "platform", "faults",
        "drain", "gates", "explore"}
_LOAD = {"curve", "points", "compress", "peak_rps", "mix", "max_in_flight", "timeout",
         "retry_unknown", "poll_interval", "poll_limit"}
_MERCHANT = {"mode", "sellers", "sut", "platform_timeout", "client"}
_SUT = {"command", "health", "startup_timeout"}
_PLATFORM = {"replica_lag", "quota_per_seller", "dedup", "token_ttl", "profile", "tls",
             *(k for p in PROFILES.values() for k in p.keys)}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class _Ctx:
    """Collects problems with their line numbers."""

    def __init__(self, file: str, lines: dict[tuple, int]):
        self.file = file
        self.lines = lines
        self.problems: list[str] = []

    def line(self, path: tuple) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def loc(self, path: tuple) -> Loc:
        return Loc(self.file, self.line(path))

    def problem(self, path: tuple, message: str) -> None:
        dotted = _dotted(path)
        self.problems.append(f"{self.file}:{self.line(path)}: {dotted + ': ' if dotted else ''}{message}")

    def mapping(self, value: Any, path: tuple, allowed: set[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, "must be a mapping (key: value lines)")
            return {}
        for key in value:
            if key not in allowed:
                hint = _close(str(key), allowed)
                self.problem(path + (key,), f"unknown key {key!r}"
                             + (f" (did you mean {hint!r}?)" if hint else "")
                             + f"; allowed: {', '.join(sorted(allowed))}")
        return value

    def duration(self, m: dict, key: str, path: tuple, default: float | None = None,
                 required: bool = False, positive: bool = True) -> float | None:
        if key not in m:
            if required:
                self.problem(path, f"missing '{key}' (a duration such as '90s' or '5m')")
            return default
        try:
            v = parse_duration(m[key])
        except DurationError as e:
            self.problem(path + (key,), str(e))
            return default
        if positive and v <= 0:
            self.problem(path + (key,), "must be a positive duration")
        return v

    def number(self, m: dict, key: str, path: tuple, default: Any, kind: type = float,
               lo: float | None = None, hi: float | None = None) -> Any:
        if key not in m:
            return default
        v = m[key]
        ok = isinstance(v, int) if kind is int else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok:
            self.problem(path + (key,), f"must be a {'whole number' if kind is int else 'number'}, got {v!r}")
            return default
        if lo is not None and v < lo:
            self.problem(path + (key,), f"must be >= {lo:g}, got {v}")
        if hi is not None and v > hi:
            self.problem(path + (key,), f"must be <= {hi:g}, got {v}")
        return kind(v)


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _close(word: str, options: set[str]) -> str | None:
    import difflib
    m = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return m[0] if m else None


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    shown = str(path)
    if not p.is_file():
        raise ScenarioError(f"{shown}:1: no such scenario file"
                            + (" (run 'invoice-chaos list' for the bundled ones)" if not p.exists() else ""))
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{shown}:1: not UTF-8 text ({e.reason})") from None
    return parse_scenario_text(text, shown, base_dir=p.resolve().parent)


def parse_scenario_text(text: str, file: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as e:
        raise ScenarioError(f"{file}:{e.line}: {e.message}") from None
    c = _Ctx(file, lines)
    if not isinstance(data, dict):
        raise ScenarioError(f"{file}:1: a scenario is a YAML mapping with name, duration, load, ...")
    c.mapping(data, (), _TOP)
    base_dir = base_dir or Path.cwd()

    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        c.problem(("name",), "missing or invalid 'name': lower-case letters, digits, '-', '_' (e.g. singles-day-midnight)")
        name = "scenario"
    description = data.get("description", "")
    if not isinstance(description, str):
        c.problem(("description",), "must be text")
        description = ""
    seed = c.number(data, "seed", (), 1, int, lo=0)
    duration = c.duration(data, "duration", (), default=60.0, required=True)
    if duration and duration > 86400:
        c.problem(("duration",), "longer than a day: compress the curve instead (load.compress)")

    load = _load(c, data.get("load"), duration or 60.0, base_dir)
    merchant = _merchant(c, data.get("merchant"), base_dir)
    platform = _platform(c, data.get("platform"))
    faults = _faults(c, data.get("faults"), duration or 60.0)
    _profile_faults(c, faults, platform.profile)
    if faults and not c.problems:
        _overlapping_faults(c, faults, seed, duration or 60.0)
    dm = c.mapping(data.get("drain"), ("drain",), {"timeout"})
    drain = DrainSpec(timeout_s=c.duration(dm, "timeout", ("drain",), default=60.0) or 60.0)
    gates = _gates(c, data.get("gates"))
    explore = _explore(c, data.get("explore"), duration or 60.0)
    if c.problems:
        raise ScenarioError(c.problems)
    return Scenario(name=name, description=description, seed=seed, duration_s=duration or 60.0,
                    load=load, merchant=merchant, platform=platform, faults=faults, drain=drain,
                    gates=gates, path=Path(file), text=text, explore=explore)


def _load(c: _Ctx, raw: Any, duration: float, base_dir: Path) -> LoadSpec:
    path = ("load",)
    if raw is None:
        c.problem(path, "missing 'load:' (curve or points, peak_rps, mix)")
        raw = {}
    m = c.mapping(raw, path, _LOAD)
    curve: list[tuple[float, float]] = [(0.0, 1.0), (duration, 1.0)]
    curve_file = None
    if "curve" in m and "points" in m:
        c.problem(path + ("points",), "give either 'curve:' (a CSV file) or 'points:', not both")
    elif "curve" in m:
        curve_file = m["curve"]
        if not isinstance(curve_file, str):
            c.problem(path + ("curve",), "must be a path to a CSV file, e.g. curves/singles_day.csv")
        else:
            curve = _read_curve(c, path + ("curve",), base_dir / curve_file, curve_file) or curve
    elif "points" in m:
        curve = _points(c, path + ("points",), m["points"]) or curve
    compress = c.duration(m, "compress", path) if "compress" in m else None
    span = (max(t for t, _ in curve) - min(t for t, _ in curve)) if curve else 0.0
    if compress is not None and span and not (0.5 * span <= compress <= 2 * span):
        c.problem(path + ("compress",), f"should be the curve's span ({span:g}s = "
                  f"{format_duration(span)}), the time the curve covers")
    if "peak_rps" not in m:
        c.problem(path, "missing 'peak_rps' (arrivals per second at the curve's maximum)")
    peak = c.number(m, "peak_rps", path, 1.0, lo=0.01, hi=100000)
    mix = _mix(c, path + ("mix",), m.get("mix", {"checkout": 100}))
    return LoadSpec(curve=curve, curve_file=curve_file, compress_s=compress, peak_rps=peak, mix=mix,
                    max_in_flight=c.number(m, "max_in_flight", path, 2000, int, lo=1, hi=100000),
                    request_timeout_s=c.duration(m, "timeout", path, default=5.0) or 5.0,
                    retry_unknown=c.number(m, "retry_unknown", path, 3, int, lo=0, hi=20),
                    poll_interval_s=c.duration(m, "poll_interval", path, default=1.0) or 1.0,
                    poll_limit=c.number(m, "poll_limit", path, 20, int, lo=0, hi=1000))


def _read_curve(c: _Ctx, path: tuple, file: Path, shown: str) -> list[tuple[float, float]] | None:
    from ..load.curves import CurveError, read_curve
    if not file.is_file():
        c.problem(path, f"curve file {shown!r} not found (looked in {file.parent})")
        return None
    try:
        return [(float(t), float(v)) for t, v in read_curve(file)]
    except CurveError as e:
        c.problem(path, f"{e}")
        return None


def _points(c: _Ctx, path: tuple, raw: Any) -> list[tuple[float, float]] | None:
    if not isinstance(raw, list) or len(raw) < 2:
        c.problem(path, "points: a list of at least two [time, relative_load] pairs, e.g. [[0s, 0.1], [30s, 1.0]]")
        return None
    out: list[tuple[float, float]] = []
    for i, pt in enumerate(raw):
        if not (isinstance(pt, list) and len(pt) == 2):
            c.problem(path + (i,), "each point is [time, relative_load]")
            continue
        t, v = pt
        try:
            ts = parse_duration(t) if isinstance(t, str) else float(t)
            if isinstance(t, bool):
                raise DurationError("not a time")
        except (DurationError, TypeError, ValueError):
            c.problem(path + (i,), f"time {t!r}: seconds or a duration such as '30s'")
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            c.problem(path + (i,), f"relative load {v!r}: a number >= 0")
            continue
        if out and ts <= out[-1][0]:
            c.problem(path + (i,), "times must increase")
        out.append((ts, float(v)))
    if out and max(v for _, v in out) <= 0:
        c.problem(path, "the curve is zero everywhere: no load would be sent")
    return out


def _mix(c: _Ctx, path: tuple, raw: Any) -> dict[str, float]:
    from ..load import MIX_KINDS
    if not isinstance(raw, dict) or not raw:
        c.problem(path, f"mix: weights of {', '.join(MIX_KINDS)}, e.g. {{checkout: 80, query: 15, refund: 5}}")
        return {"checkout": 1.0}
    out: dict[str, float] = {}
    for k, v in raw.items():
        if k not in MIX_KINDS:
            c.problem(path + (k,), f"unknown traffic kind {k!r}; kinds: {', '.join(MIX_KINDS)}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            c.problem(path + (k,), f"weight must be a number >= 0, got {v!r}")
        else:
            out[k] = float(v)
    if out and not out.get("checkout"):
        c.problem(path, "checkout must have a weight > 0: the other kinds act on orders checkouts create")
    return out


def _client(c: _Ctx, m: dict, path: tuple, base_dir: Path) -> str | None:
    """`merchant.client: FILE.py:Class`, FILE made absolute from the scenario's directory.
    Whether the file imports and holds an adapter is checked before a run starts
    (run.prepare), not here: a recorded run's scenario.yaml must parse without it."""
    if "client" not in m:
        return None
    from ..client.spec import ClientError, parse_spec
    try:
        file, cls = parse_spec(m["client"])
    except ClientError as e:
        c.problem(path + ("client",), str(e))
        return None
    return f"{Path(file) if Path(file).is_absolute() else (base_dir / file).resolve()}:{cls}"


def _merchant(c: _Ctx, raw: Any, base_dir: Path) -> MerchantSpec:
    path = ("merchant",)
    m = c.mapping(raw, path, _MERCHANT)
    mode = m.get("mode", "robust")
    if "mode" in m and "sut" in m:
        c.problem(path + ("sut",), "give either 'mode:' (the bundled merchant) or 'sut:' (your own system), not both")
    from fakes.merchant.modes import MODES
    if mode not in MODES:
        c.problem(path + ("mode",), f"unknown merchant mode {mode!r}; modes: {', '.join(MODES)}")
    sut = None
    if "sut" in m:
        s = c.mapping(m["sut"], path + ("sut",), _SUT)
        cmd = s.get("command")
        if not isinstance(cmd, str) or not cmd.strip():
            c.problem(path + ("sut",), "sut.command: the command that starts your merchant system")
            cmd = ""
        health = s.get("health", "/healthz")
        if not isinstance(health, str) or not health.startswith("/"):
            c.problem(path + ("sut", "health"), "a path such as /healthz")
            health = "/healthz"
        sut = SutSpec(command=cmd, health=health,
                      startup_timeout_s=c.duration(s, "startup_timeout", path + ("sut",), default=30.0) or 30.0)
    return MerchantSpec(mode=mode if isinstance(mode, str) else "robust",
                        sellers=c.number(m, "sellers", path, 10, int, lo=1, hi=10000), sut=sut,
                        platform_timeout_s=c.duration(m, "platform_timeout", path, default=2.0) or 2.0,
                        client=_client(c, m, path, base_dir),
                        client_loc=str(c.loc(path + ("client",))) if "client" in m else None)


def _platform(c: _Ctx, raw: Any) -> PlatformSpec:
    path = ("platform",)
    m = c.mapping(raw, path, _PLATFORM)
    quota = None
    if "quota_per_seller" in m:
        q = m["quota_per_seller"]
        try:
            if isinstance(q, (bool, float)):
                raise InvalidOperation
            quota = Decimal(str(q))
            if not quota.is_finite() or quota < 0:
                raise InvalidOperation
        except InvalidOperation:
            c.problem(path + ("quota_per_seller",), 'a decimal amount as a string, e.g. "500000.00"')
            quota = None
    dedup = m.get("dedup", "request_id")
    if dedup not in DEDUP_MODES:
        c.problem(path + ("dedup",), f"unknown de-duplication {dedup!r}; one of {', '.join(DEDUP_MODES)}")
        dedup = "request_id"
    lag = c.duration(m, "replica_lag", path, default=0.5, positive=False)
    profile, own = _profile_keys(c, m, path)
    tls = m.get("tls", profile_of(profile).tls_default)
    if not isinstance(tls, bool):
        c.problem(path + ("tls",), "true or false: serve the platform over HTTPS with a CA made "
                  "for the run (design.md s.13)")
        tls = profile_of(profile).tls_default
    return PlatformSpec(replica_lag_s=0.5 if lag is None else lag, quota_per_seller=quota,
                        dedup=dedup, token_ttl_s=c.duration(m, "token_ttl", path, default=600.0) or 600.0,
                        profile=profile, tls=tls, **own)


def _profile_keys(c: _Ctx, m: dict, path: tuple) -> tuple[str, dict[str, Any]]:
    """The profile (design.md s.12) and the PlatformSpec fields its own keys set
    (harness/configure.py); a key of another profile is an error, not silently ignored."""
    name = m.get("profile", "clearance")
    if name not in PROFILES:
        c.problem(path + ("profile",), f"unknown profile {name!r}; one of {', '.join(PROFILES)}")
        name = "clearance"
    mine = set(profile_of(name).keys)
    for other in PROFILES.values():
        for key in other.keys:
            if key in m and other.name != name and key not in mine:
                mine.add(key)                  # one problem per key
                owners = [p.name for p in PROFILES.values() if key in p.keys]
                c.problem(path + (key,), f"only with 'profile: {' or '.join(owners)}' "
                          f"({other.keys_reason})")
    return name, profile_of(name).read_keys(c, m, path)


def _fault_problem(c: _Ctx, base: tuple, key: str, msg: str) -> None:
    c.problem(base + ((key,) if key else ()), msg)


def _faults(c: _Ctx, raw: Any, duration: float) -> list[FaultSpec]:
    from ..faults.plan import check_fault
    if raw is None:
        return []
    if not isinstance(raw, list):
        c.problem(("faults",), "must be a list of faults (each line starting with '- ')")
        return []
    out = []
    for i, entry in enumerate(raw):
        base = ("faults", i)
        check_fault(entry, duration, functools.partial(_fault_problem, c, base))
        out.append(FaultSpec(raw=entry if isinstance(entry, dict) else {}, loc=c.loc(base), index=i))
    return out


def _profile_faults(c: _Ctx, faults: list[FaultSpec], profile: str) -> None:
    """A platform action only one profile has (upload_loss acts on the direct profile's
    uploads) is an error under any other."""
    owners: dict[str, list[Any]] = {}
    for p in PROFILES.values():
        for a in p.actions:
            owners.setdefault(a, []).append(p)
    for f in faults:
        ps = owners.get(f.raw.get("action"), [])   # type: ignore[arg-type]
        if ps and profile not in [p.name for p in ps]:
            c.problem(("faults", f.index, "action"), f"{f.raw['action']} needs "
                      f"'platform: {{profile: {' or '.join(p.name for p in ps)}}}' "
                      f"({ps[0].actions_reason})")


def _overlapping_faults(c: _Ctx, faults: list[FaultSpec], seed: int, duration: float) -> None:
    """Refuse two faults holding one knob at once (harness/faults/plan.py `overlaps`)."""
    from ..faults.plan import expand, overlaps
    planned = expand([(f.raw, str(f.loc)) for f in faults], seed, duration)
    pairs: dict[tuple[str, str], tuple[Any, Any, list[tuple[str, ...]]]] = {}
    for first, later, knob in overlaps(planned):
        pairs.setdefault((first.id, later.id), (first, later, []))[2].append(knob)
    for first, later, shared in pairs.values():
        index = int(later.id.split("_", 1)[0][1:])        # f<entry index>_<n>_<kind>
        kind = shared[0][0]
        if kind == "link":
            where = f"link {shared[0][1]} (toxic {shared[0][2]})"
        elif kind == "platform field":
            where = "the platform's " + ", ".join(sorted(k[1] for k in shared))
        else:
            where = f"{kind} {shared[0][1]}"
        first_end = first.end_s if first.end_s is not None else first.undo_at_s
        c.problem(("faults", index),
                  f"{later.kind} from {later.start_s:g}s overlaps {first.kind} of "
                  f"{first.source} ({first.start_s:g}s to {first_end:g}s) on {where}: faults "
                  "do not compose, the first to end would undo the other. Make them one "
                  "fault, or let one end before the other starts")


def _explore(c: _Ctx, raw: Any, duration: float) -> dict[str, Any] | None:
    """`explore:` (invoice-chaos explore's fault space): checked by explore_block.py."""
    return check_explore(raw, duration, lambda key, msg: c.problem(("explore",) + ((key,) if key else ()), msg))


def _gates(c: _Ctx, raw: Any) -> list[GateSpec]:
    path = ("gates",)
    m = c.mapping(raw, path, set(GATE_NAMES))
    gates: dict[str, GateSpec] = {g: GateSpec(g, 0.0) for g in ANOMALY_GATES}
    gates.update({g: GateSpec(g, v) for g, v in DEFAULT_GATES.items()})
    for k, v in m.items():
        if k not in GATE_NAMES:
            continue
        if v is None or v is False:
            gates[k] = GateSpec(k, None, c.loc(path + (k,)))
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            c.problem(path + (k,), f"a limit must be a number >= 0 (or null to switch the gate off), got {v!r}")
        elif k in _SHARE_GATES and v > 1:
            c.problem(path + (k,), f"{k} is a share between 0 and 1, got {v!r}")
        else:
            gates[k] = GateSpec(k, float(v), c.loc(path + (k,)))
    return list(gates.values())
