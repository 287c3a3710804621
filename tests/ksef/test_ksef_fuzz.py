"""Fuzz the served KSeF operations from the OFFICIAL open-api.json (CIRFMF/ksef-docs, API 2.6,
vendored beside this file), not from a spec the fake generates: no 5xx, and every answer
inside the spec's status codes, content types, headers and schemas."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest


pytestmark = [pytest.mark.integration]

SPEC = Path(__file__).with_name("open-api.json")
# the operations the ksef profile serves (docs/platform-api.md); the rest of the spec
# (permissions, certificates, batch sessions, tokens, ...) is not served
SERVED = ("^/auth/challenge$|^/auth/ksef-token$|^/auth/\\{referenceNumber\\}$|"
          "^/auth/token/(redeem|refresh)$|^/security/public-key-certificates$|"
          "^/sessions/online$|^/sessions/online/\\{referenceNumber\\}/(invoices|close)$|"
          "^/sessions/\\{referenceNumber\\}(/invoices(/failed)?|/invoices/\\{invoiceReferenceNumber\\}"
          "(/upo)?|/invoices/ksef/\\{ksefNumber\\}/upo|/upo/\\{upoReferenceNumber\\})?$|"
          "^/invoices/ksef/\\{ksefNumber\\}$")


def access_token(url: str, seller: str, token: str) -> str:
    from fakes.merchant.ksef_crypto import encrypt_token, pick_certificate
    with httpx.Client(base_url=url, timeout=10) as c:
        cert = pick_certificate(c.get("/v2/security/public-key-certificates").json(),
                                "KsefTokenEncryption")
        ch = c.post("/v2/auth/challenge").json()
        r = c.post("/v2/auth/ksef-token", json={
            "challenge": ch["challenge"], "contextIdentifier": {"type": "Nip", "value": seller},
            "encryptedToken": encrypt_token(cert["certificate"], token, ch["timestampMs"])})
        auth = r.json()["authenticationToken"]["token"]
        red = c.post("/v2/auth/token/redeem", headers={"Authorization": f"Bearer {auth}"})
        return str(red.json()["accessToken"]["token"])


def test_official_spec_fuzz_finds_no_5xx_and_no_nonconforming_answer(ksef_platform,
                                                                      tmp_path: Path) -> None:
    # rate limits off: a 429 conforms, but would hide every other answer
    run = ksef_platform(processing_delay_ms=50, ksef_rate_limits=0)
    url = run.url
    token = access_token(url, run.sellers[0]["seller_tax_id"], run.sellers[0]["secret"])
    cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", str(SPEC),
           "--url", f"{url}/v2", "--include-path-regex", SERVED,
           "--checks", "not_a_server_error,status_code_conformance,"
           "content_type_conformance,response_schema_conformance,"
           "response_headers_conformance",
           "--max-examples", "40", "--seed", "29", "--generation-deterministic",
           # not the coverage phase: schemathesis 4.32 itself crashes in it now and then on
           # this spec (an error inside hypothesis's lambda reflection), not on an answer
           "--phases", "examples,fuzzing", "--workers", "2",
           "--request-timeout", "5", "--max-time", "45",
           "-H", f"Authorization: Bearer {token}", "--report-dir", str(tmp_path / "st")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-8000:]
    stats = httpx.get(f"{url}/_admin/stats", timeout=5).json()
    assert "ksef_internal_error" not in stats["events"], stats["events"]
    assert run.proc.poll() is None, "the platform crashed during fuzzing"
