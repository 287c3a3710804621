"""The ksef profile's scenario keys and faults (file:line errors), what the stack is started
with, and the Polish sellers of such a run (design.md s.13)."""
from __future__ import annotations

from pathlib import Path

import pytest

from fakes.common import nip
from fakes.common.regime import PL, regime_of
from fakes.common.sellers import read_sellers, sellers_for, write_sellers
from harness.configure import stack_config
from harness.errors import ScenarioError
from harness.run import RunOptions
from harness.scenario import parse_scenario_text
from support.scenarios import profile_scenario


def scenario(platform: str, faults: str = "  []") -> str:
    return profile_scenario(platform, faults, name="k1")


def test_ksef_keys_and_faults_reach_the_platform_config(tmp_path: Path) -> None:
    s = parse_scenario_text(scenario(
        "  profile: ksef\n  processing_delay: 400ms\n  rate_limits: 10\n"
        "  rate_limit_time_scale: 60",
        "  - {at: 2s, for: 5s, target: taxplatform, action: slow_processing, delay: 8s}"),
        "s.yaml")
    assert (s.platform.profile, s.platform.processing_delay_s) == ("ksef", 0.4)
    assert s.platform.tls                                  # KSeF is https only
    cfg = stack_config(s, RunOptions("s.yaml"), "r1", tmp_path, tmp_path / "sellers.json")
    assert cfg.platform_config["profile"] == "ksef"
    assert cfg.platform_config["processing_delay_ms"] == 400
    assert cfg.platform_config["ksef_rate_limits"] == 10.0
    assert cfg.platform_config["ksef_time_scale"] == 60.0
    assert cfg.merchant_env["PLATFORM_PROFILE"] == "ksef"


@pytest.mark.parametrize("platform,line,words", [
    ("  rate_limits: 2", 7, "only with 'profile: ksef'"),
    ("  profile: ksef\n  dedup: none", 8, "leave dedup out"),
    ("  profile: ksef\n  rate_limits: -1", 8, "x the documented limits"),
    ("  profile: ksef\n  rate_limit_time_scale: 0", 8, "a number > 0"),
])
def test_bad_ksef_keys_name_file_and_line(platform: str, line: int, words: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse_scenario_text(scenario(platform), "s.yaml")
    found = e.value.problems
    assert any(p.startswith(f"s.yaml:{line}:") and words in p for p in found), found


def test_ksef_runs_get_polish_sellers(tmp_path: Path) -> None:
    sellers = sellers_for("ksef", 5, 7)
    assert all(nip.is_valid(s["seller_tax_id"]) for s in sellers)
    assert all(s["ksef_token"] == s["secret"] and f"|nip-{s['seller_tax_id']}|" in s["secret"]
               for s in sellers)
    assert regime_of(sellers[0]["seller_tax_id"]) is PL
    write_sellers(tmp_path / "s.json", sellers)
    assert read_sellers(tmp_path / "s.json") == sellers
    assert sellers_for("ksef", 5, 7) == sellers                 # reproducible from the seed
    assert regime_of(sellers_for("clearance", 1, 7)[0]["seller_tax_id"]).name == "cn"
