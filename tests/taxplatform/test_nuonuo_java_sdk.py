"""The official 诺诺 Java SDK (com.nuonuo:open-sdk 1.0.5.2), unchanged, against the fake
platform's nuonuo profile over HTTPS with a run's CA (design.md s.13): examples/nuonuo_java
compiled with javac, the SDK resolved by Maven (scripts/install-nuonuo-sdk.sh, cached in
.tools/), the JVM trusting the CA only through JAVA_TOOL_OPTIONS."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakes.common.sellers import generate_sellers, write_sellers
from harness.stack.ports import free_port
from harness.stack.tls import RunTls, client_context, make_run_tls, sut_env

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / ".tools" / "nuonuo-sdk" / "lib"
EXAMPLE = ROOT / "examples" / "nuonuo_java" / "src" / "IssueWithSdk.java"

pytestmark = pytest.mark.integration


def _sdk() -> Path:
    missing = [b for b in ("java", "javac", "mvn") if shutil.which(b) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian: apt-get install default-jdk-headless maven)")
    out = subprocess.run([str(ROOT / "scripts" / "install-nuonuo-sdk.sh")], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0 and (LIB / "open-sdk-1.0.5.2.jar").is_file(), out.stdout + out.stderr
    return LIB


@pytest.fixture
def https_platform(tmp_path: Path) -> Iterator[tuple[str, RunTls, dict[str, str]]]:
    tls = make_run_tls(tmp_path / "run")
    seller = generate_sellers(1, seed=52)[0]
    write_sellers(tmp_path / "sellers.json", [seller])
    port = free_port()
    log = open(tmp_path / "platform.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakes.taxplatform", "--port", str(port), "--data",
         str(tmp_path / "data"), "--sellers", str(tmp_path / "sellers.json"), "--profile", "nuonuo",
         "--config", json.dumps({"processing_delay_ms": 300}), "--tls-cert", str(tls.cert_pem),
         "--tls-key", str(tls.key_pem)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (tmp_path / "platform.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", verify=client_context(tls.ca_pem),
                             timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the platform never answered over https"
            time.sleep(0.1)
        yield url, tls, dict(seller)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)
        log.close()


def test_the_official_java_sdk_issues_against_the_fake(https_platform, tmp_path: Path) -> None:
    lib = _sdk()
    url, tls, seller = https_platform
    classes = tmp_path / "classes"
    cp = f"{lib}/*"
    out = subprocess.run(["javac", "-encoding", "UTF-8", "-cp", cp, "-d", str(classes), str(EXAMPLE)],
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    env = {**os.environ, **sut_env(tls)}
    run = subprocess.run(["java", "-cp", f"{cp}:{classes}", "IssueWithSdk", url, seller["app_key"],
                          seller["app_secret"], seller["seller_tax_id"], "JAVA-SDK-1"],
                         capture_output=True, text=True, timeout=180, env=env)
    lines = dict(x.split(" ", 1) for x in run.stdout.splitlines() if " " in x)
    assert run.returncode == 0, run.stdout + run.stderr
    assert lines["token"] == "ok"
    code, describe, serial = lines["submit"].split(" ")
    assert (code, describe) == ("E0000", "开票提交成功") and len(serial) == 20
    status, number = lines["status"].split(" ")
    assert status == "2" and len(number) == 20
    assert lines["again"] == "E9106"
    assert lines["wrong-signature"] == "070601"
    ledger = [json.loads(x) for x in httpx.get(f"{url}/_admin/ledger",
                                                verify=client_context(tls.ca_pem)).text.splitlines()]
    assert [(x["order_ref"], x["invoice_no"], x["profile"]) for x in ledger] == [
        ("JAVA-SDK-1", number, "nuonuo")]
    # without the run's CA the same JVM refuses the platform: the trust came from the env
    bare = subprocess.run(["java", "-cp", f"{cp}:{classes}", "IssueWithSdk", url, seller["app_key"],
                           seller["app_secret"], seller["seller_tax_id"], "JAVA-SDK-2"],
                          capture_output=True, text=True, timeout=180,
                          env={k: v for k, v in os.environ.items() if k != "JAVA_TOOL_OPTIONS"})
    assert "PKIX" in bare.stdout + bare.stderr or bare.returncode != 0
