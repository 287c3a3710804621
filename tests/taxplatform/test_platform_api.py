"""The platform's rules through its HTTP app, in-process (`httpx.ASGITransport`, real SQLite)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from fakes.taxplatform.clock import ManualClock

from .inproc import InProc
from .procs import order


def run(tmp: Path, fn: Callable[[InProc], Awaitable[None]], config: dict | None = None,
        clock: ManualClock | None = None) -> None:
    async def main() -> None:
        p = InProc(tmp, config, clock=clock)
        try:
            await fn(p)
        finally:
            await p.close()
    asyncio.run(main())


def test_issue_replay_and_reuse(tmp_path: Path) -> None:
    async def body(p: InProc) -> None:
        h = await p.token()
        o = order(p.sid(), "r1")
        r1 = await p.client.post("/v1/invoices", json=o, headers=h)
        assert r1.status_code == 201, r1.text
        inv = r1.json()
        assert len(inv["invoice_no"]) == 20 and inv["invoice_no"][2:4] == "11"
        assert (inv["amount"], inv["tax"], inv["total"]) == ("29.97", "3.90", "33.87")
        r2 = await p.client.post("/v1/invoices", json=o, headers=h)
        assert r2.status_code == 200 and r2.headers["idempotent-replayed"] == "true"
        assert r2.json()["invoice_no"] == inv["invoice_no"]
        other = dict(o, order_ref="different")
        r3 = await p.client.post("/v1/invoices", json=other, headers=h)
        assert r3.status_code == 409 and r3.json()["error"] == "request_id_reused"
        assert r3.json()["invoice_no"] == inv["invoice_no"]
        # concurrent duplicates of a new key: exactly one invoice
        o2 = order(p.sid(), "r2")
        rs = await asyncio.gather(*(p.client.post("/v1/invoices", json=o2, headers=h)
                                    for _ in range(10)))
        assert sorted(r.status_code for r in rs) == [200] * 9 + [201]
        assert len({r.json()["invoice_no"] for r in rs}) == 1
        ledger = [ln for ln in p.platform.store.iter_ledger()]
        assert b"".join(ledger).count(b"\n") == 2
    run(tmp_path, body)


def test_replay_wins_over_exhausted_quota_and_quota_refuses(tmp_path: Path) -> None:
    async def body(p: InProc) -> None:
        h = await p.token()
        o = order(p.sid(), "q1", lines=[{"name": "a", "quantity": "1", "unit_price": "60",
                                         "tax_rate": "0.13"}])
        assert (await p.client.post("/v1/invoices", json=o, headers=h)).status_code == 201
        q = (await p.client.get("/v1/quota", headers=h)).json()
        assert (q["limit"], q["used"], q["remaining"]) == ("100.00", "60.00", "40.00")
        o2 = dict(order(p.sid(), "q2"), lines=o["lines"])
        r = await p.client.post("/v1/invoices", json=o2, headers=h)
        assert r.status_code == 403 and r.json()["error"] == "quota_exceeded"
        r = await p.client.post("/v1/invoices", json=o, headers=h)   # replay still works
        assert r.status_code == 200
        blue = r.json()["invoice_no"]
        red = await p.client.post(f"/v1/invoices/{blue}/red", headers=h,
                                  json={"request_id": "red-q1", "reason": "01"})
        assert red.status_code == 201
        assert (await p.client.get("/v1/quota", headers=h)).json()["used"] == "0.00"
        assert (await p.client.post("/v1/invoices", json=o2, headers=h)).status_code == 201
    run(tmp_path, body, {"quota_per_seller": "100.00"})


def test_red_letter_rules(tmp_path: Path) -> None:
    async def body(p: InProc) -> None:
        h, h2 = await p.token(0), await p.token(1)
        blue = (await p.client.post("/v1/invoices", json=order(p.sid(), "b1"), headers=h)).json()
        no = blue["invoice_no"]
        r = await p.client.post(f"/v1/invoices/{no}/red", headers=h2,
                                json={"request_id": "x", "reason": "01"})
        assert r.status_code == 403
        r = await p.client.post(f"/v1/invoices/{no}/red", headers=h,
                                json={"request_id": "x", "reason": "09"})
        assert r.status_code == 422 and r.json()["message"].startswith("reason:")
        red = await p.client.post(f"/v1/invoices/{no}/red", headers=h,
                                  json={"request_id": "red1", "reason": "01"})
        assert red.status_code == 201
        rj = red.json()
        assert rj["kind"] == "red" and rj["original_invoice_no"] == no
        assert (rj["amount"], rj["tax"], rj["total"]) == ("-29.97", "-3.90", "-33.87")
        assert rj["lines"][0]["amount"] == "-29.97" and rj["order_ref"] == blue["order_ref"]
        again = await p.client.post(f"/v1/invoices/{no}/red", headers=h,
                                    json={"request_id": "red1", "reason": "01"})
        assert again.status_code == 200 and again.json()["invoice_no"] == rj["invoice_no"]
        second = await p.client.post(f"/v1/invoices/{no}/red", headers=h,
                                     json={"request_id": "red2", "reason": "01"})
        assert second.status_code == 409 and second.json()["error"] == "already_reversed"
        r = await p.client.post(f"/v1/invoices/{rj['invoice_no']}/red", headers=h,
                                json={"request_id": "red3", "reason": "01"})
        assert r.status_code == 422 and r.json()["error"] == "not_blue"
        r = await p.client.post("/v1/invoices/26112000000000099999/red", headers=h,
                                json={"request_id": "red4", "reason": "01"})
        assert r.status_code == 404
    run(tmp_path, body)


def test_replica_lag_on_read_path(tmp_path: Path) -> None:
    """On a clock moved by hand: the read path lags exactly the configured 300 ms, however
    slow the machine is."""
    clock = ManualClock()

    async def body(p: InProc) -> None:
        h = await p.token()
        inv = (await p.client.post("/v1/invoices", json=order(p.sid(), "l1"), headers=h)).json()
        r = await p.client.get(f"/v1/invoices/{inv['invoice_no']}", headers=h)
        assert r.status_code == 404 and r.json() == {"error": "not_found",
                                                     "message": "未找到相关记录"}
        s = await p.client.get("/v1/invoices", params={"order_ref": "O-l1"}, headers=h)
        assert s.json() == {"items": []}
        clock.advance(0.299)
        r = await p.client.get(f"/v1/invoices/{inv['invoice_no']}", headers=h)
        assert r.status_code == 404                    # still inside the lag
        clock.advance(0.002)
        r = await p.client.get(f"/v1/invoices/{inv['invoice_no']}", headers=h)
        assert r.status_code == 200 and r.json()["invoice_no"] == inv["invoice_no"]
        s = await p.client.get("/v1/invoices", params={"request_id": "l1"}, headers=h)
        assert [i["invoice_no"] for i in s.json()["items"]] == [inv["invoice_no"]]
        # the admin override wins over the configured lag
        await p.client.post("/_admin/faults", json={"replica_lag_ms": 0})
        inv2 = (await p.client.post("/v1/invoices", json=order(p.sid(), "l2"), headers=h)).json()
        assert (await p.client.get(f"/v1/invoices/{inv2['invoice_no']}",
                                   headers=h)).status_code == 200
    run(tmp_path, body, {"replica_lag_ms": 300}, clock)


def test_faults_errors_throttle_ack_and_revoke(tmp_path: Path) -> None:
    async def body(p: InProc) -> None:
        h = await p.token()
        c = p.client
        r = await c.post("/_admin/faults", json={"error_rate": 1, "error_after_commit": 1,
                                                  "error_status": 502})
        assert r.json()["error_rate"] == 1.0
        o = order(p.sid(), "f1")
        r = await c.post("/v1/invoices", json=o, headers=h)
        assert r.status_code == 502 and r.json()["error"] == "unknown_error"
        await c.delete("/_admin/faults")
        r = await c.post("/v1/invoices", json=o, headers=h)        # it was committed
        assert r.status_code == 200 and r.headers["idempotent-replayed"] == "true"
        await c.post("/_admin/faults", json={"error_rate": 1, "error_after_commit": 0})
        r = await c.post("/v1/invoices", json=order(p.sid(), "f2"), headers=h)
        assert r.status_code == 503
        await c.post("/_admin/faults", json={"error_rate": 0, "throttle_rate": 1,
                                             "retry_after_s": 3})
        r = await c.get("/v1/quota", headers=h)
        assert r.status_code == 429 and r.headers["retry-after"] == "3"
        await c.post("/_admin/faults", json={"throttle_rate": 0, "ack_without_commit": 1})
        acked = await c.post("/v1/invoices", json=order(p.sid(), "f3"), headers=h)
        assert acked.status_code == 201
        await c.delete("/_admin/faults")
        nxt = await c.post("/v1/invoices", json=order(p.sid(), "f4"), headers=h)
        assert nxt.json()["invoice_no"] != acked.json()["invoice_no"]   # burnt, not reused
        ledger = b"".join(p.platform.store.iter_ledger()).decode()
        assert acked.json()["invoice_no"] not in ledger and "f2" not in ledger
        bad = await c.post("/_admin/faults", json={"error_rate": 2})
        assert bad.status_code == 422 and bad.json()["field"] == "error_rate"
        bad = await c.post("/_admin/faults", json={"nonsense": 1})
        assert bad.status_code == 422
        await c.post("/_admin/faults", json={"revoke_tokens": True})
        r = await c.get("/v1/quota", headers=h)
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    run(tmp_path, body)


def test_auth(tmp_path: Path) -> None:
    async def body(p: InProc) -> None:
        c = p.client
        r = await c.post("/v1/auth/token", json={"seller_tax_id": p.sid(), "secret": "wrong"})
        assert r.status_code == 401 and r.json()["error"] == "bad_credentials"
        r = await c.get("/v1/quota")
        assert r.status_code == 401 and r.json()["error"] == "missing_token"
        h = await p.token(0)
        assert h and (await c.post("/v1/auth/token", json={})).status_code == 422
        r = await c.post("/v1/invoices", json=order(p.sid(1), "a1"), headers=h)
        assert r.status_code == 403 and r.json()["error"] == "seller_mismatch"
        await asyncio.sleep(1.1)
        r = await c.get("/v1/quota", headers=h)
        assert r.status_code == 401 and r.json()["error"] == "token_expired"
    run(tmp_path, body, {"token_ttl_s": 1})


def test_malformed_requests_get_json_4xx(tmp_path: Path) -> None:
    async def body(p: InProc) -> None:
        h = await p.token()
        c = p.client
        cases = [b"", b"{", b"[]", b"null", b"123", b'"x"',
                 b'{"request_id": 5}', b'{"request_id": "r", "lines": "x"}']
        for raw in cases:
            r = await c.post("/v1/invoices", content=raw,
                             headers={**h, "content-type": "application/json"})
            assert 400 <= r.status_code < 500, (raw, r.status_code, r.text)
            assert set(r.json()) >= {"error", "message"}
        o = order(p.sid(), "m1")
        o["lines"][0]["unit_price"] = 9.99
        r = await c.post("/v1/invoices", json=o, headers=h)
        assert r.status_code == 422 and r.json()["field"] == "lines[0].unit_price"
        assert "float" in r.json()["message"]
        r = await c.get("/nope")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
        r = await c.put("/v1/invoices", headers=h)
        assert r.status_code == 405 and "error" in r.json()
        r = await c.get("/v1/invoices", headers=h)
        assert r.status_code == 422
    run(tmp_path, body)


def test_dedup_invoice_number(tmp_path: Path) -> None:
    async def body(p: InProc) -> None:
        h = await p.token()
        c = p.client
        r = await c.post("/v1/invoice-numbers/ranges", json={"seller_tax_id": p.sid(),
                                                              "count": 3}, headers=h)
        assert r.status_code == 201, r.text
        rg = r.json()
        assert int(rg["end"]) - int(rg["start"]) == 2 and rg["start"][4] == "7"
        o = order(p.sid(), "n1", invoice_no=rg["start"])
        assert (await c.post("/v1/invoices", json=o, headers=h)).status_code == 201
        r = await c.post("/v1/invoices", json=o, headers=h)
        assert r.status_code == 409 and r.json()["error"] == "invoice_exists"
        assert r.json()["invoice_no"] == rg["start"] and "在数据库中已存在" in r.json()["message"]
        r = await c.post("/v1/invoices", json=order(p.sid(), "n2", invoice_no="26117999999999999999"),
                         headers=h)
        assert r.status_code == 422 and r.json()["error"] == "invoice_no_not_allocated"
        r = await c.post("/v1/invoices", json=order(p.sid(), "n3"), headers=h)
        assert r.status_code == 422 and r.json()["field"] == "invoice_no"
        r = await c.post("/v1/invoice-numbers/ranges", json={"seller_tax_id": p.sid(),
                                                              "count": 5001}, headers=h)
        assert r.status_code == 422
    run(tmp_path, body, {"dedup": "invoice_number"})


def test_dedup_none_issues_again(tmp_path: Path) -> None:
    async def body(p: InProc) -> None:
        h = await p.token()
        o = order(p.sid(), "w1")
        a = await p.client.post("/v1/invoices", json=o, headers=h)
        b = await p.client.post("/v1/invoices", json=o, headers=h)
        assert a.status_code == b.status_code == 201
        assert a.json()["invoice_no"] != b.json()["invoice_no"]
        s = await p.client.get("/v1/invoices", params={"order_ref": "O-w1"}, headers=h)
        assert len(s.json()["items"]) == 2
        r = await p.client.post("/v1/invoice-numbers/ranges",
                                json={"seller_tax_id": p.sid(), "count": 1}, headers=h)
        assert r.status_code == 409
    run(tmp_path, body, {"dedup": "none"})


def test_ledger_lines_have_exactly_the_contract_fields(tmp_path: Path) -> None:
    import orjson

    async def body(p: InProc) -> None:
        h = await p.token()
        inv = (await p.client.post("/v1/invoices", json=order(p.sid(), "g1"), headers=h)).json()
        await p.client.post(f"/v1/invoices/{inv['invoice_no']}/red", headers=h,
                            json={"request_id": "g1-red", "reason": "02"})
        r = await p.client.get("/_admin/ledger")
        lines = [orjson.loads(x) for x in r.text.splitlines()]
        assert [x["kind"] for x in lines] == ["blue", "red"]
        for x in lines:
            assert set(x) == {"invoice_no", "kind", "request_id", "order_ref", "seller_tax_id",
                              "buyer_tax_id", "amount", "tax", "total", "issued_at",
                              "original_invoice_no"}
            assert isinstance(x["issued_at"], float) and abs(x["issued_at"] - time.time()) < 60
        stats = (await p.client.get("/_admin/stats")).json()
        assert stats["invoices"] == {"blue": 1, "red": 1}
        spec = (await p.client.get("/openapi.json")).json()
        assert "/v1/invoice-numbers/ranges" in spec["paths"]
        assert "IssueRequest" in spec["components"]["schemas"]
    run(tmp_path, body)


@pytest.mark.parametrize("kind", ["normal", "special"])
def test_special_and_normal_kinds_are_stored(tmp_path: Path, kind: str) -> None:
    async def body(p: InProc) -> None:
        h = await p.token()
        o = order(p.sid(), "k1", kind=kind, buyer={"name": "某公司", "tax_id": "911101017967003199"})
        r = await p.client.post("/v1/invoices", json=o, headers=h)
        assert r.status_code == 201 and r.json()["invoice_type"] == kind
        assert r.json()["buyer_tax_id"] == "911101017967003199"
    run(tmp_path, body)
