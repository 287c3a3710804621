"""Black-box test of the `ksef` profile against the real platform process: every served call,
its codes, both error formats, the rate limits, each fault knob, and kill -9 durability."""
from __future__ import annotations

import base64
import hashlib
import signal
import time
from pathlib import Path

import httpx
import pytest

from fakes.common.sellers import generate_pl_sellers, write_sellers
from fakes.merchant.ksef_crypto import SessionKey
from fakes.taxplatform.frontends.ksef.ids import is_ksef_number, is_reference_number

from taxplatform.procs import Running, start_platform, stop
from .ksef_support import invoice
from .wire import Ksef

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("ksef")
    sellers = generate_pl_sellers(2, 29)
    write_sellers(d / "sellers.json", sellers)
    run = start_platform(d / "data", d / "sellers.json", sellers,
                         {"profile": "ksef", "processing_delay_ms": 150, "seed": 3,
                          # the limits' minute lasts 1 s and hour 1 min: the per-second
                          # limits bind, and the tests of this module do not add up
                          "ksef_time_scale": 60})
    yield run
    stop(run.proc)


@pytest.fixture
def k(plat: Running) -> Ksef:
    httpx.delete(f"{plat.url}/_admin/faults", timeout=5)
    s = plat.sellers[0]
    c = Ksef(f"{plat.url}/v2", s["seller_tax_id"], s["secret"])
    c.login()
    return c


def faults(plat: Running, **kw: object) -> None:
    r = httpx.post(f"{plat.url}/_admin/faults", json=kw, timeout=5)
    assert r.status_code == 200, r.text


def inv(k: Ksef, number: str, **kw: object) -> bytes:
    return invoice(number, seller=k.nip, **kw)  # type: ignore[arg-type]


def test_certificates_and_both_prefixes(plat: Running) -> None:
    for prefix in ("/v2", "/api/v2"):
        certs = httpx.get(f"{plat.url}{prefix}/security/public-key-certificates").json()
        assert sorted(u for c in certs for u in c["usage"]) == [
            "KsefTokenEncryption", "SymmetricKeyEncryption"]
        for c in certs:
            der = base64.b64decode(c["certificate"])
            assert c["certificateId"] == base64.b64encode(hashlib.sha256(der).digest()).decode()
            assert len(c["publicKeyId"]) == 44


def test_auth_codes(plat: Running, k: Ksef) -> None:
    h = k.http
    ch = h.post("/auth/challenge").json()
    assert len(ch["challenge"]) == 36 and isinstance(ch["timestampMs"], int)
    # an unknown token: 202, then status 450
    init = k.start_auth(token="nope|nip-1|" + "0" * 64)
    auth = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
    st = h.get(f"/auth/{init['referenceNumber']}", headers=auth).json()
    assert st["status"]["code"] == 450
    # a token for another NIP context: 450
    other = plat.sellers[1]["seller_tax_id"]
    init = k.start_auth(nip=other)
    st = h.get(f"/auth/{init['referenceNumber']}",
               headers={"Authorization": f"Bearer {init['authenticationToken']['token']}"}).json()
    assert st["status"]["code"] == 450
    # redeem works once (21301 then), refresh gives a new access token
    init = k.start_auth()
    auth = {"Authorization": f"Bearer {init['authenticationToken']['token']}"}
    assert h.post("/auth/token/redeem", headers=auth).status_code == 200
    again = h.post("/auth/token/redeem", headers=auth)
    assert again.status_code == 400
    assert again.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21301
    ref = h.post("/auth/token/refresh", headers={"Authorization": f"Bearer {k.refresh}"})
    assert ref.status_code == 200 and ref.json()["accessToken"]["token"]
    # an unknown challenge: 21111; an unknown publicKeyId: 21470
    body = {"challenge": "x" * 36, "contextIdentifier": {"type": "Nip", "value": k.nip},
            "encryptedToken": base64.b64encode(b"x").decode()}
    r = h.post("/auth/ksef-token", json=body)
    assert r.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21111
    r = h.post("/auth/ksef-token", json={**body, "publicKeyId": "A" * 44})
    assert r.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21470
    # no token: 401, always problem+json
    r = h.get("/sessions/20260101-SO-0000000000-0000000000-00")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_both_error_formats(k: Ksef) -> None:
    path = "/sessions/20260101-SO-0000000000-0000000000-00"
    legacy = k.http.get(path, headers=k.h)
    assert legacy.status_code == 400
    assert legacy.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21173
    prob = k.http.get(path, headers={**k.h, "X-Error-Format": "problem-details"})
    assert prob.status_code == 400
    assert prob.headers["content-type"] == "application/problem+json"
    assert prob.json()["errors"][0]["code"] == 21173 and prob.json()["status"] == 400


