"""`invoice-chaos explore` through real runs (Toxiproxy, the fakes, Locust), kept short for
CI: 12 s tries of a small scenario whose explore: block only draws a slow platform link.
The naive-retry merchant fails the first try with `duplicated`; the one shrink step allowed
(drop the fault) passes and is not kept, minimal.yaml replays with `invoice-chaos run` and fails the same way. The
robust merchant's exploration ends with exit 0."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scenario import load_scenario

from support.processes import invoice_chaos

pytestmark = pytest.mark.integration

SCENARIO = """\
name: explore-ci
seed: 3
duration: 12s
load:
  points: [[0s, 1.0], [12s, 1.0]]
  peak_rps: 6
  mix: {checkout: 100}
merchant: {sellers: 3, platform_timeout: 1s}
drain: {timeout: 20s}
explore:
  faults: [latency]
  links: [merchant->taxplatform]
  count: 1
  for: [4s, 5s]
"""


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "explore_ci.yaml"
    path.write_text(SCENARIO)
    return path


def test_explore_finds_shrinks_and_replays_the_duplicate(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "ex"
    r = invoice_chaos("explore", str(scenario), "--merchant-mode", "naive-retry", "--runs", "2", "--seed", "1",
                      "--confirm", "1", "--shrink-steps", "1", "--out", str(out), timeout=600)
    text = r.stdout + r.stderr
    assert r.returncode == 1, text
    assert "try 1/2 (1 left)" in text and "shrink: step 1/1 (0 left)" in text
    doc = json.loads((out / "explore.json").read_text())
    assert doc["failing_try"] == 1 and doc["class"] == "duplicated" and doc["exit_code"] == 1
    assert doc["tries"][0]["result"]["counts"]["duplicated"] > 0
    assert (out / "try-001" / "scenario.yaml").is_file() and (out / "try-001" / "run" / "summary.json").is_file()
    # the one candidate the budget allows: without the fault the merchant passes, so it is not kept
    step = doc["shrink"][0]
    assert len(doc["shrink"]) == 1 and step["change"].startswith("drop latency")
    assert step["kept"] is False and step["runs"][0]["verdict"] == "pass"
    minimal = load_scenario(out / "minimal.yaml")
    assert len(minimal.faults) <= 1 and minimal.explore is None
    assert doc["minimal"]["path"] == "minimal.yaml" and (out / doc["minimal"]["report"]).is_file()
    page = (out / "explore.html").read_text()
    assert "minimal scenario: duplicated" in page and "shrink path" in page

    replay = invoice_chaos("run", str(out / "minimal.yaml"), "--merchant-mode", "naive-retry",
                           "--out", str(tmp_path / "replay"), timeout=300)
    assert replay.returncode == 1, replay.stdout + replay.stderr
    summary = json.loads((tmp_path / "replay" / "summary.json").read_text())
    assert summary["invoices"]["duplicated"] > 0


def test_explore_of_the_robust_merchant_ends_with_exit_0(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "ex"
    r = invoice_chaos("explore", str(scenario), "--merchant-mode", "robust", "--runs", "1", "--seed", "1",
                      "--out", str(out), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((out / "explore.json").read_text())
    assert doc["status"] == "no failure" and doc["failing_try"] is None and not (out / "minimal.yaml").exists()
    assert doc["tries"][0]["result"]["verdict"] == "pass"
