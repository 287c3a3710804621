"""The nuonuo profile against the real platform process (design.md s.13, protocols/nuonuo.md):
the token call, the signed envelope and its codes, asynchronous issuing, queries, E9106,
red-letter, callbacks, every fault knob, kill -9."""
from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fakes.common.sellers import Seller, generate_sellers, write_sellers
from fakes.taxplatform.frontends.nuonuo.signing import sign

from .nuonuo_client import ISSUE, NN, QUERY, RED, order
from .procs import Running, start_platform, stop

CONFIG = {"profile": "nuonuo", "processing_delay_ms": 300}


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("nuonuo")
    sellers = generate_sellers(3, seed=25)
    write_sellers(tmp / "sellers.json", sellers)
    run = start_platform(tmp / "data", tmp / "sellers.json", sellers, config=CONFIG)
    try:
        yield run
    finally:
        stop(run.proc)


@pytest.fixture
def nn(plat: Running) -> Iterator[NN]:
    httpx.delete(f"{plat.url}/_admin/faults", timeout=5)
    c = NN(plat.url, plat.sellers[0])
    c.get_token()
    yield c
    httpx.delete(f"{plat.url}/_admin/faults", timeout=5)
    c.http.close()


def faults(url: str, **knobs: Any) -> None:
    r = httpx.post(f"{url}/_admin/faults", json=knobs, timeout=5)
    assert r.status_code == 200, r.text


def uid(prefix: str) -> str:
    return f"{prefix}{time.monotonic_ns() % 10**12}"


def ledger_of(run: Running, order_no: str) -> list[dict[str, Any]]:
    return [x for x in run.ledger() if x["order_ref"] == order_no]


def test_signature_matches_the_published_test_vector() -> None:
    assert sign("secret", "/open/v1/services", "app", "a" * 32, "12345678", "1700000000",
                '{"name":"中文"}') == "4BzcKzrcoqxPis0W/W3X2ae0uIo="


def test_access_token_and_its_errors(plat: Running) -> None:
    s = plat.sellers[0]
    ok = httpx.post(f"{plat.url}/accessToken", data={
        "client_id": s["app_key"], "client_secret": s["app_secret"],
        "grant_type": "client_credentials"}).json()
    assert len(ok["access_token"]) >= 16 and ok["expires_in"].isdigit()

    def err(data: dict[str, str], **kw: Any) -> str:
        body = httpx.post(f"{plat.url}/accessToken", data=data, **kw).json()
        assert set(body) == {"error", "error_description"}, body
        return body["error"]

    good = {"client_id": s["app_key"], "client_secret": s["app_secret"],
            "grant_type": "client_credentials"}
    assert err({**good, "client_id": "NOPE"}) == "070304"
    assert err({**good, "client_secret": "wrong"}) == "070305"
    assert err({**good, "grant_type": "authorization_code"}) == "070307"
    assert httpx.post(f"{plat.url}/accessToken", json=good).json()["error"] == "070315"


def test_envelope_errors(nn: NN) -> None:
    o = order(nn.seller["seller_tax_id"], uid("E"))
    assert nn.code(ISSUE, o, drop=("senid",)) == "0201"
    assert nn.code(ISSUE, o, drop=("X-Nuonuo-Sign",)) == "0200"
    assert nn.code(ISSUE, o, secret="not-the-secret") == "070601"
    assert nn.code(ISSUE, o, timestamp=str(int(time.time()) - 3600)) == "070601"
    assert nn.code(ISSUE, o, token="no-such-token") == "070301"
    assert nn.code(ISSUE, o, user_tax="91110000600001760P") == "070401"
    assert nn.code(ISSUE, o, app_key="NOSUCHAPP") == "070301"
    assert nn.code("nuonuo.Nothing.here", o) == "070501"
    # the body is signed as sent: one changed byte after signing is refused
    r = nn.call(ISSUE, o)
    assert r.json()["code"] == "E0000"


def test_nonce_need_not_have_eight_digits(nn: NN) -> None:
    for nonce in ("10000", "999999999", "12345678"):
        r = nn.call(ISSUE, order(nn.seller["seller_tax_id"], uid("N")), nonce=nonce)
        assert r.json()["code"] == "E0000", (nonce, r.text)


