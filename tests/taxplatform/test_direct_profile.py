"""The direct-connect profile (design.md s.12) against the real platform process, black-box:
number ranges and their replay, uploads answered 202 and decided after `upload_delay`,
every acceptance rule and rejection code, idempotent re-upload, the ledger and the lagging
read path, red-letter, the platform faults on the new calls, and kill -9 durability."""
from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from .procs import Running, start_platform, stop

pytestmark = pytest.mark.integration

DELAY_MS = 400
SLOW_DELAY_MS = 3000     # for the checks of "not decided yet": room for a loaded machine
CODES = {"number_not_allocated", "duplicate_number", "upload_overdue", "quota_exceeded",
         "invalid_invoice"}


class Client:
    """One seller's session on the platform (re-login on 401 is the test's business)."""

    def __init__(self, run: Running, i: int = 0) -> None:
        self.run, self.i = run, i
        self.seller = run.sellers[i]["seller_tax_id"]
        self.h = {"Authorization": f"Bearer {run.token(i)}"}
        self.n = 0

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(self.run.url + path, json=body, headers=self.h, timeout=10)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.run.url + path, headers=self.h, timeout=10)

    def rng(self, count: int, rid: str | None = None) -> httpx.Response:
        self.n += 1
        return self.post("/v1/number-ranges", {"request_id": rid or f"rg-{self.n}",
                                               "seller_tax_id": self.seller, "count": count})

    def upload(self, invoices: list[dict], rid: str | None = None) -> httpx.Response:
        self.n += 1
        return self.post("/v1/uploads", {"request_id": rid or f"up-{self.n}",
                                         "seller_tax_id": self.seller, "invoices": invoices})

    def result(self, upload_id: str, within_s: float = 10.0) -> dict:
        """Poll until done (bounded); the last answer."""
        deadline = time.monotonic() + within_s
        while True:
            r = self.get(f"/v1/uploads/{upload_id}")
            assert r.status_code == 200, r.text
            body = r.json()
            if body["status"] == "done" or time.monotonic() > deadline:
                return body
            time.sleep(0.1)


def inv(no: str, ref: str = "O-1", *, issued_at: float | None = None, price: str = "10.00",
        **extra: Any) -> dict:
    body = {"invoice_no": no, "order_ref": ref, "buyer": {"name": "张三"}, "kind": "normal",
            "lines": [{"name": "苹果", "quantity": "1", "unit_price": price,
                       "tax_rate": "0.13"}],
            "issued_at": time.time() if issued_at is None else issued_at}
    body.update(extra)
    return body


def nums(rng: dict) -> list[str]:
    a, b = int(rng["first"]), int(rng["last"])
    return [str(n).zfill(20) for n in range(a, b + 1)]


def admin(run: Running, **faults: Any) -> None:
    r = httpx.post(f"{run.url}/_admin/faults", json=faults, timeout=5)
    assert r.status_code == 200, r.text


@pytest.fixture
def direct(tmp_path: Path, sellers_file) -> Running:
    path, sellers = sellers_file
    run = start_platform(tmp_path / "data", path, sellers,
                         {"profile": "direct", "upload_delay_ms": DELAY_MS,
                          "upload_deadline_s": 60, "replica_lag_ms": 300, "seed": 3})
    yield run
    stop(run.proc)


@pytest.fixture
def slow_direct(tmp_path: Path, sellers_file) -> Running:
    path, sellers = sellers_file
    run = start_platform(tmp_path / "slow", path, sellers,
                         {"profile": "direct", "upload_delay_ms": SLOW_DELAY_MS,
                          "upload_deadline_s": 60, "replica_lag_ms": 300})
    yield run
    stop(run.proc)


