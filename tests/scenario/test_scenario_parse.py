"""Scenario validation: every problem named with file:line, nothing silently ignored."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import load_scenario, parse_scenario_text

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
name: t1
seed: 3
duration: 30s
load:
  points: [[0s, 0.5], [10s, 1.0]]
  peak_rps: 5
  mix: {checkout: 90, query: 10}
platform:
  replica_lag: 250ms
  quota_per_seller: "1000.00"
faults:
  - {at: 5s, for: 3s, link: merchant->taxplatform, toxic: latency, latency: 800}
  - {at: 10s, target: taxplatform, action: kill, restart_after: 2s}
gates:
  p95_ms: 2000
  stale_reads: null
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        parse_scenario_text(text, "s.yaml")
    return e.value.problems


def test_a_good_scenario_parses_into_seconds_and_decimals():
    s = parse_scenario_text(GOOD, "s.yaml")
    assert (s.name, s.seed, s.duration_s) == ("t1", 3, 30.0)
    assert s.load.curve == [(0.0, 0.5), (10.0, 1.0)]
    assert s.platform.replica_lag_s == 0.25
    assert s.platform.quota_per_seller == Decimal("1000.00")
    assert [f.loc.line for f in s.faults] == [12, 13]
    gates = {g.name: g.limit for g in s.gates}
    assert gates["p95_ms"] == 2000 and gates["lost"] == 0 and gates["stale_reads"] is None
    assert gates["min_requested"] == 1


def test_unknown_key_names_its_line_and_suggests():
    out = problems(GOOD.replace("  peak_rps: 5", "  peak_rps: 5\n  mixx: {checkout: 1}"))
    assert out == ["s.yaml:7: load.mixx: unknown key 'mixx' (did you mean 'mix'?); allowed: compress, curve, "
                   "max_in_flight, mix, peak_rps, points, poll_interval, poll_limit, retry_unknown, timeout"]


def test_bad_duration_is_refused_with_its_line():
    out = problems(GOOD.replace("duration: 30s", "duration: 5 minutes"))
    assert out[0].startswith("s.yaml:3: duration: '5 minutes' is not a duration")


def test_bare_number_duration_is_refused():
    out = problems(GOOD.replace("replica_lag: 250ms", "replica_lag: 250"))
    assert out[0].startswith("s.yaml:9: platform.replica_lag: 250 is not a duration")


def test_every_fault_problem_is_reported_at_once():
    text = GOOD.replace("toxic: latency, latency: 800", "toxic: latncy")
    text = text.replace("gates:", "  - {at: 40s, for: 3s, link: merchant->tax, toxic: down}\nfaults_extra: 1\ngates:")
    out = problems(text)
    joined = "\n".join(out)
    assert "s.yaml:12: faults[0].toxic: unknown toxic 'latncy'; known: bandwidth, down, latency" in joined
    assert "faults[2].link: unknown link 'merchant->tax'" in joined
    assert "faults[2].at: starts at 40s, after the end of the load (30s)" in joined
    assert "unknown key 'faults_extra'" in joined


def test_fault_kind_attribute_checks():
    out = problems(GOOD.replace("latency: 800", "latency: fast, jitter: -1"))
    assert any("faults[0].latency: must be a whole number" in p for p in out)
    assert any("faults[0].jitter: must be >= 0" in p for p in out)


def test_window_fault_needs_for_and_instant_fault_refuses_it():
    out = problems(GOOD.replace("action: kill, restart_after: 2s", "action: pause"))
    assert any("s.yaml:13: faults[1].for: missing 'for'" in p for p in out)
    out = problems(GOOD.replace("action: kill, restart_after: 2s", "action: kill, for: 2s"))
    assert any("'kill' is instantaneous" in p for p in out)


def test_platform_fault_only_targets_the_platform():
    out = problems(GOOD.replace("target: taxplatform, action: kill, restart_after: 2s",
                                "target: merchant, action: errors, for: 2s"))
    assert any("'errors' needs target: taxplatform" in p for p in out)


def test_yaml_syntax_error_has_a_line():
    out = problems("name: x\nload: [\n")
    assert out[0].startswith("s.yaml:3: YAML syntax")


def test_duplicate_key_is_an_error():
    out = problems(GOOD.replace("seed: 3", "seed: 3\nseed: 4"))
    assert out == ["s.yaml:3: duplicate key 'seed'"]


def test_unknown_merchant_mode_lists_the_modes():
    out = problems(GOOD + "merchant: {mode: sloppy}\n")
    assert "unknown merchant mode 'sloppy'; modes: robust, naive-retry" in out[0]


def test_missing_file_is_a_scenario_error(tmp_path: Path):
    with pytest.raises(ScenarioError) as e:
        load_scenario(tmp_path / "nope.yaml")
    assert e.value.problems[0].endswith("nope.yaml:1: no such scenario file (run 'invoice-chaos list' for the bundled ones)")


def test_curve_files_resolve_relative_to_the_scenario():
    s = load_scenario(ROOT / "scenarios" / "holiday_peak.yaml")
    assert s.load.curve_file == "curves/singles_day_midnight.csv"
    assert max(v for _, v in s.load.curve) > 50 * min(v for _, v in s.load.curve)


def _with_faults(*lines: str) -> str:
    head = GOOD.split("faults:\n")[0]
    return head + "faults:\n" + "".join(f"  - {x}\n" for x in lines) + "gates:\n  p95_ms: 2000\n"


def test_two_faults_on_one_knob_at_once_are_refused_with_the_later_line():
    """Faults do not compose (the first undo resets the knob): the parser refuses overlaps
    on one link toxic, one platform admin field, one process; neighbours and different
    knobs are fine."""
    got = problems(_with_faults(
        "{at: 5s, for: 10s, link: merchant->taxplatform, toxic: latency, latency: 800}",
        "{at: 8s, for: 2s, link: merchant->taxplatform, toxic: latency, latency: 100}",
        "{at: 5s, for: 10s, target: taxplatform, action: errors, rate: 0.2}",
        "{at: 14s, for: 2s, target: taxplatform, action: errors, rate: 0.5}",
        "{at: 20s, target: merchant, action: kill, restart_after: 3s}",
        "{at: 21s, for: 2s, target: merchant, action: pause}"))
    assert len(got) == 3, got
    assert got[0].startswith("s.yaml:13: faults[1]: latency from 8s overlaps latency of s.yaml:12 "
                             "(5s to 15s) on link merchant->taxplatform (toxic latency): faults "
                             "do not compose")
    assert got[1].startswith("s.yaml:15: faults[3]: errors from 14s overlaps errors of s.yaml:14 "
                             "(5s to 15s) on the platform's error_after_commit, error_rate, "
                             "error_status")
    assert got[2].startswith("s.yaml:17: faults[5]: pause from 21s overlaps kill of s.yaml:16 "
                             "(20s to 23s) on process merchant")
    ok = parse_scenario_text(_with_faults(
        "{at: 5s, for: 5s, link: merchant->taxplatform, toxic: latency, latency: 800}",
        "{at: 10s, for: 2s, link: merchant->taxplatform, toxic: latency, latency: 100}",
        "{at: 6s, for: 2s, link: client->merchant, toxic: latency, latency: 100}",
        "{at: 6s, for: 2s, link: merchant->taxplatform, toxic: timeout, timeout: 100}",
        "{at: 5s, for: 10s, target: taxplatform, action: errors, rate: 0.2}",
        "{at: 6s, for: 2s, target: taxplatform, action: throttle, rate: 0.5}"), "s.yaml")
    assert len(ok.faults) == 6