def test_bad_fields_amounts_and_taxes(nn: NN) -> None:
    sid = nn.seller["seller_tax_id"]
    line = {"goodsName": "苹果", "num": "3", "price": "9.99", "taxRate": "0.13", "withTaxFlag": "0"}
    assert nn.code(ISSUE, order(sid, "X" * 21)) == "E4000"
    assert nn.code(ISSUE, order(sid, uid("F"), invoiceLine="p")) == "E4000"
    assert nn.code(ISSUE, order(sid, uid("F"), invoiceDate="06/12/2026")) == "E4000"
    assert nn.code(ISSUE, order(sid, uid("F"), invoiceDetail=[{**line, "taxRate": "0.17"}])) == "E4000"
    assert nn.code(ISSUE, {"order": "x"}) == "E4000"
    assert nn.code(ISSUE, "{not json") == "E4000"
    assert nn.code(ISSUE, order(sid, uid("F"), invoiceDetail=[
        {**line, "taxExcludedAmount": "40.00"}])) == "E9130"
    assert nn.code(ISSUE, order(sid, uid("F"), invoiceDetail=[{**line, "tax": "1.00"}])) == "E9131"
    assert nn.code(ISSUE, order(plat_other(nn), uid("F"))) == "E9302"


def plat_other(nn: NN) -> str:
    return generate_sellers(5, seed=99)[0]["seller_tax_id"]


def test_issue_is_asynchronous_then_decided(nn: NN, plat: Running) -> None:
    no = uid("A")
    r = nn.issue(no)
    env = r.json()
    assert env["code"] == "E0000" and env["describe"] == "开票提交成功", env
    serial = env["result"]["invoiceSerialNum"]
    first = nn.query(serialNos=[serial])
    assert first["code"] == "E0000" and first["result"][0]["status"] == "20"
    assert ledger_of(plat, no) == []                     # accepted, not issued
    done = nn.wait_status(serial)
    assert done["status"] == "2" and done["orderNo"] == no and done["serialNo"] == serial
    assert len(done["allElectronicInvoiceNumbe"]) == 20
    assert (done["exTaxAmount"], done["taxAmount"], done["orderAmount"]) == ("29.97", "3.90", "33.87")
    assert done["invoiceItems"][0]["itemName"] == "苹果"
    by_order = nn.query(orderNos=[no])["result"]
    assert [x["serialNo"] for x in by_order] == [serial]
    [line] = ledger_of(plat, no)
    assert line["invoice_no"] == done["allElectronicInvoiceNumbe"]
    assert line["profile"] == "nuonuo" and line["kind"] == "blue"
    assert Decimal(line["total"]) == Decimal("33.87") and line["request_id"] == serial
    # the other method name, and the price including VAT
    env = nn.call("nuonuo.ElectronInvoice.requestBillingNew", order(
        nn.seller["seller_tax_id"], uid("B"), invoiceDetail=[{
            "goodsName": "梨", "num": 2, "price": "11.30", "taxRate": "0.13",
            "withTaxFlag": "1"}])).json()
    assert env["code"] == "E0000"
    done = nn.wait_status(env["result"]["invoiceSerialNum"])
    assert (done["exTaxAmount"], done["taxAmount"], done["orderAmount"]) == ("20.00", "2.60", "22.60")


def test_query_limits_and_not_found(nn: NN) -> None:
    assert nn.query(serialNos=["26120600000000999999"])["code"] == "E9500"
    assert nn.query(orderNos=["never-used"])["code"] == "E9500"
    assert nn.query(serialNos=[], orderNos=[])["code"] == "E9611"
    assert nn.query(orderNos=[f"o{i}" for i in range(51)])["code"] == "E4000"
    assert nn.query(orderNos=[f"o{i}" for i in range(50)])["code"] == "E9500"


def test_reused_order_no_is_e9106_with_no_second_invoice(nn: NN, plat: Running) -> None:
    no = uid("D")
    serial = nn.issue(no).json()["result"]["invoiceSerialNum"]
    again = nn.issue(no, buyerName="另一个人").json()
    assert again["code"] == "E9106" and "不能重复" in again["describe"]
    nn.wait_status(serial)
    assert nn.issue(no).json()["code"] == "E9106"
    time.sleep(0.5)
    assert len(ledger_of(plat, no)) == 1
    # another seller may use the same orderNo
    other = NN(plat.url, plat.sellers[1])
    other.get_token()
    assert other.issue(no).json()["code"] == "E0000"


