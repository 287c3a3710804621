"""The whole path as a user runs it: `invoice-chaos run` through the real Toxiproxy binary,
the real fakes and real Locust, then `check`, `report` and `compare` on what it wrote."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support.processes import ROOT, ctrl_c_reaches_it, invoice_chaos, lingering

pytestmark = pytest.mark.integration

RUN_FILES = ("summary.json", "report.html", "junit.xml", "history.jsonl", "platform-ledger.jsonl",
             "faults.jsonl", "scenario.yaml", "run.json", "plots/throughput.png", "plots/latency.png",
             "logs/taxplatform.log", "logs/merchant.log", "logs/toxiproxy.log")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out_dir = tmp_path_factory.mktemp("e2e") / "smoke"
    proc = invoice_chaos("run", "scenarios/smoke.yaml", "--out", str(out_dir), timeout=400)
    return proc, out_dir


def test_smoke_with_the_robust_merchant_passes(smoke_run):
    proc, out_dir = smoke_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "verdict: PASS" in proc.stdout and f"report: {out_dir / 'report.html'}" in proc.stdout
    s = json.loads((out_dir / "summary.json").read_text())
    inv = s["invoices"]
    assert s["verdict"] == "pass" and inv["acknowledged"] > 100
    assert all(inv[k] == 0 for k in ("lost", "duplicated", "phantom", "mismatched", "orphaned", "unresolved"))
    assert {f["kind"] for f in s["faults"]} >= {"latency", "down", "kill", "errors"}
    assert all(f["ok"] and f["end_s"] > f["start_s"] for f in s["faults"])


def test_the_run_directory_has_every_file(smoke_run):
    _, out_dir = smoke_run
    for name in RUN_FILES:
        assert (out_dir / name).is_file(), name
    events = [json.loads(x) for x in (out_dir / "history.jsonl").read_text().splitlines()]
    assert {e["op"] for e in events} >= {"issue", "query", "verify"}
    assert all(events[i]["t"] <= events[i + 1]["t"] for i in range(len(events) - 1))
    ledger = [json.loads(x) for x in (out_dir / "platform-ledger.jsonl").read_text().splitlines()]
    assert ledger and all(len(x["invoice_no"]) == 20 and x["invoice_no"].isdigit() for x in ledger)
    suites = ET.parse(out_dir / "junit.xml").getroot()
    names = {tc.get("name") for tc in suites.iter("testcase")}
    assert "gate: lost" in names and "gate: p95_ms" in names


def test_faults_were_applied_at_their_planned_times(smoke_run):
    _, out_dir = smoke_run
    applied = [json.loads(x) for x in (out_dir / "faults.jsonl").read_text().splitlines()]
    for f in applied:
        assert abs(f["start_s"] - f["planned_start_s"]) < 1.0, f


def test_check_and_report_rerun_on_the_recorded_run(smoke_run, tmp_path: Path):
    _, out_dir = smoke_run
    before = json.loads((out_dir / "summary.json").read_text())
    (out_dir / "report.html").unlink()
    out = invoice_chaos("check", str(out_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    after = json.loads((out_dir / "summary.json").read_text())
    assert after["invoices"] == before["invoices"] and after["verdict"] == "pass"
    assert (out_dir / "report.html").is_file()
    out = invoice_chaos("report", str(out_dir))
    assert out.returncode == 0 and "report.html" in out.stdout
    html = (out_dir / "report.html").read_text()
    assert "PASS" in html and "data:image/png;base64," in html
    out = invoice_chaos("compare", str(out_dir), str(out_dir))
    assert out.returncode == 0 and "acknowledged" in out.stdout


def test_ctrl_c_leaves_no_process_and_marks_the_run_interrupted(tmp_path: Path):
    out_dir = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml", "--out", str(out_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=ctrl_c_reaches_it)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out_dir / "history" / "w0.jsonl").exists() \
                and not list((out_dir / "history").glob("*.jsonl")) if (out_dir / "history").exists() else True:
            time.sleep(0.5)
            if time.monotonic() > deadline:
                break
        time.sleep(6)                                   # in the middle of the load
        os.killpg(proc.pid, signal.SIGINT)              # what a terminal's Ctrl-C does
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output[-3000:]
    assert "interrupted" in output
    time.sleep(1)
    assert lingering(str(out_dir)) == []
    meta = json.loads((out_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["status"] == "interrupted"
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["verdict"] == "interrupted" and summary["invoices"]["requested"] > 0


def test_an_external_sut_passes_through_sut_cmd(tmp_path: Path):
    """docs/sut-contract.md's walkthrough: the stdlib example merchant, plugged in by command."""
    out_dir = tmp_path / "sut"
    cmd = f"{sys.executable} examples/stdlib_merchant/server.py"
    out = invoice_chaos("run", "scenarios/smoke.yaml", "--sut-cmd", cmd, "--out", str(out_dir), timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    s = json.loads((out_dir / "summary.json").read_text())
    assert s["merchant"]["sut_cmd"] == cmd and s["invoices"]["acknowledged"] > 100
    assert "kill" in {f["kind"] for f in s["faults"]}


def test_an_external_sut_is_killed_paused_and_restarted_like_the_bundled_one(tmp_path: Path):
    """merchant_crash with --sut-cmd: SIGKILL + restart of the same command on the same DATA_DIR,
    SIGSTOP/SIGCONT; a correct system loses nothing."""
    out_dir = tmp_path / "sut-crash"
    cmd = f"{sys.executable} examples/stdlib_merchant/server.py"
    out = invoice_chaos("run", "scenarios/merchant_crash.yaml", "--sut-cmd", cmd, "--out", str(out_dir), timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    s = json.loads((out_dir / "summary.json").read_text())
    on_merchant = [(f["kind"], f["ok"]) for f in s["faults"] if f["target"] == "merchant"]
    assert on_merchant.count(("kill", True)) == 2 and ("pause", True) in on_merchant
    assert (out_dir / "logs" / "merchant.log").read_text().count("=== start #") == 3
    assert s["invoices"]["acknowledged"] > 50 and s["invoices"]["lost"] == 0
