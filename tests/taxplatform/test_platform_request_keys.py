"""The platform's in-memory index of idempotency keys: a replay still finds the first
invoice after a restart (the index is loaded from SQLite), and a key is indexed only once
its invoice is committed."""
from __future__ import annotations

import asyncio
from pathlib import Path

from .inproc import InProc
from .procs import order


def test_replay_after_a_restart_and_only_committed_keys(tmp_path: Path) -> None:
    async def first() -> str:
        p = InProc(tmp_path)
        try:
            h = await p.token()
            r = await p.client.post("/v1/invoices", json=order(p.sid(), "k1"), headers=h)
            assert r.status_code == 201, r.text
            assert (p.sid(), "k1") in p.platform._keys
            # an injected error before commit stores nothing, and indexes nothing
            await p.client.post("/_admin/faults", json={"error_rate": 1.0,
                                                        "error_after_commit": 0.0})
            r = await p.client.post("/v1/invoices", json=order(p.sid(), "k2"), headers=h)
            assert r.status_code >= 500
            assert (p.sid(), "k2") not in p.platform._keys
            return r.json().get("error", "")
        finally:
            await p.close()

    async def again() -> None:
        p = InProc(tmp_path)                 # a restart on the same data directory
        try:
            assert (p.sid(), "k1") in p.platform._keys
            h = await p.token()
            r = await p.client.post("/v1/invoices", json=order(p.sid(), "k1"), headers=h)
            assert r.status_code == 200 and r.headers["idempotent-replayed"] == "true"
            r = await p.client.post("/v1/invoices", json=order(p.sid(), "k2"), headers=h)
            assert r.status_code == 201
        finally:
            await p.close()

    asyncio.run(first())
    asyncio.run(again())