def test_red_letter_follows_the_confirmation_form(nn: NN, plat: Running) -> None:
    no = uid("R")
    blue = nn.wait_status(nn.issue(no).json()["result"]["invoiceSerialNum"])
    form = {"blueInvoiceLine": "pc", "blueElecInvoiceNumber": blue["allElectronicInvoiceNumbe"],
            "applySource": "0", "sellerTaxNo": nn.seller["seller_tax_id"], "redReason": "2",
            "orderNo": f"{no}-R", "buyerName": "张三"}
    res = nn.ok(RED, form)
    red = nn.wait_status(res["invoiceSerialNum"])
    assert red["status"] == "2" and red["invoiceType"] == "2"
    assert red["oldEleInvoiceNumber"] == blue["allElectronicInvoiceNumbe"]
    assert red["orderAmount"] == "-33.87"
    lines = ledger_of(plat, no)
    assert [x["kind"] for x in lines] == ["blue", "red"]
    assert lines[1]["original_invoice_no"] == blue["allElectronicInvoiceNumbe"]
    assert lines[1]["total"] == "-33.87"
    assert nn.code(RED, form) == "E9106"                         # same orderNo
    assert nn.code(RED, {**form, "orderNo": f"{no}-R2"}) == "E4000"   # already reversed
    assert nn.code(RED, {**form, "orderNo": f"{no}-R3",
                         "blueElecInvoiceNumber": "26112000000099999999"}) == "E4000"


class _Sink(BaseHTTPRequestHandler):
    got: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        n = int(self.headers.get("content-length", "0"))
        _Sink.got.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a: Any) -> None:
        pass


