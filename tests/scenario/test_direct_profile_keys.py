"""The direct profile's scenario keys (file:line errors), the checker's allowed lag for it,
and the upload-pipeline summary of the report (design.md s.12)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.verdict import allowed_lag_s
from harness.report.uploads import render_section, summarise_uploads, verdict_lines
from harness.scenario import parse_scenario_text
from support.scenarios import profile_scenario


def scenario(platform: str, faults: str = "  []") -> str:
    return profile_scenario(platform, faults, name="d1")


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        parse_scenario_text(text, "s.yaml")
    return e.value.problems


def test_direct_keys_parse_into_seconds() -> None:
    s = parse_scenario_text(scenario("  profile: direct\n  upload_delay: 1500ms\n"
                                     "  upload_deadline: 60s\n  replica_lag: 200ms",
                                     "  - {at: 2s, for: 5s, target: taxplatform, action: upload_loss, rate: 0.4}\n"
                                     "  - {at: 9s, for: 5s, target: taxplatform, action: upload_stall}"))
    assert (s.platform.profile, s.platform.upload_delay_s, s.platform.upload_deadline_s) == (
        "direct", 1.5, 60.0)
    assert allowed_lag_s(s) == pytest.approx(0.2 + 1.5 + 60.0)
    assert allowed_lag_s(parse_scenario_text(scenario("  replica_lag: 200ms"))) == 0.2


def test_defaults_are_clearance_and_48h() -> None:
    s = parse_scenario_text(scenario("  replica_lag: 1s"))
    assert (s.platform.profile, s.platform.upload_delay_s, s.platform.upload_deadline_s) == (
        "clearance", 2.0, 172800.0)


@pytest.mark.parametrize("platform,faults,line,words", [
    ("  profile: drect", "  []", 7, "unknown profile 'drect'"),
    ("  upload_delay: 2s", "  []", 7, "only with 'profile: direct'"),
    ("  profile: direct\n  upload_deadline: soon", "  []", 8, "upload_deadline"),
    ("  profile: direct\n  upload_delay: 5s\n  upload_deadline: 3s", "  []", 9,
     "longer than upload_delay"),
    ("  profile: direct\n  dedup: none", "  []", 8, "leave dedup out"),
    ("  replica_lag: 1s", "  - {at: 2s, for: 5s, target: taxplatform, action: upload_stall}", 9,
     "needs 'platform: {profile: direct}'"),
    ("  profile: direct", "  - {at: 2s, for: 5s, target: taxplatform, action: upload_loss, rate: 2}",
     9, "rate"),
])
def test_bad_direct_keys_name_file_and_line(platform: str, faults: str, line: int,
                                             words: str) -> None:
    found = problems(scenario(platform, faults))
    assert any(p.startswith(f"s.yaml:{line}:") and words in p for p in found), found


def test_upload_pipeline_summary(tmp_path: Path) -> None:
    assert summarise_uploads(tmp_path) is None and render_section({}) == ""
    ups = [
        {"upload_id": "U1", "lost": False, "status": "done", "received_at": 100.0,
         "finished_at": 103.0, "invoices": [{"invoice_no": "A", "issued_at": 99.0},
                                            {"invoice_no": "B", "issued_at": 100.0}],
         "results": [{"invoice_no": "A", "result": "accepted"},
                     {"invoice_no": "B", "result": "rejected", "error": "upload_overdue"}]},
        {"upload_id": "U2", "lost": True, "status": "processing", "received_at": 101.0,
         "finished_at": None, "invoices": [{"invoice_no": "C", "issued_at": 100.5}],
         "results": []},
        {"upload_id": "U3", "lost": False, "status": "done", "received_at": 110.0,
         "finished_at": 112.0, "invoices": [{"invoice_no": "C", "issued_at": 100.5},
                                            {"invoice_no": "A", "issued_at": 99.0}],
         "results": [{"invoice_no": "C", "result": "accepted"},
                     {"invoice_no": "A", "result": "accepted"}]},
    ]
    (tmp_path / "platform-uploads.jsonl").write_text(
        "".join(json.dumps(u) + "\n" for u in ups), encoding="utf-8")
    s = summarise_uploads(tmp_path)
    assert s == {"uploads": {"received": 3, "finished": 2, "stuck": 1, "lost_by_fault": 1},
                 "invoices": {"uploaded": 5, "accepted": 3, "distinct_accepted": 2,
                              "rejected": {"upload_overdue": 1}},
                 "invoice_to_acceptance_s": {"p50": 11.5, "p95": 11.5, "max": 11.5}}
    summary = {"platform": {"profile": "direct"}, "upload_pipeline": s}
    lines = verdict_lines(summary)
    assert lines[0] == "  platform profile: direct" and "stuck 1" in lines[1]
    assert "upload_overdue" in render_section(summary)
