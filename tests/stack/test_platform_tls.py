"""The platform over TLS (design.md s.13): a run with `platform: {tls: true}` makes its own CA,
the platform serves HTTPS through Toxiproxy (toxics, a kill and restart, injected errors all
still work), the system under test trusts it through its environment alone (Python, curl,
Node, Java), and the harness's own calls (load verifies, drain, ledger, admin faults) trust
it too."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cryptography import x509

from harness.stack.tls import make_run_tls, sut_env

from support.processes import ROOT, invoice_chaos, lingering

pytestmark = pytest.mark.integration


def test_the_run_ca_and_its_files(tmp_path: Path) -> None:
    tls = make_run_tls(tmp_path / "run-1")
    assert tls.ca_pem == tmp_path / "run-1" / "tls" / "ca.pem"
    cert = x509.load_pem_x509_certificates(tls.cert_pem.read_bytes())[0]
    ca = x509.load_pem_x509_certificate(tls.ca_pem.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    env = sut_env(tls)
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == env["NODE_EXTRA_CA_CERTS"] \
        == env["CURL_CA_BUNDLE"] == env["TAX_PLATFORM_CA"] == str(tls.ca_pem.resolve())
    assert f"-Djavax.net.ssl.trustStore={tls.truststore.resolve()}" in env["JAVA_TOOL_OPTIONS"]
    assert "trustStoreType=PKCS12" in env["JAVA_TOOL_OPTIONS"]


def test_smoke_over_tls_passes_and_every_client_trusts_the_run_ca(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "smoke.yaml").read_text(encoding="utf-8")
    text = text.replace("platform:\n  replica_lag: 300ms", "platform:\n  replica_lag: 300ms\n  tls: true")
    assert "tls: true" in text
    scenario = tmp_path / "smoke_tls.yaml"
    scenario.write_text(text, encoding="utf-8")
    out_dir = tmp_path / "run"
    probe = Path(__file__).with_name("tls_probe") / "start.sh"
    out = invoice_chaos("run", str(scenario), "--out", str(out_dir), "--sut-cmd", str(probe),
                        env={"PYTHON": sys.executable}, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (out_dir / "tls" / "ca.pem").is_file() and (out_dir / "tls" / "truststore.p12").is_file()
    seen = dict(line.split(" ", 1) for line in
                (out_dir / "data" / "merchant" / "probe.txt").read_text().splitlines())
    assert seen.pop("scheme") == "https", seen
    assert seen and all(v.strip() == "200" for v in seen.values()), seen
    assert {"python", "curl"} <= set(seen)
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["verdict"] == "pass", summary.get("unknown_reasons")
    faults = [json.loads(x) for x in (out_dir / "faults.jsonl").read_text().splitlines()]
    assert all(f["ok"] for f in faults), faults                 # admin faults over https too
    events = [json.loads(x) for x in (out_dir / "history.jsonl").read_text().splitlines()]
    verifies = [e for e in events if e["op"] == "verify" and e["type"] != "invoke"
                and not str(e["proc"]).startswith(("drain", "final"))]
    # answered over TLS (a restart's refusals and the 401s after it are the smoke's faults)
    assert sum(e["status"] in (200, 404) for e in verifies) > 10
    tls_errors = [e["error"] for e in verifies if "SSL" in str(e["error"]).upper()
                  or "CERTIFICATE" in str(e["error"]).upper()]
    assert tls_errors == [], tls_errors[:3]
    ledger = (out_dir / "platform-ledger.jsonl").read_text().splitlines()
    assert len(ledger) > 100                                     # downloaded over https
    assert lingering(str(out_dir)) == []


def test_serve_nuonuo_over_https_by_hand_and_list_names_the_profiles(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    import httpx

    from harness.stack.ports import free_port
    from harness.stack.tls import client_context

    listed = invoice_chaos("list", timeout=60)
    assert listed.returncode == 0 and "platform profiles" in listed.stdout
    assert all(f"  {name} " in listed.stdout for name in ("clearance", "direct", "nuonuo"))
    assert "taxplatform->merchant" in listed.stdout
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "harness", "serve", "taxplatform", "--profile",
                             "nuonuo", "--port", str(port), "--data", str(tmp_path / "data"),
                             "--tls-dir", str(tmp_path / "tls")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None
            try:
                ok = httpx.get(f"{url}/healthz", timeout=0.5,
                               verify=client_context(tmp_path / "tls" / "ca.pem")).status_code == 200
            except (httpx.HTTPError, OSError):
                ok = False
            if ok:
                break
            assert time.monotonic() < deadline, "serve never answered over https"
            time.sleep(0.1)
        seller = json.loads((tmp_path / "data" / "sellers.json").read_text())[0]
        token = httpx.post(f"{url}/accessToken", verify=client_context(tmp_path / "tls" / "ca.pem"),
                           data={"client_id": seller["app_key"], "client_secret": seller["app_secret"],
                                 "grant_type": "client_credentials"}).json()
        assert token["access_token"]
        with pytest.raises(httpx.ConnectError):            # nobody else's CA vouches for it
            httpx.get(f"{url}/healthz", timeout=2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