def test_number_ranges(direct: Running) -> None:
    c, other = Client(direct, 0), Client(direct, 1)
    yy = time.strftime("%y", time.gmtime(time.time() + 8 * 3600))
    r = c.rng(100, "R-1")
    assert r.status_code == 201, r.text
    a = r.json()
    assert set(a) == {"range_id", "seller_tax_id", "first", "last", "count"}
    assert a["count"] == 100 and a["seller_tax_id"] == c.seller
    assert len(a["first"]) == 20 and a["first"][:2] == yy and a["first"][4] == "7"
    assert int(a["last"]) - int(a["first"]) == 99
    again = c.rng(100, "R-1")                                   # replay: the same range
    assert again.status_code == 200 and again.json() == a
    assert again.headers.get("Idempotent-Replayed") == "true"
    clash = c.rng(50, "R-1")                                    # same key, other body
    assert clash.status_code == 409 and clash.json()["error"] == "request_id_reused"
    b = other.rng(5000).json()                                  # the maximum
    d = c.rng(1).json()
    spans = sorted((int(x["first"]), int(x["last"])) for x in (a, b, d))
    assert all(spans[i][1] < spans[i + 1][0] for i in range(2)), spans   # never overlapping
    for bad, code in ((0, "invalid_field"), (5001, "invalid_field"), ("7", "invalid_type")):
        r = c.post("/v1/number-ranges", {"request_id": f"bad-{bad}", "seller_tax_id": c.seller,
                                         "count": bad})
        assert r.status_code == 422 and r.json()["error"] == code, r.text
    r = c.post("/v1/number-ranges", {"request_id": "x", "seller_tax_id": other.seller,
                                     "count": 1})
    assert r.status_code == 403 and r.json()["error"] == "seller_mismatch"
    r = httpx.post(f"{direct.url}/v1/number-ranges", json={"request_id": "y"}, timeout=5)
    assert r.status_code == 401


def test_upload_is_received_then_decided_after_the_delay(slow_direct: Running) -> None:
    direct = slow_direct
    c = Client(direct)
    n = nums(c.rng(10).json())
    sent = time.monotonic()
    r = c.upload([inv(n[0], "O-a"), inv(n[1], "O-b")], rid="U-1")
    assert r.status_code == 202, r.text
    uid = r.json()["upload_id"]
    first = c.get(f"/v1/uploads/{uid}").json()
    assert first == {"upload_id": uid, "status": "processing", "results": []}
    assert direct.ledger() == []                                # nothing decided yet
    again = c.upload([inv(n[0], "O-a"), inv(n[1], "O-b")], rid="U-1")
    # the replay's body differs (issued_at was taken again): a different request
    assert again.status_code == 409 and again.json()["error"] == "request_id_reused"
    done = c.result(uid)
    assert time.monotonic() - sent >= SLOW_DELAY_MS / 1000 * 0.95   # never decided early
    assert done["status"] == "done"
    assert [x["result"] for x in done["results"]] == ["accepted", "accepted"]
    assert [x["invoice_no"] for x in done["results"]] == n[:2]
    led = {x["invoice_no"]: x for x in direct.ledger()}
    assert set(led) == set(n[:2])
    assert led[n[0]]["request_id"] == "U-1" and led[n[0]]["order_ref"] == "O-a"
    assert led[n[0]]["amount"] == "10.00" and led[n[0]]["tax"] == "1.30"


def test_upload_replay_returns_the_same_upload_id(direct: Running) -> None:
    c = Client(direct)
    n = nums(c.rng(3).json())
    body = [inv(n[0])]
    a = c.upload(body, rid="same")
    b = c.upload(body, rid="same")
    assert a.status_code == 202 and b.status_code == 200
    assert a.json() == b.json() and b.headers.get("Idempotent-Replayed") == "true"
    assert c.result(a.json()["upload_id"])["results"][0]["result"] == "accepted"
    assert len(direct.ledger()) == 1


