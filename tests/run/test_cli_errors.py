"""Bad input gets a clear error and the documented exit code before anything starts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.processes import ROOT, invoice_chaos


def test_help_explains_exit_codes():
    out = invoice_chaos("run", "--help")
    assert out.returncode == 0
    assert "--sut-cmd" in out.stdout and "exit codes" in out.stdout and "130" in out.stdout


def test_invalid_scenario_exits_2_with_file_and_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nduration: 1 minute\nload:\n  peak_rps: 5\n  mixx: {checkout: 1}\n")
    out = invoice_chaos("run", str(bad), "--out", str(tmp_path / "run"))
    assert out.returncode == 2
    assert f"{bad}:2: duration: '1 minute' is not a duration" in out.stderr
    assert f"{bad}:5: load.mixx: unknown key 'mixx' (did you mean 'mix'?)" in out.stderr
    assert not (tmp_path / "run").exists()            # nothing was started


def test_validate_reports_every_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nduration: 10s\nload: {peak_rps: 1}\nfaults:\n  - {at: 1s, for: 1s, link: client->merchant, toxic: latncy}\n")
    out = invoice_chaos("validate", str(ROOT / "scenarios" / "smoke.yaml"), str(bad))
    assert out.returncode == 2
    assert "smoke.yaml: ok" in out.stdout
    assert f"{bad}:5: faults[0].toxic: unknown toxic 'latncy'" in out.stderr


def test_unknown_merchant_mode_is_usage_error():
    out = invoice_chaos("run", "scenarios/smoke.yaml", "--merchant-mode", "sloppy")
    assert out.returncode == 2 and "unknown; modes: robust" in out.stderr


def test_missing_toxiproxy_exits_3_with_install_instructions(tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "INVOICE_CHAOS_TOXIPROXY": str(tmp_path / "no-such-binary")}
    out = invoice_chaos("run", "scenarios/smoke.yaml", "--out", str(tmp_path / "run"), env=env)
    assert out.returncode == 3
    assert "make setup" in out.stderr and "releases/tag/v2.12.0" in out.stderr


def test_list_shows_scenarios_faults_and_modes():
    out = invoice_chaos("list")
    assert out.returncode == 0
    for word in ("smoke.yaml", "holiday_peak.yaml", "latency", "reset_peer", "kill", "pause",
                 "ack_without_commit", "naive-retry", "fire-and-forget", "swallow-errors"):
        assert word in out.stdout


def _run_dir(tmp_path: Path, history: list[str], ledger: list[str]) -> Path:
    d = tmp_path / "recorded"
    d.mkdir()
    (d / "history.jsonl").write_text("".join(h + "\n" for h in history))
    (d / "platform-ledger.jsonl").write_text("".join(x + "\n" for x in ledger))
    return d


INVOKE = json.dumps({"t": 0.1, "ts": 1.1, "proc": "w0.1", "op": "issue", "type": "invoke", "order_id": "O1",
                     "invoice_no": None, "result": None, "status": None, "latency_ms": None, "error": None,
                     "order": {"seller_tax_id": "911101017967003199", "buyer": {"name": "张三"}, "kind": "normal",
                               "lines": [{"name": "茶", "quantity": "1", "unit_price": "100.00", "tax_rate": "0.13"}]}})
OK = json.dumps({"t": 0.2, "ts": 1.2, "proc": "w0.1", "op": "issue", "type": "ok", "order_id": "O1",
                 "invoice_no": "26117000000000000001", "result": "issued", "status": 201, "latency_ms": 100,
                 "error": None})
LEDGER = json.dumps({"invoice_no": "26117000000000000001", "kind": "blue", "request_id": "r1", "order_ref": "O1",
                     "seller_tax_id": "911101017967003199", "buyer_tax_id": None, "amount": "100.00",
                     "tax": "13.00", "total": "113.00", "issued_at": 1.15, "original_invoice_no": None})


FINAL = [json.dumps({"t": 9.0, "ts": 10.0, "proc": "final.0", "op": "query", "type": "invoke",
                     "order_id": "O1", "invoice_no": None, "result": None, "status": None,
                     "latency_ms": None, "error": None}),
         json.dumps({"t": 9.1, "ts": 10.1, "proc": "final.0", "op": "query", "type": "ok",
                     "order_id": "O1", "invoice_no": "26117000000000000001", "result": "issued",
                     "status": 200, "latency_ms": 100, "error": None})]


def test_check_on_a_clean_recorded_run_passes(tmp_path: Path):
    d = _run_dir(tmp_path, [INVOKE, OK, *FINAL], [LEDGER])
    out = invoice_chaos("check", str(d))
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads((d / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["invoices"]["acknowledged"] == 1
    assert (d / "junit.xml").is_file() and (d / "report.html").is_file()


def test_a_recorded_run_without_a_final_read_is_unknown(tmp_path: Path):
    """No final read: nobody asked the merchant for its last word, so lost and phantom had no
    chance to show; exit 1, `unknown`, and the reason in summary.json and the output."""
    d = _run_dir(tmp_path, [INVOKE, OK], [LEDGER])
    out = invoice_chaos("check", str(d))
    assert out.returncode == 1, out.stdout + out.stderr
    summary = json.loads((d / "summary.json").read_text())
    assert summary["verdict"] == "unknown"
    assert any("final read" in r for r in summary["unknown_reasons"])
    assert "VERDICT: UNKNOWN" in out.stdout.upper() and "final read" in out.stdout


def test_check_finds_a_lost_invoice_without_a_scenario(tmp_path: Path):
    d = _run_dir(tmp_path, [INVOKE, OK], [])
    out = invoice_chaos("check", str(d), "--no-report")
    assert out.returncode == 1
    assert json.loads((d / "summary.json").read_text())["invoices"]["lost"] == 1


@pytest.mark.parametrize("history,ledger,where", [
    ([INVOKE, OK[:40]], [LEDGER], "history.jsonl:2:"),
    ([INVOKE, OK.replace('"ok"', '"maybe"')], [LEDGER], "history.jsonl:2:"),
    ([INVOKE, OK], [LEDGER.replace('"total": "113.00", ', '')], "platform-ledger.jsonl:1:"),
])
def test_check_on_broken_files_exits_2_with_file_and_line(tmp_path: Path, history, ledger, where):
    d = _run_dir(tmp_path, history, ledger)
    out = invoice_chaos("check", str(d))
    assert out.returncode == 2, out.stdout + out.stderr
    assert where in out.stderr and "Traceback" not in out.stderr


def test_check_on_a_directory_without_files_exits_2(tmp_path: Path):
    out = invoice_chaos("check", str(tmp_path))
    assert out.returncode == 2 and "history.jsonl:1: missing" in out.stderr
