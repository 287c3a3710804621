"""The bundled scenario catalogue: every file validates, says what incident it reproduces,
stays short enough for the test suite, and `invoice-chaos list` shows it.

Fast (no services are started): not marked integration.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.scenario import load_scenario, parse_duration
from harness.scenario.parse import ANOMALY_GATES

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"

# The incidents of the seeds (design.md s.1, domain.md) that must each have a bundled
# scenario named after them.
REQUIRED = ("smoke", "holiday_peak", "tax_platform_outage", "flaky_network", "merchant_crash",
            "slow_platform_commit", "sync_delay", "quota_exhaustion", "login_storm")
# Long by design; every other bundled scenario is kept short for the detection matrix.
LONG = {"holiday_peak", "mall_upload_gap", "ksef_launch_day", "nuonuo_peak", "merchant_restarts"}
# Not a chaos scenario: the flat, fault-free load a capacity sweep climbs (design.md s.9).
CAPACITY = "capacity"
# The fault families each incident scenario must exercise (`invoice-chaos list`).
FAMILY_FAULTS = {
    "tax_platform_outage": {"down", "kill", "errors"},
    "flaky_network": {"timeout", "reset_peer", "latency"},
    "merchant_crash": {"kill", "pause"},
    "slow_platform_commit": {"slow_commit"},
    "quota_exhaustion": {"quota"},
    "login_storm": {"revoke_tokens"},
    "sync_delay": {"replica_lag"},
    # the direct-connect profile (design.md s.12): uploads received and never finished
    "direct_smoke": {"upload_loss", "upload_stall", "kill"},
    "mall_upload_gap": {"upload_loss", "upload_stall", "kill", "down"},
    # the nuonuo profile (design.md s.13): acknowledged first, decided later
    "nuonuo_smoke": {"errors", "slow_processing", "ack_without_commit", "kill", "down"},
    "nuonuo_peak": {"slow_processing", "throttle", "revoke_tokens", "down", "ack_without_commit"},
}

BUNDLED = sorted(SCENARIOS.glob("*.yaml"))


def _kind(raw: dict) -> str:
    return raw.get("toxic") or raw.get("action") or ""


def test_the_catalogue_has_every_incident() -> None:
    names = {p.stem for p in BUNDLED}
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, f"scenarios/ lacks {missing}"


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenario_validates_and_is_described(path: Path) -> None:
    s = load_scenario(path)
    words = s.description.split()
    assert len(words) >= 15, f"{path.name}: the description should tell the incident it reproduces"
    assert s.merchant.mode == "robust", f"{path.name}: bundled scenarios run the reference merchant"
    assert s.faults or path.stem == CAPACITY, f"{path.name}: a chaos scenario without faults"
    gates = {g.name: g.limit for g in s.gates}
    for name in ("lost", "duplicated", "phantom", "mismatched", "unresolved"):
        assert gates.get(name) == 0, f"{path.name}: gate {name} must be 0, is {gates.get(name)}"
    assert set(ANOMALY_GATES) <= set(gates)


@pytest.mark.parametrize("path", [p for p in BUNDLED if p.stem not in LONG | {CAPACITY}],
                         ids=[p.stem for p in BUNDLED if p.stem not in LONG | {CAPACITY}])
def test_short_scenarios_stay_short(path: Path) -> None:
    s = load_scenario(path)
    assert 20 <= s.duration_s <= 40, f"{path.name}: {s.duration_s}s of load (keep 20-40 s)"
    assert s.drain.timeout_s <= 30
    assert s.load.peak_rps <= 15


def test_capacity_is_flat_fault_free_and_gated_on_every_promise() -> None:
    s = load_scenario(SCENARIOS / f"{CAPACITY}.yaml")
    assert not s.faults and {v for _, v in s.load.curve} == {1.0}
    assert s.load.mix["checkout"] >= 80
    gates = {g.name: g.limit for g in s.gates}
    assert all(gates[g] == 0 for g in ANOMALY_GATES) and gates["p95_ms"] == 500


@pytest.mark.parametrize("stem", sorted(FAMILY_FAULTS))
def test_incident_scenario_uses_its_fault_family(stem: str) -> None:
    s = load_scenario(SCENARIOS / f"{stem}.yaml")
    kinds = {_kind(f.raw) for f in s.faults}
    assert FAMILY_FAULTS[stem] <= kinds, f"{stem}: faults {sorted(kinds)} lack {FAMILY_FAULTS[stem] - kinds}"


def test_sync_delay_lags_longer_than_a_shopper_waits() -> None:
    s = load_scenario(SCENARIOS / "sync_delay.yaml")
    lags = [f.raw["lag"] for f in s.faults if f.raw.get("action") == "replica_lag"]
    assert lags and max(parse_duration(x) for x in lags) >= 3.0
    assert s.load.mix.get("verify", 0) > 0 and s.load.mix.get("query", 0) > 0


def test_invoice_chaos_list_shows_every_bundled_scenario() -> None:
    out = subprocess.run([sys.executable, "-m", "harness", "list"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = out.stdout.split("\n\n")[0]
    for path in BUNDLED:
        line = next((ln for ln in listed.splitlines() if ln.strip().startswith(path.name)), None)
        assert line is not None, f"`invoice-chaos list` does not show {path.name}:\n{listed}"
        assert "INVALID" not in line, line
        first_words = " ".join(load_scenario(path).description.split()[:3])
        assert first_words in line, f"{path.name}: list shows {line!r}"
