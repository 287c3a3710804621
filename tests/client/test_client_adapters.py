"""Systems with their own APIs, driven through client adapters (design.md s.14), as a user
runs them: the two example systems pass, and each with its defect switch on fails with the
class its defect makes; an adapter that raises or cannot map the answers makes the run
`unknown`, never `pass`, and the report says why. Real runs: Toxiproxy, Locust, processes."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from support.processes import free_port, invoice_chaos

pytestmark = pytest.mark.integration

SHORT = "tests/client/adapter_short.yaml"
SHOP = ("examples/envelope_shop/server.py", "examples/envelope_shop/adapter.py:EnvelopeShop")
ERP = ("examples/job_erp/server.py", "examples/job_erp/adapter.py:JobErp")


def _run(tmp_path: Path, name: str, cmd: str, client: str, scenario: str = SHORT) -> tuple[int, dict, str]:
    out = tmp_path / name
    p = invoice_chaos("run", scenario, "--sut-cmd", cmd, "--client", client, "--out", str(out),
                      timeout=400)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return p.returncode, summary, p.stdout[-4000:] + p.stderr[-3000:]


@pytest.mark.parametrize("system,defect,failing", [
    (SHOP, "", None),
    (SHOP, "SHOP_DEFECT=fresh_serial", "duplicated"),
    (ERP, "", None),
    (ERP, "ERP_DEFECT=timeout_fails", "phantom"),
], ids=["shop", "shop-fresh-serial", "erp", "erp-timeout-fails"])
def test_the_example_systems_through_their_adapters(tmp_path: Path, system: tuple, defect: str,
                                                    failing: str | None):
    server, client = system
    code, s, output = _run(tmp_path, "run", f"{defect} {sys.executable} {server}".strip(), client)
    assert s.get("client", {}).get("adapter", "").endswith(client.split("/")[-1]), output
    assert s["client"]["adapter_errors"] == 0 and s["client"]["unmapped"] == 0, s["client"]
    assert s["invoices"]["acknowledged"] > 50, output
    anomalies = {k: s["invoices"][k] for k in ("lost", "duplicated", "phantom", "mismatched",
                                               "orphaned", "unresolved", "misreversed")}
    if failing is None:
        assert code == 0 and s["verdict"] == "pass", output
        assert not any(anomalies.values()), anomalies
    else:
        assert code == 1 and s["verdict"] == "fail", output
        assert anomalies[failing] > 0, anomalies
        assert {k for k, v in anomalies.items() if v} == {failing}, anomalies


@pytest.mark.parametrize("cls,kind,words", [
    ("RaisesSometimes", "adapter_errors", "adapter_error: KeyError: 'invoice' (broken.py:"),
    ("ReadsTheWrongField", "unmapped", "unmapped: no 'state' in the answer; http 201; body: {"),
])
def test_an_adapter_that_fails_to_ask_never_passes_and_the_report_says_why(
        tmp_path: Path, cls: str, kind: str, words: str):
    code, s, output = _run(tmp_path, "run", f"{sys.executable} -m fakes.merchant",
                           f"tests/client/adapters/broken.py:{cls}")
    assert code == 1 and s["verdict"] == "unknown", output
    assert s["client"][kind] > 0 and words in json.dumps(s["client"]["examples"][kind], ensure_ascii=False)
    assert any("client adapter" in r for r in s["unknown_reasons"]), s["unknown_reasons"]
    # the bundled merchant is right: nothing the system did is counted against it
    assert all(g["passed"] for g in s["gates"] if g["name"] in ("lost", "duplicated", "phantom")), s["gates"]
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    first_screen = page[:page.index('<section><h2>Gates')] if '<section><h2>Gates' in page else page[:6000]
    assert 'id="client-adapter-failed"' in first_screen and "The client adapter failed to ask" in first_screen
    assert "client adapter" in output and "unknown:" in output


def test_an_adapter_and_a_system_that_do_not_understand_each_other_stop_at_start_up(tmp_path: Path):
    """The adapter's query of an order the system never saw must be not_found (exit 3)."""
    code, s, output = _run(tmp_path, "run", f"{sys.executable} -m fakes.merchant",
                           "tests/client/adapters/broken.py:KnowsEveryOrder")
    assert code == 3, output
    assert "asked about an order it never saw" in output and "got: ok issued" in output, output
    assert "expected not_found" in output and not s


def test_the_adapter_travels_to_a_load_machine_with_the_runs_settings(tmp_path: Path):
    """A worker started where the adapter's file does not exist (another directory, as on a
    load machine, design.md s.10) builds the adapter from the text the master sends."""
    import subprocess
    port = free_port()
    elsewhere = tmp_path / "load-machine"
    elsewhere.mkdir()
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "harness", "worker", "--master",
                                   f"127.0.0.1:{port}"], cwd=elsewhere, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out = tmp_path / "run"
        p = invoice_chaos("run", SHORT, "--sut-cmd", f"{sys.executable} {SHOP[0]}", "--client", SHOP[1],
                          "--workers", "0", "--remote-workers", "1", "--master-port", str(port),
                          "--workers-timeout", "60s", "--out", str(out), timeout=300)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    output = p.stdout[-3000:] + p.stderr[-2000:] + (tmp_path / "worker.log").read_text()[-2000:]
    assert p.returncode == 0, output
    assert not (elsewhere / "examples").exists()
    s = json.loads((out / "summary.json").read_text())
    assert s["verdict"] == "pass" and s["client"]["adapter_errors"] == 0
    assert s["invoices"]["acknowledged"] > 50, output
    workers = json.loads((out / "load-stats.json").read_text())["per_worker"]
    assert [(w["local"], w["arrivals"] > 50) for w in workers] == [(False, True)], workers