def test_callback_posts_the_decided_result(nn: NN) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/nuonuo/callback"
        no = uid("C")
        serial = nn.issue(no, callBackUrl=url).json()["result"]["invoiceSerialNum"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(g["serialNo"] == serial for g in _Sink.got):
            time.sleep(0.05)
        [got] = [g for g in _Sink.got if g["serialNo"] == serial]
        assert got["status"] == "2" and got["orderNo"] == no
        assert len(got["allElectronicInvoiceNumbe"]) == 20
    finally:
        server.shutdown()
        server.server_close()


def test_throttle_and_injected_errors_before_and_after_commit(nn: NN, plat: Running) -> None:
    faults(plat.url, throttle_rate=1.0, retry_after_s=2)
    r = nn.issue(uid("T"))
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    q = nn.call(QUERY, {"orderNos": ["x"]})
    assert q.status_code == 429 and q.json()["code"] == "429"
    faults(plat.url, throttle_rate=0.0, error_rate=1.0, error_after_commit=0.0, error_status=503)
    before = uid("T")
    r = nn.issue(before)
    assert r.status_code == 503
    faults(plat.url, error_rate=1.0, error_after_commit=1.0, error_status=504)
    after = uid("T")
    assert nn.issue(after).status_code == 504
    faults(plat.url, error_rate=0.0)
    assert nn.query(orderNos=[before])["code"] == "E9500"      # nothing stored
    assert nn.issue(before).json()["code"] == "E0000"
    assert nn.issue(after).json()["code"] == "E9106"          # stored before the 504
    [rec] = nn.query(orderNos=[after])["result"]
    assert nn.wait_status(rec["serialNo"])["status"] == "2"


def test_quota_token_revoke_and_replica_lag(nn: NN, plat: Running) -> None:
    faults(plat.url, quota_per_seller="10.00")
    env = nn.issue(uid("Q")).json()
    assert env["code"] == "070201"
    faults(plat.url, quota_per_seller=None, revoke_tokens=True)
    assert nn.issue(uid("Q")).json()["code"] == "070301"
    nn.get_token()
    faults(plat.url, replica_lag_ms=1500)
    serial = nn.issue(uid("L")).json()["result"]["invoiceSerialNum"]
    assert nn.query(serialNos=[serial])["code"] == "E9500"   # it exists, the replica lags
    time.sleep(1.7)
    assert nn.query(serialNos=[serial])["code"] == "E0000"


def test_ack_without_commit_slow_processing_and_signing_failure(nn: NN, plat: Running) -> None:
    faults(plat.url, ack_without_commit=1.0)
    lost_no = uid("M")
    env = nn.issue(lost_no).json()
    assert env["code"] == "E0000" and env["describe"] == "开票提交成功"
    faults(plat.url, ack_without_commit=0.0)
    lost = nn.wait_status(env["result"]["invoiceSerialNum"], timeout=10)
    assert lost["status"] == "22" and lost["failCause"]
    faults(plat.url, processing_delay_ms=5000)
    slow = nn.issue(uid("S")).json()["result"]["invoiceSerialNum"]
    time.sleep(1.0)                    # three times the configured delay
    assert nn.query(serialNos=[slow])["result"][0]["status"] == "20"   # still processing
    faults(plat.url, processing_delay_ms=None, signing_failure=1.0)
    signed = nn.wait_status(nn.issue(uid("G")).json()["result"]["invoiceSerialNum"])
    assert signed["status"] == "24" and len(signed["allElectronicInvoiceNumbe"]) == 20
    assert nn.wait_status(slow)["status"] in ("2", "24")
    assert ledger_of(plat, lost_no) == []
    stats = httpx.get(f"{plat.url}/_admin/stats").json()["nuonuo"]
    assert stats["ack_without_commit"] >= 1 and stats["by_status"].get("22", 0) >= 1


def test_the_s5_read_path_serves_the_harness(nn: NN, plat: Running) -> None:
    no = uid("H")
    done = nn.wait_status(nn.issue(no).json()["result"]["invoiceSerialNum"])
    token = plat.token(0)
    r = httpx.get(f"{plat.url}/v1/invoices/{done['allElectronicInvoiceNumbe']}",
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["order_ref"] == no
    assert httpx.post(f"{plat.url}/v1/invoices", json={}).status_code == 405   # no s.5 writes


def test_kill_9_loses_no_answered_order(tmp_path: Path) -> None:
    sellers: list[Seller] = generate_sellers(2, seed=7)
    write_sellers(tmp_path / "sellers.json", sellers)
    # decisions both before the kill (300 ms) and after the restart
    cfg = {"profile": "nuonuo", "processing_delay_ms": 300}
    run = start_platform(tmp_path / "data", tmp_path / "sellers.json", sellers, config=cfg)
    answered: dict[str, str] = {}
    cut: list[int] = []
    lock = threading.Lock()
    counter = iter(range(10**6))
    try:
        client = NN(run.url, sellers[0])
        client.get_token()

        def worker() -> None:
            c = NN(run.url, sellers[0], token=client.token, http=httpx.Client(timeout=5))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with lock:
                    no = f"K{next(counter):06d}"
                try:
                    env = c.issue(no).json()
                except httpx.HTTPError:
                    with lock:
                        cut.append(1)          # in flight when the process died
                    return
                if env.get("code") == "E0000":
                    with lock:
                        answered[no] = env["result"]["invoiceSerialNum"]

        with ThreadPoolExecutor(6) as ex:
            futs = [ex.submit(worker) for _ in range(6)]
            time.sleep(1.5)
            stop(run.proc, signal.SIGKILL)
            for f in futs:
                f.result()
    finally:
        stop(run.proc, signal.SIGKILL)
    assert len(answered) >= 10, f"only {len(answered)} orders answered before the kill"
    assert cut, "the kill found no request in flight"
    print(f"answered before kill -9: {len(answered)}; cut off in flight: {len(cut)}")
    run = start_platform(tmp_path / "data", tmp_path / "sellers.json", sellers,
                         config={"profile": "nuonuo", "processing_delay_ms": 100})
    try:
        client = NN(run.url, sellers[0])
        client.get_token()
        for no, serial in answered.items():
            assert client.issue(no).json()["code"] == "E9106"
        nos = list(answered)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            items = [x for i in range(0, len(nos), 50)
                     for x in client.query(orderNos=nos[i:i + 50])["result"]]
            if len(items) == len(nos) and all(x["status"] == "2" for x in items):
                break
            time.sleep(0.2)
        assert sorted(x["serialNo"] for x in items) == sorted(answered.values())
        assert all(x["status"] == "2" for x in items)
        ledger = run.ledger()
        refs = [x["order_ref"] for x in ledger]
        assert all(refs.count(no) == 1 for no in nos)
    finally:
        stop(run.proc)


def test_the_processing_pipeline_reaches_the_report(nn: NN, plat: Running, tmp_path: Path) -> None:
    from harness.report.processing import (PIPELINE, collect_pipeline, render_section,
                                           summarise_pipeline, verdict_lines)
    nn.wait_status(nn.issue(uid("P")).json()["result"]["invoiceSerialNum"])
    collect_pipeline(plat.url, "nuonuo", tmp_path / PIPELINE)
    p = summarise_pipeline(tmp_path)
    assert p is not None and p["profile"] == "nuonuo"
    assert p["submitted"] == p["decided"] + p["stuck"] and p["by_status"]["2"] >= 1
    [line] = verdict_lines({"processing_pipeline": p})
    assert f"submitted {p['submitted']}" in line and "2 (issued)" in line
    assert "Processing pipeline (nuonuo profile)" in render_section({"processing_pipeline": p})
    assert summarise_pipeline(tmp_path / "none") is None and verdict_lines({}) == []
