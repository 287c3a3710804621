"""A merchant that stops answering for good halfway must not hang the harness, and must not
pass: one that hangs on every request, one that refuses connections.

Each is one real `invoice-chaos run --sut-cmd` (Toxiproxy, the fakes, Locust) of a short
flat scenario with no fault at all; both run at once to keep CI short. The run must end
within the scenario's duration plus its drain timeout plus a minute (as the run records it
in run.json, not timed by the test), with the verdict `unknown` or failed on a recovery gate,
and the report must say why.
"""
from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.processes import invoice_chaos

DURATION_S, DRAIN_S, AFTER_S = 14, 8, 6
SCENARIO = f"""name: dead-halfway
seed: 14
duration: {DURATION_S}s
load:
  points: [[0s, 1.0], [{DURATION_S}s, 1.0]]
  peak_rps: 6
  mix: {{checkout: 85, query: 15}}
  timeout: 2s
merchant:
  sellers: 3
drain: {{timeout: {DRAIN_S}s}}
"""
HOWS = ("hang", "refuse")
RECOVERY_GATES = {"answered_share", "answered_share_overall", "answered_share_after_faults",
                  "recovery_s"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, dict, dict, Path, str]]:
    base = tmp_path_factory.mktemp("dead")
    scenario = base / "dead_halfway.yaml"
    scenario.write_text(SCENARIO)
    server = Path(__file__).with_name("dead_merchant.py")

    def one(how: str) -> tuple[int, dict, dict, Path, str]:
        out = base / how
        proc = invoice_chaos("run", str(scenario), "--out", str(out), "--sut-cmd",
                             f"{sys.executable} {server} --how {how} --after {AFTER_S}",
                             timeout=DURATION_S + DRAIN_S + 240)
        text = proc.stdout + proc.stderr
        assert (out / "summary.json").is_file(), text[-3000:]
        return (proc.returncode, json.loads((out / "summary.json").read_text()),
                json.loads((out / "run.json").read_text()), out, text)

    with ThreadPoolExecutor(len(HOWS)) as pool:
        return dict(zip(HOWS, pool.map(one, HOWS)))


@pytest.mark.integration
@pytest.mark.parametrize("how", HOWS)
def test_a_merchant_dead_halfway_ends_in_time_and_never_passes(how: str, runs) -> None:
    code, summary, run, out, text = runs[how]
    tail = text[-2500:]
    # within duration + drain timeout + a minute, by the run's own clock (t since load start)
    assert run["drain_end_t"] <= DURATION_S + DRAIN_S + 60, tail
    assert code == 1 and summary["verdict"] in ("unknown", "fail"), tail
    failed = {g["name"] for g in summary["gates"] if not g["passed"]}
    if summary["verdict"] == "fail":
        assert failed & RECOVERY_GATES, f"failed for another reason: {failed}\n{tail}"
    else:
        assert summary["unknown_reasons"], tail
    # the merchant answered nothing in its second half: the answered share shows it
    assert summary["recovery"]["answered_share"] < 0.95
    assert summary["final_read"]["answered"] < summary["final_read"]["orders"]
    report = (out / "report.html").read_text(encoding="utf-8")
    why = [g for g in summary["gates"] if not g["passed"]]
    assert "answered_share" in report and why
    if summary["unknown_reasons"]:
        assert "Not enough evidence to pass" in report
        assert "unknown:" in text