def test_session_flow_ksef_number_upo_and_read(plat: Running, k: Ksef) -> None:
    ref, key = k.open()
    assert is_reference_number(ref) and ref[9:11] == "SO"
    sent = k.send(ref, key, inv(k, "FV/FLOW/1", order_ref="ORD-FLOW-1"))
    assert sent.status_code == 202, sent.text
    iref = sent.json()["referenceNumber"]
    assert iref[9:11] == "EE"
    first = k.status(ref, iref)["status"]["code"]
    assert first in (100, 150)
    st = k.wait(ref, iref)
    assert st["status"]["code"] == 200 and is_ksef_number(st["ksefNumber"])
    assert st["invoiceNumber"] == "FV/FLOW/1" and st["invoicingMode"] == "Online"
    ksef = st["ksefNumber"]
    assert ksef.startswith(k.nip + "-")
    upo = k.http.get(f"/sessions/{ref}/invoices/{iref}/upo", headers=k.h)
    assert upo.status_code == 200 and ksef.encode() in upo.content
    assert upo.headers["x-ms-meta-hash"] == base64.b64encode(
        hashlib.sha256(upo.content).digest()).decode()
    by_k = k.http.get(f"/sessions/{ref}/invoices/ksef/{ksef}/upo", headers=k.h)
    assert by_k.status_code == 200 and by_k.content == upo.content
    lst = k.http.get(f"/sessions/{ref}/invoices", headers=k.h).json()
    assert [i["referenceNumber"] for i in lst["invoices"]] == [iref]
    assert k.http.post(f"/sessions/online/{ref}/close", headers=k.h).status_code == 204
    sst = k.http.get(f"/sessions/{ref}", headers=k.h).json()
    assert sst["status"]["code"] == 200 and sst["successfulInvoiceCount"] == 1
    page = sst["upo"]["pages"][0]
    su = k.http.get(page["downloadUrl"], headers=k.h)
    assert su.status_code == 200 and ksef.encode() in su.content
    # sending into a closed session: 21180
    late = k.send(ref, key, inv(k, "FV/FLOW/2"))
    assert late.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21180
    # the read path
    xml = k.http.get(f"/invoices/ksef/{ksef}", headers=k.h)
    assert xml.status_code == 200 and b"FV/FLOW/1" in xml.content
    unknown = k.http.get(f"/invoices/ksef/{k.nip}-20260101-000000000000-00", headers=k.h)
    assert unknown.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21164
    # the ledger line
    line = next(x for x in plat.ledger() if x["invoice_no"] == ksef)
    assert line["order_ref"] == "ORD-FLOW-1" and line["seller_tax_id"] == k.nip
    assert line["ksef_number"] == ksef and line["profile"] == "ksef"
    assert (line["amount"], line["tax"], line["total"]) == ("100.00", "23.00", "123.00")


def test_refusals_440_450_435_and_400s(plat: Running, k: Ksef) -> None:
    ref, key = k.open()
    a = k.send(ref, key, inv(k, "FV/DUP/1")).json()["referenceNumber"]
    first = k.wait(ref, a)
    b = k.send(ref, key, inv(k, "FV/DUP/1", amount="1.00")).json()["referenceNumber"]
    dup = k.wait(ref, b)
    assert dup["status"]["code"] == 440
    assert dup["status"]["extensions"]["originalKsefNumber"] == first["ksefNumber"]
    assert dup["status"]["extensions"]["originalSessionReferenceNumber"] == ref
    bad = inv(k, "FV/XSD/1").replace(b"<JST>2</JST><GV>2</GV>", b"")
    st = k.wait(ref, k.send(ref, key, bad).json()["referenceNumber"])
    assert st["status"]["code"] == 450 and "JST" in " ".join(st["status"]["details"])
    # encrypted with another key: 202, then 435
    other = SessionKey.new()
    body = other.send_body(inv(k, "FV/ENC/1"))
    c = k.http.post(f"/sessions/online/{ref}/invoices", headers=k.h, json=body)
    assert c.status_code in (202, 400)       # 400 21402/21403 if the garbage happened to unpad
    if c.status_code == 202:
        assert k.wait(ref, c.json()["referenceNumber"])["status"]["code"] == 435
    # size and hash mismatches
    good = key.send_body(inv(k, "FV/SZ/1"))
    for field, value, code in (("encryptedInvoiceSize", 1, 21402),
                               ("encryptedInvoiceHash", "A" * 43 + "=", 21403),
                               ("invoiceSize", 7, 21402), ("invoiceHash", "B" * 43 + "=", 21403)):
        r = k.http.post(f"/sessions/online/{ref}/invoices", headers=k.h,
                        json={**good, field: value})
        assert r.status_code == 400, (field, r.text)
        assert r.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == code
    time.sleep(1.1)      # the sends above may have used up this second's limit (a 429)
    r = k.http.post(f"/sessions/online/{ref}/invoices", headers=k.h, json={"x": 1})
    assert r.status_code == 400, r.text
    assert r.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21405
    # offlineMode is recorded (after a pause: the sends above used up this second's limit)
    time.sleep(1.1)
    off = k.send(ref, key, inv(k, "FV/OFF/1"), offline=True).json()["referenceNumber"]
    assert k.wait(ref, off)["invoicingMode"] == "Offline"
    failed = k.http.get(f"/sessions/{ref}/invoices/failed", headers=k.h).json()["invoices"]
    assert {i["status"]["code"] for i in failed} >= {440, 450}


