"""run.json as a typed record (harness/run_record.py) and the one place a scenario and the
options become the stack's configuration (harness/configure.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.configure import PROFILES, load_config, profile_of, stack_config
from harness.errors import InputError
from harness.run import RunOptions
from harness.run_record import RunRecord
from harness.scenario import parse_scenario_text
from support.scenarios import profile_scenario


def test_a_record_round_trips_and_leaves_out_what_was_never_set(tmp_path: Path) -> None:
    rec = RunRecord.started(0.0, run_id="r1-x", scenario="r1", seed=7, backend="local",
                            merchant={"mode": "robust", "sut_cmd": None})
    rec.note("something to say")
    rec.write(tmp_path)
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["started_at"] == "1970-01-01T00:00:00Z" and data["status"] == "starting"
    assert "t0" not in data and "load_end_t" not in data         # not reached yet
    assert RunRecord.read(tmp_path) == rec


def test_reading_is_lenient_and_keeps_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(
        {"seed": "seven", "t0": 1000.0, "load_end_t": 1030.5, "interrupted": 1,
         "notes": ["a"], "from_a_newer_version": {"x": 1}}))
    rec = RunRecord.read(tmp_path)
    assert rec.seed is None and rec.interrupted is False          # wrong types read as defaults
    assert rec.run_time_s("load_end_t") == 1030.5                # run seconds stay as they are
    assert rec.to_dict()["from_a_newer_version"] == {"x": 1}
    epoch = RunRecord(t0=1_700_000_000.0, drain_end_t=1_700_000_042.0)
    assert epoch.run_time_s("drain_end_t") == 42.0               # an epoch time is converted


def test_a_missing_record_is_empty_and_a_broken_one_is_named_when_strict(tmp_path: Path) -> None:
    assert RunRecord.read(tmp_path) == RunRecord()
    (tmp_path / "run.json").write_text("{not json")
    assert RunRecord.read(tmp_path) == RunRecord()
    with pytest.raises(InputError, match="run.json:1"):
        RunRecord.read(tmp_path, strict=True)


@pytest.mark.parametrize("platform, profile", [("  replica_lag: 200ms", "clearance"),
                                               ("  profile: direct\n  upload_delay: 1s", "direct")])
def test_the_stack_config_comes_from_the_scenario_and_its_profile(
        tmp_path: Path, platform: str, profile: str) -> None:
    scenario = parse_scenario_text(profile_scenario(platform, name="r1"), "s.yaml")
    opts = RunOptions(scenario_path="s.yaml", scale=2.0)
    cfg = stack_config(scenario, opts, "r1-x", tmp_path, tmp_path / "sellers.json")
    assert cfg.merchant_env["PLATFORM_PROFILE"] == profile
    assert cfg.platform_config.get("profile", "clearance") == profile
    if profile == "direct":
        assert cfg.platform_config["upload_delay_ms"] == 1000
        assert cfg.merchant_env["PLATFORM_UPLOAD_DEADLINE_S"] == "172800"
    else:
        assert cfg.platform_config["replica_lag_ms"] == 200
        assert "upload_delay_ms" not in cfg.platform_config
    sellers = [{"seller_tax_id": "91110000MA01234567", "name": "s", "secret": "x"}]
    load = load_config(scenario, opts, sellers, tmp_path / "history")  # type: ignore[arg-type]
    assert load.peak_rps == 10 and load.merchant_url == ""       # URLs come with the go


def test_profile_keys_and_actions_are_unique_within_a_profile() -> None:
    # a key or action may be shared by profiles (processing_delay and slow_processing: nuonuo
    # and ksef); the scenario parser names every profile that has it (test below)
    for p in PROFILES.values():
        assert len(p.keys) == len(set(p.keys)) and len(p.actions) == len(set(p.actions))
    assert "processing_delay" in PROFILES["nuonuo"].keys and "processing_delay" in \
        PROFILES["ksef"].keys
    assert profile_of(None).name == "clearance" and profile_of("direct").name == "direct"
