"""kill -9 during sustained issuance never loses an acknowledged invoice (real process)."""
from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from .procs import Running, start_platform, stop, order

pytestmark = pytest.mark.integration


async def _hammer(run: Running, tokens: list[str], workers: int, kill_after_acks: int,
                  kill_by_s: float = 60.0) -> tuple[dict[str, str], int]:
    """Concurrent clients issue until the platform dies; returns {request_id: invoice_no} of
    every 201/200 answer and the number of requests whose outcome is unknown. The kill comes
    once `kill_after_acks` invoices were acknowledged (by `kill_by_s` at the latest), so a
    busy machine slows the test down instead of starving it of load."""
    acked: dict[str, str] = {}
    unknown = 0
    dead = asyncio.Event()

    async def worker(w: int) -> None:
        nonlocal unknown
        seller = run.sellers[w % len(run.sellers)]["seller_tax_id"]
        h = {"Authorization": f"Bearer {tokens[w % len(tokens)]}"}
        async with httpx.AsyncClient(base_url=run.url, timeout=5) as c:
            for n in range(100000):
                if dead.is_set():
                    return
                rid = f"w{w}-{n}"
                try:
                    r = await c.post("/v1/invoices", json=order(seller, rid), headers=h)
                except httpx.TransportError:
                    unknown += 1
                    return
                assert r.status_code in (200, 201), r.text
                acked[rid] = r.json()["invoice_no"]

    async def killer() -> None:
        start = time.monotonic()
        while len(acked) < kill_after_acks and time.monotonic() - start < kill_by_s:
            await asyncio.sleep(0.02)
        run.proc.send_signal(signal.SIGKILL)      # the process itself, mid-commit
        dead.set()

    await asyncio.gather(killer(), *(worker(w) for w in range(workers)))
    return acked, unknown


def test_sigkill_under_load_loses_no_acknowledged_invoice(tmp_path: Path, sellers_file) -> None:
    path, sellers = sellers_file
    data = tmp_path / "data"
    run = start_platform(data, path, sellers)
    try:
        tokens = [run.token(i) for i in range(len(sellers))]
        acked, unknown = asyncio.run(_hammer(run, tokens, workers=12, kill_after_acks=300))
        assert run.proc.wait(10) == -signal.SIGKILL
    finally:
        stop(run.proc, signal.SIGKILL)
    assert len(acked) > 200, f"too little load before the kill: {len(acked)}"

    run2 = start_platform(data, path, sellers)       # same data directory
    try:
        ledger = run2.ledger()
        numbers = [x["invoice_no"] for x in ledger]
        assert len(numbers) == len(set(numbers)), "duplicate invoice numbers"
        by_rid = {x["request_id"]: x["invoice_no"] for x in ledger}
        missing = {rid: no for rid, no in acked.items() if by_rid.get(rid) != no}
        assert not missing, f"acknowledged but lost after kill -9: {list(missing.items())[:5]}"
        # platform-assigned numbers: one rising sequence without gaps among those stored,
        # and every answered number lies inside it
        seqs = sorted(int(n[5:]) for n in numbers)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "gap in the sequence"
        assert len(ledger) - len(acked) <= unknown, "more invoices than answers + unknowns"
        # after the restart: old tokens are gone, numbers continue above, replays still work
        seller = sellers[0]["seller_tax_id"]
        r = httpx.post(f"{run2.url}/v1/invoices", json=order(seller, "after"), timeout=5,
                       headers={"Authorization": f"Bearer {tokens[0]}"})
        assert r.status_code == 401
        h = {"Authorization": f"Bearer {run2.token(0)}"}
        r = httpx.post(f"{run2.url}/v1/invoices", json=order(seller, "after"), headers=h,
                       timeout=5)
        assert r.status_code == 201 and int(r.json()["invoice_no"][5:]) > seqs[-1]
        rid, no = next((k, v) for k, v in acked.items() if k.startswith("w0-"))
        r = httpx.post(f"{run2.url}/v1/invoices", json=order(seller, rid), headers=h, timeout=5)
        assert r.status_code == 200 and r.json()["invoice_no"] == no
    finally:
        stop(run2.proc)


def test_sigterm_exits_cleanly_and_generated_sellers_are_printed(tmp_path: Path) -> None:
    from fakes.common.sellers import read_sellers

    run = start_platform(tmp_path / "data", None, [])
    try:
        t0 = time.monotonic()
        out_ok = False
        while time.monotonic() - t0 < 5 and not out_ok:
            out_ok = "secret" in run.log.read_text()
            time.sleep(0.05)
        sellers = read_sellers(tmp_path / "data" / "sellers.json")
        assert out_ok and sellers[0]["secret"] in run.log.read_text()
        r = httpx.post(f"{run.url}/v1/auth/token", timeout=5, json={
            "seller_tax_id": sellers[0]["seller_tax_id"], "secret": sellers[0]["secret"]})
        assert r.status_code == 200
    finally:
        code = stop(run.proc, signal.SIGTERM)
    assert code == 0