def test_every_rejection_code(direct: Running) -> None:
    c, other = Client(direct, 0), Client(direct, 1)
    n = nums(c.rng(20).json())
    theirs = nums(other.rng(2).json())
    now = time.time()
    cases = {
        "number_not_allocated": [inv(theirs[0], "O-1"), inv("26117999999999999999", "O-2")],
        "upload_overdue": [inv(n[1], "O-3", issued_at=now - 120)],       # deadline 60 s
        "invalid_invoice": [inv(n[2], "O-4", issued_at=now + 3600),       # in the future
                            inv(n[3], "O-5", lines=[{"name": "x", "quantity": "1",
                                                     "unit_price": "10", "tax_rate": "0.13",
                                                     "amount": "10.00", "tax": "5.00"}]),
                            inv(n[4], "O-6", kind="special"),            # no buyer tax id
                            inv("123", "O-7")],
    }
    for code, items in cases.items():
        uid = c.upload(items).json()["upload_id"]
        res = c.result(uid)["results"]
        assert [x["result"] for x in res] == ["rejected"] * len(items), (code, res)
        assert {x["error"] for x in res} == {code}, res
    # duplicate_number: the same number with other content, in a later upload and in one
    ok = c.result(c.upload([inv(n[5], "O-8")]).json()["upload_id"])["results"]
    assert ok[0]["result"] == "accepted"
    res = c.result(c.upload([inv(n[5], "O-9"), inv(n[6], "O-10"),
                             inv(n[6], "O-11")]).json()["upload_id"])["results"]
    assert [(x["result"], x.get("error")) for x in res] == [
        ("rejected", "duplicate_number"), ("accepted", None), ("rejected", "duplicate_number")]
    # quota_exceeded under the quota cut fault, accepted again when it is lifted
    admin(direct, quota_per_seller="5.00")
    res = c.result(c.upload([inv(n[7], "O-12")]).json()["upload_id"])["results"]
    assert res[0]["error"] == "quota_exceeded"
    admin(direct, quota_per_seller=None)
    assert c.result(c.upload([inv(n[7], "O-12")]).json()["upload_id"])[
        "results"][0]["result"] == "accepted"
    led = [x["invoice_no"] for x in direct.ledger()]
    assert sorted(led) == sorted([n[5], n[6], n[7]])
    # the whole upload is refused (4xx) when its shape is wrong: nothing received
    for body, status in (([], 422), ([inv(n[8])] * 101, 422), ("x", 422)):
        r = c.upload(body)
        assert r.status_code == status, r.text
    r = c.post("/v1/uploads", {"request_id": "z", "seller_tax_id": other.seller,
                               "invoices": [inv(n[9])]})
    assert r.status_code == 403 and r.json()["error"] == "seller_mismatch"
    assert c.get("/v1/uploads/U-nope").status_code == 404
    assert other.get(f"/v1/uploads/{uid}").status_code == 404         # not theirs
    assert CODES == set(cases) | {"duplicate_number", "quota_exceeded"}


def test_identical_reupload_is_accepted_and_stored_once(direct: Running) -> None:
    c = Client(direct)
    n = nums(c.rng(2).json())
    item = inv(n[0], "O-1")
    for _ in range(3):                          # new request_id each time: a new upload
        res = c.result(c.upload([item]).json()["upload_id"])["results"]
        assert res == [{"invoice_no": n[0], "result": "accepted"}]
    assert [x["invoice_no"] for x in direct.ledger()] == [n[0]]


def test_read_path_lags_and_red_letter_works(slow_direct: Running) -> None:
    c = Client(slow_direct)
    n = nums(c.rng(2).json())
    issued = time.time() - 5               # issued a while ago: visible only after acceptance
    uid = c.upload([inv(n[0], "O-r", issued_at=issued)]).json()["upload_id"]
    assert c.get(f"/v1/invoices/{n[0]}").status_code == 404          # not decided yet
    c.result(uid)
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        seen.append(c.get(f"/v1/invoices/{n[0]}").status_code)
        if seen[-1] == 200:
            break
        time.sleep(0.05)
    assert seen[-1] == 200 and seen[0] == 404, seen       # replica lag after the acceptance
    got = c.get(f"/v1/invoices/{n[0]}").json()
    assert got["issued_at"] == pytest.approx(issued) and got["order_ref"] == "O-r"
    found = c.get("/v1/invoices?order_ref=O-r").json()["items"]
    assert [x["invoice_no"] for x in found] == [n[0]]
    red = c.post(f"/v1/invoices/{n[0]}/red", {"request_id": "red-1", "reason": "01"})
    assert red.status_code == 201 and red.json()["original_invoice_no"] == n[0]
    assert red.json()["total"] == "-11.30"


