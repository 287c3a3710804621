"""Shrink candidates (pure): the biggest simplification first, each one smaller than the
schedule it came from, and every candidate a scenario that validates."""
from __future__ import annotations

from pathlib import Path

from harness.explore.shrink import candidates
from harness.explore.tryfile import TrySpec, scenario_text
from harness.scenario import load_scenario, parse_scenario_text

ROOT = Path(__file__).resolve().parents[2]

SPEC = TrySpec(faults=({"at": "4s", "for": "6s", "link": "merchant->taxplatform", "toxic": "latency", "latency": 2500},
                       {"at": "12s", "target": "taxplatform", "action": "kill", "restart_after": "2s"}),
               duration_s=20.0, peak_rps=12, seed=1)


def test_candidates_drop_first_then_shorten_lower_cut_and_move() -> None:
    changes = [c for c, _ in candidates(SPEC)]
    assert changes[0].startswith("drop latency") and changes[1].startswith("drop kill")
    assert changes[2] == "shorten latency merchant->taxplatform at 4s for 6s to 3s"
    assert "lower the rate to 6/s" in changes
    assert any(c.startswith("move latency") for c in changes)
    for _, cand in candidates(SPEC):
        smaller = (len(cand.faults) < len(SPEC.faults) or cand.peak_rps < SPEC.peak_rps
                   or cand.duration_s < SPEC.duration_s or cand.faults != SPEC.faults)
        assert smaller and cand.key() != SPEC.key()


def test_every_candidate_is_a_valid_scenario_that_keeps_load_and_gates() -> None:
    base = load_scenario(ROOT / "scenarios" / "smoke.yaml")
    for change, cand in candidates(SPEC):
        text = scenario_text(base, cand, change)
        s = parse_scenario_text(text, "cand.yaml")
        assert s.duration_s == cand.duration_s and s.load.peak_rps == cand.peak_rps
        assert len(s.faults) == len(cand.faults)
        assert [g.name for g in s.gates] == [g.name for g in base.gates]
        assert s.load.mix == base.load.mix and s.merchant.sellers == base.merchant.sellers


def test_a_single_short_fault_at_the_end_has_few_candidates() -> None:
    spec = TrySpec(faults=({"at": "14s", "for": "1s", "link": "client->merchant", "toxic": "down"},),
                   duration_s=18.0, peak_rps=1, seed=1)
    changes = [c for c, _ in candidates(spec)]
    assert changes == ["drop down client->merchant at 14s for 1s", "shorten the load to 9s"] or \
        changes[0].startswith("drop")


def test_only_anomaly_gates_make_a_failure_unless_any_gate() -> None:
    from harness.explore.trial import failure_class
    assert failure_class(["answered_share", "duplicated"], ["lost", "duplicated"]) == "duplicated"
    assert failure_class(["answered_share"], []) is None
    assert failure_class(["answered_share", "p95_ms"], [], any_gate=True) == "answered_share"
    # a class that is counted but whose gate is off (limit null) is not a failure
    assert failure_class([], ["stale_reads"]) is None