def test_rate_limit_429_with_retry_after_both_formats(k: Ksef) -> None:
    ref, key = k.open()
    time.sleep(1.1)                      # the windows of earlier sends have passed
    codes = []
    for i in range(14):
        r = k.send(ref, key, inv(k, f"FV/RL/{i}"),
                   **({"X-Error-Format": "problem-details"} if i % 2 else {}))
        codes.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            if i % 2:
                assert r.headers["content-type"] == "application/problem+json"
            else:
                assert r.json()["status"]["code"] == 429
    assert codes[:10] == [202] * 10 and 429 in codes[10:]


def test_fault_knobs(plat: Running, k: Ksef) -> None:
    time.sleep(1.1)                      # this second's send limit is not the subject here
    ref, key = k.open()
    # outage: every call 503
    faults(plat, error_rate=1.0, error_after_commit=0.0)
    assert k.http.post("/auth/challenge").status_code == 503
    assert k.send(ref, key, inv(k, "FV/F/0")).status_code == 503
    # an error after commit: 5xx, yet the invoice is stored and gets its number
    faults(plat, error_rate=1.0, error_after_commit=1.0, error_status=502)
    assert k.send(ref, key, inv(k, "FV/F/1", order_ref="ORD-F-1")).status_code == 502
    faults(plat, error_rate=0.0)
    time.sleep(1.0)
    assert any(x["order_ref"] == "ORD-F-1" for x in plat.ledger())
    # throttling
    faults(plat, throttle_rate=1.0, retry_after_s=3)
    r = k.send(ref, key, inv(k, "FV/F/2"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    faults(plat, throttle_rate=0.0)
    # slow processing: stays 150
    faults(plat, slow_commit_ms=3000)
    slow = k.send(ref, key, inv(k, "FV/F/3")).json()["referenceNumber"]
    time.sleep(0.5)
    assert k.status(ref, slow)["status"]["code"] == 150
    faults(plat, slow_commit_ms=0)
    assert k.wait(ref, slow)["status"]["code"] == 200
    # ack_without_commit: 202, then never a KSeF number, never in the ledger
    faults(plat, ack_without_commit=1.0)
    lost = k.send(ref, key, inv(k, "FV/F/4", order_ref="ORD-F-4"))
    assert lost.status_code == 202
    faults(plat, ack_without_commit=0.0)
    time.sleep(0.6)
    assert k.status(ref, lost.json()["referenceNumber"])["status"]["code"] == 150
    assert not any(x["order_ref"] == "ORD-F-4" for x in plat.ledger())
    # replica lag: 21165 until the lag is over
    ok = k.wait(ref, k.send(ref, key, inv(k, "FV/F/5")).json()["referenceNumber"])
    faults(plat, replica_lag_ms=60000)
    r = k.http.get(f"/invoices/ksef/{ok['ksefNumber']}", headers=k.h)
    assert r.json()["exception"]["exceptionDetailList"][0]["exceptionCode"] == 21165
    faults(plat, replica_lag_ms=None)
    assert k.http.get(f"/invoices/ksef/{ok['ksefNumber']}", headers=k.h).status_code == 200
    # token revoke: 401 mid-session, a new login works
    faults(plat, revoke_tokens=True)
    assert k.http.get(f"/sessions/{ref}", headers=k.h).status_code == 401
    k.login()
    assert k.http.get(f"/sessions/{ref}", headers=k.h).status_code == 200


def test_kill_9_loses_no_accepted_invoice(tmp_path: Path) -> None:
    sellers = generate_pl_sellers(1, 31)
    write_sellers(tmp_path / "sellers.json", sellers)
    cfg = {"profile": "ksef", "processing_delay_ms": 1500}
    run = start_platform(tmp_path / "data", tmp_path / "sellers.json", sellers, cfg)
    s = sellers[0]
    try:
        k = Ksef(f"{run.url}/v2", s["seller_tax_id"], s["secret"])
        k.login()
        ref, key = k.open()
        refs = [k.send(ref, key, invoice(f"FV/K9/{i}", seller=k.nip, order_ref=f"ORD-K9-{i}"))
                .json()["referenceNumber"] for i in range(5)]
        stop(run.proc, signal.SIGKILL)          # before any of them was decided
        run = start_platform(tmp_path / "data", tmp_path / "sellers.json", sellers, cfg,
                             port=int(run.url.rsplit(":", 1)[1]))
        k = Ksef(f"{run.url}/v2", s["seller_tax_id"], s["secret"])
        k.login()
        sts = [k.wait(ref, r) for r in refs]
        assert [x["status"]["code"] for x in sts] == [200] * 5
        assert {x["order_ref"] for x in run.ledger()} == {f"ORD-K9-{i}" for i in range(5)}
        # and the session's key survived too: it still takes invoices
        more = k.send(ref, key, invoice("FV/K9/5", seller=k.nip))
        assert more.status_code == 202 and k.wait(ref, more.json()["referenceNumber"])[
            "status"]["code"] == 200
    finally:
        stop(run.proc)