def test_upload_loss_and_stall(direct: Running) -> None:
    c = Client(direct)
    n = nums(c.rng(10).json())
    admin(direct, upload_loss=1.0)
    lost = c.upload([inv(n[0], "O-l")])
    assert lost.status_code == 202                           # received, never finishes
    admin(direct, upload_loss=0.0, upload_stall=True)
    stalled = c.upload([inv(n[1], "O-s")]).json()["upload_id"]
    time.sleep(DELAY_MS / 1000 * 3)
    assert c.get(f"/v1/uploads/{stalled}").json()["status"] == "processing"
    admin(direct, upload_stall=False)
    assert c.result(stalled)["results"][0]["result"] == "accepted"   # finishes after it
    assert c.get(f"/v1/uploads/{lost.json()['upload_id']}").json()["status"] == "processing"
    assert [x["invoice_no"] for x in direct.ledger()] == [n[1]]
    # the same invoice in a new upload gets through: "uploaded, never received" is curable
    assert c.result(c.upload([inv(n[0], "O-l")]).json()["upload_id"])[
        "results"][0]["result"] == "accepted"
    lines = httpx.get(f"{direct.url}/_admin/uploads", timeout=5).text.splitlines()
    assert len(lines) == 3 and '"lost":true' in lines[0]


def test_existing_faults_apply_to_the_new_calls(direct: Running) -> None:
    c = Client(direct)
    n = nums(c.rng(10).json())
    admin(direct, throttle_rate=1.0, retry_after_s=2)
    for r in (c.rng(5), c.upload([inv(n[0])]), c.get("/v1/uploads/U-x")):
        assert r.status_code == 429 and r.headers["Retry-After"] == "2", r.text
    admin(direct, throttle_rate=0.0, error_rate=1.0, error_after_commit=1.0, error_status=503)
    body = [inv(n[0], "O-e")]
    r = c.upload(body, rid="after")
    assert r.status_code == 503 and r.json()["error"] == "unknown_error"
    g = c.rng(5, "rg-after")
    assert g.status_code == 503
    admin(direct, error_rate=1.0, error_after_commit=0.0)
    assert c.upload([inv(n[1], "O-f")], rid="before").status_code == 503
    admin(direct, error_rate=0.0, slow_commit_ms=300)
    again = c.upload(body, rid="after")                       # it was stored: same upload_id
    assert again.status_code == 200
    assert c.result(again.json()["upload_id"])["results"][0]["result"] == "accepted"
    assert c.rng(5, "rg-after").status_code == 200
    r = c.upload([inv(n[1], "O-f")], rid="before")             # never stored: a new one
    assert r.status_code == 202
    admin(direct, slow_commit_ms=0, revoke_tokens=True)
    assert c.rng(1).status_code == 401 and c.get("/v1/uploads/U-x").status_code == 401


def test_kill_9_loses_no_upload_and_no_range(tmp_path: Path, sellers_file) -> None:
    path, sellers = sellers_file
    data = tmp_path / "data"
    cfg = {"profile": "direct", "upload_delay_ms": 1500, "upload_deadline_s": 600}
    run = start_platform(data, path, sellers, cfg)
    try:
        c = Client(run)
        rng = c.rng(50, "keep").json()
        n = nums(rng)
        ids = [c.upload([inv(n[i], f"O-{i}")], rid=f"k{i}").json()["upload_id"]
               for i in range(5)]
        run.proc.send_signal(signal.SIGKILL)          # before any upload was decided
        assert run.proc.wait(10) == -signal.SIGKILL
    finally:
        stop(run.proc, signal.SIGKILL)
    run = start_platform(data, path, sellers, cfg)
    try:
        c = Client(run)
        assert c.rng(50, "keep").json() == rng                     # the range survived
        fresh = c.rng(10).json()
        assert int(fresh["first"]) > int(rng["last"])               # and is never re-granted
        for i, uid in enumerate(ids):
            res = c.result(uid)
            assert res["results"] == [{"invoice_no": n[i], "result": "accepted"}], res
            assert c.upload([inv(n[i], f"O-{i}")], rid=f"k{i}").status_code in (200, 409)
        assert sorted(x["invoice_no"] for x in run.ledger()) == sorted(n[:5])
        # an invoice of the surviving range is still allocated after the restart
        assert c.result(c.upload([inv(n[10], "O-x")]).json()["upload_id"])[
            "results"][0]["result"] == "accepted"
    finally:
        stop(run.proc)


def test_clearance_profile_has_no_direct_calls(platform_proc: Running) -> None:
    c = Client(platform_proc)
    r = c.rng(10)
    assert r.status_code == 409 and r.json()["error"] == "direct_profile_only"
    assert httpx.get(f"{platform_proc.url}/_admin/uploads", timeout=5).text == ""
