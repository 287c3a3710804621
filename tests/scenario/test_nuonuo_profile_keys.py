"""The nuonuo profile's scenario keys and faults (file:line errors) and what the stack is
started with (design.md s.13)."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.configure import stack_config
from harness.errors import ScenarioError
from harness.run import RunOptions
from harness.scenario import parse_scenario_text
from support.scenarios import profile_scenario


def scenario(platform: str, faults: str = "  []") -> str:
    return profile_scenario(platform, faults, name="n1")


def test_nuonuo_keys_and_faults_reach_the_platform_config(tmp_path: Path) -> None:
    s = parse_scenario_text(scenario(
        "  profile: nuonuo\n  processing_delay: 1500ms",
        "  - {at: 2s, for: 5s, target: taxplatform, action: slow_processing, delay: 8s}\n"
        "  - {at: 9s, for: 5s, target: taxplatform, action: signing_failure, rate: 0.5}"))
    assert (s.platform.profile, s.platform.processing_delay_s) == ("nuonuo", 1.5)

    cfg = stack_config(s, RunOptions("s.yaml"), "r1", tmp_path, tmp_path / "sellers.json")
    assert cfg.platform_config["profile"] == "nuonuo"
    assert cfg.platform_config["processing_delay_ms"] == 1500
    assert cfg.merchant_env["PLATFORM_PROFILE"] == "nuonuo"


@pytest.mark.parametrize("platform,faults,line,words", [
    ("  processing_delay: 2s", "  []", 7, "only with 'profile: nuonuo or ksef'"),
    ("  profile: nuonuo\n  dedup: none", "  []", 8, "leave dedup out"),
    ("  profile: nuonuo\n  processing_delay: 11m", "  []", 8, "at most 10m"),
    ("  replica_lag: 1s", "  - {at: 2s, for: 5s, target: taxplatform, action: slow_processing}", 9,
     "needs 'platform: {profile: nuonuo or ksef}'"),
])
def test_bad_nuonuo_keys_name_file_and_line(platform: str, faults: str, line: int,
                                            words: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse_scenario_text(scenario(platform, faults), "s.yaml")
    found = e.value.problems
    assert any(p.startswith(f"s.yaml:{line}:") and words in p for p in found), found
